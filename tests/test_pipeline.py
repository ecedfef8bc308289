"""The guard as a pipeline (issue #7): its stages in order, everything checkable checked before a
human is asked, orders valued as the most they can trade, and a decision taken again at dispatch.

Each test here reproduces a defect found against the guard before the pipeline, through the
official MCP client.
"""

from __future__ import annotations

import importlib
import inspect
import json
import typing
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import ElicitResult

from binance_mcp.guard import SCREENING, STAGES
from binance_mcp.orders import Leg, Order
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.model import parse_policy
from binance_mcp.stores.approvals import open_approval_store
from binance_mcp.stores.budgets import open_budget_store
from binance_mcp.valuation import value_leg, value_order
from tests.fake_binance import FakeBinance, Status
from tests.test_crash_recovery import direct_binance

pytestmark = pytest.mark.anyio

BTC_LIMIT = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "65000"}
SCREENING_LENGTH = len(SCREENING.stages)
MARKET_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}


def orders_sent(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


def asking(asked: list[str], before_answer: Any = None, approve: bool = True) -> Any:
    async def callback(context: Any, params: Any) -> ElicitResult:
        asked.append(params.message)
        if before_answer is not None:
            before_answer()
        return ElicitResult(action="accept", content={"approve": approve})

    return callback


# -- the stages, in order ----------------------------------------------------------------------


def test_the_stages_run_in_one_written_order_each_in_its_own_module() -> None:
    names = [stage.name for stage in STAGES]
    assert names == ["hide", "rate_limit", "parse", "validate", "decide", "approve", "dispatch", "record"]
    for stage in STAGES:
        module = importlib.import_module(stage.run.__module__)
        assert module.__name__ == f"binance_mcp.guard.{stage.name.replace('_', '')}"
        assert (module.__doc__ and module.__doc__.startswith("Stage")) or stage.name == "record"


def stage_types(run: Any) -> tuple[Any, Any]:
    """A stage function's input and output types, read from its annotations."""
    from mcp.server.mcpserver import Context

    import binance_mcp.guard.call as values
    from binance_mcp.guard.services import Services

    hints = typing.get_type_hints(run, localns={**vars(values), "Services": Services, "Context": Context})
    first = next(iter(inspect.signature(run).parameters))
    return hints[first], hints["return"]


def test_each_stage_takes_what_the_one_before_it_gives() -> None:
    """The types chain (mypy checks `Pipeline.then`; this says it at test time too): two stages
    swapped, or one put out of place, break the chain."""
    from binance_mcp.guard.call import Admitted, Asking, Request

    chain = [stage_types(stage.run) for stage in STAGES]
    assert chain[0][0] is Request
    screened = chain[SCREENING_LENGTH - 1][1]
    assert set(typing.get_args(screened)) == {
        Admitted,
        Asking,
    }  # dispatch takes Admitted (or an answered Asking)
    for (name, (_, gives)), (next_name, (takes, _)) in zip(
        [(s.name, t) for s, t in zip(STAGES, chain, strict=True)][:-1],
        [(s.name, t) for s, t in zip(STAGES, chain, strict=True)][1:],
        strict=True,
    ):
        if name == "approve":
            continue
        assert gives is takes, f"{name} gives {gives}, {next_name} takes {takes}"


async def test_each_stage_refuses_what_only_it_checks(build, fake: FakeBinance) -> None:
    """Skip any one stage and a call it alone refuses gets through (or one it alone lets through,
    dispatch and record, never happens)."""
    app = build(
        {
            "version": "1",
            "default": "allow",
            "hide": ["get_account_info"],
            "rules": {
                "cancel_all_orders": {"action": "deny"},
                "get_price": {"action": "allow", "rate_limit": {"max": 1, "window": 3600}},
                "place_order": {"action": "require_approval"},
            },
        }
    )
    async with Client(app.server) as client:
        hidden = await client.call_tool("get_account_info", {})
        unparsed = await client.call_tool("get_orderbook", {"symbol": "BTCUSDT", "limit": "many"})
        invalid = await client.call_tool("place_order", BTC_LIMIT | {"price": "60000.005"})
        denied = await client.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
        first_price = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
        limited = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
        unapproved = await client.call_tool("place_order", BTC_LIMIT)  # this client cannot ask its human
    assert hidden.is_error and hidden.content[0].text == "Unknown tool: get_account_info"  # hide
    assert unparsed.structured_content["error"] == "invalid_arguments"  # parse
    assert unparsed.structured_content["field"] == "limit"
    assert "tick size" in invalid.structured_content["reason"]  # validate
    assert denied.structured_content["error"] == "policy_denied"  # decide
    assert denied.structured_content["rule"] == "rules.cancel_all_orders"
    assert not first_price.is_error and first_price.structured_content["price"]  # dispatch
    assert limited.structured_content["error"] == "rate_limited"  # rate_limit
    assert unapproved.structured_content["error"] == "approval_required"  # approve
    assert orders_sent(fake) == [] and not [r for r in fake.requests if r.method == "DELETE"]
    tools = [record.tool for record in app.audit.query()]  # record: one record per call
    assert len(tools) == 7 and tools.count("get_price") == 2


async def test_a_constraint_refuses_before_the_budget_is_looked_at(build, fake: FakeBinance) -> None:
    """Inside decide, constraints come before the budget: an order over `max_notional` and over the
    budget is refused by the constraint, and the budget is neither read as its reason nor held."""
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {"place_order": {"action": "allow", "constraints": {"max_notional": "100"}}},
            "budgets": {"daily_notional": {"USDT": "50"}},
        }
    )
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert result.structured_content["rule"] == "rules.place_order.constraints.max_notional", result.content[
        0
    ].text
    assert result.structured_content["limit"] == "100"
    assert orders_sent(fake) == []
    with open_budget_store(app.state_dir) as budgets:
        assert budgets.spent_today(account=app.guard.services.account, asset="USDT") == 0


# -- everything checkable, before anyone is asked ----------------------------------------------

APPROVAL_AND_BUDGET = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "require_approval"}},
    "budgets": {"daily_notional": {"USDT": "100000"}},
}


@pytest.mark.parametrize(
    ("order", "credentials", "kind", "words"),
    [
        (BTC_LIMIT | {"price": "60000.005"}, True, "invalid_arguments", "tick size"),
        (BTC_LIMIT | {"price": "400000"}, True, "invalid_arguments", "price"),
        (BTC_LIMIT | {"quantity": "30000000"}, True, "invalid_arguments", "quantity"),
        (BTC_LIMIT, False, "not_configured", "BINANCE_API_KEY"),
    ],
    ids=["tick", "price-band", "max-quantity", "no-keys"],
)
async def test_an_order_that_cannot_be_placed_is_refused_before_a_human_is_asked(
    build, fake: FakeBinance, tmp_path: Path, order: dict, credentials: bool, kind: str, words: str
) -> None:
    app = build(APPROVAL_AND_BUDGET, credentials=credentials)
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        result = await client.call_tool("place_order", order)
    assert result.is_error and result.structured_content["error"] == kind, result.content[0].text
    assert words in result.structured_content["reason"]
    assert asked == []
    assert orders_sent(fake) == []
    with open_approval_store(app.state_dir) as approvals:
        assert approvals.list(include_decided=True) == []
    with open_budget_store(app.state_dir) as budgets:
        assert budgets.spent_today(account=app.guard.services.account, asset="USDT") == 0


async def test_a_reused_client_order_id_is_refused_before_a_human_is_asked(build, fake: FakeBinance) -> None:
    app = build(APPROVAL_AND_BUDGET)
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        first = await client.call_tool("place_order", BTC_LIMIT | {"client_order_id": "mine-1"})
        assert not first.is_error, first.content[0].text
        again = await client.call_tool(
            "place_order", BTC_LIMIT | {"price": "64000", "client_order_id": "mine-1"}
        )
    assert again.structured_content["error"] == "invalid_arguments"
    assert again.structured_content["field"] == "client_order_id"
    assert len(asked) == 1  # the first order only
    assert len(orders_sent(fake)) == 1


async def test_an_order_over_the_budget_is_refused_before_a_human_is_asked(build, fake: FakeBinance) -> None:
    app = build(APPROVAL_AND_BUDGET | {"budgets": {"daily_notional": {"USDT": "500"}}})
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert result.structured_content["rule"] == "budgets.daily_notional.USDT"
    assert result.structured_content["limit"] == "500" and result.structured_content["unit"] == "USDT"
    assert asked == []


# -- value: the most an order can cost or bring ------------------------------------------------


async def test_a_marketable_sell_is_valued_at_the_market_not_its_limit_price(
    build, fake: FakeBinance
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {"place_order": {"action": "allow", "constraints": {"max_notional": "100"}}},
        }
    )
    sell = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.0075", "price": "13000"}
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", sell)
    assert result.structured_content["error"] == "policy_denied", result.content[0].text
    assert "487.5" in result.structured_content["reason"]
    refusal = result.structured_content
    assert (refusal["limit"], refusal["value"], refusal["unit"]) == ("100", "487.5", "USDT")
    assert orders_sent(fake) == []


MARKET = Decimal("65000")


@pytest.mark.parametrize(
    ("leg", "value"),
    [
        (Leg("BUY", "LIMIT", Decimal("0.01"), price=Decimal("60000")), "600"),
        (Leg("BUY", "LIMIT", Decimal("0.01"), price=Decimal("70000")), "700"),
        (Leg("SELL", "LIMIT", Decimal("0.01"), price=Decimal("70000")), "700"),
        (Leg("SELL", "LIMIT", Decimal("0.01"), price=Decimal("13000")), "650"),
        (Leg("SELL", "LIMIT_MAKER", Decimal("0.01"), price=Decimal("13000")), "650"),
        # no bound: an estimate, the price plus the default 1 % market allowance
        (Leg("BUY", "MARKET", Decimal("0.01")), "656.5"),
        (Leg("SELL", "MARKET", Decimal("0.01")), "656.5"),
        (Leg("BUY", "MARKET", quote_quantity=Decimal("123")), "123"),
        (
            Leg(
                "BUY", "STOP_LOSS_LIMIT", Decimal("0.01"), price=Decimal("66000"), stop_price=Decimal("65900")
            ),
            "660",
        ),
        (
            Leg(
                "SELL",
                "STOP_LOSS_LIMIT",
                Decimal("0.01"),
                price=Decimal("60000"),
                stop_price=Decimal("60500"),
            ),
            "650",
        ),
        (
            Leg(
                "SELL",
                "TAKE_PROFIT_LIMIT",
                Decimal("0.01"),
                price=Decimal("70000"),
                stop_price=Decimal("70100"),
            ),
            "701",
        ),
        (Leg("SELL", "STOP_LOSS", Decimal("0.01"), stop_price=Decimal("60000")), "656.5"),
        (Leg("SELL", "TAKE_PROFIT", Decimal("0.01"), stop_price=Decimal("70000")), "707"),
        (Leg("SELL", "STOP_LOSS", Decimal("0.01"), trailing_delta=100), "656.5"),
        (Leg("BUY", "STOP_LOSS", Decimal("0.01"), trailing_delta=2000), "787.8"),  # fills up to 20 % above
        (
            Leg("BUY", "TAKE_PROFIT", Decimal("0.01"), stop_price=Decimal("60000"), trailing_delta=100),
            "663.065",
        ),
    ],
)
def test_each_row_of_the_valuation_table(leg: Leg, value: str) -> None:
    assert value_leg(leg, MARKET)[0] == Decimal(value)


def test_order_lists_are_valued_by_what_can_execute() -> None:
    above = Leg("SELL", "LIMIT_MAKER", Decimal("0.01"), price=Decimal("70000"), role="above")
    below = Leg(
        "SELL",
        "STOP_LOSS_LIMIT",
        Decimal("0.01"),
        price=Decimal("60000"),
        stop_price=Decimal("60500"),
        role="below",
    )
    working = Leg("BUY", "LIMIT", Decimal("0.01"), price=Decimal("64000"), role="working")
    oco = value_order(Order("BTCUSDT", "OCO", (above, below)), MARKET, "USDT")
    assert (oco.notional, oco.held) == (Decimal("700"), Decimal("700"))
    pending = Leg("SELL", "LIMIT_MAKER", Decimal("0.01"), price=Decimal("70000"), role="pending")
    oto = value_order(Order("BTCUSDT", "OTO", (working, pending)), MARKET, "USDT")
    # limits compare the largest single execution; the budget holds the path: both legs trade
    assert (oto.notional, oto.held) == (Decimal("700"), Decimal("1340"))
    otoco = (
        working,
        Leg(**{**above.__dict__, "role": "pending_above"}),
        Leg(**{**below.__dict__, "role": "pending_below"}),
    )
    bracket = value_order(Order("BTCUSDT", "OTOCO", otoco), MARKET, "USDT")
    assert (bracket.notional, bracket.held) == (Decimal("700"), Decimal("1340"))
    assert not bracket.estimate and oto.kind == "bound"


# -- decided again at send time -----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_policy_reloaded_while_the_human_decides_refuses_the_order(
    build, fake: FakeBinance, mode: str
) -> None:
    app = build(
        {"version": "1", "default": "allow", "rules": {"place_order": {"action": "require_approval"}}}
    )
    denying = PolicyEngine(
        parse_policy(
            json.dumps(
                {
                    "version": "1",
                    "default": "allow",
                    "rules": {"place_order": {"action": "deny", "reason": "stop trading"}},
                }
            )
        )
    )
    asked: list[str] = []
    async with Client(
        app.server, mode=mode, elicitation_callback=asking(asked, lambda: app.guard.install(denying))
    ) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert len(asked) == 1
    assert result.is_error and result.structured_content["error"] == "policy_denied", result.content[0].text
    assert "stop trading" in result.structured_content["reason"]
    assert orders_sent(fake) == []


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_price_move_while_the_human_decides_refuses_the_order(
    build, fake: FakeBinance, mode: str
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {
                "place_order": {
                    "action": "require_approval",
                    "constraints": {"max_notional": "1000"},
                }
            },
        }
    )
    asked: list[str] = []
    async with Client(
        app.server,
        mode=mode,
        elicitation_callback=asking(asked, lambda: fake.set_price("BTCUSDT", "650000.00")),
    ) as client:
        result = await client.call_tool("place_order", MARKET_BUY)
    assert len(asked) == 1 and "≈656.5 USDT" in asked[0]
    assert result.is_error, result.content[0].text
    assert "max_notional" in result.structured_content["reason"] + str(result.structured_content["rule"])
    assert orders_sent(fake) == []


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_budget_spent_while_the_human_decides_refuses_the_order(
    build, fake: FakeBinance, mode: str
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(APPROVAL_AND_BUDGET | {"budgets": {"daily_notional": {"USDT": "1000"}}})

    def spend_elsewhere() -> None:
        with open_budget_store(app.state_dir) as budgets:
            held = budgets.reserve(
                account=app.guard.services.account,
                asset="USDT",
                amount=Decimal("900"),
                limit=Decimal("1000"),
            )
            budgets.keep(held.id)

    asked: list[str] = []
    async with Client(app.server, mode=mode, elicitation_callback=asking(asked, spend_elsewhere)) as client:
        result = await client.call_tool("place_order", BTC_LIMIT)
    assert len(asked) == 1
    assert result.structured_content["rule"] == "budgets.daily_notional.USDT", result.content[0].text
    assert orders_sent(fake) == []


async def test_an_operator_approval_is_spent_only_by_the_call_that_is_sent(build, fake: FakeBinance) -> None:
    allow = {"version": "1", "default": "allow", "rules": {"place_order": {"action": "require_approval"}}}
    app = build(allow)
    capped = allow | {
        "rules": {"place_order": {"action": "require_approval", "constraints": {"max_notional": "100"}}}
    }
    async with Client(app.server) as client:  # no elicitation: an operator approves
        first = await client.call_tool("place_order", BTC_LIMIT)
        approval_id = first.structured_content["approval_id"]
        with open_approval_store(app.state_dir) as approvals:
            approvals.approve(approval_id)
        app.guard.install(PolicyEngine(parse_policy(json.dumps(capped))))
        refused = await client.call_tool("place_order", BTC_LIMIT)
        assert refused.structured_content["error"] == "policy_denied", refused.content[0].text
        with open_approval_store(app.state_dir) as approvals:
            assert approvals.get(approval_id).status == "approved"  # not spent
        app.guard.install(PolicyEngine(parse_policy(json.dumps(allow))))
        placed = await client.call_tool("place_order", BTC_LIMIT)
    assert not placed.is_error, placed.content[0].text
    assert len(orders_sent(fake)) == 1
    with open_approval_store(app.state_dir) as approvals:
        assert approvals.get(approval_id).status == "used"


# -- recovery that matches the order ------------------------------------------------------------


async def test_an_order_found_after_a_lost_answer_must_be_the_order_sent(build, fake: FakeBinance) -> None:
    direct_binance(fake).create_order(
        symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.5", newClientOrderId="older-sell"
    )
    app = build({"version": "1", "default": "allow"})
    app.exchange.retry = replace(
        app.exchange.retry, first_wait=0.01, longest_wait=0.02, first_lookup_wait=0.01
    )
    fake.inject(Status(503, -1001, "Internal error"), method="POST", path="/api/v3/order")
    bid = BTC_LIMIT | {"price": "60000", "client_order_id": "older-sell"}
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", bid)
    assert result.structured_content["error"] == "order_status_unknown", result.content[0].text
    assert "side SELL instead of BUY" in result.structured_content["reason"]
    assert result.structured_content["client_order_id"] == "older-sell"


async def test_approval_required_says_what_needs_no_human_and_when_the_request_expires(
    build, fake: FakeBinance
) -> None:
    fake.set_price("BTCUSDT", "65000.00")
    app = build(
        {
            "version": "1",
            "default": "allow",
            "rules": {"place_order": {"action": "allow", "approve_above_notional": "200"}},
        }
    )
    async with Client(app.server) as client:
        result = await client.call_tool(
            "place_order", BTC_LIMIT | {"quantity": "0.00308", "price": "64935.16"}
        )
    refusal = result.structured_content
    assert refusal["error"] == "approval_required", result.content[0].text
    assert refusal["no_approval_max"] == "200" and refusal["expires_at"].endswith("Z")
    assert "≈200.01 USDT" in refusal["reason"]  # 200.0002928, never "≈200"
    assert "Orders up to 200 USDT go ahead without a human" in refusal["reason"]


ABOVE_100 = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "approve_above_notional": "100"}},
}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_an_answer_covers_the_value_the_human_saw_not_a_later_one(
    build, fake: FakeBinance, mode: str
) -> None:
    """Found by review: in the 2026 era the final round re-valued the order and compared it with
    itself, so a price that doubled while the human decided went through."""
    fake.set_price("BTCUSDT", "65000.00")
    app = build(ABOVE_100)
    asked: list[str] = []
    async with Client(
        app.server,
        mode=mode,
        elicitation_callback=asking(asked, lambda: fake.set_price("BTCUSDT", "130000.00")),
    ) as client:
        result = await client.call_tool("place_order", MARKET_BUY)
    assert len(asked) == 1 and "≈656.5 USDT" in asked[0] and "market price 65000" in asked[0]
    assert "at most 1 % against you" in asked[0]  # the tolerance the human is shown
    assert result.structured_content["error"] == "approval_required", result.content[0].text
    assert "rose from ≈656.5 to ≈1313.04" in result.structured_content["reason"]
    assert orders_sent(fake) == []


async def test_an_operators_approval_covers_the_value_the_operator_saw(build, fake: FakeBinance) -> None:
    """Found by review: an operator's approval was compared with the value of the later call itself."""
    fake.set_price("BTCUSDT", "65000.00")
    app = build(ABOVE_100)
    async with Client(app.server) as client:
        first = await client.call_tool("place_order", MARKET_BUY)
        with open_approval_store(app.state_dir) as approvals:
            approvals.approve(first.structured_content["approval_id"])
        fake.set_price("BTCUSDT", "130000.00")
        doubled = await client.call_tool("place_order", MARKET_BUY)
        # the approval of ≈656.5 is used up; a fresh request asks about the order as it is now
        again = await client.call_tool("place_order", MARKET_BUY)
        with open_approval_store(app.state_dir) as approvals:
            approvals.approve(again.structured_content["approval_id"])
        fake.set_price("BTCUSDT", "130100.00")  # within 1 % of what the operator saw the second time
        close = await client.call_tool("place_order", MARKET_BUY)
    assert doubled.structured_content["error"] == "approval_required", doubled.content[0].text
    assert "rose from ≈656.5 to ≈1313.04" in doubled.structured_content["reason"]
    assert doubled.structured_content["approval_id"] != first.structured_content["approval_id"]
    assert again.structured_content["error"] == "approval_required"
    assert not close.is_error, close.content[0].text
    assert len(orders_sent(fake)) == 1


async def test_an_exchange_failure_before_the_policy_decided_is_audited_as_undecided(
    build, fake: FakeBinance
) -> None:
    """Found by review: an order for an unknown symbol under a policy that asks a human was
    audited `allowed`, as if the guard had let it through."""
    app = build(
        {"version": "1", "default": "allow", "rules": {"place_order": {"action": "require_approval"}}}
    )
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", MARKET_BUY | {"symbol": "BTCUSD"})
    assert (
        result.structured_content["error"] == "exchange_error" and result.structured_content["code"] == -1121
    )
    assert ".." not in result.structured_content["reason"]
    [record] = app.audit.query(tool="place_order")
    assert (record.decision, record.outcome) == ("undecided", "error")


async def test_the_budget_keeps_what_a_filled_order_actually_traded(build, fake: FakeBinance) -> None:
    """A marketable BUY LIMIT at 70000 is held at 700 USDT (its limit); it fills at the market,
    65000: the day's budget is charged what Binance says it traded (cummulativeQuoteQty)."""
    fake.set_price("BTCUSDT", "65000.00")
    app = build({"version": "1", "default": "allow", "budgets": {"daily_notional": {"USDT": "5000"}}})
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", BTC_LIMIT | {"price": "70000"})
        resting = await client.call_tool("place_order", BTC_LIMIT | {"price": "60000"})
    placed = result.structured_content
    assert placed["status"] == "FILLED", result.content[0].text
    traded = Decimal(placed["cumulative_quote_quantity"])
    assert traded < Decimal("700")
    assert resting.structured_content["status"] == "NEW"  # can still trade: held at its value, 600
    with open_budget_store(app.state_dir) as budgets:
        assert budgets.spent_today(account=app.guard.services.account, asset="USDT") == traded + Decimal(
            "600"
        )
