"""One exchange call for many agents: concurrent identical market-data reads share one request,
its answer serves the callers after it for `--market-data-max-age`, `fresh` asks again, and every
market-data result says when Binance was asked. The account's open-order count is shared by the
guard's screening of concurrent calls, forgotten by any order of the account, and never used for
the `max_open_orders` check under the account lock at dispatch (issues #18 item 4, #16 item 5).

Through `mcp.Client` against the server on the test exchange over HTTP; requests are counted where
the test exchange received them. No test depends on timing: freshness is set large (nothing
expires during a test) or to 0.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import make_app
from tests.fake_binance import FakeBinance
from tests.test_decide_again import LIMIT, ONE_OPEN_ORDER, lock_held_by_the_test, orders_sent, until

pytestmark = pytest.mark.anyio

KEPT = 60.0  # seconds (the most the flag takes): nothing kept expires while a test runs
ALLOW = {"version": "1", "default": "allow"}
FIVE_OPEN_ORDERS = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "constraints": {"max_open_orders": 5}}},
}


def price_requests(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "GET" and r.path == "/api/v3/ticker/price"]


def open_order_counts(fake: FakeBinance) -> list[Any]:
    """The all-symbol open-order requests (weight 80): the account's count."""
    return [
        r
        for r in fake.requests
        if r.method == "GET" and r.path == "/api/v3/openOrders" and "symbol" not in r.params
    ]


def when(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_fifty_agents_asking_one_price_at_once_cost_one_exchange_request(
    build: Any, fake: FakeBinance
) -> None:
    fake.set_price("BTCUSDT", "64000")
    app = build(ALLOW, market_data_max_age=KEPT)
    results: list[Any] = []
    async with Client(app.server) as client:

        async def ask() -> None:
            results.append(await client.call_tool("get_price", {"symbol": "BTCUSDT"}))

        async with anyio.create_task_group() as group:
            for _ in range(50):
                group.start_soon(ask)
    assert all(not r.is_error for r in results) and len(results) == 50
    assert {r.structured_content["price"] for r in results} == {"64000.00000000"}
    assert len(price_requests(fake)) == 1
    assert len({r.structured_content["read_at"] for r in results}) == 1  # one read, shared


async def test_a_caller_asking_for_fresh_gets_a_new_read(build: Any, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "64000")
    app = build(ALLOW, market_data_max_age=KEPT)
    async with Client(app.server) as client:
        first = (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).structured_content
        fake.set_price("BTCUSDT", "65000")
        shared = (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).structured_content
        fresh = (await client.call_tool("get_price", {"symbol": "BTCUSDT", "fresh": True})).structured_content
        after = (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).structured_content
    assert first["price"] == shared["price"] == "64000.00000000"
    assert shared["read_at"] == first["read_at"] and shared["age_ms"] >= first["age_ms"]
    assert fresh["price"] == "65000.00000000" and when(fresh["read_at"]) >= when(first["read_at"])
    assert after["price"] == "65000.00000000"  # the fresh read is what the next callers share
    assert len(price_requests(fake)) == 2


async def test_with_the_cache_off_every_call_asks_the_exchange(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW, market_data_max_age=0)
    async with Client(app.server) as client:
        for _ in range(3):
            assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
    assert len(price_requests(fake)) == 3


async def test_every_market_data_result_says_when_binance_was_asked(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW, market_data_max_age=KEPT)
    calls = {
        "get_price": {"symbol": "BTCUSDT"},
        "get_24hr_ticker": {"symbol": "BTCUSDT"},
        "get_orderbook": {"symbol": "BTCUSDT", "limit": 5},
        "get_klines": {"symbol": "BTCUSDT", "interval": "1m", "limit": 3},
        "get_symbol_info": {"symbol": "BTCUSDT"},
    }
    before = datetime.now(UTC)
    async with Client(app.server) as client:
        first = {
            tool: (await client.call_tool(tool, args)).structured_content for tool, args in calls.items()
        }
        again = {
            tool: (await client.call_tool(tool, args)).structured_content for tool, args in calls.items()
        }
        fresh = {
            tool: (await client.call_tool(tool, args | {"fresh": True})).structured_content
            for tool, args in calls.items()
        }
    after = datetime.now(UTC)
    for tool in calls:
        assert before <= when(first[tool]["read_at"]) <= after, tool
        assert isinstance(first[tool]["age_ms"], int) and first[tool]["age_ms"] >= 0, tool
        assert again[tool]["read_at"] == first[tool]["read_at"], tool  # the shared answer keeps its time
        assert when(fresh[tool]["read_at"]) >= when(first[tool]["read_at"]), tool
    book_reads = [r for r in fake.requests if r.path == "/api/v3/depth"]
    assert len(book_reads) == 2  # the first call and the fresh one; the second was shared


async def test_the_guard_prices_an_order_through_the_same_shared_read(build: Any, fake: FakeBinance) -> None:
    """An agent's get_price and the guard's own price read for its order share one request."""
    app = build(ALLOW, market_data_max_age=KEPT)
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        preview = await client.call_tool("get_order_preview", {"tool": "place_order", "arguments": LIMIT})
    assert not preview.is_error, preview.content[0].text
    assert len(price_requests(fake)) == 1


async def test_the_open_order_count_is_shared_by_concurrent_calls_and_an_order_forgets_it(
    build: Any, fake: FakeBinance
) -> None:
    app = build(FIVE_OPEN_ORDERS)
    app.exchange.account_reads.max_age = KEPT
    previews: list[Any] = []
    async with Client(app.server) as client:

        async def preview() -> None:
            previews.append(
                await client.call_tool("get_order_preview", {"tool": "place_order", "arguments": LIMIT})
            )

        async with anyio.create_task_group() as group:
            for _ in range(20):
                group.start_soon(preview)
        assert all(p.structured_content["decision"] == "allow" for p in previews), previews[0].content[0].text
        assert len(open_order_counts(fake)) == 1  # twenty screenings, one count

        placed = await client.call_tool("place_order", LIMIT)
        assert not placed.is_error, placed.content[0].text
        counted = len(open_order_counts(fake))
        limits = (await client.call_tool("get_limits", {})).structured_content
    assert limits["orders"]["max_open_orders"]["open_now"] == 1  # the order forgot the shared count
    assert len(open_order_counts(fake)) == counted + 1


async def test_an_order_another_process_placed_on_the_same_state_is_counted(
    build: Any, fake: FakeBinance, tmp_path: Path
) -> None:
    """Two servers on one state dir (replicas on one PostgreSQL alike): B's order moves the
    account's epoch, so A's shared count is not shown again."""
    a = build(FIVE_OPEN_ORDERS)
    b = build(FIVE_OPEN_ORDERS)
    a.exchange.account_reads.max_age = KEPT
    async with Client(a.server) as client_a, Client(b.server) as client_b:
        before = (await client_a.call_tool("get_limits", {})).structured_content
        assert not (await client_b.call_tool("place_order", LIMIT)).is_error
        after = (await client_a.call_tool("get_limits", {})).structured_content
    assert before["orders"]["max_open_orders"]["open_now"] == 0
    assert after["orders"]["max_open_orders"]["open_now"] == 1


async def place_elsewhere(tmp_path: Path, fake: FakeBinance) -> None:
    """An order of the same account from outside this server (Binance's site, another program)."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    other = make_app(elsewhere, fake.base_url)
    try:
        await other.exchange.place_order(
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "0.001",
                "price": "50000",
            }
        )
    finally:
        other.close()


async def test_the_check_under_the_lock_counts_afresh_when_nothing_the_server_knows_moved(
    build: Any, fake: FakeBinance, tmp_path: Path
) -> None:
    """max_open_orders 1: the call is screened (no order open) and waits for the account lock; an
    order is placed outside the server meanwhile (the account's epoch does not move). The count
    under the lock must be read then, not taken from the screening: nothing is sent."""
    app = build(ONE_OPEN_ORDER)
    results: list[Any] = []

    async def place(client: Client) -> None:
        results.append(await client.call_tool("place_order", LIMIT))

    # the lock is let go first, then the task group waits for the call
    async with Client(app.server) as client, anyio.create_task_group() as group, lock_held_by_the_test(app):
        group.start_soon(place, client)
        await until(lambda: app.guard.services.lock.waiting == 1)  # screened: it saw 0 open
        await place_elsewhere(tmp_path, fake)
    [result] = results
    assert result.is_error, result.content[0].text
    assert result.structured_content["error"] == "policy_denied"
    assert "max_open_orders" in result.structured_content["rule"]
    assert "counted again before sending" in result.structured_content["reason"]
    assert len(orders_sent(fake)) == 1 and len(fake.open_orders()) == 1  # only the one from elsewhere


async def test_a_shared_count_never_lets_one_order_too_many_through(
    build: Any, fake: FakeBinance, tmp_path: Path
) -> None:
    """The screening takes the shared count (0, read before an order was placed elsewhere); the
    check under the lock counts 1 and refuses."""
    app = build(ONE_OPEN_ORDER)
    app.exchange.account_reads.max_age = KEPT
    async with Client(app.server) as client:
        preview = await client.call_tool("get_order_preview", {"tool": "place_order", "arguments": LIMIT})
        assert preview.structured_content["decision"] == "allow"
        await place_elsewhere(tmp_path, fake)
        result = await client.call_tool("place_order", LIMIT)
    assert result.is_error and result.structured_content["error"] == "policy_denied", result.content[0].text
    assert "counted again before sending" in result.structured_content["reason"]
    assert len(fake.open_orders()) == 1


# -- the mechanism itself (binance_mcp.exchange.shared_reads), with a fetch the test controls ---------


class Gate:
    """A fetch that waits until the test opens it, counting how often it was asked."""

    def __init__(self, answer: Any = "answer", error: Exception | None = None) -> None:
        self.opened = anyio.Event()
        self.asked = 0
        self.answer, self.error = answer, error

    async def __call__(self) -> Any:
        self.asked += 1
        await self.opened.wait()
        if self.error is not None:
            raise self.error
        return self.answer


async def test_callers_asking_while_a_read_is_in_the_air_wait_for_it() -> None:
    from binance_mcp.exchange.shared_reads import SharedReads

    shared, gate, got = SharedReads(max_age=KEPT), Gate(), []
    async with anyio.create_task_group() as group:
        for _ in range(10):
            group.start_soon(lambda: _append(got, shared.read("k", gate)))
        await anyio.wait_all_tasks_blocked()
        assert gate.asked == 1 and shared.requests == 1
        gate.opened.set()
    assert [r.value for r in got] == ["answer"] * 10 and len({r.read_at for r in got}) == 1
    assert sum(not r.shared for r in got) == 1  # the one that asked; the nine others shared


async def test_a_failed_read_reaches_every_waiting_caller_and_is_not_kept() -> None:
    from binance_mcp.exchange.shared_reads import SharedReads

    shared, gate, failures = SharedReads(max_age=KEPT), Gate(error=RuntimeError("down")), []

    async def read() -> None:
        try:
            await shared.read("k", gate)
        except RuntimeError as exc:
            failures.append(str(exc))

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(read)
        await anyio.wait_all_tasks_blocked()
        gate.opened.set()
    assert failures == ["down"] * 3
    later = Gate("back")
    later.opened.set()
    assert (await shared.read("k", later)).value == "back" and later.asked == 1


async def test_a_read_forgotten_while_in_the_air_answers_its_callers_but_is_not_kept() -> None:
    from binance_mcp.exchange.shared_reads import SharedReads

    shared, gate, got = SharedReads(max_age=KEPT), Gate("before the order"), []
    async with anyio.create_task_group() as group:
        group.start_soon(lambda: _append(got, shared.read("count", gate)))
        await anyio.wait_all_tasks_blocked()
        shared.forget("count")  # an order was sent meanwhile
        gate.opened.set()
    after = Gate("after the order")
    after.opened.set()
    assert got[0].value == "before the order"
    assert (await shared.read("count", after)).value == "after the order"


async def test_a_reading_of_another_version_or_too_old_for_the_caller_is_not_served() -> None:
    from binance_mcp.exchange.shared_reads import SharedReads

    shared = SharedReads(max_age=KEPT)
    first, second, third = Gate(1), Gate(2), Gate(3)
    for gate in (first, second, third):
        gate.opened.set()
    assert (await shared.read("count", first, version=7)).value == 1
    assert (await shared.read("count", second, version=7)).value == 1  # same version: shared
    assert (await shared.read("count", second, version=8)).value == 2  # the account moved
    assert (await shared.read("count", third, version=8, max_age=0)).value == 3  # counted afresh
    kept = shared.peek("count", version=8)
    assert kept is not None and kept.value == 3 and shared.peek("count", version=7) is None
    assert (first.asked, second.asked, third.asked) == (1, 1, 1)


async def test_a_refusal_of_the_askers_own_share_is_not_served_to_the_callers_waiting() -> None:
    """The first caller's weight share is used up when its read is retried: that refusal is its
    own (naming it); a caller waiting for the same read asks again, on its own share."""
    from binance_mcp.exchange.errors import ShareUsed
    from binance_mcp.exchange.shared_reads import SharedReads

    used_up = ShareUsed("agent alice", 60, 60, 2, 30.0, "agents.alice.max_weight_share_pct")
    shared, alices, bobs, got, refused = SharedReads(max_age=KEPT), Gate(error=used_up), Gate("bob's"), [], []

    async def alice() -> None:
        try:
            await shared.read("k", alices)
        except ShareUsed as exc:
            refused.append(exc.holder)

    async with anyio.create_task_group() as group:
        group.start_soon(alice)
        await anyio.wait_all_tasks_blocked()
        group.start_soon(lambda: _append(got, shared.read("k", bobs)))
        await anyio.wait_all_tasks_blocked()
        bobs.opened.set()
        alices.opened.set()
    assert refused == ["agent alice"] and [r.value for r in got] == ["bob's"] and bobs.asked == 1


async def test_when_the_caller_that_asked_is_cancelled_a_waiting_caller_asks_again() -> None:
    from binance_mcp.exchange.shared_reads import SharedReads

    shared, gate, got = SharedReads(max_age=KEPT), Gate(), []
    async with anyio.create_task_group() as outer:
        async with anyio.create_task_group() as leader:
            leader.start_soon(lambda: _append(got, shared.read("k", gate)))
            await anyio.wait_all_tasks_blocked()
            outer.start_soon(lambda: _append(got, shared.read("k", gate)))
            await anyio.wait_all_tasks_blocked()
            leader.cancel_scope.cancel()  # the first caller's client went away
        await anyio.wait_all_tasks_blocked()
        assert gate.asked == 2
        gate.opened.set()
    assert [r.value for r in got] == ["answer"]


async def _append(found: list[Any], reading: Any) -> None:
    found.append(await reading)


# -- the flag, as a user gives it ----------------------------------------------------------------------


async def test_the_freshness_is_set_on_the_command_line(tmp_path: Path, fake: FakeBinance) -> None:
    import os

    from mcp.client.stdio import StdioServerParameters, stdio_client

    from tests.command import BINANCE_MCP
    from tests.conftest import API_KEY, API_SECRET
    from tests.test_cli import run_cli

    wrong = run_cli("--testnet", "--market-data-max-age", "90")
    assert (
        wrong.returncode == 2 and "--market-data-max-age: must be a number of seconds from 0" in wrong.stderr
    )
    fake.set_price("ETHUSDT", "3333.33")
    state = str(tmp_path / "state")
    params = StdioServerParameters(
        command=BINANCE_MCP,
        args=[
            "--testnet",
            "--base-url",
            fake.base_url,
            "--state-dir",
            state,
            "--market-data-max-age",
            str(KEPT),
        ],
        env={
            "BINANCE_API_KEY": API_KEY,
            "BINANCE_API_SECRET": API_SECRET,
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(tmp_path),
    )
    async with Client(stdio_client(params), mode="legacy") as client:
        first = (await client.call_tool("get_price", {"symbol": "ETHUSDT"})).structured_content
        fake.set_price("ETHUSDT", "3500")
        second = (await client.call_tool("get_price", {"symbol": "ETHUSDT"})).structured_content
    assert first["price"] == second["price"] == "3333.33000000" and second["read_at"] == first["read_at"]
    assert len(price_requests(fake)) == 1
