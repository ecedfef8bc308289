"""Trading-aware policy through `mcp.Client`: limits in money, human approval, budgets, dry run, keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp_types import CallToolResult, ElicitResult

from binance_mcp.server import App
from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET, make_app, write_policy
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

BTC_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "65000"}


def orders_sent(fake: FakeBinance) -> list:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


def policy(rule: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {"version": "1", "default": "allow", "rules": {"place_order": rule}, **top}


# -- constraints: at, just under and just over each bound -------------------------------------------


@pytest.mark.parametrize(
    ("constraints", "order", "allowed", "words"),
    [
        ({"max_notional": "650"}, {}, True, None),  # 0.01 × 65000 = 650: at the bound
        ({"max_notional": "650.01"}, {}, True, None),
        ({"max_notional": "649.99"}, {}, False, "notional 650 USDT exceeds max_notional 649.99 USDT"),
        ({"max_quantity": "0.01"}, {}, True, None),
        ({"max_quantity": "0.0099"}, {}, False, "max_quantity"),
        ({"max_price_deviation_pct": "5"}, {"price": "68250"}, True, None),  # exactly +5 %
        ({"max_price_deviation_pct": "5"}, {"price": "68250.01"}, False, "max_price_deviation_pct 5"),
        ({"max_price_deviation_pct": "5"}, {"price": "61750"}, True, None),  # exactly −5 %
        ({"symbols": ["BTCUSDT"]}, {}, True, None),
        ({"symbols": ["ETHUSDT"]}, {}, False, "BTCUSDT is not allowed"),
        ({"sides": ["SELL"]}, {}, False, "BUY"),
        ({"order_types": ["MARKET"]}, {}, False, "LIMIT"),
        ({"max_open_orders": 1}, {}, True, None),
        ({"max_open_orders": 0}, {}, False, "max_open_orders"),
    ],
)
async def test_each_constraint_at_and_around_its_bound(
    build, fake: FakeBinance, constraints: dict, order: dict, allowed: bool, words: str | None
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(policy({"action": "allow", "constraints": constraints}))
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", BTC_LIMIT | order)
    if allowed:
        assert not result.is_error, result.content[0].text
        assert len(orders_sent(fake)) == 1
        return
    content = result.structured_content
    assert content["error"] == "policy_denied", content
    bound = next(iter(constraints))
    assert content["rule"] == f"rules.place_order.constraints.{bound}"
    assert words in content["reason"], content["reason"]
    assert orders_sent(fake) == []
    record = app.audit.query()[-1]
    assert (record.decision, record.outcome, record.rule) == ("denied", "refused", content["rule"])


async def test_max_open_orders_counts_the_orders_already_open(build, fake: FakeBinance) -> None:
    app = build(policy({"action": "allow", "constraints": {"max_open_orders": 2}}))
    async with Client(app.server) as client:
        first = await client.call_tool("place_order", BTC_LIMIT | {"price": "60000"})
        second = await client.call_tool("place_order", BTC_LIMIT | {"price": "60001"})
        third = await client.call_tool("place_order", BTC_LIMIT | {"price": "60002"})
    assert not first.is_error and not second.is_error
    assert third.structured_content["rule"] == "rules.place_order.constraints.max_open_orders"
    assert "2 orders are open" in third.structured_content["reason"]
    assert len(orders_sent(fake)) == 2


async def test_symbols_bind_every_tool_that_takes_a_symbol(build, fake: FakeBinance) -> None:
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {"get_*": {"action": "allow", "constraints": {"symbols": ["BTCUSDT"]}}},
        }
    )
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_price", {"symbol": "btcusdt"})).is_error
        other = await client.call_tool("get_price", {"symbol": "ETHUSDT"})
        everywhere = await client.call_tool("get_open_orders", {})
    assert other.structured_content["rule"] == "rules.get_*.constraints.symbols"
    assert "BTCUSDT" in everywhere.structured_content["reason"]
    assert everywhere.structured_content["error"] == "policy_denied"


# -- human approval in the client (elicitation), both protocol eras ----------------------------------


def answering(action: str, approve: bool = True, asked: list[str] | None = None):
    async def callback(context: Any, params: Any) -> ElicitResult:
        if asked is not None:
            asked.append(params.message)
        if action == "accept":
            return ElicitResult(action="accept", content={"approve": approve})
        return ElicitResult(action=action)

    return callback


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_accepting_in_the_client_places_the_order_once(build, fake: FakeBinance, mode: str) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(policy({"action": "require_approval"}))
    asked: list[str] = []
    async with Client(app.server, mode=mode, elicitation_callback=answering("accept", asked=asked)) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert not result.is_error, result.content[0].text
    assert len(orders_sent(fake)) == 1
    assert len(asked) == 1
    assert asked[0].startswith(
        "BUY 0.01 BTCUSDT LIMIT at 65000 (≈650 USDT) on TESTNET — valued at the market price 65000; "
        "sent only while its value moves at most 1 % against you — approve?"
    )
    record = app.audit.query()[-1]
    assert (record.decision, record.approved_via, record.outcome) == ("approved", "elicitation", "ok")


@pytest.mark.parametrize("mode", ["auto", "legacy"])
@pytest.mark.parametrize(("action", "approve"), [("decline", True), ("cancel", True), ("accept", False)])
async def test_anything_but_a_yes_declines_and_sends_nothing(
    build, fake: FakeBinance, mode: str, action: str, approve: bool
) -> None:
    app = build(policy({"action": "require_approval"}))
    async with Client(app.server, mode=mode, elicitation_callback=answering(action, approve)) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert result.is_error and result.structured_content["error"] == "approval_declined"
    assert result.structured_content["rule"] == "rules.place_order"
    assert orders_sent(fake) == []
    assert app.audit.query()[-1].decision == "declined"


async def test_approve_above_notional_asks_only_above_it(build, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(policy({"action": "allow", "approve_above_notional": "650"}))
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=answering("decline", asked=asked)) as client:
        at_bound = await client.call_tool("place_order", BTC_LIMIT)
        above = await client.call_tool("place_order", BTC_LIMIT | {"quantity": "0.011"})
    assert not at_bound.is_error and len(asked) == 1
    assert above.structured_content["error"] == "approval_declined"
    assert above.structured_content["rule"] == "rules.place_order.approve_above_notional"
    assert "≈715 USDT" in asked[0]
    assert len(orders_sent(fake)) == 1


async def test_a_replayed_approval_round_places_no_second_order(build, fake: FakeBinance) -> None:
    app = build(policy({"action": "require_approval"}))
    async with Client(app.server, elicitation_callback=answering("decline")) as client:
        first = await client.session.call_tool("place_order", BTC_LIMIT, allow_input_required=True)
        assert not isinstance(first, CallToolResult), "the first round asks the human"
        [key] = list(first.input_requests)
        yes = {key: ElicitResult(action="accept", content={"approve": True})}
        final = await client.session.call_tool(
            "place_order",
            BTC_LIMIT,
            input_responses=yes,
            request_state=first.request_state,
            allow_input_required=True,
        )
        assert isinstance(final, CallToolResult) and not final.is_error
        replay = await client.session.call_tool(
            "place_order",
            BTC_LIMIT,
            input_responses=yes,
            request_state=first.request_state,
            allow_input_required=True,
        )
    # the replay is asked anew (a new single-use question), never run on the old answer
    assert not isinstance(replay, CallToolResult) or replay.is_error
    assert len(orders_sent(fake)) == 1


async def test_the_human_is_never_asked_about_a_call_the_policy_refuses(build, fake: FakeBinance) -> None:
    app = build(policy({"action": "require_approval", "constraints": {"max_notional": "100"}}))
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=answering("accept", asked=asked)) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert result.structured_content["error"] == "policy_denied" and asked == []


# -- human approval out of band (the CLI) -------------------------------------------------------------


async def test_without_elicitation_the_cli_approves_exactly_one_matching_call(
    tmp_path: Path, fake: FakeBinance
) -> None:
    state = tmp_path / "state"
    policy_file = write_policy(tmp_path, policy({"action": "require_approval"}))
    params = StdioServerParameters(
        command=BINANCE_MCP,
        args=[
            "--testnet",
            "--base-url",
            fake.base_url,
            "--state-dir",
            str(state),
            "--policy",
            str(policy_file),
        ],
        env={
            "BINANCE_API_KEY": API_KEY,
            "BINANCE_API_SECRET": API_SECRET,
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(tmp_path),
    )

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "binance_mcp.cli", "approvals", *args, "--state-dir", str(state)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    async with Client(stdio_client(params), mode="legacy") as client:
        refused = await client.call_tool("place_order", BTC_LIMIT)
        content = refused.structured_content
        assert content["error"] == "approval_required" and content["approval_id"]
        # the command the human is told works as written: it carries this server's state dir
        told = f"binance-mcp approvals --state-dir {state} approve {content['approval_id']}"
        assert told in refused.content[0].text
        listed = cli("list", "--json")
        assert content["approval_id"] in listed.stdout
        # another call (different arguments) never rides on it
        assert cli("approve", content["approval_id"]).returncode == 0
        other = await client.call_tool("place_order", BTC_LIMIT | {"quantity": "0.02"})
        assert other.structured_content["error"] == "approval_required"
        placed = await client.call_tool("place_order", BTC_LIMIT | {"quantity": "0.010"})  # same, canonically
        assert not placed.is_error, placed.content[0].text
        again = await client.call_tool("place_order", BTC_LIMIT)
        assert again.structured_content["error"] == "approval_required"  # spent
        assert cli("approve", "apr-0000-0000").returncode == 1
    assert len(orders_sent(fake)) == 1
    audit = subprocess.run(
        [sys.executable, "-m", "binance_mcp.cli", "audit", "--json", "--state-dir", str(state)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["decision"], r["approved_via"]) for r in records if r["outcome"] == "ok"] == [
        ("approved", "cli")
    ]


# -- budgets ---------------------------------------------------------------------------------------


async def test_the_daily_budget_stops_orders_survives_a_restart_and_is_shared(
    tmp_path: Path, fake: FakeBinance
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    rules = policy({"action": "allow"}, budgets={"daily_notional": {"USDT": "1500"}})
    first_app = make_app(tmp_path, fake.base_url, policy=rules)
    async with Client(first_app.server) as client:
        assert not (await client.call_tool("place_order", BTC_LIMIT)).is_error  # 650
        assert not (await client.call_tool("place_order", BTC_LIMIT)).is_error  # 1300
        refused = await client.call_tool("place_order", BTC_LIMIT)  # 1950 > 1500
    first_app.close()
    content = refused.structured_content
    assert content["error"] == "policy_denied" and content["rule"] == "budgets.daily_notional.USDT"
    assert "200 left" in content["reason"] and "resets at" in content["reason"]
    # a restart on the same state dir, and a second server beside it, still see today's spending
    second_app = make_app(tmp_path, fake.base_url, policy=rules)
    third_app = make_app(tmp_path, fake.base_url, policy=rules)
    async with Client(second_app.server) as one, Client(third_app.server) as two:
        small = BTC_LIMIT | {"quantity": "0.002"}  # 130
        assert (await one.call_tool("place_order", BTC_LIMIT)).structured_content[
            "rule"
        ] == "budgets.daily_notional.USDT"
        assert not (await one.call_tool("place_order", small)).is_error  # 1430
        assert (await two.call_tool("place_order", small)).structured_content[
            "error"
        ] == "policy_denied"  # 1560
    second_app.close()
    third_app.close()
    assert len(orders_sent(fake)) == 3


async def test_a_rejected_order_gives_its_budget_back(build, fake: FakeBinance) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    fake.set_balance("USDT", "100")  # the exchange will reject for insufficient balance
    app = build(policy({"action": "allow"}, budgets={"daily_notional": {"USDT": "700"}}))
    async with Client(app.server) as client:
        rejected = await client.call_tool("place_order", BTC_LIMIT)
        assert rejected.structured_content["error"] == "exchange_error"
        fake.set_balance("USDT", "100000")
        assert not (await client.call_tool("place_order", BTC_LIMIT)).is_error


# -- dry run and networks ----------------------------------------------------------------------------


async def test_dry_run_reaches_only_the_test_endpoint_and_charges_nothing(build, fake: FakeBinance) -> None:
    app = build(policy({"action": "allow", "dry_run": True}, budgets={"daily_notional": {"USDT": "700"}}))
    async with Client(app.server) as client:
        for _ in range(3):  # three dry runs of 650 each: the budget is never charged
            result = await client.call_tool("place_order", BTC_LIMIT)
            assert not result.is_error, result.content[0].text
    content = result.structured_content
    assert content["simulated"] is True and content["commission"]
    assert "standard_commission_for_order" in content["commission"]  # snake_case, like every result
    assert all(key == key.lower() for key in content["commission"]["standard_commission_for_order"])
    assert orders_sent(fake) == []
    assert len([r for r in fake.requests if r.path == "/api/v3/order/test"]) == 3
    assert all(
        r.params.get("computeCommissionRates") == "true"
        for r in fake.requests
        if r.path == "/api/v3/order/test"
    )
    assert app.audit.query()[-1].decision == "dry_run"
    assert "Simulated" in result.content[0].text


async def test_the_dry_run_flag_simulates_every_order(build, fake: FakeBinance) -> None:
    app = build(policy({"action": "allow"}), dry_run=True)
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert result.structured_content["simulated"] is True and orders_sent(fake) == []


# -- key safety ----------------------------------------------------------------------------------------


async def test_on_mainnet_keys_that_can_withdraw_are_refused(tmp_path: Path, fake: FakeBinance) -> None:
    fake.withdraw_enabled = True
    app = make_app(tmp_path, fake.base_url, network="mainnet")
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error  # no keys involved
        refused = await client.call_tool("get_account_info", {})
        again = await client.call_tool("place_order", BTC_LIMIT)
    app.close()
    assert refused.structured_content["error"] == "policy_denied"
    assert "withdraw" in refused.structured_content["reason"]
    assert again.structured_content["error"] == "policy_denied" and orders_sent(fake) == []
    checks = [r for r in fake.requests if r.path == "/sapi/v1/account/apiRestrictions"]
    assert len(checks) == 1  # checked once, at the first keyed call


async def test_allow_withdrawal_keys_lets_them_through(tmp_path: Path, fake: FakeBinance) -> None:
    from binance_mcp.config import build_config
    from binance_mcp.server import build_app

    fake.withdraw_enabled = True
    config = build_config(
        network_flag="mainnet",
        base_url_flag=fake.base_url,
        policy_flag=str(write_policy(tmp_path, {"version": "1", "default": "allow"})),
        state_dir_flag=str(tmp_path / "state"),
        allow_withdrawal_keys=True,
        env={"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET},
    )
    app = build_app(config)
    async with Client(app.server) as client:
        assert not (await client.call_tool("get_account_info", {})).is_error
    app.close()


async def test_testnet_never_asks_for_key_permissions(client: Client, fake: FakeBinance) -> None:
    assert not (await client.call_tool("get_account_info", {})).is_error
    assert not [r for r in fake.requests if r.path.startswith("/sapi/")]


async def test_a_new_user_with_the_bundled_testnet_trader_policy(tmp_path: Path, fake: FakeBinance) -> None:
    """policies/testnet-trader.json, as the README tells a new user to try it."""
    from binance_mcp.policy.model import bundled_policy_path

    fake.set_price("BTCUSDT", "65000.00")
    trader = json.loads(bundled_policy_path("testnet-trader").read_text())
    asked: list[str] = []
    limit = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "price": "64000"}

    def app() -> App:
        return make_app(tmp_path, fake.base_url, policy=trader)

    first = app()
    async with Client(first.server, elicitation_callback=answering("accept", asked=asked)) as client:
        small = await client.call_tool("place_order", limit | {"quantity": "0.003"})  # 192 USDT
        assert not small.is_error and asked == []
        larger = await client.call_tool("place_order", limit | {"quantity": "0.014"})  # 896 USDT: asks
        assert not larger.is_error and len(asked) == 1 and "≈896 USDT" in asked[0]
        too_big = await client.call_tool("place_order", limit | {"quantity": "0.02"})  # 1280 > 1000
        assert too_big.structured_content["rule"] == "rules.place_order.constraints.max_notional"
        assert "notional 1280 USDT exceeds max_notional 1000 USDT" in too_big.structured_content["reason"]
        for _ in range(4):  # 4 × 896 more: 192 + 5 × 896 = 4672 of the day's 5000 spent
            assert not (await client.call_tool("place_order", limit | {"quantity": "0.014"})).is_error
        over_budget = await client.call_tool("place_order", limit | {"quantity": "0.006"})  # 384 > 328 left
        assert over_budget.structured_content["rule"] == "budgets.daily_notional.USDT"
        assert len(asked) == 5  # the human is not asked about an order the budget refuses
    first.close()
    again = app()  # a restart on the same state dir
    async with Client(again.server, elicitation_callback=answering("accept")) as client:
        after_restart = await client.call_tool("place_order", limit | {"quantity": "0.006"})
        assert after_restart.structured_content["rule"] == "budgets.daily_notional.USDT"
        assert "328 left" in after_restart.structured_content["reason"]
    again.close()
    assert len(orders_sent(fake)) == 6


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_default_policy_asks_before_a_cancel(tmp_path: Path, fake: FakeBinance, mode: str) -> None:
    from binance_mcp.policy.model import bundled_policy_path

    default = json.loads(bundled_policy_path("default").read_text())
    (tmp_path / "setup").mkdir()
    allow_all = make_app(tmp_path / "setup", fake.base_url)
    async with Client(allow_all.server) as client:
        placed = (await client.call_tool("place_order", BTC_LIMIT | {"price": "60000"})).structured_content
    allow_all.close()
    app = make_app(tmp_path, fake.base_url, policy=default)
    asked: list[str] = []
    async with Client(app.server, mode=mode, elicitation_callback=answering("accept", asked=asked)) as client:
        cancelled = await client.call_tool(
            "cancel_order", {"symbol": "BTCUSDT", "order_id": placed["order_id"]}
        )
    app.close()
    assert not cancelled.is_error, cancelled.content[0].text
    # the question shows the order the cancel resolves to, and which kind of id it was given
    assert asked and asked[0].startswith(
        f"Cancel BUY 0.01 BTCUSDT LIMIT at 60000 (status NEW, order id {placed['order_id']}"
    )
    assert f"given as order id {placed['order_id']}) on TESTNET — approve?" in asked[0]
    assert fake.open_orders("BTCUSDT") == []


async def test_a_client_order_id_already_used_is_refused_not_sent_twice(build, fake: FakeBinance) -> None:
    app = build(policy({"action": "allow"}))
    market = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "MARKET",
        "quantity": "0.001",
        "client_order_id": "mine-7",
    }
    async with Client(app.server) as client:
        first = await client.call_tool("place_order", market)
        assert not first.is_error and first.structured_content["status"] == "FILLED"
        # the first order is filled, so Binance itself would accept the id again: a second order
        retry = await client.call_tool("place_order", market)
    content = retry.structured_content
    assert content["error"] == "invalid_arguments" and content["field"] == "client_order_id"
    assert "mine-7 was already used" in content["reason"] and "Nothing was sent" in content["reason"]
    assert len(orders_sent(fake)) == 1


def test_a_2026_request_cannot_pick_its_own_session_for_rate_limits(
    tmp_path: Path, fake: FakeBinance
) -> None:
    from types import SimpleNamespace

    app = make_app(tmp_path, fake.base_url)

    def caller(protocol: str, session_id: str) -> Any:
        request = SimpleNamespace(headers={"mcp-session-id": session_id, "x-binance-mcp-agent": "alice"})
        context = SimpleNamespace(request=request, protocol_version=protocol, session=None)
        return app.guard.identify(context)  # type: ignore[arg-type]

    assert caller("2026-07-28", "a").session == caller("2026-07-28", "b").session == "agent:alice"
    assert caller("2025-11-25", "a").session == "a"  # a 2025-era session is the transport's own
    app.close()
