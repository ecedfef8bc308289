"""Connections bounded before authentication: a flood of half-open sockets starves nobody.

`binance-mcp --transport http` runs as a subprocess whose descriptor limit is lowered to 1,024; the
test opens 2,000 sockets to it on 127.0.0.1, each sending a partial request (a request line and
some headers, never the blank line that ends them) and then nothing. While they are held,
`/healthz` and an authenticated agent's tool call must still answer, the server must stay below
its descriptor limit, and every flood socket must be closed by the server within the header
timeout. Bounded: 2,000 sockets, loopback only, at most ~20 s.
"""

from __future__ import annotations

import os
import resource
import select
import socket
import time
from pathlib import Path
from typing import Any

import anyio
import httpx2

from binance_mcp.http.bounds import HttpBounds
from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import FakeBinance
from tests.test_cli import run_cli
from tests.test_http import connected
from tests.test_http_process import serving

FLOOD = 2000
SERVER_FILES = 1024
PARTIAL = (
    b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer x"
)


def flood(host: str, port: int, count: int) -> list[socket.socket]:
    sockets: list[socket.socket] = []
    deadline = time.monotonic() + 10
    try:
        while len(sockets) < count and time.monotonic() < deadline:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.settimeout(2)
            try:
                sock.connect((host, port))
                sock.sendall(PARTIAL)
            except OSError:
                sock.close()
                continue
            sock.setblocking(False)
            sockets.append(sock)
    except BaseException:
        for sock in sockets:
            sock.close()
        raise
    return sockets


def closed_by_the_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def wait_until_closed(sockets: list[socket.socket], timeout: float) -> tuple[int, float]:
    """How many of `sockets` the server closed within `timeout`, and when the last one was."""
    started = time.monotonic()
    open_ones = {sock.fileno(): sock for sock in sockets}
    poller = select.poll()
    for fd in open_ones:
        poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
    last = 0.0
    while open_ones and time.monotonic() - started < timeout:
        for fd, _ in poller.poll(200):
            sock = open_ones.get(fd)
            if sock is not None and closed_by_the_server(sock):
                poller.unregister(fd)
                open_ones.pop(fd)
                last = time.monotonic() - started
    return len(sockets) - len(open_ones), last


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_a_flood_of_half_open_connections_leaves_healthz_and_agents_answering(tmp_path: Path) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < FLOOD + 500:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, FLOOD + 1000), hard))
    state = str(tmp_path / "state")
    token = run_cli("tokens", "add", "alice", "--state-dir", state).stdout.splitlines()[-1]
    policy = str(write_policy(tmp_path, {"version": "1", "default": "allow"}))
    header_timeout = HttpBounds().header_timeout_s
    with (
        FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake,
        serving(
            "--state-dir",
            state,
            "--base-url",
            fake.base_url,
            "--policy",
            policy,
            cwd=tmp_path,
            max_files=SERVER_FILES,
        ) as server,
    ):
        port = int(server.url.rsplit(":", 1)[1].split("/")[0])
        anyio.run(answers_during_the_flood, server.url, token)  # the agent was at work before: warm
        sockets = flood("127.0.0.1", port, FLOOD)
        flooded_at = time.monotonic()
        try:
            assert len(sockets) == FLOOD
            held = open_files(server.process.pid)
            answers = anyio.run(answers_during_the_flood, server.url, token)
            closed, last = wait_until_closed(sockets, header_timeout + 8)
            after = time.monotonic() - flooded_at
        finally:
            for sock in sockets:
                sock.close()
        text = "".join(server.stderr)
    print(
        f"\nflood of {FLOOD} half-open sockets against a server limited to {SERVER_FILES} descriptors: "
        f"server held {held} descriptors; /healthz answered in {answers['healthz_s'] * 1000:.0f} ms, "
        f"an agent's new connection and get_price in {answers['call_s'] * 1000:.0f} ms; {closed} flood sockets closed by the "
        f"server, the last {last:.1f} s after the check began ({after:.1f} s after the flood)"
    )
    assert answers["healthz"] == 200
    assert answers["price"] is not None and not answers["price_error"]
    assert held < SERVER_FILES - 100, "the server holds a connection per flood socket"
    assert closed == FLOOD, f"{FLOOD - closed} flood sockets are still open"
    assert after <= header_timeout + 3
    assert "Too many open files" not in text and "Traceback" not in text


async def answers_during_the_flood(url: str, token: str) -> dict[str, Any]:
    never = float("nan")
    found: dict[str, Any] = {
        "healthz": None,
        "healthz_s": never,
        "price": None,
        "price_error": True,
        "call_s": never,
    }
    with anyio.move_on_after(10):
        started = time.monotonic()
        async with httpx2.AsyncClient(timeout=10) as http:
            found["healthz"] = (await http.get(url.removesuffix("/mcp") + "/healthz")).status_code
        found["healthz_s"] = time.monotonic() - started
        started = time.monotonic()
        async with connected(url, token, mode="legacy") as client:
            result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            found["call_s"] = time.monotonic() - started
            found["price"], found["price_error"] = result.structured_content, result.is_error
    return found
