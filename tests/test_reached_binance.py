"""Whether a failed request may have reached Binance is decided by where it failed, never by its text.

Before any byte of a request is written (connection refused, a host that does not resolve) it
cannot have executed: the agent is told nothing was sent, and an order is not looked up. Once it
is written (the connection reset or closed, an answer that cannot be read, a read timeout, a 5xx)
it may have executed: an order is looked up by its client order id, never resent. Each failure is
caused for real, through the HTTP stack the server uses: a closed port, a `.invalid` host, and a
proxy in front of the test exchange that passes a request on and then spoils its answer.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from binance_mcp.config import Credentials
from binance_mcp.exchange.client import ExchangeClient, Timeouts
from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.exchange.retry import RetryPolicy
from tests.conftest import API_KEY, API_SECRET, make_app
from tests.fake_binance import Delay, Drop, FakeBinance, Status

pytestmark = pytest.mark.anyio

MARKET_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}


class SpoilingProxy:
    """A TCP proxy in front of the test exchange: it passes every request on, and the answer to
    the next POST /api/v3/order it replaces by `spoil` — a line that is not HTTP (`b"..."`), or
    `None` for a connection reset (RST) — after the exchange has executed the order."""

    def __init__(self, upstream: FakeBinance, spoil: bytes | None) -> None:
        self.upstream, self.spoil, self.spoiled = upstream, spoil, 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                downstream, _ = self._listener.accept()
                threading.Thread(target=self._relay, args=(downstream,), daemon=True).start()

    def _relay(self, downstream: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream.port))
        order_sent = False
        with contextlib.suppress(OSError):
            while True:
                readable, _, _ = select.select([downstream, upstream], [], [])
                if downstream in readable:
                    data = downstream.recv(65536)
                    if not data:
                        break
                    order_sent = order_sent or (data.startswith(b"POST /api/v3/order ") and not self.spoiled)
                    upstream.sendall(data)
                if upstream in readable:
                    data = upstream.recv(65536)
                    if not data:
                        break
                    if not order_sent:
                        downstream.sendall(data)
                        continue
                    self.spoiled += 1  # the exchange answered: the order is placed
                    if self.spoil is None:
                        downstream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    else:
                        downstream.sendall(self.spoil)
                    upstream.shutdown(socket.SHUT_WR)  # let the exchange finish its answer, unread
                    while upstream.recv(65536):
                        pass
                    break
        downstream.close()
        upstream.close()


@pytest.fixture
def build(tmp_path: Path) -> Iterator[Any]:
    apps = []

    def factory(base_url: str) -> Any:
        app = make_app(tmp_path, base_url)
        app.exchange.retry = replace(app.exchange.retry, attempts=1, lookups=2, first_lookup_wait=0.01)
        app.exchange.timeouts = Timeouts(connect=2.0, read=2.0)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.mark.parametrize(
    "spoil",
    [b"Connection refused\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n{", None],
    ids=["garbled-status-line", "cut-short", "reset"],
)
async def test_an_order_whose_answer_is_spoiled_after_it_left_is_found_not_called_unsent(
    build: Any, fake: FakeBinance, spoil: bytes | None
) -> None:
    """A status line reading "Connection refused" (a proxy's, say) came after the order left: it
    executed. Matching the exception's text called it "nothing was sent", inviting a second order."""
    proxy = SpoilingProxy(fake, spoil)
    app = build(proxy.base_url)
    try:
        async with Client(app.server) as client:
            result = await client.call_tool("place_order", MARKET_BUY | {"client_order_id": "spoiled-1"})
    finally:
        proxy.close()
    assert proxy.spoiled == 1
    assert not result.is_error, result.content[0].text
    assert result.structured_content["recovered"] is True
    assert "Recovered after a lost answer" in result.content[0].text
    [placed] = fake.orders
    assert placed.client_order_id == "spoiled-1"
    assert len([r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]) == 1


@pytest.fixture
def closed_port() -> Iterator[str]:
    """A port on which nothing listens (bound, never listening: a connection is refused)."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{unused.getsockname()[1]}"


@pytest.mark.parametrize(
    ("where", "fault", "reached", "words"),
    [
        ("closed-port", None, False, "connection refused"),
        ("no-such-host", None, False, "could not resolve the host"),
        ("proxy", b"Connection refused\r\n", True, "was lost before an answer came"),
        ("proxy", None, True, "was lost before an answer came"),
        ("exchange", Drop(), True, "was lost before an answer came"),
        ("exchange", Delay(1.0), True, "did not answer within 0.3 s"),
        ("exchange", Status(503, None), True, "HTTP 503"),
        ("exchange", Status(400, -1013, "Filter failure: NOTIONAL"), False, "-1013"),
    ],
    ids=["refused", "dns", "garbled-after-send", "reset-after-send", "closed-after-send", "read-timeout",
         "503", "400"],
)  # fmt: skip
async def test_whether_a_failed_order_may_have_executed_follows_where_it_failed(
    fake: FakeBinance, closed_port: str, where: str, fault: Any, reached: bool, words: str
) -> None:
    proxy = SpoilingProxy(fake, fault) if where == "proxy" else None
    base_url = {"closed-port": closed_port, "no-such-host": "http://no-such-host.invalid",
                "proxy": proxy.base_url if proxy else "", "exchange": fake.base_url}[where]  # fmt: skip
    if where == "exchange":
        fake.inject(fault, method="POST", path="/api/v3/order")
    exchange = ExchangeClient(
        base_url, Credentials(API_KEY, API_SECRET), timeouts=Timeouts(2.0, 0.3), retry=RetryPolicy(attempts=1)
    )
    try:
        with pytest.raises(ExchangeFailure) as failed:
            await exchange.place_order(
                {
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "MARKET",
                    "quantity": "0.001",
                    "newClientOrderId": "x-1",
                }
            )
    finally:
        if proxy is not None:
            proxy.close()
    assert failed.value.may_have_executed is reached
    assert words in failed.value.sentence()
    assert ("nothing was sent" in failed.value.sentence()) is (where in ("closed-port", "no-such-host"))


class BreakingTlsProxy:
    """A TLS front for the test exchange (a self-signed certificate the client is told to trust):
    it passes requests on in plain HTTP, and once the exchange has answered the next POST
    /api/v3/order, it sends the client a TLS record that cannot be decrypted instead of the answer
    — a TLS error on an established connection, after the order executed."""

    def __init__(self, upstream: FakeBinance, directory: Path) -> None:
        import datetime
        import ssl

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
                ),
                False,
            )
            .sign(key, hashes.SHA256())
        )
        self.certificate = directory / "tls-proxy.pem"
        self.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file = directory / "tls-proxy.key"
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(self.certificate, key_file)
        self.upstream, self.broken = upstream, 0
        self.read_it = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.base_url = f"https://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.read_it.set()
        self._listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                raw, _ = self._listener.accept()
                threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        with contextlib.suppress(OSError), self._context.wrap_socket(raw, server_side=True) as tls:
            upstream = socket.create_connection(("127.0.0.1", self.upstream.port))
            while True:
                request = _http_message(tls)
                if not request:
                    return
                upstream.sendall(request)
                answer = _http_message(upstream)
                if request.startswith(b"POST /api/v3/order ") and not self.broken:
                    self.broken += 1  # executed: the client now gets a record no key decrypts
                    os.write(tls.fileno(), b"\x17\x03\x03\x00\x20" + b"\x00" * 32)  # beneath TLS
                    self.read_it.wait(5)  # the connection stays open until the client has read it
                    return
                tls.sendall(answer)


def _http_message(sock: Any) -> bytes:
    """One whole HTTP/1.1 message (head and a Content-Length body) read from `sock`; b"" at the end."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


async def test_a_tls_error_after_the_order_left_is_looked_up_not_called_unsent(
    build: Any, fake: FakeBinance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """urllib3 reports a broken TLS record after the request was written as the same `SSLError`
    as a failed handshake; only the handshake's failures mean nothing was sent."""
    proxy = BreakingTlsProxy(fake, tmp_path)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(proxy.certificate))
    app = build(proxy.base_url)
    try:
        async with Client(app.server) as client:
            result = await client.call_tool("place_order", MARKET_BUY | {"client_order_id": "tls-1"})
    finally:
        proxy.close()
    assert proxy.broken == 1, result.content[0].text
    assert not result.is_error, result.content[0].text
    assert result.structured_content["recovered"] is True
    assert len([r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]) == 1
