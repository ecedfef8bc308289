"""Deciding again at dispatch by state, not by timing (issue #14 item 2, #16 item 3).

A call is screened before it takes the account lock and sent under it. When anything its decision
read moved in between (another process's order, a policy reload) or was moving when it was read
(an order in flight), the account's epoch says so and the call is decided again with what is true
now; a token revoked meanwhile sends nothing. Each test orders the events explicitly: an order
held at the test exchange (`Hold`), or the account lock held by the test through the store's own
lock, and the waiting call observed as waiting (`DispatchLock.waiting`), never a sleep.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from binance_mcp.guard.epoch import CHANGING_TOOLS
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import parse_policy
from binance_mcp.server import App
from binance_mcp.stores.tokens import TokenStore
from tests.fake_binance import FakeBinance, Hold
from tests.test_crash_recovery import server_process
from tests.test_four_processes import server as stdio_server
from tests.test_http import connected, running

pytestmark = pytest.mark.anyio

LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "60000"}
ONE_OPEN_ORDER = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "constraints": {"max_open_orders": 1}}},
}


def orders_sent(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


async def until(condition: Callable[[], bool]) -> None:
    """Wait for a state the test caused (polled; bounded so a broken test fails, not hangs)."""
    with anyio.fail_after(20):
        while not condition():
            await anyio.sleep(0.01)


@asynccontextmanager
async def lock_held_by_the_test(app: App) -> AsyncIterator[None]:
    """The account lock, taken through the store's own lock, as another call's dispatch takes it."""
    services = app.guard.services
    async with services.stores.get().account_lock.held(services.account):
        yield


DENY_ORDERS = {"version": "1", "default": "allow", "rules": {"place_order": {"action": "deny"}}}


async def placed_under_the_tests_lock(app: App, client: Any, meanwhile: Callable[[], object]) -> Any:
    """A `place_order` (LIMIT) screened while the test holds the account lock: once it waits for
    the lock (screened, allowed), `meanwhile()` runs, then the lock is let go. Its result."""
    result: list[Any] = []
    async with anyio.create_task_group() as group, lock_held_by_the_test(app):

        async def place() -> None:
            result.append(await client.call_tool("place_order", LIMIT))

        group.start_soon(place)
        await until(lambda: app.guard.services.lock.waiting == 1)
        meanwhile()
    return result[0]


async def test_an_order_in_flight_in_another_process_is_counted_before_the_waiting_call_is_sent(
    tmp_path: Path, fake: FakeBinance, build: Any
) -> None:
    """max_open_orders 1: process A's order is in flight (held at the exchange) while B screens it
    (B counts no open order); B then waits for the lock. A's order lands; B must see it."""
    hold = Hold(threading.Event(), threading.Event())
    fake.inject(hold, method="POST", path="/api/v3/order")
    b = build(ONE_OPEN_ORDER)  # this process, on the same state dir as the other
    async with Client(stdio_client(stdio_server(tmp_path, fake, ONE_OPEN_ORDER)), mode="legacy") as other:
        async with anyio.create_task_group() as group:
            first: list[Any] = []

            async def place_in_the_other_process() -> None:
                first.append(await other.call_tool("place_order", LIMIT))

            group.start_soon(place_in_the_other_process)
            await until(hold.arrived.is_set)  # A holds the lock; its order is on its way
            async with Client(b.server) as client:
                second: list[Any] = []

                async def place_here() -> None:
                    second.append(await client.call_tool("place_order", LIMIT | {"price": "59000"}))

                group.start_soon(place_here)
                await until(lambda: b.guard.services.lock.waiting == 1)  # screened: it saw 0 open
                hold.released.set()
                await until(lambda: bool(second))
        assert not first[0].is_error, first[0].content[0].text
    refused = second[0]
    assert refused.is_error and refused.structured_content["error"] == "policy_denied", refused.content[
        0
    ].text
    assert "changed while this call waited" in refused.structured_content["reason"]
    assert "max_open_orders" in refused.structured_content["rule"]
    assert len(orders_sent(fake)) == 1 and len(fake.open_orders()) == 1


async def test_an_order_a_dead_process_left_in_flight_is_counted_before_the_next_is_sent(
    tmp_path: Path, fake: FakeBinance, build: Any
) -> None:
    """B screens while A's order is in flight (no open order yet). A's order then executes and A is
    killed before it hears back: its record stays `pending` (its lease has not run out, so nobody
    recovers it yet) and the epoch B reads under the lock is the one it screened at. A change that
    was in flight when B was screened is never taken as settled: B is decided again."""
    hold = Hold(threading.Event(), threading.Event(), reply_released=threading.Event())
    fake.inject(hold, method="POST", path="/api/v3/order")
    pid_file = tmp_path / "other.pid"
    params = server_process(tmp_path, fake, pid_file)
    b = build(ONE_OPEN_ORDER)
    answers: list[Any] = []

    async def place_in_the_other_process(client: Client) -> None:
        try:
            answers.append(await client.call_tool("place_order", LIMIT))
        except Exception as exc:  # killed under the call
            answers.append(exc)

    second: list[Any] = []
    async with Client(b.server) as here:
        with contextlib.suppress(Exception):  # the transport of a killed server ends with an error
            async with (
                Client(stdio_client(params), mode="legacy") as other,
                anyio.create_task_group() as group,
            ):
                group.start_soon(place_in_the_other_process, other)
                await until(hold.arrived.is_set)

                async def place_here() -> None:
                    second.append(await here.call_tool("place_order", LIMIT | {"price": "59000"}))

                group.start_soon(place_here)
                await until(lambda: b.guard.services.lock.waiting == 1)  # screened: 0 open orders
                hold.released.set()
                await until(lambda: len(fake.open_orders()) == 1)  # A's order is on the book
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
                await until(lambda: bool(second))
                hold.reply_released.set()  # type: ignore[union-attr]
    refused = second[0]
    assert refused.structured_content["error"] == "policy_denied", refused.content[0].text
    assert "max_open_orders" in refused.structured_content["rule"]
    assert len(fake.orders) == 1 and len(fake.open_orders()) == 1  # A's; B's was never placed


async def test_an_order_placed_and_settled_elsewhere_while_a_call_was_screened_is_counted(
    tmp_path: Path, fake: FakeBinance, build: Any
) -> None:
    """Nothing in flight when B is screened, and nothing in flight when B takes the lock: another
    process's order began and ended in between. Only the account's latest change says so (the
    epoch's `latest_change`): B must be decided again, and refused by max_open_orders.
    B's two open-order counts of screening are answered "none" and the second answer is kept
    (`Hold` with `reply_released`) while the other process places its order start to finish."""
    passes = Hold(threading.Event(), threading.Event())
    passes.released.set()
    kept = Hold(threading.Event(), threading.Event(), reply_released=threading.Event())
    kept.released.set()
    fake.inject(passes, method="GET", path="/api/v3/openOrders")  # B's first count: answered
    fake.inject(kept, method="GET", path="/api/v3/openOrders")  # B's second: counted, reply kept
    b = build(ONE_OPEN_ORDER)
    services = b.guard.services
    second: list[Any] = []
    async with (
        Client(stdio_client(stdio_server(tmp_path, fake, ONE_OPEN_ORDER)), mode="legacy") as other,
        Client(b.server) as client,
        anyio.create_task_group() as group,
    ):

        async def place_here() -> None:
            second.append(await client.call_tool("place_order", LIMIT | {"price": "59000"}))

        group.start_soon(place_here)
        await until(kept.arrived.is_set)  # B read the epoch and saw no open order
        first = await other.call_tool("place_order", LIMIT)
        assert not first.is_error, first.content[0].text
        await until(
            lambda: services.audit.store.account_changes(services.account, CHANGING_TOOLS)[1] == 0
        )  # settled
        kept.reply_released.set()  # type: ignore[union-attr]
        await until(lambda: bool(second))
    refused = second[0]
    assert refused.is_error and refused.structured_content["error"] == "policy_denied", refused.content[
        0
    ].text
    assert "changed while this call waited" in refused.structured_content["reason"]
    assert "max_open_orders" in refused.structured_content["rule"]
    assert len(orders_sent(fake)) == 1 and len(fake.open_orders()) == 1


def replica(tmp_path: Path, fake: FakeBinance, state_url: str | None, name: str) -> App:
    """A server of its own (own stores, own lock) on the shared state: PostgreSQL at `state_url`,
    else the one state dir."""
    from binance_mcp.config import build_config
    from binance_mcp.server import build_app
    from tests.conftest import API_KEY, API_SECRET, write_policy

    directory = tmp_path / name
    directory.mkdir()
    config = build_config(
        network_flag="testnet",
        base_url_flag=fake.base_url,
        policy_flag=str(write_policy(directory, ONE_OPEN_ORDER)),
        state_dir_flag=str(tmp_path / "state"),
        state_url_flag=state_url,
        env={"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET},
    )
    return build_app(config)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_change_still_in_flight_when_a_call_was_screened_is_never_taken_as_settled(
    tmp_path: Path, fake: FakeBinance, request: pytest.FixtureRequest, backend: str
) -> None:
    """Two servers on one shared state. B screens while A's order is in flight (no open order yet),
    then waits for the lock. A's order lands and A lets the lock go, but A's audit writer is held
    behind a slow read, so its record is still `pending` when B reads the epoch: the same epoch B
    screened at. B must still be decided again (a change was under way), and refused."""
    hold = Hold(threading.Event(), threading.Event())
    fake.inject(hold, method="POST", path="/api/v3/order")
    state_url = request.getfixturevalue("postgres").new_database() if backend == "postgresql" else None
    a, b = replica(tmp_path, fake, state_url, "a"), replica(tmp_path, fake, state_url, "b")
    writer_held = threading.Event()
    try:
        results: dict[str, Any] = {}
        async with Client(a.server) as on_a, Client(b.server) as on_b, anyio.create_task_group() as group:

            async def place(name: str, client: Client, price: str) -> None:
                results[name] = await client.call_tool("place_order", LIMIT | {"price": price})

            async def hold_the_writer() -> None:
                await a.guard.services.audit.read(lambda store: writer_held.wait(30))

            group.start_soon(place, "a", on_a, "60000")
            await until(hold.arrived.is_set)  # A's pending record is durable, its order on its way
            group.start_soon(hold_the_writer)
            group.start_soon(place, "b", on_b, "59000")
            await until(lambda: b.guard.services.lock.waiting == 1)  # screened: 0 open orders
            hold.released.set()
            await until(lambda: "b" in results)
            writer_held.set()
    finally:
        writer_held.set()
        a.close()
        b.close()
    assert not results["a"].is_error, results["a"].content[0].text
    refused = results["b"]
    assert refused.structured_content["error"] == "policy_denied", refused.content[0].text
    assert "max_open_orders" in refused.structured_content["rule"]
    assert len(fake.orders) == 1


async def test_a_policy_reloaded_to_deny_while_a_call_waits_refuses_it(build: Any, fake: FakeBinance) -> None:
    app = build({"version": "1", "default": "allow"})
    deny = parse_policy(json.dumps(DENY_ORDERS))
    async with Client(app.server) as client:
        await client.call_tool("get_limits", {})  # the stores open before the lock is taken
        refused = await placed_under_the_tests_lock(
            app, client, lambda: app.guard.install(PolicyEngine(deny))
        )
    assert refused.is_error and refused.structured_content["error"] == "policy_denied", refused.content[
        0
    ].text
    assert refused.structured_content["rule"] == "rules.place_order"
    assert orders_sent(fake) == []


async def test_a_call_whose_account_did_not_move_is_sent_on_its_first_decision(
    build: Any, fake: FakeBinance
) -> None:
    """The other side: the lock was held (by the test), nothing changed: no second look at the
    exchange (the open-orders counts of screening only: the account's for max_open_orders, the
    symbol's for MAX_NUM_ORDERS)."""
    app = build(ONE_OPEN_ORDER)
    async with Client(app.server) as client:
        await client.call_tool("get_limits", {})
        fake.clear_requests()
        result = await placed_under_the_tests_lock(app, client, lambda: None)
    assert not result.is_error, result.content[0].text
    counts = [r for r in fake.requests if r.path == "/api/v3/openOrders"]
    assert len(counts) == 2 and len(orders_sent(fake)) == 1


async def test_a_token_revoked_while_its_call_waits_sends_nothing(tmp_path: Path, fake: FakeBinance) -> None:
    """#16 item 3: bot2's order screened, then waiting for the lock; `tokens revoke bot2` meanwhile."""
    result: list[Any] = []
    async with (
        running(tmp_path, fake, agents=("bot2",)) as server,
        connected(server.url, server.tokens["bot2"], mode="legacy") as client,
    ):
        await client.call_tool("get_limits", {})
        async with anyio.create_task_group() as group:
            async with lock_held_by_the_test(server.app):

                async def place() -> None:
                    result.append(await client.call_tool("place_order", LIMIT))

                group.start_soon(place)
                await until(lambda: server.app.guard.services.lock.waiting == 1)
                with TokenStore.in_state_dir(server.app.state_dir) as tokens:
                    tokens.revoke("bot2")  # as `binance-mcp tokens revoke bot2` does
            await until(lambda: bool(result))
    refused = result[0]
    assert refused.is_error and refused.structured_content["error"] == "policy_denied", refused.content[
        0
    ].text
    assert "revoked" in refused.structured_content["reason"]
    assert orders_sent(fake) == []


async def test_under_watch_a_deny_saved_just_before_an_order_decides_it_whatever_the_poll(
    build: Any, fake: FakeBinance, tmp_path: Path
) -> None:
    """`--watch` polls every half second, each process in its own phase: an order sent 57 ms
    after a `deny` was saved went out. The file is now looked at before the decision (the
    watcher's own poll does not run here at all)."""
    app = build({"version": "1", "default": "allow"}, watch=True)
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", LIMIT)
        assert not placed.is_error, placed.content[0].text
        (tmp_path / "policy.json").write_text(json.dumps(DENY_ORDERS))
        refused = await client.call_tool("place_order", LIMIT)
    assert refused.structured_content["error"] == "policy_denied", refused.content[0].text
    assert refused.structured_content["rule"] == "rules.place_order"
    assert len(orders_sent(fake)) == 1


async def test_under_watch_a_deny_saved_while_a_call_waits_for_the_lock_refuses_it(
    build: Any, fake: FakeBinance, tmp_path: Path
) -> None:
    app = build({"version": "1", "default": "allow"}, watch=True)
    async with Client(app.server) as client:
        await client.call_tool("get_limits", {})  # the stores open before the lock is taken
        refused = await placed_under_the_tests_lock(
            app, client, lambda: (tmp_path / "policy.json").write_text(json.dumps(DENY_ORDERS))
        )
    assert refused.structured_content["error"] == "policy_denied", refused.content[0].text
    assert orders_sent(fake) == []
