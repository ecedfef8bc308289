"""Connections bounded before authentication: a header timeout, an idle timeout, a cap on open sockets.

Authentication runs once a request has arrived whole; until then a connection costs a descriptor
and a little memory and proves nothing. uvicorn's h11 protocol bounds the size of an incomplete
request (`h11_max_incomplete_event_size`) and closes a keep-alive connection idle for
`timeout_keep_alive` seconds after a response, but waits for ever for a request that never ends,
and accepts connections until the process runs out of descriptors (then `/healthz` too is gone);
its `limit_concurrency` answers 503 but keeps the socket. So this protocol, uvicorn's own with
three additions:

- **Header timeout**: a connection must deliver a whole request (headers and body) within
  `header_timeout_s` (5 s) of connecting, or of the first byte after an answer; otherwise it is
  closed. A request that has arrived whole is never timed out: a call may run as long as it needs.
- **Idle timeout**: uvicorn's keep-alive timeout, `idle_timeout_s` (5 s) after the last answer.
- **A cap on open connections**, `max_connections` (half the descriptor limit, at most 10,000).
  A new connection over the cap first closes the oldest connection that is *waiting*: one that
  never delivered a whole request, else one idle between requests; only if every connection is
  busy serving a request is the new one closed. So half-open sockets can never crowd out a client
  that sends its request at once, and the process never reaches its descriptor limit.
"""

from __future__ import annotations

import asyncio
import logging
import resource
import socket
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

logger = logging.getLogger(__name__)

MAX_INCOMPLETE_REQUEST_BYTES = 16 * 1024
"""Request line and headers; an MCP request's are a few hundred bytes, a bearer token included."""

_WHOLE = (h11.DONE, h11.MUST_CLOSE, h11.CLOSED, h11.ERROR)


def default_max_connections() -> int:
    """Half the process's descriptor limit (the rest: state files, the exchange, the listener), at most 10,000."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft <= 0:
        return 10_000
    return max(16, min(10_000, soft // 2))


@dataclass
class ConnectionBounds:
    """The bounds, and the open connections oldest first (shared by every connection of one server)."""

    header_timeout_s: float = 5.0
    max_connections: int = field(default_factory=default_max_connections)
    held: int = 0
    """Sockets accepted and not yet closed: what the cap counts."""
    open: OrderedDict[BoundedH11Protocol, None] = field(default_factory=OrderedDict, repr=False)
    closing: set[BoundedH11Protocol] = field(default_factory=set, repr=False)
    closed_waiting: int = 0
    refused: int = 0

    def make_room(self) -> bool:
        """Before accepting one more: close the oldest waiting connection if at the cap; False: none is."""
        if self.held - len(self.closing) < self.max_connections:
            return True
        victim = self._oldest_waiting()
        if victim is None:
            self.refused += 1
            return False
        victim.close_waiting("the connection cap was reached")
        return True

    def _oldest_waiting(self) -> BoundedH11Protocol | None:
        """The oldest connection that never delivered a whole request, else the oldest idle one."""
        idle = None
        for candidate in self.open:
            if candidate.waiting and candidate not in self.closing:
                if not candidate.served:
                    return candidate
                idle = idle or candidate
        return idle

    def released(self, connection: BoundedH11Protocol) -> None:
        self.held -= 1
        self.open.pop(connection, None)
        self.closing.discard(connection)


class CappedListener(socket.socket):
    """The listening socket, whose `accept` (which asyncio calls) keeps the count under the cap.

    asyncio accepts a burst of connections in one go, before any of them reaches a protocol, so
    the cap is kept here rather than in `connection_made`: at the cap the oldest waiting connection
    is closed to make room, and with none waiting the new connection is closed at once.
    """

    bounds: ConnectionBounds

    @classmethod
    def adopt(cls, sock: socket.socket, bounds: ConnectionBounds) -> CappedListener:
        listener = cls(sock.family, sock.type, sock.proto, fileno=sock.detach())
        listener.bounds = bounds
        return listener

    def accept(self) -> tuple[socket.socket, Any]:
        conn, address = super().accept()
        if not self.bounds.make_room():
            conn.close()
            raise ConnectionAbortedError("the connection cap was reached and every connection is busy")
        self.bounds.held += 1
        return conn, address


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with a header timeout and a place under `bounds`' cap (see the module)."""

    bounds: ConnectionBounds  # set on the subclass `protocol_for` makes

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self.waiting = True
        self.served = 0
        self._request_timer: asyncio.TimerHandle | None = None
        super().connection_made(transport)
        self.bounds.open[self] = None
        self._start_request_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_request_timer()
        self.bounds.released(self)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        if self.conn.their_state in _WHOLE:
            if self.waiting:
                self.served += 1
            self.waiting = False
            self._stop_request_timer()
        elif self._request_timer is None and not self.transport.is_closing():
            self.waiting = True
            self._start_request_timer()  # the first byte of the next request after an answer

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # Idle between requests (uvicorn's keep-alive timer runs), unless a pipelined request that
        # had already arrived whole is being served now.
        self.waiting = self.conn.their_state not in _WHOLE

    def close_waiting(self, why: str) -> None:
        self.bounds.closed_waiting += 1
        logger.debug("closing a connection that sent no whole request: %s", why)
        self._stop_request_timer()
        self.bounds.closing.add(self)
        self.transport.abort()

    def _start_request_timer(self) -> None:
        self._request_timer = self.loop.call_later(self.bounds.header_timeout_s, self._request_timed_out)

    def _stop_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _request_timed_out(self) -> None:
        self._request_timer = None
        if self.conn.their_state not in _WHOLE and not self.transport.is_closing():
            self.close_waiting(f"no whole request within {self.bounds.header_timeout_s:g} s")


def accept_batch(bounds: ConnectionBounds) -> int:
    """The listen backlog, which asyncio also uses as how many connections it accepts in one go.

    A burst accepted in one go is counted before the connections it evicts are closed, so the
    batch is kept to a quarter of the cap: the process stays well under its descriptor limit.
    """
    return max(16, min(2048, bounds.max_connections // 4))


def protocol_for(bounds: ConnectionBounds) -> type[BoundedH11Protocol]:
    """The protocol class to give uvicorn (`Config(http=...)`) for one server's `bounds`."""
    return type("BoundedH11Protocol", (BoundedH11Protocol,), {"bounds": bounds})
