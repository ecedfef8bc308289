"""Exchange reliability through `mcp.Client`: every fault kind of the local exchange, one at a time.

Reads go through 5xx, 429 (after its Retry-After), timeouts and dropped connections; a 418 stops
every call until the ban ends; a -1021 resyncs the clock; other 4xx are not retried. An order or a
cancel is never sent twice: after an ambiguous failure it is looked up by its client order id.
The rate-limit headers are tracked so that calls wait before Binance's limits instead of a 429.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.exchange.client import Timeouts
from binance_mcp.exchange.retry import RetryPolicy
from binance_mcp.exchange.usage import (
    DEFAULT_LIMITS,
    ORDERS,
    REQUEST_WEIGHT,
    RateLimit,
    UsageTracker,
    ban_end,
    parse_rate_limits,
    parse_retry_after,
)
from binance_mcp.server import App
from tests.conftest import API_KEY, API_SECRET, make_app
from tests.fake_binance import Delay, Drop, ExecuteThenFail, FakeBinance, Status

pytestmark = pytest.mark.anyio

# Short waits and timeouts, so that a test of a fault takes milliseconds, not seconds.
FAST = RetryPolicy(
    attempts=4,
    first_wait=0.01,
    longest_wait=0.05,
    total=5.0,
    lookups=3,
    first_lookup_wait=0.02,
    max_pause=2.0,
)
SHORT = Timeouts(connect=1.0, read=0.3)

BAN_MSG = "Way too much request weight used; IP banned until {}. Please use WebSocket Streams for live updates to avoid bans."
WEIGHT_MSG = "Too much request weight used; current limit is 6000 request weight per 1 MINUTE."
EXEC_UNKNOWN = (
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
)
LIMIT_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "50000"}
MARKET_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}


def fast_app(tmp_path: Path, fake: FakeBinance, **policy_changes: Any) -> App:
    app = make_app(tmp_path, fake.base_url)
    app.exchange.timeouts = SHORT
    app.exchange.retry = replace(FAST, **policy_changes)
    return app


@pytest.fixture
def app(tmp_path: Path, fake: FakeBinance) -> App:
    built = fast_app(tmp_path, fake)
    yield built
    built.close()


@pytest.fixture
async def client(app: App) -> AsyncIterator[Client]:
    async with Client(app.server) as connected:
        yield connected


def sent(fake: FakeBinance, method: str, path: str) -> list:
    return [r for r in fake.requests if r.method == method and r.path == path]


async def settled(fake: FakeBinance, count: int, timeout: float = 3.0) -> None:
    """Wait until the fake has logged `count` requests (a delayed one is logged when it is answered)."""
    with anyio.fail_after(timeout):
        while len(fake.requests) < count:
            await anyio.sleep(0.01)


def assert_no_secret(text: str) -> None:
    assert API_KEY not in text and API_SECRET not in text


# -- reads -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Status(500, -1000, "An unknown error occurred while processing the request."),
        Status(503, -1001, "Internal error; unable to process your request. Please try again."),
        Status(502, None),  # a proxy's HTML page
        Drop(),
        Delay(1.0),  # longer than the 0.3 s read timeout
        ExecuteThenFail(503),
    ],
    ids=["500", "503", "502-html", "drop", "timeout", "execute-then-503"],
)
async def test_a_read_is_retried_through_a_passing_fault(client: Client, fake: FakeBinance, fault) -> None:
    fake.inject(fault, method="GET", path="/api/v3/ticker/price", times=2)
    started = time.perf_counter()
    result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["symbol"] == "BTCUSDT"
    await settled(fake, 3)
    tries = sorted(sent(fake, "GET", "/api/v3/ticker/price"), key=lambda r: r.time_ms)  # by arrival
    assert [r.fault for r in tries] == [fault, fault, None]
    assert time.perf_counter() - started < 3.0


async def test_a_signed_read_is_retried_too(client: Client, fake: FakeBinance) -> None:
    fake.inject(Status(503, -1001, "Internal error"), path="/api/v3/account")
    fake.inject(Drop(), path="/api/v3/account")
    result = await client.call_tool("get_account_info", {})
    assert not result.is_error, result.content[0].text
    tries = sent(fake, "GET", "/api/v3/account")
    assert len(tries) == 3 and tries[-1].signature_ok is True


async def test_retries_are_bounded_in_attempts(client: Client, fake: FakeBinance) -> None:
    fake.inject(Status(503, -1001, "Internal error; unable to process your request."), times=50)
    result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert result.is_error and result.structured_content["error"] == "exchange_error"
    assert result.structured_content["code"] == -1001
    assert len(fake.requests) == FAST.attempts


async def test_retries_are_bounded_in_total_time(tmp_path: Path, fake: FakeBinance) -> None:
    app = fast_app(tmp_path, fake, attempts=100, first_wait=0.1, longest_wait=0.1, total=0.5)
    fake.inject(Status(500, -1000, "An unknown error occurred while processing the request."), times=100)
    started = time.perf_counter()
    async with Client(app.server) as client:
        result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert result.is_error and time.perf_counter() - started < 1.5
    assert 2 <= len(fake.requests) <= 12


@pytest.mark.parametrize(
    "fault",
    [
        Status(
            400,
            -1100,
            "Illegal characters found in parameter 'symbol'; legal range is '^[A-Z0-9-_.]{1,20}$'.",
        ),
        Status(401, -2015, "Invalid API-key, IP, or permissions for action."),
        Status(403, None),  # the WAF's HTML page
        Status(404, None),
    ],
    ids=["400", "401", "403-waf", "404"],
)
async def test_other_4xx_are_never_retried(client: Client, fake: FakeBinance, fault: Status) -> None:
    fake.inject(fault, path="/api/v3/ticker/price")
    result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert result.is_error and result.structured_content["error"] == "exchange_error"
    assert result.structured_content.get("code") == fault.code
    assert f"HTTP {fault.http_status}" in result.structured_content["reason"]
    assert len(fake.requests) == 1


async def test_a_429_is_retried_after_its_retry_after(client: Client, fake: FakeBinance) -> None:
    fake.inject(Status(429, -1003, WEIGHT_MSG, retry_after=1), path="/api/v3/ticker/price")
    result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert not result.is_error, result.content[0].text
    first, second = sent(fake, "GET", "/api/v3/ticker/price")
    assert first.status == 429 and second.status == 200
    assert second.time_ms - first.time_ms >= 950


async def test_a_429_longer_than_the_wait_allowed_is_refused_and_holds_every_call_back(
    tmp_path: Path, fake: FakeBinance
) -> None:
    app = fast_app(tmp_path, fake, max_pause=0.5, total=0.5)
    fake.inject(Status(429, -1003, WEIGHT_MSG, retry_after=30), path="/api/v3/ticker/price")
    async with Client(app.server) as client:
        result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
        assert result.is_error and result.structured_content["code"] == -1003
        assert "no request in the next 30 s" in result.structured_content["reason"]
        later = await client.call_tool("get_24hr_ticker", {"symbol": "BTCUSDT"})
    assert later.is_error and "no requests until" in later.structured_content["reason"]
    assert len(fake.requests) == 1


# -- 418 -------------------------------------------------------------------------------------------


def ban_message(seconds: float) -> str:
    return BAN_MSG.format(int((time.time() + seconds) * 1000))


async def test_a_418_stops_every_call_until_the_ban_ends_and_says_until_when(
    client: Client, fake: FakeBinance
) -> None:
    fake.inject(Status(418, -1003, ban_message(120), retry_after=120), path="/api/v3/ticker/price")
    result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert result.is_error
    content = result.structured_content
    assert content["error"] == "exchange_error" and content["code"] == -1003 and content["rule"] is None
    until = re.search(r"banned this server's IP address until (\S+Z)", content["reason"])
    assert until, content["reason"]
    ends = datetime.fromisoformat(until.group(1).replace("Z", "+00:00"))
    assert 110 < (ends - datetime.now(UTC)).total_seconds() <= 121
    for tool, arguments in (
        ("get_price", {"symbol": "ETHUSDT"}),
        ("get_account_info", {}),
        ("place_order", LIMIT_BUY),
        ("cancel_order", {"symbol": "BTCUSDT", "order_id": 1}),
    ):
        refused = await client.call_tool(tool, arguments)
        assert refused.is_error, tool
        assert refused.structured_content["error"] == "exchange_error", tool
        assert until.group(1) in refused.structured_content["reason"], refused.structured_content["reason"]
        assert "try again in" in refused.structured_content["reason"]
        assert_no_secret(refused.content[0].text)
    assert len(fake.requests) == 1  # nothing reached the exchange during the ban
    assert fake.orders == []


async def test_after_a_short_ban_calls_flow_again(tmp_path: Path, fake: FakeBinance) -> None:
    app = fast_app(tmp_path, fake, max_pause=0.2)
    fake.inject(Status(418, -1003, ban_message(1), retry_after=1), path="/api/v3/ticker/price")
    async with Client(app.server) as client:
        assert (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        assert (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        assert len(fake.requests) == 1
        await anyio.sleep(1.1)
        result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert not result.is_error, result.content[0].text
    assert len(fake.requests) == 2


async def test_a_ban_shorter_than_the_wait_allowed_is_waited_out(client: Client, fake: FakeBinance) -> None:
    fake.inject(Status(418, -1003, ban_message(1), retry_after=1), path="/api/v3/ticker/price")
    result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
    assert not result.is_error, result.content[0].text
    first, second = sent(fake, "GET", "/api/v3/ticker/price")
    assert second.time_ms - first.time_ms >= 950


# -- -1021 -----------------------------------------------------------------------------------------


async def test_a_clock_ahead_of_binance_is_resynced_and_the_call_succeeds(
    client: Client, app: App, fake: FakeBinance
) -> None:
    fake.server_time_offset_ms = -15_000  # Binance's clock 15 s behind ours: our timestamps are ahead
    result = await client.call_tool("get_account_info", {})
    assert not result.is_error, result.content[0].text
    assert [(r.path, r.status) for r in fake.requests] == [
        ("/api/v3/account", 400),
        ("/api/v3/time", 200),
        ("/api/v3/account", 200),
    ]
    assert fake.requests[0].response["code"] == -1021
    assert -16_000 < app.exchange.timestamp_offset_ms <= -15_000
    again = await client.call_tool("get_open_orders", {})
    assert not again.is_error and fake.requests[-1].status == 200  # no second resync


async def test_a_1021_resyncs_only_once(client: Client, fake: FakeBinance) -> None:
    outside = Status(400, -1021, "Timestamp for this request is outside of the recvWindow.")
    fake.inject(outside, path="/api/v3/account", times=5)
    result = await client.call_tool("get_account_info", {})
    assert result.is_error and result.structured_content["code"] == -1021
    assert [r.path for r in fake.requests] == ["/api/v3/account", "/api/v3/time", "/api/v3/account"]


async def test_an_order_rejected_with_1021_is_sent_once_more_after_the_resync(
    client: Client, fake: FakeBinance
) -> None:
    fake.inject(Status(400, -1021, "Timestamp for this request is outside of the recvWindow."), method="POST")
    result = await client.call_tool("place_order", LIMIT_BUY)
    assert not result.is_error, result.content[0].text
    posts = sent(fake, "POST", "/api/v3/order")
    assert [p.status for p in posts] == [400, 200]
    assert len(fake.orders) == 1 and sent(fake, "GET", "/api/v3/time")


# -- orders: never sent twice ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        ExecuteThenFail(503),  # -1007 "execution status unknown"
        ExecuteThenFail(500, -1006, "An unexpected response was received from the message bus."),
        ExecuteThenFail(),  # executed, then the connection drops
    ],
    ids=["503-1007", "500-1006", "drop"],
)
async def test_an_order_whose_answer_is_lost_is_found_by_its_client_order_id(
    client: Client, app: App, fake: FakeBinance, fault: ExecuteThenFail
) -> None:
    fake.inject(fault, method="POST", path="/api/v3/order")
    result = await client.call_tool("place_order", LIMIT_BUY | {"client_order_id": "lost-answer-1"})
    assert not result.is_error, result.content[0].text
    order = result.structured_content
    assert order["recovered"] is True and order["client_order_id"] == "lost-answer-1"
    assert "Recovered after a lost answer" in result.content[0].text
    [placed] = fake.orders
    assert order["order_id"] == placed.order_id and placed.client_order_id == "lost-answer-1"
    assert len(sent(fake, "POST", "/api/v3/order")) == 1
    [lookup] = sent(fake, "GET", "/api/v3/order")
    assert lookup.params["origClientOrderId"] == "lost-answer-1"
    record = app.audit.query(tool="place_order")[-1]
    assert (record.outcome, record.order_id) == ("ok", placed.order_id)


async def test_an_order_that_times_out_is_looked_up_until_it_shows(tmp_path: Path, fake: FakeBinance) -> None:
    app = fast_app(tmp_path, fake, lookups=6, first_lookup_wait=0.1)
    fake.inject(Delay(0.6), method="POST", path="/api/v3/order")  # executed after our 0.3 s timeout
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", MARKET_BUY)
    assert not result.is_error, result.content[0].text
    assert result.structured_content["recovered"] is True
    assert result.structured_content["status"] == "FILLED"
    assert len(fake.orders) == 1 and len(sent(fake, "POST", "/api/v3/order")) == 1
    lookups = sent(fake, "GET", "/api/v3/order")
    assert lookups[0].response["code"] == -2013 and lookups[-1].status == 200


async def test_when_the_order_and_every_lookup_fail_the_refusal_names_the_client_order_id(
    client: Client, app: App, fake: FakeBinance
) -> None:
    fake.inject(ExecuteThenFail(503), method="POST", path="/api/v3/order")
    fake.inject(Status(503, -1001, "Internal error"), method="GET", path="/api/v3/order", times=100)
    result = await client.call_tool("place_order", MARKET_BUY | {"client_order_id": "who-knows-7"})
    assert result.is_error
    content = result.structured_content
    assert content["error"] == "order_status_unknown" and content["client_order_id"] == "who-knows-7"
    assert "who-knows-7" in content["reason"] and "not sent again" in content["reason"]
    assert len(fake.orders) == 1  # it did execute; what matters: once, never twice
    assert len(sent(fake, "POST", "/api/v3/order")) == 1
    assert len(sent(fake, "GET", "/api/v3/order")) == FAST.lookups * FAST.attempts
    record = app.audit.query(tool="place_order")[-1]
    assert (record.outcome, record.client_order_id) == ("unknown", "who-knows-7")


@pytest.mark.parametrize(
    "fault",
    [Status(503, -1007, EXEC_UNKNOWN), Drop(), Delay(1.0)],
    ids=["503-not-executed", "drop-not-executed", "timeout-not-yet-executed"],
)
async def test_an_order_that_never_shows_is_unknown_and_never_resent(
    client: Client, fake: FakeBinance, fault
) -> None:
    fake.inject(fault, method="POST", path="/api/v3/order")
    result = await client.call_tool("place_order", MARKET_BUY | {"client_order_id": "maybe-3"})
    assert result.is_error and result.structured_content["error"] == "order_status_unknown"
    assert result.structured_content["client_order_id"] == "maybe-3"
    lookups = sent(fake, "GET", "/api/v3/order")
    assert len(lookups) == FAST.lookups and all(r.response["code"] == -2013 for r in lookups)
    await anyio.sleep(1.0 if isinstance(fault, Delay) else 0)
    assert len(sent(fake, "POST", "/api/v3/order")) == 1
    assert len(fake.orders) <= 1  # zero, or (the delayed one) one: never two


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (
            Status(
                429, -1015, "Too many new orders; current limit is 50 orders per 10 SECOND.", retry_after=1
            ),
            -1015,
        ),
        (Status(418, -1003, ban_message(120), retry_after=120), -1003),
    ],
    ids=["429", "418"],
)
async def test_a_429_or_418_on_an_order_is_refused_without_a_lookup_or_a_retry(
    client: Client, app: App, fake: FakeBinance, fault: Status, code: int
) -> None:
    fake.inject(fault, method="POST", path="/api/v3/order")
    result = await client.call_tool("place_order", LIMIT_BUY)
    assert result.is_error
    assert (
        result.structured_content["error"] == "exchange_error" and result.structured_content["code"] == code
    )
    assert len(sent(fake, "POST", "/api/v3/order")) == 1
    assert sent(fake, "GET", "/api/v3/order") == [] and fake.orders == []
    assert app.audit.query(tool="place_order")[-1].outcome == "error"


# -- cancels ---------------------------------------------------------------------------------------


async def place(client: Client) -> dict:
    result = await client.call_tool("place_order", LIMIT_BUY)
    assert not result.is_error, result.content[0].text
    return result.structured_content


@pytest.mark.parametrize("fault", [ExecuteThenFail(503), ExecuteThenFail()], ids=["503", "drop"])
async def test_a_cancel_whose_answer_is_lost_is_checked_and_not_resent(
    client: Client, fake: FakeBinance, fault: ExecuteThenFail
) -> None:
    order = await place(client)
    fake.inject(fault, method="DELETE", path="/api/v3/order")
    result = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": order["order_id"]})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["status"] == "CANCELED"
    assert result.structured_content["client_order_id"] == order["client_order_id"]
    assert len(sent(fake, "DELETE", "/api/v3/order")) == 1 and fake.open_orders() == []


async def test_a_cancel_that_did_not_happen_is_unknown_and_not_resent(
    client: Client, fake: FakeBinance
) -> None:
    order = await place(client)
    fake.inject(Status(503, -1007, EXEC_UNKNOWN), method="DELETE", path="/api/v3/order")
    result = await client.call_tool(
        "cancel_order", {"symbol": "BTCUSDT", "client_order_id": order["client_order_id"]}
    )
    assert result.is_error and result.structured_content["error"] == "order_status_unknown"
    assert result.structured_content["client_order_id"] == order["client_order_id"]
    assert "still NEW" in result.structured_content["reason"]
    assert len(sent(fake, "DELETE", "/api/v3/order")) == 1 and len(fake.open_orders()) == 1


async def test_a_cancel_of_an_order_that_filled_meanwhile_is_an_error(
    client: Client, fake: FakeBinance
) -> None:
    order = await place(client)
    fake.set_price("BTCUSDT", "49000")  # the resting buy at 50000 fills
    fake.inject(Drop(), method="DELETE", path="/api/v3/order")
    result = await client.call_tool("cancel_order", {"symbol": "BTCUSDT", "order_id": order["order_id"]})
    assert result.is_error and result.structured_content["error"] == "exchange_error"
    assert "is FILLED, so it was not cancelled" in result.structured_content["reason"]


OCO_SELL = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": "66000"},
    {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stop_price": "64000"},
]}  # fmt: skip


@pytest.mark.parametrize("kind", ["order", "order list"])
@pytest.mark.parametrize(
    ("fault", "done"), [(ExecuteThenFail(503), True), (Status(503, -1007, EXEC_UNKNOWN), False)]
)
async def test_an_order_and_a_list_cancel_whose_answer_is_lost_take_one_path(
    client: Client, fake: FakeBinance, kind: str, fault: Any, done: bool
) -> None:
    """By Binance's id, an order's cancel and a list's are checked the same way: the status looked
    up (a few times) says cancelled, or the outcome is unknown; the cancel is never sent again."""
    if kind == "order":
        tool, path, ids = "cancel_order", "/api/v3/order", {"order_id": (await place(client))["order_id"]}
    else:
        placed = await client.call_tool("place_order_list", OCO_SELL)
        tool, path, ids = (
            "cancel_order_list",
            "/api/v3/orderList",
            {"order_list_id": placed.structured_content["order_list_id"]},
        )
    fake.inject(fault, method="DELETE", path=path)
    result = await client.call_tool(tool, {"symbol": "BTCUSDT"} | ids)
    assert len(sent(fake, "DELETE", path)) == 1
    if done:
        assert not result.is_error, result.content[0].text
        assert fake.open_orders() == []
    else:
        assert result.is_error and result.structured_content["error"] == "order_status_unknown"
        assert f"the cancel of {kind} " in result.structured_content["reason"]
        assert len(sent(fake, "GET", path)) == FAST.lookups


# -- weights and order counts ----------------------------------------------------------------------


@pytest.fixture
def three_orders_per_10s(monkeypatch: pytest.MonkeyPatch, fake: FakeBinance) -> None:
    """The exchange allows 3 new orders per 10 s, says so in exchangeInfo and enforces it with 429."""
    from tests.fake_binance import public_api, ratelimit

    limits = [dict(entry) for entry in public_api.RATE_LIMITS]
    for entry in limits:
        if entry["rateLimitType"] == "ORDERS" and entry["interval"] == "SECOND":
            entry["limit"] = 3
    monkeypatch.setattr(public_api, "RATE_LIMITS", limits)
    monkeypatch.setattr(ratelimit, "ORDERS_10S_LIMIT", 3)
    fake.enforce_rate_limits = True


def align_clocks(app: App, fake: FakeBinance, ms_into_window: int) -> None:
    """Shift the exchange's clock (and, as a resync would, ours) to `ms_into_window` of a 10 s window."""
    offset = (ms_into_window - int(time.time() * 1000)) % 10_000
    fake.server_time_offset_ms = offset
    app.exchange.timestamp_offset_ms = offset


@pytest.mark.usefixtures("three_orders_per_10s")
async def test_an_order_waits_for_the_next_window_instead_of_earning_a_429(
    client: Client, app: App, fake: FakeBinance
) -> None:
    align_clocks(app, fake, 8_700)  # the window ends in 1.3 s
    for _ in range(3):
        await place(client)
    started = time.perf_counter()
    fourth = await place(client)
    assert 0.2 < time.perf_counter() - started < 2.5
    assert fourth["status"] == "NEW" and len(fake.orders) == 4
    assert all(r.status != 429 for r in fake.requests)
    assert app.exchange.usage.order_count_10s == 1 and app.exchange.limits.from_exchange


@pytest.mark.usefixtures("three_orders_per_10s")
async def test_an_order_that_would_wait_too_long_is_refused_with_a_sentence(
    client: Client, app: App, fake: FakeBinance
) -> None:
    align_clocks(app, fake, 1_000)  # the window ends in 9 s, longer than the 2 s allowed
    for _ in range(3):
        await place(client)
    result = await client.call_tool("place_order", LIMIT_BUY)
    assert result.is_error and result.structured_content["error"] == "exchange_error"
    reason = result.structured_content["reason"]
    assert "limit of 3 orders per 10 SECOND is used up" in reason and "nothing was sent" in reason
    assert len(sent(fake, "POST", "/api/v3/order")) == 3
    assert all(r.status != 429 for r in fake.requests)


def test_the_tracker_waits_before_a_limit_and_follows_the_headers() -> None:
    weight = RateLimit(REQUEST_WEIGHT, "MINUTE", 1, 100)
    orders = RateLimit(ORDERS, "SECOND", 10, 2)
    tracker = UsageTracker([weight, orders])
    now = 60_000 * 1000 + 5_000  # 5 s into a minute and into a 10 s window
    assert tracker.wait_for(60, 1, now) is None
    tracker.add(60, 1, now)
    tracker.observe({"x-mbx-used-weight-1m": "90", "x-mbx-order-count-10s": "1"}, now)  # others use the IP
    wait = tracker.wait_for(20, 0, now)
    assert wait is not None and wait.limit == weight and wait.used == 90
    assert wait.seconds == pytest.approx(55.05)
    assert tracker.wait_for(10, 1, now) is None
    tracker.add(10, 1, now)
    wait = tracker.wait_for(0, 1, now)
    assert wait is not None and wait.limit == orders and wait.seconds == pytest.approx(5.05)
    assert tracker.wait_for(0, 1, now + 5_000) is None  # a new 10 s window
    assert tracker.wait_for(20, 0, now + 55_000) is None  # a new minute
    tracker.observe({"x-mbx-used-weight-1m": "3"}, now + 55_000)
    assert tracker.used(weight, now + 55_000) == 3


def test_limits_come_from_exchange_info_with_documented_defaults() -> None:
    assert [limit.header for limit in DEFAULT_LIMITS] == [
        "x-mbx-used-weight-1m",
        "x-mbx-order-count-10s",
        "x-mbx-order-count-1d",
    ]
    parsed = parse_rate_limits(
        [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
            {"rateLimitType": "ORDERS", "interval": "FORTNIGHT", "intervalNum": 1, "limit": 5},
        ]
    )
    assert parsed == (
        RateLimit(REQUEST_WEIGHT, "MINUTE", 1, 1200),
        RateLimit(ORDERS, "SECOND", 10, 100),
    )
    assert parse_rate_limits([]) is None and parse_rate_limits(None) is None
    assert parsed[1].describe() == "100 orders per 10 SECOND"


def test_retry_after_and_ban_ends() -> None:
    assert (
        parse_retry_after("7") == 7 and parse_retry_after(None) is None and parse_retry_after("soon") is None
    )
    assert ban_end("anything", 30, 1000.0, 0) == 1030.0
    assert ban_end(BAN_MSG.format(1_700_000_000_000), None, 1000.0, 0) == 1_700_000_000.0
    assert ban_end(BAN_MSG.format(1_700_000_000_000), None, 1000.0, -2_000) == 1_700_000_002.0
    assert ban_end("IP banned", None, 1000.0, 0) == 1120.0
