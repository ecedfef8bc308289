"""Order lists, stop and trailing orders under the guard, through `mcp.Client` on the test exchange.

Issue #11's policy semantics: a list is checked in full (every leg's filters, then the tool's own
`check` hook: an OCO's prices against the market, trailing deltas) before a human is asked; its
list client order id is the call's client id (reuse refused, audited); it is valued as the most it
can cost or bring (an OCO by its larger leg, an OTO by working plus pending, an OTOCO by working
plus the larger pending leg) and each value is tried at, just under and just over a bound; the
approval question names every leg. Also: STOP_LOSS / TAKE_PROFIT and trailing stops end to end,
and cancel_all_orders counting the legs of the lists it cancelled.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from tests.conftest import ALLOW_ALL
from tests.fake_binance import Delay, FakeBinance
from tests.order_lists import with_leg
from tests.test_pipeline import asking

pytestmark = pytest.mark.anyio

BRACKET = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "70000"},
    {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "stop_price": "60500"},
]}  # fmt: skip
OTO = {"symbol": "BTCUSDT", "type": "OTO", "legs": [
    {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"},
    {"side": "SELL", "type": "LIMIT", "quantity": "0.01", "price": "70000"},
]}  # fmt: skip
OTOCO = {"symbol": "BTCUSDT", "type": "OTOCO", "legs": [
    {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"},
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.0099", "price": "70000"},
    {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.0099", "stop_price": "60000"},
]}  # fmt: skip
ASK_FOR_LISTS = {
    "version": "1",
    "default": "allow",
    "rules": {
        "place_order_list": {"action": "require_approval"},
        "place_order": {"action": "require_approval"},
    },
}


def list_posts(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path.startswith("/api/v3/orderList")]


def order_posts(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


def max_notional(tool: str, bound: str) -> dict[str, Any]:
    return {
        "version": "1",
        "default": "allow",
        "rules": {tool: {"action": "allow", "constraints": {"max_notional": bound}}},
    }


# -- everything checked before a human is asked ---------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "field", "words"),
    [
        (with_leg(BRACKET, 0, price="64000"), "legs[0].price", "above the market price 65000"),
        (with_leg(BRACKET, 1, stop_price="66000"), "legs[1].stop_price", "would trigger at once"),
        (with_leg(BRACKET, 1, price="60000.001"), "legs[1].price", "tick size"),
        (with_leg(BRACKET, 1, trailing_delta=5000), "legs[1].trailing_delta", "outside 10 to 2000 BIPS"),
        (
            with_leg(OTOCO, 1, price="59000"),
            "legs[1].price",
            "must be above the pending below leg",
        ),
    ],
    ids=[
        "oco-limit-below-market",
        "oco-stop-above-market",
        "tick",
        "trailing-delta",
        "otoco-pair-upside-down",
    ],
)
async def test_a_list_that_cannot_be_placed_is_refused_before_a_human_is_asked(
    build: Any, fake: FakeBinance, arguments: dict[str, Any], field: str, words: str
) -> None:
    app = build(ASK_FOR_LISTS)
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        result = await client.call_tool("place_order_list", arguments)
    refusal = result.structured_content
    assert result.is_error and refusal["error"] == "invalid_arguments", result.content[0].text
    assert refusal["field"] == field and words in refusal["reason"], refusal
    assert "nothing was sent" in refusal["reason"]
    assert asked == []
    assert list_posts(fake) == []


async def test_a_trailing_delta_out_of_bounds_is_refused_before_a_human_is_asked(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ASK_FOR_LISTS)
    asked: list[str] = []
    stop = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS", "quantity": "0.01", "trailing_delta": 5}
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        result = await client.call_tool("place_order", stop)
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    assert result.structured_content["field"] == "trailing_delta"
    assert "outside 10 to 2000 BIPS" in result.structured_content["reason"]
    assert asked == [] and order_posts(fake) == []


# -- the list client order id is the call's client id ----------------------------------------------


async def test_a_reused_list_client_order_id_is_refused_before_a_human_is_asked(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ASK_FOR_LISTS)
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        first = await client.call_tool("place_order_list", BRACKET | {"list_client_order_id": "mine-list"})
        assert not first.is_error, first.content[0].text
        cancelled = await client.call_tool(
            "cancel_order_list", {"symbol": "BTCUSDT", "list_client_order_id": "mine-list"}
        )
        assert not cancelled.is_error, cancelled.content[0].text
        again = await client.call_tool(
            "place_order_list", with_leg(BRACKET, quantity="0.02") | {"list_client_order_id": "mine-list"}
        )
    assert again.structured_content["error"] == "invalid_arguments", again.content[0].text
    assert "mine-list was already used" in again.structured_content["reason"]
    assert len(asked) == 1  # the first list only
    assert len(list_posts(fake)) == 1
    [record] = [r for r in app.audit.query(tool="place_order_list") if r.outcome == "ok"]
    assert record.client_order_id == "mine-list"


async def test_the_same_list_client_order_id_twice_at_once_is_sent_once(
    build: Any, fake: FakeBinance
) -> None:
    """Both calls pass screening together; under the account lock the second sees the first's record."""
    app = build(ALLOW_ALL)
    fake.inject(Delay(0.3), method="POST", path="/api/v3/orderList/oco")
    results: list[Any] = []
    async with Client(app.server) as client:

        async def place(quantity: str) -> None:
            arguments = with_leg(BRACKET, quantity=quantity) | {"list_client_order_id": "twice"}
            results.append(await client.call_tool("place_order_list", arguments))

        async with anyio.create_task_group() as group:
            group.start_soon(place, "0.01")
            group.start_soon(place, "0.02")
    assert sorted(r.is_error for r in results) == [False, True]
    [refused] = [r for r in results if r.is_error]
    assert refused.structured_content["error"] == "invalid_arguments", refused.content[0].text
    assert "twice was already used" in refused.structured_content["reason"]
    assert len(list_posts(fake)) == 1 and len(fake.order_lists) == 1


# -- value: the largest single execution, at, just under and just over a bound ---------------------

LIST_VALUES = [
    # OCO SELL 0.01: LIMIT_MAKER at 70000 (700) or STOP_LOSS_LIMIT at 60000, stop 60500 (650 at the market)
    pytest.param(BRACKET, "700", id="oco-by-its-larger-leg"),
    # OTO: BUY 0.01 at 64000 (640), then SELL 0.01 LIMIT at 70000 (700): the larger execution
    pytest.param(OTO, "700", id="oto-its-larger-execution"),
    # OTOCO: BUY 0.01 at 64000 (640), then SELL 0.0099 at 70000 (693) or stop 60000 (649.94: at the
    # market 65000 plus the 1 % allowance): the exits do not add to the entry they protect
    pytest.param(OTOCO, "693", id="otoco-its-larger-execution"),
]


@pytest.mark.parametrize(("arguments", "value"), LIST_VALUES)
@pytest.mark.parametrize(
    ("bound", "allowed"),
    [("{v}", True), ("{v}.01", True), ("{v_less}", False)],
    ids=["at-the-bound", "just-under", "just-over"],
)
async def test_each_list_is_valued_at_what_can_execute(
    build: Any, fake: FakeBinance, arguments: dict[str, Any], value: str, bound: str, allowed: bool
) -> None:
    v_less = f"{int(value) - 1}.99"
    app = build(max_notional("place_order_list", bound.format(v=value, v_less=v_less)))
    async with Client(app.server) as client:
        result = await client.call_tool("place_order_list", arguments)
    if allowed:
        assert not result.is_error, result.content[0].text
        assert len(fake.order_lists) == 1
        return
    refusal = result.structured_content
    assert refusal["error"] == "policy_denied", result.content[0].text
    assert (refusal["limit"], refusal["value"], refusal["unit"]) == (v_less, value, "USDT")
    assert list_posts(fake) == []


@pytest.mark.parametrize(
    ("bound", "allowed"), [("707", True), ("707.01", True), ("706.99", False)], ids=["at", "under", "over"]
)
async def test_a_trailing_stop_is_valued_at_its_activation_price(
    build: Any, fake: FakeBinance, bound: str, allowed: bool
) -> None:
    """A SELL TAKE_PROFIT trailing 1 % once the price reaches 70000: at least 0.01 × 70000, not the
    market 650; a trailing SELL follows the price up, so that is an estimate: plus the 1 % allowance."""
    app = build(max_notional("place_order", bound))
    trailing = {"symbol": "BTCUSDT", "side": "SELL", "type": "TAKE_PROFIT", "quantity": "0.01",
                "stop_price": "70000", "trailing_delta": 100}  # fmt: skip
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", trailing)
    if allowed:
        assert not result.is_error, result.content[0].text
    else:
        assert result.structured_content["value"] == "707", result.content[0].text
        assert order_posts(fake) == []


# -- the approval question names every leg --------------------------------------------------------

TOLERANCE = "sent only while its value moves at most 1 % against you"


@pytest.mark.parametrize(
    ("arguments", "question"),
    [
        (
            BRACKET,
            "OCO SELL 0.01 BTCUSDT: LIMIT_MAKER at 70000 / STOP_LOSS_LIMIT at 60000 (stop 60500), ≈700 USDT "
            f"on TESTNET — valued at the market price 65000; {TOLERANCE} — approve?",
        ),
        (
            OTOCO,
            "OTOCO BTCUSDT: working BUY 0.01 BTCUSDT LIMIT at 64000 / pending_above SELL 0.0099 BTCUSDT "
            "LIMIT_MAKER at 70000 / pending_below SELL 0.0099 BTCUSDT STOP_LOSS (stop 60000), ≈693 USDT "
            f"on TESTNET — valued at the market price 65000, an estimate; {TOLERANCE} — approve?",
        ),
    ],
    ids=["oco", "otoco"],
)
async def test_the_approval_question_shows_every_leg(
    build: Any, fake: FakeBinance, arguments: dict[str, Any], question: str
) -> None:
    app = build(ASK_FOR_LISTS)
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        result = await client.call_tool("place_order_list", arguments | {"list_client_order_id": "ask-me"})
    assert not result.is_error, result.content[0].text
    assert [text.split(" (ref ")[0] for text in asked] == [question]  # 2026 era: "(ref <nonce>)" follows
    assert len(fake.order_lists) == 1


async def test_a_list_without_an_id_is_approved_mid_call_in_the_2025_era(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ASK_FOR_LISTS)
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked), mode="legacy") as client:
        result = await client.call_tool("place_order_list", BRACKET)
    assert not result.is_error, result.content[0].text
    assert asked == [
        "OCO SELL 0.01 BTCUSDT: LIMIT_MAKER at 70000 / STOP_LOSS_LIMIT at 60000 (stop 60500), ≈700 USDT "
        f"on TESTNET — valued at the market price 65000; {TOLERANCE} — approve?"
    ]
    assert len(fake.order_lists) == 1


async def test_a_list_without_an_id_is_approved_in_the_2026_era(build: Any, fake: FakeBinance) -> None:
    app = build(ASK_FOR_LISTS)
    asked: list[str] = []
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        result = await client.call_tool("place_order_list", BRACKET)
    assert not result.is_error, result.content[0].text
    assert len(asked) == 1 and len(fake.order_lists) == 1


# -- stop and trailing orders, end to end ---------------------------------------------------------


async def test_a_trailing_stop_is_sent_and_triggers_when_the_price_falls_back(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ALLOW_ALL)
    trailing = {"symbol": "BTCUSDT", "side": "SELL", "type": "TAKE_PROFIT", "quantity": "0.01",
                "stop_price": "70000", "trailing_delta": 100}  # fmt: skip
    async with Client(app.server) as client:
        result = await client.call_tool("place_order", trailing)
        assert not result.is_error, result.content[0].text
        assert "(stop 70000, trailing 100 BIPS)" in result.content[0].text
        [sent] = order_posts(fake)
        assert (sent.params["trailingDelta"], sent.params["stopPrice"], sent.params["type"]) == (
            "100",
            "70000",
            "TAKE_PROFIT",
        )
        assert "timeInForce" not in sent.params and "price" not in sent.params
        fake.set_price("BTCUSDT", "70500")  # activated: tracking from here
        fake.set_price("BTCUSDT", "71000")  # a new high
        fake.set_price("BTCUSDT", "70400")  # less than 1 % below the high: still waiting
        found = await client.call_tool(
            "get_order", {"symbol": "BTCUSDT", "order_id": result.structured_content["order_id"]}
        )
        assert found.structured_content["status"] == "NEW"
        fake.set_price("BTCUSDT", "70290")  # 1 % below 71000: a MARKET sell
        found = await client.call_tool(
            "get_order", {"symbol": "BTCUSDT", "order_id": result.structured_content["order_id"]}
        )
    assert found.structured_content["status"] == "FILLED", found.content[0].text


async def test_a_stop_loss_becomes_a_market_order_when_the_price_falls_to_it(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ALLOW_ALL)
    stop = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "STOP_LOSS",
        "quantity": "0.01",
        "stop_price": "60000",
    }
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order", stop)
        assert not placed.is_error, placed.content[0].text
        wrong_side = await client.call_tool("place_order", stop | {"stop_price": "66000"})
        fake.set_price("BTCUSDT", "59990")
    assert wrong_side.structured_content["field"] == "stop_price"
    assert "would trigger at once" in wrong_side.structured_content["reason"]
    assert len(order_posts(fake)) == 1
    assert fake.orders[0].status == "FILLED"


# -- cancel_all_orders counts the legs of the lists it cancelled ----------------------------------


async def test_cancel_all_orders_counts_cancelled_list_legs(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        assert not (await client.call_tool("place_order_list", BRACKET)).is_error
        single = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "60000"}
        assert not (await client.call_tool("place_order", single)).is_error
        result = await client.call_tool("cancel_all_orders", {"symbol": "BTCUSDT"})
    assert not result.is_error, result.content[0].text
    assert result.structured_content["count"] == 3
    assert sorted(o["type"] for o in result.structured_content["cancelled"]) == [
        "LIMIT",
        "LIMIT_MAKER",
        "STOP_LOSS_LIMIT",
    ]
    assert fake.open_orders("BTCUSDT") == []


# -- the bundled policies --------------------------------------------------------------------------


def bundled(name: str) -> dict[str, Any]:
    import json

    from binance_mcp.policy.model import bundled_policy_path

    return json.loads(bundled_policy_path(name).read_text())


async def test_testnet_trader_allows_a_bracket_within_its_limits(build: Any, fake: FakeBinance) -> None:
    app = build(bundled("testnet-trader"))
    asked: list[str] = []
    small = with_leg(BRACKET, quantity="0.002")  # ≈140 USDT: under approve_above_notional 200
    async with Client(app.server, elicitation_callback=asking(asked)) as client:
        placed = await client.call_tool("place_order_list", small)
        take_profit_leg = await client.call_tool(
            "place_order_list",
            with_leg(small, 0, type="TAKE_PROFIT", price=None, stop_price="70000"),
        )
        too_large = await client.call_tool(
            "place_order_list", with_leg(BRACKET, quantity="0.02")
        )  # ≈1400 USDT
        asked_about = await client.call_tool(  # ≈700 USDT: a human approves
            "place_order_list", BRACKET | {"list_client_order_id": "trader-asked"}
        )
    assert not placed.is_error, placed.content[0].text
    refusal = take_profit_leg.structured_content
    assert (
        refusal["error"] == "policy_denied"
        and refusal["rule"] == "rules.place_order_list.constraints.order_types"
    )
    assert "TAKE_PROFIT" in refusal["reason"]
    assert too_large.structured_content["rule"] == "rules.place_order_list.constraints.max_notional"
    assert not asked_about.is_error, asked_about.content[0].text
    assert len(asked) == 1 and "≈700 USDT" in asked[0]
    assert len(fake.order_lists) == 2


@pytest.mark.parametrize(
    ("policy", "tool", "arguments", "visible", "error"),
    [
        ("read-only", "get_order_lists", {}, True, None),
        ("read-only", "get_order", {"symbol": "BTCUSDT", "order_id": 999}, True, "exchange_error"),
        ("read-only", "get_my_trades", {"symbol": "BTCUSDT"}, True, None),
        ("read-only", "place_order_list", BRACKET, False, None),
        ("read-only", "cancel_order_list", {"symbol": "BTCUSDT", "order_list_id": 1}, False, None),
        ("read-only", "amend_order", {"symbol": "BTCUSDT", "order_id": 1, "new_quantity": "0.001"}, False, None),
        ("default", "place_order_list", BRACKET, True, "approval_required"),
        ("default", "cancel_order_list", {"symbol": "BTCUSDT", "order_list_id": 1}, True, "approval_required"),
        ("default", "amend_order", {"symbol": "BTCUSDT", "order_id": 1, "new_quantity": "0.001"}, True,
         "approval_required"),
    ],
)  # fmt: skip
async def test_read_only_allows_the_new_reads_and_default_asks_before_every_new_trading_tool(
    build: Any,
    fake: FakeBinance,
    policy: str,
    tool: str,
    arguments: dict[str, Any],
    visible: bool,
    error: str | None,
) -> None:
    from decimal import Decimal

    from tests.fake_binance.order_request import NewOrder

    app = build(bundled(policy))
    # order 1: a resting BUY that amend_order looks up (and checks) before a human is asked
    fake.exchange.place(
        NewOrder(
            "BTCUSDT",
            "BUY",
            "LIMIT",
            "GTC",
            Decimal("0.002"),
            None,
            Decimal("60000"),
            None,
            None,
            None,
            "resting-1",
            "FULL",
            "NONE",
        )
    )
    fake.clear_requests()
    async with Client(app.server) as client:  # no elicitation: an operator must approve
        listed = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool(tool, arguments)
    assert (tool in listed) is visible
    if not visible:
        assert result.is_error and "unknown tool" in result.content[0].text.lower(), result.content[0].text
    elif error is None:
        assert not result.is_error, result.content[0].text
    else:
        assert result.structured_content["error"] == error, result.content[0].text
    assert list_posts(fake) == [] and [r for r in fake.requests if r.method in ("DELETE", "PUT")] == []
