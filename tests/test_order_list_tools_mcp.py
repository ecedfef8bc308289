"""The order-list, get_order, get_my_trades and amend_order tools through `mcp.Client`, on the test exchange.

These run once the tools are registered (in `ALL_TOOLS`, and `catalog.json` regenerated); until
then they are skipped, saying so. The closing scenario of issue #11: a bracket placed around a
filled BUY, one leg filling on a price move and the other expiring, all within a policy.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from binance_mcp.tools import catalog
from tests.conftest import ALLOW_ALL
from tests.fake_binance import ExecuteThenFail, FakeBinance
from tests.order_lists import with_leg

NEW_TOOLS = (
    "place_order_list",
    "cancel_order_list",
    "get_order_lists",
    "get_order",
    "get_my_trades",
    "amend_order",
)
pytestmark = [
    pytest.mark.anyio,
    pytest.mark.skipif(
        not set(NEW_TOOLS) <= set(catalog.load()),
        reason="the order-list tools are not registered yet (ALL_TOOLS, then python -m binance_mcp.tools.catalog)",
    ),
]

BRACKET_BUY = {"symbol": "BTCUSDT", "type": "OTOCO", "legs": [
    {"side": "BUY", "type": "LIMIT", "quantity": "0.01", "price": "64000"},
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.0099", "price": "70000"},
    {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.0099", "stop_price": "60000"},
]}  # fmt: skip


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content[0].text
    return result.structured_content


async def test_the_new_tools_are_listed_with_annotations(build: Any) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    for name in ("get_order_lists", "get_order", "get_my_trades"):
        assert tools[name].annotations.read_only_hint is True
    for name in ("cancel_order_list", "amend_order"):
        assert tools[name].annotations.destructive_hint is True
    assert tools["place_order_list"].output_schema is not None
    legs = tools["place_order_list"].input_schema["properties"]["legs"]
    assert "trailing_delta" in legs["items"]["properties"]


async def test_a_bracket_around_a_filled_buy_within_a_policy(build: Any, fake: FakeBinance) -> None:
    policy = {
        "version": "1",
        "default": "deny",
        "rules": {
            "get_*": {"action": "allow"},
            "place_order_list": {"action": "allow", "networks": ["testnet"]},
            "cancel_order_list": {"action": "allow", "networks": ["testnet"]},
        },
    }
    app = build(policy)
    async with Client(app.server) as client:
        placed = await ok(client, "place_order_list", BRACKET_BUY)
        assert [o["status"] for o in placed["orders"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
        working, take, stop = (o["client_order_id"] for o in placed["orders"])
        fake.set_price("BTCUSDT", "63950")  # the BUY fills; the bracket goes on the book
        assert (await ok(client, "get_order", {"symbol": "BTCUSDT", "client_order_id": take}))[
            "status"
        ] == "NEW"
        fake.set_price("BTCUSDT", "70100")  # the take-profit fills, the stop-loss expires
        states = [
            (await ok(client, "get_order", {"symbol": "BTCUSDT", "client_order_id": i}))["status"]
            for i in (working, take, stop)
        ]
        assert states == ["FILLED", "FILLED", "EXPIRED"]
        lists = await ok(client, "get_order_lists", {"list_client_order_id": placed["list_client_order_id"]})
        assert lists["order_lists"][0]["list_order_status"] == "ALL_DONE"
        fills = await ok(client, "get_my_trades", {"symbol": "BTCUSDT"})
        assert [(t["is_buyer"], t["is_maker"]) for t in fills["trades"]] == [(True, True), (False, True)]
        refused = await client.call_tool(
            "amend_order", {"symbol": "BTCUSDT", "order_id": 1, "new_quantity": "0.001"}
        )
        assert refused.is_error and refused.structured_content["error"] == "policy_denied"


async def test_a_lost_list_answer_is_recovered_once(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    fake.inject(ExecuteThenFail(http_status=503), "POST", "/api/v3/orderList/otoco")
    async with Client(app.server) as client:
        placed = await ok(client, "place_order_list", BRACKET_BUY | {"list_client_order_id": "lost-list"})
    assert placed["recovered"] is True and len(fake.order_lists) == 1
    assert len([r for r in fake.requests if r.path == "/api/v3/orderList/otoco"]) == 1


async def test_bad_list_arguments_are_one_clear_line(build: Any) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        result = await client.call_tool("place_order_list", with_leg(BRACKET_BUY, 2, stop_price=None))
        flat = await client.call_tool(  # the flat arguments place_order_list took before legs
            "place_order_list",
            {"symbol": "BTCUSDT", "type": "OCO", "side": "SELL", "quantity": "0.01", "above_type": "LIMIT_MAKER",
             "above_price": "70000", "below_type": "STOP_LOSS", "below_stop_price": "60000"},
        )  # fmt: skip
    assert result.is_error and result.structured_content["error"] == "invalid_arguments"
    assert result.structured_content["field"] == "legs[2].stop_price"
    assert "legs[2].stop_price: a STOP_LOSS leg needs a stop_price" in result.content[0].text
    assert "\n" not in result.structured_content["reason"]
    assert flat.is_error and flat.structured_content["field"] == "legs", flat.content[0].text
    assert (
        "place_order_list takes its orders as legs, a list of objects with side, type, quantity"
        in (flat.structured_content["reason"])
    )
    assert (
        "side, quantity, above_type, above_price, ... are no longer arguments"
        in flat.structured_content["reason"]
    )
    assert "Traceback" not in flat.content[0].text


async def test_place_order_sends_stop_loss_and_trailing_delta(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        await ok(client, "place_order", {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS",
                                         "quantity": "0.01", "trailing_delta": 100})  # fmt: skip
        amended = await ok(
            client, "amend_order", {"symbol": "BTCUSDT", "order_id": 1, "new_quantity": "0.005"}
        )
    (order,) = fake.open_orders()
    assert order.trailing_delta == 100 and order.orig_qty == Decimal("0.005") == Decimal(amended["quantity"])
    fake.set_price("BTCUSDT", "64350")  # 1 % under the high since placement (65000)
    assert fake.orders[0].status == "FILLED"
