"""Issue #16, item 5, fair use of the exchange: each reproduction through `mcp.Client` against the
server on the test exchange (over HTTP where two agents share it), counting what the exchange saw.

Binance counts request weight per IP address, so every agent behind one server shares 6000 a
minute: an agent refused over and over must not spend what the others need, a cheap refusal
costs no request, refused calls count toward the caller's rate limit, an agent's share can be
capped, and requests for approval can neither pile up nor flood the webhook.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given
from hypothesis import strategies as st
from mcp import Client

from binance_mcp.commands.policy import explain_json
from binance_mcp.orders import LIMIT_TYPES, Leg, Order
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import parse_policy
from binance_mcp.stores.approvals import open_approval_store
from binance_mcp.valuation import least_value, value_order
from tests.fake_binance import FakeBinance
from tests.test_notify import Receiver

pytestmark = pytest.mark.anyio

SMALL_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "60000"}
LARGE_BUY = SMALL_BUY | {"quantity": "0.01"}  # 600 USDT


def allowing_orders(**rule: Any) -> dict[str, Any]:
    """A policy that allows everything, `place_order` with `rule`'s fields (constraints, a rate limit)."""
    return {"version": "1", "default": "allow", "rules": {"place_order": {"action": "allow", **rule}}}


def all_open_orders_reads(fake: FakeBinance) -> list[Any]:
    """`GET /api/v3/openOrders` for every symbol: weight 80 each."""
    return [r for r in fake.requests if r.path == "/api/v3/openOrders" and "symbol" not in r.params]


def signed(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if "signature" in r.params]


def orders_sent(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


# -- 120 refused calls, then another agent ---------------------------------------------------------


async def test_an_agent_refused_120_times_leaves_the_exchanges_weight_to_the_others(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """The reproduction: alice's orders are over `max_open_orders`, which costs an all-symbol
    open-orders read (weight 80) to find out, and her rule allows 10 calls a minute. 120 calls
    used to read open orders 120 times (past Binance's 6000 a minute), never counted by the rate
    limit, and bob's calls right after were refused for want of weight. Now the 10 calls of the
    window are the only ones that reach the exchange; the 110 after them are refused by the rate
    limit before anything is read, and bob trades."""
    from tests.test_http import connected, running

    policy = {
        "version": "1",
        "default": "allow",
        "rules": {"place_order": {"action": "allow"}},
        "agents": {
            "alice": {
                "rules": {
                    "place_order": {
                        "action": "allow",
                        "rate_limit": {"max": 10, "window": 60},
                        "constraints": {"max_open_orders": 0},
                    }
                }
            }
        },
    }
    fake.set_price("BTCUSDT", "60000.00")
    async with running(tmp_path, fake, policy=policy) as server:
        async with connected(server.url, server.tokens["alice"]) as alice:
            answers = [
                (await alice.call_tool("place_order", SMALL_BUY)).structured_content for _ in range(120)
            ]
        kinds = [answer["error"] for answer in answers]
        assert kinds[:10] == ["policy_denied"] * 10, answers[0]
        assert all(answer["rule"].endswith("max_open_orders") for answer in answers[:10])
        assert kinds[10:] == ["rate_limited"] * 110
        assert answers[10]["rule"] == "agents.alice.rules.place_order.rate_limit"
        # at most one count per counted call (fewer where screenings share one): not 120, weight
        # 800 at most, not 9600
        assert 1 <= len(all_open_orders_reads(fake)) <= 10
        seen = len(fake.requests)
        assert seen <= 10 * 6, [r.path for r in fake.requests]  # a few reads per counted call

        async with connected(server.url, server.tokens["bob"]) as bob:
            account = await bob.call_tool("get_account_info", {})
            placed = await bob.call_tool("place_order", SMALL_BUY)
        assert not account.is_error, account.content[0].text
        assert not placed.is_error, placed.content[0].text
        assert len(orders_sent(fake)) == 1


# -- cheap checks first ---------------------------------------------------------------------------


async def test_a_value_over_max_notional_is_refused_without_a_request_to_the_exchange(
    build, fake: FakeBinance
) -> None:
    """Once the symbol's rules are known (cached from any earlier call on it), a LIMIT order
    whose price × quantity is over `max_notional` is refused from what it says: no price, no open
    orders, nothing signed is read. (It used to read the market and count open orders first.)"""
    app = build(allowing_orders(constraints={"max_notional": "100", "max_open_orders": 5}))
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_symbol_info", {"symbol": "BTCUSDT"})).is_error
        fake.clear_requests()
        refused = await client.call_tool("place_order", LARGE_BUY)
    content = refused.structured_content
    assert content["error"] == "policy_denied", content
    assert content["rule"] == "rules.place_order.constraints.max_notional"
    assert (content["limit"], content["value"], content["unit"]) == ("100", "600", "USDT")
    assert fake.requests == []


async def test_a_symbol_the_rule_does_not_allow_is_refused_before_anything_is_read(
    build, fake: FakeBinance
) -> None:
    app = build(allowing_orders(constraints={"symbols": ["ETHUSDT"], "max_open_orders": 5}))
    async with Client(app.server) as client:
        refused = await client.call_tool("place_order", SMALL_BUY)
    assert refused.structured_content["rule"] == "rules.place_order.constraints.symbols"
    assert fake.requests == []


async def test_a_price_too_far_from_the_market_is_refused_before_open_orders_are_counted(
    build, fake: FakeBinance
) -> None:
    """A bound that needs the market (the price deviation) reads the public market, never the
    account: open orders are counted only for a call every cheaper check let through."""
    fake.set_price("BTCUSDT", "60000.00")
    app = build(allowing_orders(constraints={"max_price_deviation_pct": "1", "max_open_orders": 5}))
    async with Client(app.server) as client:
        refused = await client.call_tool("place_order", SMALL_BUY | {"price": "55000"})
        counted_for_the_refused_one = len(all_open_orders_reads(fake))
        placed = await client.call_tool("place_order", SMALL_BUY | {"price": "59900"})
    assert refused.structured_content["rule"] == "rules.place_order.constraints.max_price_deviation_pct"
    assert counted_for_the_refused_one == 0
    assert not placed.is_error, placed.content[0].text
    assert all_open_orders_reads(fake)  # the placed order's count (and its recount under the lock)


async def test_an_amend_refused_for_dry_run_reads_nothing_first(build, fake: FakeBinance) -> None:
    """`--dry-run` refuses amend_order (Binance has no test endpoint for it): a reason that needs
    no request. The order to amend used to be read first (GET /api/v3/order, weight 4)."""
    fake.set_price("BTCUSDT", "60000.00")
    app = build({"version": "1", "default": "allow"}, dry_run=True)
    async with Client(app.server) as client:
        before = len(fake.requests)
        amended = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "order_id": 12345, "new_quantity": "0.0005"}
        )
    assert amended.structured_content["error"] == "policy_denied", amended.content[0].text
    assert amended.structured_content["rule"] == "--dry-run"
    assert fake.requests[before:] == []


# -- refused calls count --------------------------------------------------------------------------


async def test_refused_calls_count_toward_the_rate_limit(build, fake: FakeBinance) -> None:
    """10 calls a window: ten orders refused by `max_notional` take them all, so the 11th call
    (a valid order) is refused as rate-limited. It used to be placed: refused calls never counted."""
    fake.set_price("BTCUSDT", "60000.00")
    app = build(allowing_orders(rate_limit={"max": 10, "window": 3600}, constraints={"max_notional": "100"}))
    async with Client(app.server) as client:
        refused = [await client.call_tool("place_order", LARGE_BUY) for _ in range(10)]
        eleventh = await client.call_tool("place_order", SMALL_BUY)
        limits = (await client.call_tool("get_limits", {})).structured_content
    assert [r.structured_content["error"] for r in refused] == ["policy_denied"] * 10
    assert eleventh.structured_content["error"] == "rate_limited", eleventh.content[0].text
    assert eleventh.structured_content["rule"] == "rules.place_order.rate_limit"
    assert orders_sent(fake) == []
    row = next(limit for limit in limits["rate_limits"] if limit["tool"] == "place_order")
    assert (row["left"], row["count_refused"]) == (0, True)


async def test_one_agents_refused_calls_do_not_use_up_everyones_limit(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """place_order may be called 3 times a window by everyone together (`global`). alice's three
    orders over `max_notional` are refused; bob's order is placed. Refused calls count toward the
    caller's own limits, not everyone's: bob used to be refused as rate-limited for alice's
    refusals."""
    from tests.test_http import connected, running

    rule = {
        "action": "allow",
        "rate_limit": {"max": 3, "window": 3600, "scope": "global"},
        "constraints": {"max_notional": "100"},
    }
    policy = {"version": "1", "default": "allow", "rules": {"place_order": rule}}
    fake.set_price("BTCUSDT", "60000.00")
    async with running(tmp_path, fake, policy=policy) as server:
        async with connected(server.url, server.tokens["alice"]) as alice:
            refused = [await alice.call_tool("place_order", LARGE_BUY) for _ in range(3)]
        async with connected(server.url, server.tokens["bob"]) as bob:
            placed = await bob.call_tool("place_order", SMALL_BUY)
            limits = (await bob.call_tool("get_limits", {})).structured_content
    assert [r.structured_content["error"] for r in refused] == ["policy_denied"] * 3
    assert not placed.is_error, placed.content[0].text
    row = next(limit for limit in limits["rate_limits"] if limit["tool"] == "place_order")
    assert (row["left"], row["count_refused"]) == (2, False)
    explained = explain_json(PolicyEngine(parse_policy(json.dumps(policy))), "testnet")
    shown = next(tool for tool in explained["tools"] if tool["tool"] == "place_order")
    assert shown["rate_limits"][0]["count_refused"] is False


async def test_a_policy_may_count_only_the_calls_let_through(build, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "60000.00")
    rule = {
        "action": "allow",
        "rate_limit": {"max": 2, "window": 3600, "count_refused": False},
        "constraints": {"max_notional": "100"},
    }
    policy = {"version": "1", "default": "allow", "rules": {"place_order": rule}}
    app = build(policy)
    async with Client(app.server) as client:
        for _ in range(5):
            assert (await client.call_tool("place_order", LARGE_BUY)).structured_content[
                "error"
            ] == "policy_denied"
        placed = [await client.call_tool("place_order", SMALL_BUY) for _ in range(3)]
    assert [r.is_error for r in placed] == [False, False, True]
    assert placed[2].structured_content["error"] == "rate_limited"
    explained = explain_json(PolicyEngine(parse_policy(json.dumps(policy))), "testnet")
    row = next(tool for tool in explained["tools"] if tool["tool"] == "place_order")
    assert row["rate_limits"][0]["count_refused"] is False


# -- an agent's share of the weight ---------------------------------------------------------------


async def test_an_agents_weight_share_refuses_it_and_not_another(tmp_path: Path, fake: FakeBinance) -> None:
    """alice may use 1 % of the 6000 a minute (60): her fourth account read (weight 20 each) would
    go past it and is not sent; bob, with no share of his own, reads on."""
    from tests.test_http import connected, running

    policy = {"version": "1", "default": "allow", "agents": {"alice": {"max_weight_share_pct": 1}}}
    async with running(tmp_path, fake, policy=policy) as server:
        async with connected(server.url, server.tokens["alice"]) as alice:
            reads = [await alice.call_tool("get_account_info", {}) for _ in range(4)]
            limits = (await alice.call_tool("get_limits", {})).structured_content
        account_reads = len([r for r in fake.requests if r.path == "/api/v3/account"])
        async with connected(server.url, server.tokens["bob"]) as bob:
            bobs = [await bob.call_tool("get_account_info", {}) for _ in range(4)]
    assert [r.is_error for r in reads] == [False, False, False, True]
    refused = reads[3].structured_content
    assert refused["error"] == "rate_limited", refused
    assert refused["rule"] == "agents.alice.max_weight_share_pct"
    assert refused["limit"] == "60" and 0 < refused["retry_after_s"] <= 60
    assert "share of Binance's request weight" in refused["reason"]
    assert account_reads == 3  # the fourth was never sent
    assert limits["weight_share"]["weight_per_minute"] == 60 and limits["weight_share"]["left"] == 0
    assert [r.is_error for r in bobs] == [False] * 4


async def test_an_order_whose_answer_is_lost_is_looked_up_even_at_the_end_of_the_share(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """The share never turns an order that was sent into an unknown one: with just enough of it
    left for the order, whose answer is then lost, the lookups that find it still go out."""
    from tests.fake_binance import ExecuteThenFail
    from tests.test_http import connected, running

    policy = {"version": "1", "default": "allow", "agents": {"alice": {"max_weight_share_pct": 2}}}
    fake.set_price("BTCUSDT", "60000.00")
    async with (
        running(tmp_path, fake, policy=policy) as server,
        connected(server.url, server.tokens["alice"]) as alice,
    ):

        async def left() -> int:
            limits = (await alice.call_tool("get_limits", {})).structured_content
            return int(limits["weight_share"]["left"])

        assert not (await alice.call_tool("get_symbol_info", {"symbol": "BTCUSDT"})).is_error
        before = await left()
        assert not (await alice.call_tool("place_order", priced(1))).is_error
        cost = before - await left()  # what an order costs: its market, its symbol's open orders, itself
        while await left() - cost >= 2:  # get_price weighs 2: room for the order, none for a lookup (4)
            assert not (await alice.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
        assert cost <= await left() < cost + 4
        fake.inject(ExecuteThenFail(503), method="POST", path="/api/v3/order")
        lost = await alice.call_tool("place_order", priced(2))
    assert not lost.is_error, lost.content[0].text
    assert lost.structured_content["recovered"] is True
    assert len(orders_sent(fake)) == 2 and len(fake.open_orders("BTCUSDT")) == 2


async def test_a_shared_read_refused_by_one_agents_share_is_not_refused_to_another(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """alice leads a price read that bob joins (concurrent identical reads share one request);
    its first attempt takes the last of alice's share and fails with a 503, and its retry is
    refused by her share. bob reads the price with a request of his own: he used to be refused
    as rate-limited, by alice's rule, for a share that is not his."""
    import threading

    from tests.fake_binance.faults import Hold, Status
    from tests.test_http import connected, running

    policy = {"version": "1", "default": "allow", "agents": {"alice": {"max_weight_share_pct": 1}}}
    fake.set_price("BTCUSDT", "60000.00")
    fake.set_price("ETHUSDT", "3000.00")
    fresh = {"symbol": "ETHUSDT", "fresh": True}  # spent on another symbol: no BTCUSDT price is kept
    async with (
        running(tmp_path, fake, policy=policy, market_data_max_age=30) as server,
        connected(server.url, server.tokens["alice"]) as alice,
        connected(server.url, server.tokens["bob"]) as bob,
    ):

        async def left() -> int:
            return int((await alice.call_tool("get_limits", {})).structured_content["weight_share"]["left"])

        assert not (await alice.call_tool("get_price", fresh)).is_error
        while await left() >= 4:  # a fresh price read weighs 2
            assert not (await alice.call_tool("get_price", fresh)).is_error
        assert 2 <= await left() <= 3  # room for one attempt, none for its retry
        hold = Hold(threading.Event(), threading.Event(), then=Status(503, None))
        fake.inject(hold, method="GET", path="/api/v3/ticker/price")
        answers: dict[str, Any] = {}

        async def read(name: str, client: Client) -> None:
            answers[name] = await client.call_tool("get_price", {"symbol": "BTCUSDT"})

        async with anyio.create_task_group() as group:
            group.start_soon(read, "alice", alice)
            await anyio.to_thread.run_sync(hold.arrived.wait, 10)
            group.start_soon(read, "bob", bob)
            await anyio.sleep(0.5)  # bob's read joins alice's, in the air
            hold.released.set()
    assert answers["alice"].structured_content["error"] == "rate_limited"
    assert answers["alice"].structured_content["rule"] == "agents.alice.max_weight_share_pct"
    assert not answers["bob"].is_error, answers["bob"].structured_content
    assert answers["bob"].structured_content["price"] == "60000.00000000"


def test_the_weight_share_is_validated_and_explained(tmp_path: Path) -> None:
    from tests.test_cli import run_cli

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"version": "1", "max_weight_share_pct": 0}))
    checked = run_cli("policy", "check", str(bad))
    assert checked.returncode != 0 and "max_weight_share_pct" in checked.stderr
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {"version": "1", "max_weight_share_pct": 25, "agents": {"alice": {"max_weight_share_pct": 5}}}
        )
    )
    explained = run_cli("policy", "explain", str(good), "--agent", "alice", "--json")
    assert json.loads(explained.stdout)["weight_share"] == {
        "max_pct": 5,
        "rule": "agents.alice.max_weight_share_pct",
    }
    table = run_cli("policy", "explain", str(good))
    assert "each agent may use at most 25 % of Binance's request weight per minute" in table.stdout


# -- approvals: a cap per agent, grouped notifications ----------------------------------------------


def posted_ids(receiver: Receiver) -> set[str]:
    """The approval ids the webhook was sent so far, one post's or a grouped post's."""
    return {
        approval["id"]
        for body in list(receiver.bodies)
        for approval in body.get("approvals", [body.get("approval")])
        if approval
    }


def priced(index: int) -> dict[str, Any]:
    return SMALL_BUY | {"price": str(59000 + index)}


async def test_the_sixth_pending_approval_of_an_agent_is_refused(build, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "60000.00")
    app = build(
        {"version": "1", "default": "allow", "rules": {"place_order": {"action": "require_approval"}}}
    )
    async with Client(app.server) as client:  # cannot ask its user: operators approve
        asked = [await client.call_tool("place_order", priced(index)) for index in range(6)]
        again = await client.call_tool("place_order", priced(0))  # the same call: its request still waits
    kinds = [result.structured_content["error"] for result in asked]
    assert kinds == ["approval_required"] * 5 + ["rate_limited"], asked[5].content[0].text
    sixth = asked[5].structured_content
    assert sixth["rule"] == "approvals.max_pending_per_agent" and sixth["limit"] == "5"
    assert "approval_id" not in sixth and "5 requests" in sixth["reason"]
    assert again.structured_content["approval_id"] == asked[0].structured_content["approval_id"]
    with open_approval_store(app.state_dir) as approvals:
        assert len(approvals.list()) == 5
    assert orders_sent(fake) == []


async def test_approval_requests_that_come_fast_are_posted_together(build, fake: FakeBinance) -> None:
    """Five requests in a burst: the first is posted at once, the four after it in one post that
    lists them (approvals.notify_every, 10 s by default), not five posts."""
    fake.set_price("BTCUSDT", "60000.00")
    receiver = Receiver()
    try:
        policy = {
            "version": "1",
            "default": "allow",
            "rules": {"place_order": {"action": "require_approval"}},
            "approvals": {"notify": receiver.url, "notify_every": 4},  # the default 10 s, shorter
        }
        app = build(policy)
        async with Client(app.server) as client:
            asked = [await client.call_tool("place_order", priced(index)) for index in range(5)]
            ids = {result.structured_content["approval_id"] for result in asked}
            posted: set[str] = set()
            with anyio.fail_after(30):
                while posted != ids:
                    await anyio.sleep(0.2)
                    posted = posted_ids(receiver)
    finally:
        receiver.close()
    assert len(ids) == 5
    assert len(receiver.bodies) == 2, [body["text"] for body in receiver.bodies]
    first, group = receiver.bodies
    assert first["approval"]["id"] in ids
    assert len(group["approvals"]) == 4 and group["text"].startswith("4 approvals needed")


def test_requests_grouped_for_a_later_post_are_posted_when_the_server_stops(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """Over stdio, two requests in a burst with `notify_every` 600: the first is posted at once,
    the second waits for the group post. The client then closes: the server stops before the ten
    minutes are up, and the second request is posted as it stops. It used to be never posted (the
    post waiting in the background died with the process)."""
    from mcp.client.stdio import stdio_client

    from tests.test_four_processes import server as stdio_server

    fake.set_price("BTCUSDT", "60000.00")
    receiver = Receiver()
    policy = {
        "version": "1",
        "default": "allow",
        "rules": {"place_order": {"action": "require_approval"}},
        "approvals": {"notify": receiver.url, "notify_every": 600},
    }
    params = stdio_server(tmp_path, fake, policy)

    async def burst() -> set[str]:
        with (tmp_path / "stderr.txt").open("w") as errlog:
            async with Client(stdio_client(params, errlog=errlog), mode="legacy") as client:
                asked = [await client.call_tool("place_order", priced(index)) for index in range(2)]
        return {result.structured_content["approval_id"] for result in asked}

    try:
        ids = anyio.run(burst)
        posted = posted_ids(receiver)
    finally:
        receiver.close()
    assert len(ids) == 2
    assert posted == ids, [body["text"] for body in receiver.bodies]
    assert all("sekret" not in json.dumps(body) for body in receiver.bodies)  # the webhook's secret path


# -- the early refusal never refuses what the market would allow ------------------------------------

TYPES = ["LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT", "MARKET", "STOP_LOSS"]
PRICES_ST = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("100000"), places=2)
QUANTITIES_ST = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10"), places=3)


@st.composite
def legs(draw: Any, role: str) -> Leg:
    kind = draw(st.sampled_from(TYPES))
    side = draw(st.sampled_from(["BUY", "SELL"]))
    if kind == "MARKET" and draw(st.booleans()):
        return Leg(side=side, type=kind, quote_quantity=draw(PRICES_ST), role=role)
    price = draw(PRICES_ST) if kind in LIMIT_TYPES else None
    stop = draw(PRICES_ST) if kind.startswith(("STOP", "TAKE")) else None
    return Leg(side=side, type=kind, quantity=draw(QUANTITIES_ST), price=price, stop_price=stop, role=role)


@st.composite
def orders_of_any_kind(draw: Any) -> Order:
    kind = draw(st.sampled_from(["ORDER", "OCO", "OTO", "OTOCO"]))
    roles = {
        "ORDER": ["order"],
        "OCO": ["above", "below"],
        "OTO": ["working", "pending"],
        "OTOCO": ["working", "pending_above", "pending_below"],
    }[kind]
    return Order(symbol="BTCUSDT", kind=kind, legs=tuple(draw(legs(role)) for role in roles))


@given(order=orders_of_any_kind(), market=PRICES_ST)
def test_what_an_order_says_it_is_worth_is_never_more_than_its_value(order: Order, market: Decimal) -> None:
    """`check_order_alone` refuses a value over max_notional from the order alone: that least
    value must never exceed what the market values it at, or an order within its bound would be
    refused."""
    least = least_value(order)
    if least is not None:
        assert least <= value_order(order, market, "USDT").notional
