"""The bounds on connections before authentication, one at a time, on an in-process server.

Short timeouts and a small cap (`HttpBounds`) so each bound shows in well under a second or two; the
flood through the real entry point is in `test_http_flood`.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import anyio
import httpx2
import pytest

from binance_mcp.http.bounds import HttpBounds
from tests.fake_binance import Delay, FakeBinance
from tests.test_http import connected, price, running

pytestmark = pytest.mark.anyio

PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split("/")[0].rsplit(":", 1)
    return host, int(port)


async def closed_after(sock: socket.socket, limit: float) -> float | None:
    """Seconds until the server closed `sock` (recv gives EOF or a reset), None if not within `limit`."""
    sock.setblocking(False)
    started = time.monotonic()
    while time.monotonic() - started < limit:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - started
        except BlockingIOError:
            pass
        except OSError:
            return time.monotonic() - started
        await anyio.sleep(0.02)
    return None


async def first_bytes(sock: socket.socket) -> bytes:
    """What the server sent first (the server runs in this event loop: never block it)."""
    sock.setblocking(False)
    with anyio.fail_after(5):
        while True:
            try:
                return sock.recv(65536)
            except BlockingIOError:
                await anyio.sleep(0.02)


async def test_a_connection_that_never_finishes_its_request_is_closed_after_the_header_timeout(
    tmp_path: Path, fake: FakeBinance
) -> None:
    async with running(tmp_path, fake, bounds=HttpBounds(header_timeout_s=0.5)) as server:
        silent = socket.create_connection(address(server.url))
        partial = socket.create_connection(address(server.url))
        partial.sendall(PARTIAL)
        with silent, partial:
            waited = [await closed_after(silent, 3), await closed_after(partial, 3)]
    assert all(w is not None and w < 2 for w in waited), waited


async def test_a_call_longer_than_the_header_timeout_is_not_cut(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, bounds=HttpBounds(header_timeout_s=0.5)) as server:
        fake.inject(Delay(1.5), path="/api/v3/ticker/price")
        async with connected(server.url, server.tokens["alice"]) as client:
            result = await price(client)
    assert not result.is_error and result.structured_content["symbol"] == "BTCUSDT"


async def test_an_idle_connection_is_closed_after_the_idle_timeout(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, bounds=HttpBounds(idle_timeout_s=1)) as server:
        with socket.create_connection(address(server.url)) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert (await first_bytes(sock)).startswith(b"HTTP/1.1 200")
            waited = await closed_after(sock, 4)
    assert waited is not None and 0.5 < waited < 3, waited


async def test_at_the_cap_the_oldest_waiting_connection_makes_room(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, bounds=HttpBounds(max_connections=8, header_timeout_s=30)) as server:
        held = [socket.create_connection(address(server.url)) for _ in range(8)]
        try:
            for sock in held:
                sock.sendall(PARTIAL)
            await anyio.sleep(0.3)
            async with httpx2.AsyncClient(timeout=5) as http:
                answer = await http.get(server.base + "/healthz")
            assert answer.status_code == 200
            assert await closed_after(held[0], 2) is not None  # the oldest half-open one went
            assert await closed_after(held[-1], 0.3) is None  # the newest is still open
        finally:
            for sock in held:
                sock.close()
        assert server.service.bounds.max_connections == 8
