"""The smaller defects of issue #15, each through `mcp.Client` on the test exchange."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from tests.conftest import ALLOW_ALL
from tests.fake_binance import FakeBinance, Status
from tests.fake_binance.order_request import NewOrder

pytestmark = pytest.mark.anyio

OCO = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": "70000"},
    {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stop_price": "60000"},
]}  # fmt: skip
OTO = {"symbol": "BTCUSDT", "type": "OTO", "legs": [
    {"side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "64000"},
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": "70000"},
]}  # fmt: skip


def resting(fake: FakeBinance, client_id: str, price: str = "60000") -> None:
    fake.exchange.place(
        NewOrder(
            "BTCUSDT",
            "BUY",
            "LIMIT",
            "GTC",
            Decimal("0.001"),
            None,
            Decimal(price),
            None,
            None,
            None,
            client_id,
            "FULL",
            "NONE",
        )
    )


async def test_open_order_lists_show_each_legs_side_type_and_status(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        for arguments in (OCO, OTO):
            placed = await client.call_tool("place_order_list", arguments)
            assert not placed.is_error, placed.content[0].text
        listed = await client.call_tool("get_order_lists", {})
    lists = listed.structured_content["order_lists"]
    legs = [(o["side"], o["type"], o["status"]) for x in lists for o in x["orders"]]
    assert sorted(legs) == [
        ("BUY", "LIMIT", "NEW"),
        ("SELL", "LIMIT_MAKER", "NEW"),
        ("SELL", "LIMIT_MAKER", "PENDING_NEW"),
        ("SELL", "STOP_LOSS", "NEW"),
    ]
    summary = listed.content[0].text.splitlines()[0]
    assert summary.startswith("2 open order lists on all symbols: ")
    assert "OCO EXECUTING (STOP_LOSS NEW, LIMIT_MAKER NEW)" in summary
    assert "OTO EXECUTING (LIMIT NEW, LIMIT_MAKER PENDING_NEW)" in summary


async def test_a_trailing_stops_result_keeps_its_trailing_delta(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        placed = await client.call_tool(
            "place_order",
            {
                "symbol": "BTCUSDT",
                "side": "SELL",
                "type": "STOP_LOSS",
                "quantity": "0.001",
                "trailing_delta": 100,
            },
        )
    assert not placed.is_error, placed.content[0].text
    assert placed.structured_content["trailing_delta"] == 100


async def test_get_my_trades_cut_to_fit_keeps_the_newest_fills_and_says_so(
    build: Any, fake: FakeBinance
) -> None:
    for _ in range(400):
        fake.exchange.place(
            NewOrder(
                "BTCUSDT",
                "BUY",
                "MARKET",
                None,
                Decimal("0.0001"),
                None,
                None,
                None,
                None,
                None,
                None,
                "FULL",
                "NONE",
            )
        )
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        result = await client.call_tool("get_my_trades", {"symbol": "BTCUSDT", "limit": 1000})
    trades = result.structured_content["trades"]
    assert result.structured_content["truncated"] is True and 0 < len(trades) < 400
    ids = [trade["id"] for trade in trades]
    newest = sorted(fill.trade_id for order in fake.orders for fill in order.fills)[-len(trades) :]
    assert ids == newest  # the most recent, still oldest first
    assert "the newest kept" in result.content[0].text.splitlines()[0]


async def test_a_client_order_id_with_a_trailing_newline_is_refused_before_sending(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        result = await client.call_tool(
            "place_order",
            {
                "symbol": "BTCUSDT",
                "side": "BUY",
                "type": "LIMIT",
                "quantity": "0.001",
                "price": "60000",
                "client_order_id": "zz\n",
            },
        )
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    assert result.structured_content["field"] == "client_order_id"
    assert [r for r in fake.requests if r.method == "POST"] == []


async def test_a_boolean_is_not_a_whole_number(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        result = await client.call_tool("get_my_trades", {"symbol": "BTCUSDT", "limit": True})
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    assert result.structured_content["field"] == "limit"
    assert "must be a whole number, not true" in result.structured_content["reason"]
    assert [r for r in fake.requests if r.path == "/api/v3/myTrades"] == []


async def test_an_unknown_order_list_points_to_get_order_lists(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        cancel = await client.call_tool("cancel_order_list", {"symbol": "BTCUSDT", "order_list_id": 4242})
        read = await client.call_tool("get_order_lists", {"order_list_id": 4242})
    for result in (cancel, read):
        reason = result.structured_content["reason"]
        assert result.structured_content["error"] == "exchange_error", result.content[0].text
        assert "no open order list with this id" in reason and "get_order_lists lists the open ones" in reason
        assert "get_open_orders" not in reason and "get_order_history" not in reason


@pytest.mark.parametrize(
    ("method", "path", "code", "message", "tool", "arguments", "advice"),
    [
        ("PUT", "/api/v3/order/amend/keepPriority", -2038, "Order amend (quantity increase) is not supported.",
         "amend_order", {"symbol": "BTCUSDT", "client_order_id": "rest-1", "new_quantity": "0.0005"},
         "amend_order only reduces an order"),
        ("POST", "/api/v3/orderList/oco", -2010, "The relationship of the prices for the orders is not correct.",
         "place_order_list", OCO, "In an OCO the last price must lie between the legs"),
        ("POST", "/api/v3/orderList/oco", -1013, "Filter failure: MAX_NUM_ORDER_LISTS",
         "place_order_list", OCO, "too many open order lists on this symbol: cancel some first (get_order_lists"),
        ("PUT", "/api/v3/order/amend/keepPriority", -1013, "Filter failure: MAX_NUM_ORDER_AMENDS",
         "amend_order", {"symbol": "BTCUSDT", "client_order_id": "rest-1", "new_quantity": "0.0005"},
         "amended as many times as the symbol allows: cancel it and place a new one"),
    ],
)  # fmt: skip
async def test_advice_for_amend_and_order_list_rejections(
    build: Any, fake: FakeBinance, method: str, path: str, code: int, message: str, tool: str,
    arguments: dict[str, Any], advice: str,
) -> None:  # fmt: skip
    """Binance's answers that the local checks cannot foresee (another process changed the order,
    the market moved in between) still come with the next step."""
    resting(fake, "rest-1")
    fake.inject(Status(400, code, message), method=method, path=path)
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        result = await client.call_tool(tool, arguments)
    assert result.structured_content["code"] == code, result.content[0].text
    assert advice in result.structured_content["reason"]


async def test_max_open_orders_says_both_the_open_count_and_the_lists_legs(
    build: Any, fake: FakeBinance
) -> None:
    for n in range(4):
        resting(fake, f"open-{n}", price=str(60000 - n))
    policy = {"version": "1", "default": "allow",
              "rules": {"place_order_list": {"action": "allow", "constraints": {"max_open_orders": 5}}}}  # fmt: skip
    app = build(policy)
    async with Client(app.server) as client:
        result = await client.call_tool("place_order_list", OCO)
    assert result.structured_content["error"] == "policy_denied", result.content[0].text
    assert result.structured_content["reason"].startswith(
        "4 orders are open on this account (all symbols) and this order list adds 2, max_open_orders is 5"
    )
