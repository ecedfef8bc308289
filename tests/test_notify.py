"""Notifications of requests waiting for approval (issue 10), against a real local receiver: a tiny
HTTP server on 127.0.0.1 in this process. Payload, retry, a receiver that is down, one that hangs."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from binance_mcp.account import AccountKey
from binance_mcp.notify import announce_pending, notify_pending
from binance_mcp.stores.approvals import canonical_arguments, open_approval_store

pytestmark = pytest.mark.anyio

FAST = (0.05, 0.1, 0.2)
CALL = {
    "tool": "place_order",
    "account": str(AccountKey.of("testnet", "key-a")),
    "agent": "research-bot",
    "arguments_key": canonical_arguments({"symbol": "BTCUSDT"}, drop_client_order_id=True),
}
DETAILS = {
    "side": "BUY",
    "quantity": "0.0015",
    "symbol": "BTCUSDT",
    "notional": "97.5 USDT",
    "client_order_id": "d-1",
}
QUESTION = "BUY 0.0015 BTCUSDT MARKET (≈97.5 USDT) on TESTNET — approve?"


class Receiver:
    """Records each POST; answers `fail_first` of them with `fail_status`, or stalls `stall_s`."""

    def __init__(self, fail_first: int = 0, fail_status: int = 500, stall_s: float = 0.0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.times: list[float] = []
        self.fail_first = fail_first
        self.fail_status = fail_status
        self.stall_s = stall_s
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                receiver.headers.append(dict(self.headers))
                receiver.times.append(time.monotonic())
                if receiver.stall_s:
                    time.sleep(receiver.stall_s)
                failing = len(receiver.bodies) <= receiver.fail_first
                self.send_response(receiver.fail_status if failing else 200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.handle_error = lambda request, address: None  # a client that gave up: expected here
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T0/B0/sekret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    started = Receiver()
    yield started
    started.close()


@pytest.fixture
def approval(tmp_path: Path) -> Any:
    with open_approval_store(tmp_path) as store:
        return store.request(
            **CALL, question=QUESTION, details=DETAILS, now=datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
        )


def down_url() -> str:
    """A loopback port nobody listens on: connections are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook/sekret"


async def test_the_payload_has_slack_text_the_request_and_a_link(receiver: Receiver, approval: Any) -> None:
    page = "http://127.0.0.1:8000/approvals"
    assert await notify_pending(
        receiver.url, approval, page, command=f"binance-mcp approvals approve {approval.id}"
    )
    (body,) = receiver.bodies
    assert body["text"].splitlines() == [
        f"Approval needed for agent research-bot: BUY 0.0015 BTCUSDT MARKET (≈97.5 USDT) on TESTNET "
        f"({approval.id}, expires 13:00 UTC).",
        f"Decide on the approvals page: {page}#{approval.id}",
        f"Or at a terminal: binance-mcp approvals approve {approval.id}",
    ]
    assert body["page_url"] == f"{page}#{approval.id}"  # the request's own card
    assert body["approval"]["id"] == approval.id and body["approval"]["status"] in ("pending", "expired")
    assert body["approval"]["details"] == DETAILS
    assert body["approval"]["client_order_id"] == "d-1" and body["approval"]["agent"] == "research-bot"
    assert receiver.headers[0]["content-type"] == "application/json"


async def test_slack_markup_in_the_text_is_escaped(receiver: Receiver, tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as store:
        asked = store.request(
            **(CALL | {"tool": "cancel_order"}), question="Cancel order <!channel> & more — approve?"
        )
    assert await notify_pending(receiver.url, asked, None)
    text = receiver.bodies[0]["text"]
    assert "&lt;!channel&gt; &amp; more" in text and "<!channel>" not in text


async def test_fails_twice_then_succeeds_with_backoff(approval: Any) -> None:
    flaky = Receiver(fail_first=2, fail_status=503)
    try:
        assert await notify_pending(flaky.url, approval, None, delays=FAST)
        assert len(flaky.bodies) == 3
        gaps = [later - earlier for earlier, later in zip(flaky.times, flaky.times[1:], strict=False)]
        assert gaps[0] >= 0.05 and gaps[1] >= 0.1  # it waited, longer each time
        assert flaky.bodies[0] == flaky.bodies[2]
    finally:
        flaky.close()


async def test_a_receiver_that_stays_down_is_logged_without_its_secret_path(
    approval: Any, caplog: pytest.LogCaptureFixture
) -> None:
    url = down_url()
    with caplog.at_level(logging.WARNING, logger="binance_mcp.notify"):
        started = time.monotonic()
        assert not await notify_pending(url, approval, None, delays=FAST)
        assert time.monotonic() - started < 5
    (message,) = [record.getMessage() for record in caplog.records]
    assert f"could not notify http://127.0.0.1:{url.split(':')[2].split('/')[0]}/…" in message
    assert approval.id in message and "4 attempts" in message
    assert "sekret" not in caplog.text


async def test_a_4xx_is_not_retried(approval: Any, caplog: pytest.LogCaptureFixture) -> None:
    refusing = Receiver(fail_first=99, fail_status=404)
    try:
        with caplog.at_level(logging.WARNING, logger="binance_mcp.notify"):
            assert not await notify_pending(refusing.url, approval, None, delays=FAST)
        assert len(refusing.bodies) == 1
        assert "HTTP 404 after 1 attempt)" in caplog.text
    finally:
        refusing.close()


async def test_a_429_is_retried(approval: Any) -> None:
    limited = Receiver(fail_first=1, fail_status=429)
    try:
        assert await notify_pending(limited.url, approval, None, delays=FAST)
        assert len(limited.bodies) == 2
    finally:
        limited.close()


async def test_announce_returns_at_once_and_never_delays_the_caller(approval: Any) -> None:
    stalled = Receiver(stall_s=2.0)
    try:
        started = time.monotonic()
        task = announce_pending(stalled.url, approval, None, deadline_s=0.5, delays=FAST)
        assert task is not None
        assert time.monotonic() - started < 0.05  # the call goes on at once
        assert await task is False  # gave up at its deadline, quietly
        assert time.monotonic() - started < 1.5
    finally:
        stalled.close()


async def test_announce_with_a_receiver_down_and_with_none(approval: Any) -> None:
    task = announce_pending(down_url(), approval, None, delays=FAST)
    assert task is not None and await task is False
    assert announce_pending(None, approval, None) is None
    assert announce_pending("", approval, None) is None


def test_announce_outside_an_event_loop_does_nothing(approval: Any) -> None:
    assert announce_pending("http://127.0.0.1:9/x", approval, None) is None


async def test_announce_delivers_in_the_background(receiver: Receiver, approval: Any) -> None:
    task = announce_pending(receiver.url, approval, "http://127.0.0.1:1/approvals")
    assert task is not None
    assert await asyncio.wait_for(task, 10) is True
    assert receiver.bodies[0]["approval"]["id"] == approval.id
