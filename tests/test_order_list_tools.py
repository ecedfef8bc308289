"""The order-list, get_order, get_my_trades and amend_order tools, run against the test exchange.

Each tool's spec is run as the guard runs it (validated input model, `prepare`, the `order` hook,
the market, every leg against the filters, the `check` hook, then `run` with a CallContext that
carries the order and its market) over a real ExchangeClient talking HTTP to the fake. The same
tools through `mcp.Client`, the whole guard included, are in test_order_list_tools_mcp.py.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from binance_mcp.config import Credentials, Network
from binance_mcp.exchange.client import ExchangeClient
from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.exchange.order_kinds import LIST
from binance_mcp.exchange.retry import RetryPolicy
from binance_mcp.guard.validate import check_filters, fetch_market
from binance_mcp.orders import Leg, describe
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.results import ToolOutput, dumps, success_result
from binance_mcp.tools import SPECS as ALL_SPECS
from binance_mcp.tools.inputs import PlaceOrderInput, describe_validation_error
from binance_mcp.tools.order_list_inputs import PlaceOrderListInput
from binance_mcp.tools.order_lists import order_of_place_order_list
from binance_mcp.tools.spec import CallContext, ToolSpec
from binance_mcp.tools.trading import order_of as order_of_place_order
from binance_mcp.tools.trigger_rules import trigger_problem
from binance_mcp.valuation import value_order
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import Drop, ExecuteThenFail, FakeBinance
from tests.fake_binance.data import symbol_specs
from tests.fake_binance.order_request import NewOrder, parse_new_order
from tests.fake_binance.params import Params
from tests.order_lists import with_leg

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=2, first_wait=0.01, longest_wait=0.02, lookups=3, first_lookup_wait=0.02)
NEW_TOOLS = (
    "place_order_list",
    "cancel_order_list",
    "get_order_lists",
    "get_order",
    "get_my_trades",
    "amend_order",
)
SPECS: dict[str, ToolSpec] = {name: ALL_SPECS[name] for name in NEW_TOOLS}
BRACKET = {
    "symbol": "BTCUSDT", "type": "OCO", "legs": [
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "70000"},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "stop_price": "60500"},
    ],
}  # fmt: skip
OTOCO = {
    "symbol": "BTCUSDT", "type": "OTOCO", "legs": [
        {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"},
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.0099", "price": "70000"},
        {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.0099", "stop_price": "60000"},
    ],
}  # fmt: skip


@pytest.fixture
def call(fake: FakeBinance) -> CallContext:
    exchange = ExchangeClient(fake.base_url, Credentials(API_KEY, API_SECRET), retry=FAST)
    return CallContext(exchange=exchange, network=Network.TESTNET)


async def run(tool: str, arguments: dict[str, Any], call: CallContext) -> ToolOutput:
    """Validate, prepare, check and run a tool as the guard's parse and validate stages do."""
    spec = SPECS[tool]
    args = spec.input_model.model_validate(arguments)
    if spec.prepare is not None:
        args = spec.prepare(args)
    if spec.order is not None:
        order = spec.order(args)
        market = await fetch_market(call.exchange, order.symbol)
        check_filters(order, market)
        if spec.check is not None:
            spec.check(order, market)
        call = replace(call, order=order, market=market)
    return await spec.run(args, call)


def statuses(fake: FakeBinance) -> dict[str, str]:
    return {order.client_order_id: order.status for order in fake.orders}


# -------------------------------------------------------------------------------------- place_order_list
async def test_a_bracket_around_a_filled_buy(fake: FakeBinance, call: CallContext) -> None:
    """OTOCO: the BUY fills on a fall, the take-profit fills on a rise and the stop-loss expires."""
    out = await run("place_order_list", OTOCO, call)
    placed = out.structured
    assert placed["type"] == "OTOCO" and placed["list_order_status"] == "EXECUTING"
    assert [o["status"] for o in placed["orders"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
    assert (
        placed["list_client_order_id"].startswith("bmcp_")
        and out.client_order_id == placed["list_client_order_id"]
    )
    working, above, below = (o["client_order_id"] for o in placed["orders"])
    assert len({working, above, below, placed["list_client_order_id"]}) == 4  # every id sent, all distinct
    fake.set_price("BTCUSDT", "63900")
    assert [statuses(fake)[i] for i in (working, above, below)] == ["FILLED", "NEW", "NEW"]
    fake.set_price("BTCUSDT", "70000")
    assert [statuses(fake)[i] for i in (working, above, below)] == ["FILLED", "FILLED", "EXPIRED"]
    listed = (
        await run("get_order_lists", {"list_client_order_id": placed["list_client_order_id"]}, call)
    ).structured
    (one,) = listed["order_lists"]
    assert one["list_order_status"] == "ALL_DONE"
    assert [o["status"] for o in one["orders"]] == ["FILLED", "FILLED", "EXPIRED"]
    trades = (await run("get_my_trades", {"symbol": "BTCUSDT"}, call)).structured
    assert [(t["is_buyer"], t["price"]) for t in trades["trades"]] == [
        (True, "64000.00000000"),
        (False, "70000.00000000"),
    ]
    assert (
        trades["trades"][1]["commission_asset"] == "USDT"
        and trades["trades"][1]["quote_quantity"] == "693.00000000"
    )


async def test_an_oco_stop_fills_and_the_take_profit_expires(fake: FakeBinance, call: CallContext) -> None:
    placed = (await run("place_order_list", BRACKET | {"list_client_order_id": "protect-1"}, call)).structured
    assert placed["contingency_type"] == "OCO" and placed["list_client_order_id"] == "protect-1"
    stop, take = placed["orders"]
    assert (stop["type"], stop["stop_price"], take["type"]) == (
        "STOP_LOSS_LIMIT",
        "60500.00000000",
        "LIMIT_MAKER",
    )
    fake.set_price("BTCUSDT", "60000")
    assert statuses(fake)[stop["client_order_id"]] == "FILLED"
    assert statuses(fake)[take["client_order_id"]] == "EXPIRED"


async def test_an_oco_on_the_wrong_side_of_the_market_is_refused_before_sending(
    fake: FakeBinance, call: CallContext
) -> None:
    with pytest.raises(Refusal) as info:
        await run("place_order_list", with_leg(BRACKET, 0, price="64000"), call)
    assert info.value.kind is RefusalKind.INVALID_ARGUMENTS and info.value.field == "legs[0].price"
    assert "above the market price 65000" in info.value.reason
    with pytest.raises(Refusal) as info:
        await run("place_order_list", with_leg(BRACKET, 1, price="60000.001"), call)
    assert info.value.field == "legs[1].price" and "tick size" in info.value.reason
    assert not [r for r in fake.requests if r.path.startswith("/api/v3/orderList")]


@pytest.mark.parametrize(
    ("arguments", "field", "words"),
    [
        (BRACKET | {"legs": BRACKET["legs"][:1]}, "legs", "at least 2 items"),
        (OTOCO | {"type": "OCO"}, "legs", "an OCO has 2 legs (got 3)"),
        (with_leg(BRACKET, 1, quantity=None), "legs[1].quantity", "required"),
        (with_leg(BRACKET, 1, quantity="0.02"), "legs[1].quantity", "one quantity"),
        (with_leg(BRACKET, 1, side="BUY"), "legs[1].side", "one side"),
        (with_leg(BRACKET, 0, type="STOP_LOSS", price=None, stop_price="70000"), "legs[1].type",
         "one STOP_LOSS or STOP_LOSS_LIMIT leg"),
        (with_leg(BRACKET, 1, stop_price=None), "legs[1].stop_price", "needs a stop_price, a trailing_delta or both"),
        (with_leg(BRACKET, 0, time_in_force="GTC"), "legs[0].time_in_force", "takes no time_in_force"),
        (with_leg(BRACKET, 1, trailing_delta=0), "legs[1].trailing_delta", "at least 1"),
        (with_leg(BRACKET, 1, leverage=3), "legs[1].leverage", "legs[1] takes side, type, quantity"),
        (with_leg(OTOCO, 0, type="MARKET", price=None), "legs[0].type", "working order is LIMIT or LIMIT_MAKER"),
        (with_leg(OTOCO, 2, type="TAKE_PROFIT"), "legs[2].type", "one STOP_LOSS or STOP_LOSS_LIMIT leg"),
        (with_leg(BRACKET, 0, client_order_id="x") | {"list_client_order_id": "x"}, "list_client_order_id",
         "must differ"),
        (BRACKET | {"side": "SELL", "above_type": "LIMIT_MAKER"}, "legs", "takes its orders as legs"),
    ],
)  # fmt: skip
def test_list_arguments_are_checked_in_words(arguments: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError) as info:
        PlaceOrderListInput.model_validate(arguments)
    first, sentence = describe_validation_error(info.value, PlaceOrderListInput)
    assert first == field and words in sentence, sentence


def test_an_oco_pair_takes_its_legs_in_either_order() -> None:
    """A SELL pair's stop-loss is its below leg, a BUY pair's its above leg, wherever it is given."""
    swapped = BRACKET | {"legs": BRACKET["legs"][::-1]}
    order = order_of_place_order_list(PlaceOrderListInput.model_validate(swapped))
    assert [(leg.role, leg.type, leg.argument) for leg in order.legs] == [
        ("below", "STOP_LOSS_LIMIT", "legs[0]"),
        ("above", "LIMIT_MAKER", "legs[1]"),
    ]
    assert LIST.params(order) == LIST.params(
        order_of_place_order_list(PlaceOrderListInput.model_validate(BRACKET))
    )


async def test_a_lost_answer_is_looked_up_never_resent(fake: FakeBinance, call: CallContext) -> None:
    fake.inject(ExecuteThenFail(http_status=503), "POST", "/api/v3/orderList/oco")
    out = await run("place_order_list", BRACKET | {"list_client_order_id": "lost-1"}, call)
    assert out.structured["recovered"] is True and out.structured["list_client_order_id"] == "lost-1"
    assert [o["status"] for o in out.structured["orders"]] == ["NEW", "NEW"]
    assert len([r for r in fake.requests if r.path == "/api/v3/orderList/oco"]) == 1
    assert len(fake.order_lists) == 1


async def test_a_list_found_after_a_lost_answer_counts_only_if_its_legs_are_the_ones_sent(
    fake: FakeBinance, call: CallContext
) -> None:
    """Issue #7 for lists: an older list with the same listClientOrderId is not "recovered"."""
    await run("place_order_list", BRACKET | {"list_client_order_id": "reused-list"}, call)
    await run("cancel_order_list", {"symbol": "BTCUSDT", "list_client_order_id": "reused-list"}, call)
    fake.inject(Drop(), "POST", "/api/v3/orderList/oco")
    with pytest.raises(Refusal) as info:
        await run(
            "place_order_list",
            with_leg(BRACKET, quantity="0.02") | {"list_client_order_id": "reused-list"},
            call,
        )
    assert info.value.kind is RefusalKind.ORDER_STATUS_UNKNOWN
    assert "exists but is not this one" in info.value.reason
    assert "quantity 0.01000000 instead of 0.02" in info.value.reason
    assert len(fake.order_lists) == 1


async def test_a_list_lost_before_it_executed_is_unknown_not_resent(
    fake: FakeBinance, call: CallContext
) -> None:
    fake.inject(Drop(), "POST", "/api/v3/orderList/oto")
    arguments = {"symbol": "BTCUSDT", "type": "OTO", "list_client_order_id": "gone-1", "legs": [
        {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"},
        {"side": "SELL", "type": "MARKET", "quantity": "0.0099"},
    ]}  # fmt: skip
    with pytest.raises(Refusal) as info:
        await run("place_order_list", arguments, call)
    assert info.value.kind is RefusalKind.ORDER_STATUS_UNKNOWN and info.value.client_order_id == "gone-1"
    assert "gone-1" in info.value.reason and "not sent again" in info.value.reason
    assert len([r for r in fake.requests if r.path == "/api/v3/orderList/oto"]) == 1
    assert fake.order_lists == []


async def test_dry_run_tests_each_leg_and_places_nothing(fake: FakeBinance, call: CallContext) -> None:
    dry = CallContext(exchange=call.exchange, network=call.network, dry_run=True)
    out = await run("place_order_list", BRACKET, dry)
    assert out.structured["simulated"] is True and [o["status"] for o in out.structured["orders"]] == [
        "SIMULATED",
        "SIMULATED",
    ]
    assert out.summary.startswith("Simulated (dry run, nothing was placed): OCO SELL 0.01 BTCUSDT")
    assert len([r for r in fake.requests if r.path == "/api/v3/order/test"]) == 2
    assert fake.orders == []


def test_the_request_uses_binances_names_and_every_client_id() -> None:
    spec = SPECS["place_order_list"]
    args = spec.prepare(PlaceOrderListInput.model_validate(with_leg(OTOCO, 2, trailing_delta=150)))
    params = LIST.params(order_of_place_order_list(args))
    assert params["workingTimeInForce"] == "GTC" and params["pendingBelowTrailingDelta"] == "150"
    assert params["pendingQuantity"] == "0.0099" and params["newOrderRespType"] == "FULL"
    for prefix in ("working", "pendingAbove", "pendingBelow"):
        assert params[f"{prefix}ClientOrderId"].startswith("bmcp_")
    assert "pendingAboveTimeInForce" not in params  # LIMIT_MAKER takes none


def test_the_approval_question_shows_every_leg() -> None:
    order = order_of_place_order_list(PlaceOrderListInput.model_validate(BRACKET))
    valuation = value_order(order, Decimal("65000"), "USDT")
    assert describe(order, valuation.notional, "USDT", "testnet") == (
        "OCO SELL 0.01 BTCUSDT: LIMIT_MAKER at 70000 / STOP_LOSS_LIMIT at 60000 (stop 60500), ≈700 USDT on TESTNET"
    )
    assert describe(order, None, "USDT", "mainnet").endswith("(stop 60500) on MAINNET")


# -------------------------------------------------------------------------------------------- order_of
def test_order_of_gives_the_guard_every_leg_and_its_value() -> None:
    order = order_of_place_order_list(PlaceOrderListInput.model_validate(BRACKET))
    assert order.kind == "OCO" and [leg.role for leg in order.legs] == ["above", "below"]
    assert value_order(order, Decimal("65000"), "USDT").notional == Decimal("700")  # the larger leg
    otoco = order_of_place_order_list(PlaceOrderListInput.model_validate(OTOCO))
    assert [leg.role for leg in otoco.pending] == ["pending_above", "pending_below"]
    # limits see its largest single execution (0.0099 × 70000 = 693); the budget holds the working
    # BUY (640) plus the larger pending leg
    valued = value_order(otoco, Decimal("65000"), "USDT")
    assert (valued.notional, valued.held) == (Decimal("693.0000"), Decimal("1333.0000"))
    single = order_of_place_order(
        PlaceOrderInput.model_validate(
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_LOSS",
                "quantity": "0.01",
                "trailing_delta": 200,
            }
        )
    )
    assert single.legs == (Leg(side="SELL", type="STOP_LOSS", quantity=Decimal("0.01"), trailing_delta=200),)
    # the guard takes each order from the tool's own `order` hook: these functions, no other
    assert ALL_SPECS["place_order"].order is order_of_place_order
    assert ALL_SPECS["place_order_list"].order is order_of_place_order_list


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        ({"type": "STOP_LOSS", "quantity": "0.01", "stop_price": "60000"}, None),
        ({"type": "TAKE_PROFIT", "quantity": "0.01", "trailing_delta": 100}, None),
        ({"type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "trailing_delta": 100}, None),
        ({"type": "STOP_LOSS", "quantity": "0.01"}, "stop_price: a STOP_LOSS order needs a stop_price, a trailing"),
        ({"type": "TAKE_PROFIT", "quantity": "0.01", "stop_price": "1", "price": "1"}, "price: a TAKE_PROFIT order takes no price"),
        ({"type": "LIMIT", "quantity": "0.01", "price": "1", "trailing_delta": 100}, "trailing_delta: a LIMIT order takes no"),
        ({"type": "STOP_LOSS", "quantity": "0.01", "stop_price": "1", "time_in_force": "GTC"}, "time_in_force: a STOP_LOSS"),
    ],
)  # fmt: skip
def test_place_order_takes_stop_loss_take_profit_and_trailing_delta(
    arguments: dict[str, Any], error: str | None
) -> None:
    full = {"symbol": "BTCUSDT", "side": "SELL"} | arguments
    if error is None:
        assert PlaceOrderInput.model_validate(full).type == arguments["type"]
        return
    with pytest.raises(ValidationError) as info:
        PlaceOrderInput.model_validate(full)
    assert error in describe_validation_error(info.value, PlaceOrderInput)[1]


# ------------------------------------------------------------------------------ cancel and read lists
async def test_cancel_order_list_and_get_open_lists(fake: FakeBinance, call: CallContext) -> None:
    placed = (await run("place_order_list", BRACKET | {"list_client_order_id": "c-1"}, call)).structured
    eth = with_leg(with_leg(BRACKET, quantity="0.1"), 0, price="3600")
    await run(
        "place_order_list", with_leg(eth, 1, price="3300", stop_price="3400") | {"symbol": "ETHUSDT"}, call
    )
    open_btc = (await run("get_order_lists", {"symbol": "BTCUSDT"}, call)).structured
    assert [x["list_client_order_id"] for x in open_btc["order_lists"]] == ["c-1"]
    assert (await run("get_order_lists", {}, call)).structured["count"] == 2
    out = await run("cancel_order_list", {"symbol": "BTCUSDT", "list_client_order_id": "c-1"}, call)
    assert out.structured["list_order_status"] == "ALL_DONE"
    assert [o["status"] for o in out.structured["orders"]] == ["CANCELED", "CANCELED"]
    assert {o["client_order_id"] for o in out.structured["orders"]} == {
        o["client_order_id"] for o in placed["orders"]
    }
    with pytest.raises(ExchangeFailure) as info:
        await run("cancel_order_list", {"symbol": "BTCUSDT", "order_list_id": placed["order_list_id"]}, call)
    assert info.value.code == -2011
    by_id = (await run("get_order_lists", {"order_list_id": placed["order_list_id"]}, call)).structured
    assert by_id["order_lists"][0]["list_status_type"] == "ALL_DONE"
    wrong_symbol = await run(
        "get_order_lists", {"order_list_id": placed["order_list_id"], "symbol": "ETHUSDT"}, call
    )
    assert wrong_symbol.structured["count"] == 0


async def test_a_cancel_whose_answer_was_lost_is_checked(fake: FakeBinance, call: CallContext) -> None:
    await run("place_order_list", BRACKET | {"list_client_order_id": "c-2"}, call)
    fake.inject(ExecuteThenFail(), "DELETE", "/api/v3/orderList")
    out = await run("cancel_order_list", {"symbol": "BTCUSDT", "list_client_order_id": "c-2"}, call)
    assert out.structured["list_order_status"] == "ALL_DONE"
    assert [o["status"] for o in out.structured["orders"]] == ["CANCELED", "CANCELED"]
    assert len([r for r in fake.requests if r.method == "DELETE"]) == 1


# ------------------------------------------------------------------------------- get_order, my trades
async def test_get_order_by_either_id(fake: FakeBinance, call: CallContext) -> None:
    placed = (await run("place_order_list", with_leg(BRACKET, 1, trailing_delta=100), call)).structured
    stop = placed["orders"][0]
    by_id = (await run("get_order", {"symbol": "BTCUSDT", "order_id": stop["order_id"]}, call)).structured
    by_client = await run(
        "get_order", {"symbol": "BTCUSDT", "client_order_id": stop["client_order_id"]}, call
    )
    assert by_id == by_client.structured
    assert by_id["order_list_id"] == placed["order_list_id"] and by_id["trailing_delta"] == 100
    assert by_id["status"] == "NEW" and by_id["network"] == "testnet"
    with pytest.raises(ExchangeFailure) as info:
        await run("get_order", {"symbol": "BTCUSDT", "order_id": 999}, call)
    assert info.value.code == -2013


async def test_my_trades_are_bounded_and_truncated_to_fit(fake: FakeBinance, call: CallContext) -> None:
    for _ in range(400):
        fake.exchange.place(_market_buy())
    out = await run("get_my_trades", {"symbol": "BTCUSDT", "limit": 1000}, call)
    assert out.structured["count"] == 400
    result = success_result(out)
    assert result.structured_content["truncated"] is True
    assert len(result.structured_content["trades"]) < 400
    assert len(dumps(result.structured_content)) + len(result.content[0].text) < 80_000
    by_order = (await run("get_my_trades", {"symbol": "BTCUSDT", "order_id": 1}, call)).structured
    assert [t["order_id"] for t in by_order["trades"]] == [1]
    with pytest.raises(ValidationError, match="order_id: Binance does not combine order_id with start_time"):
        SPECS["get_my_trades"].input_model.model_validate(
            {"symbol": "BTCUSDT", "order_id": 1, "start_time": 5}
        )


def _market_buy() -> NewOrder:
    """A small MARKET BUY, placed straight on the fake's engine (400 of them set a test up fast)."""
    specs = symbol_specs()
    values = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0001"}
    return parse_new_order(Params(values, specs), specs)


# --------------------------------------------------------------------------------------------- amend
async def test_amend_order_reduces_and_keeps_the_client_id(fake: FakeBinance, call: CallContext) -> None:
    await call.exchange.place_order(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.02",
         "price": "60000", "newClientOrderId": "amend-me"}
    )  # fmt: skip
    out = await run(
        "amend_order", {"symbol": "BTCUSDT", "client_order_id": "amend-me", "new_quantity": "0.015"}, call
    )
    assert (out.structured["quantity"], out.structured["client_order_id"]) == ("0.01500000", "amend-me")
    assert out.structured["orig_client_order_id"] == "amend-me" and out.structured["recovered"] is False
    with pytest.raises(ExchangeFailure) as info:
        await run(
            "amend_order", {"symbol": "BTCUSDT", "client_order_id": "amend-me", "new_quantity": "0.02"}, call
        )
    assert info.value.code == -2038
    fake.inject(ExecuteThenFail(http_status=503), "PUT", "/api/v3/order/amend/keepPriority")
    lost = await run(
        "amend_order", {"symbol": "BTCUSDT", "client_order_id": "amend-me", "new_quantity": "0.01"}, call
    )
    assert lost.structured["recovered"] is True and lost.structured["quantity"] == "0.01000000"
    assert len([r for r in fake.requests if r.method == "PUT"]) == 3


async def test_amend_of_an_oco_leg_reports_its_list(fake: FakeBinance, call: CallContext) -> None:
    placed = (
        await run("place_order_list", BRACKET | {"list_client_order_id": "amend-list"}, call)
    ).structured
    take = placed["orders"][1]
    out = await run(
        "amend_order", {"symbol": "BTCUSDT", "order_id": take["order_id"], "new_quantity": "0.005"}, call
    )
    assert out.structured["list_client_order_id"] == "amend-list"
    assert {o.orig_qty for o in fake.open_orders("BTCUSDT")} == {Decimal("0.005")}


def test_annotations_say_what_each_tool_does() -> None:
    hints = {name: spec.annotations for name, spec in SPECS.items()}
    for read in ("get_order_lists", "get_order", "get_my_trades"):
        assert hints[read].read_only_hint is True and hints[read].destructive_hint is False
    assert hints["cancel_order_list"].destructive_hint is True
    assert hints["amend_order"].destructive_hint is True and hints["amend_order"].read_only_hint is False
    assert (
        hints["place_order_list"].read_only_hint is False
        and hints["place_order_list"].destructive_hint is False
    )
    for spec in SPECS.values():
        assert spec.output_model.model_json_schema()["type"] == "object"


@pytest.mark.parametrize(
    ("side", "order_type", "above"),
    [("BUY", "STOP_LOSS", True), ("SELL", "TAKE_PROFIT_LIMIT", True), ("SELL", "STOP_LOSS_LIMIT", False),
     ("BUY", "TAKE_PROFIT", False), ("SELL", "LIMIT_MAKER", True), ("BUY", "LIMIT_MAKER", False)],
)  # fmt: skip
def test_trigger_prices_must_be_on_their_side_of_the_market(side: str, order_type: str, above: bool) -> None:
    market = Decimal("65000")
    good, bad = (
        (Decimal("65000.01"), Decimal("64999.99")) if above else (Decimal("64999.99"), Decimal("65000.01"))
    )
    assert trigger_problem(side, order_type, good, market, "stop_price") is None
    assert trigger_problem(side, order_type, None, market, "stop_price") is None  # trailing from the market
    for wrong in (bad, market):  # at the market it would trigger at once
        problem = trigger_problem(side, order_type, wrong, market, "stop_price")
        assert problem is not None and problem.startswith("stop_price: ") and "nothing was sent" in problem
        assert f"must be {'above' if above else 'below'} the market price 65000" in problem
