"""The HTTP layer: a ThreadingHTTPServer on 127.0.0.1 whose handler parses requests, applies faults, records
them and writes the replies produced by `dispatch`."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from .dispatch import Incoming, Reply, dispatch, fault_reply
from .faults import Delay, Drop, ExecuteThenFail, Hold, Status
from .recorder import RecordedRequest

if TYPE_CHECKING:
    from .fake import FakeBinance


class FakeHTTPServer(ThreadingHTTPServer):
    """Serves one FakeBinance; remembers open connections so `close_all` can cut keep-alive clients off."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], fake: FakeBinance) -> None:
        self.fake = fake
        self._connections: set[socket.socket] = set()
        self._conn_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._conn_lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def close_all(self) -> None:
        with self._conn_lock:
            conns = list(self._connections)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as requests.Session expects
    disable_nagle_algorithm = True  # no 40 ms Nagle/delayed-ACK stalls between header and body writes
    wbufsize = -1  # buffer the reply; BaseHTTPRequestHandler flushes it once per request
    server: FakeHTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.track(self.connection, False)

    def version_string(self) -> str:
        return "FakeBinance/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def _serve(self, method: str) -> None:
        fake = self.server.fake
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw_body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        req = Incoming(
            method=method,
            path=url.path,
            raw_query=url.query,
            raw_body=raw_body,
            query_pairs=parse_qsl(url.query, keep_blank_values=True),
            body_pairs=parse_qsl(raw_body, keep_blank_values=True),
            api_key=self.headers.get("X-MBX-APIKEY"),
            accept=self.headers.get("Accept", ""),
        )
        rec = RecordedRequest(
            method=method,
            path=url.path,
            query=dict(req.query_pairs),
            body=dict(req.body_pairs),
            params=req.merged(),
            api_key=req.api_key,
            raw_query=req.raw_query,
            raw_body=raw_body,
            time_ms=fake.server_time(),
        )
        fault = fake.faults.pick(method, url.path)
        rec.fault = fault
        if isinstance(fault, Delay):
            time.sleep(fault.seconds)
        if isinstance(fault, Hold):
            fault.arrived.set()
            fault.released.wait(fault.at_most)
            if fault.then is not None:
                fault = fault.then
        if isinstance(fault, Drop):
            self._drop(rec)
            return
        if isinstance(fault, Status):
            reply = fault_reply(fake, fault, req, None)
        else:
            reply = dispatch(fake, req, rec)
            if isinstance(fault, Hold) and fault.reply_released is not None:
                fault.reply_released.wait(fault.at_most)
            if isinstance(fault, ExecuteThenFail):
                rec.executed_response = reply.body
                if fault.http_status is None:
                    self._drop(rec)
                    return
                reply = fault_reply(fake, fault, req, reply)
        self._send(reply, rec)

    def _drop(self, rec: RecordedRequest) -> None:
        rec.status = None
        self.server.fake.log.append(rec)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(self, reply: Reply, rec: RecordedRequest) -> None:
        if reply.html is not None:
            payload, content_type = reply.html.encode(), "text/html"
        elif reply.body is None:
            payload, content_type = b"", "application/json;charset=UTF-8"
        else:
            payload = json.dumps(reply.body, separators=(",", ":")).encode()
            content_type = "application/json;charset=UTF-8"
        rec.status, rec.response = reply.status, reply.body
        self.server.fake.log.append(rec)  # before writing, so a client that got its answer sees the record
        self.send_response(reply.status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)
