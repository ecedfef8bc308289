"""Every client order id, of every order and every leg of an order list, is used once (issue #15).

Binance accepts a client order id again once its first order is no longer open. A leg's id that
came back on a later order would let an approved cancel by that id reach an order the human never
saw, and a lookup after a lost answer report the old leg as the new order. The server records
every id a call sends (a list's legs, given or made, included) and refuses a reuse before anything
is sent or anyone is asked, naming the leg and when it was used.
"""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from tests.conftest import ALLOW_ALL
from tests.fake_binance import FakeBinance
from tests.order_lists import with_leg

pytestmark = pytest.mark.anyio

BRACKET = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
    {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.01", "price": "70000"},
    {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.01", "price": "60000", "stop_price": "60500"},
]}  # fmt: skip
SELL_LIMIT = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.001", "price": "66000"}


def posts(fake: FakeBinance) -> list[Any]:
    return [
        r
        for r in fake.requests
        if r.method == "POST" and r.path.startswith(("/api/v3/order", "/api/v3/orderList"))
    ]


async def test_a_new_order_reusing_a_filled_legs_id_is_refused_before_sending(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        placed = await client.call_tool(
            "place_order_list", with_leg(BRACKET, 0, client_order_id="K2") | {"list_client_order_id": "L1"}
        )
        assert not placed.is_error, placed.content[0].text
        fake.set_price("BTCUSDT", "70000")  # the take-profit leg K2 fills, the list is done
        assert [o.status for o in fake.orders if o.client_order_id == "K2"] == ["FILLED"]
        sent = len(posts(fake))
        again = await client.call_tool("place_order", SELL_LIMIT | {"client_order_id": "K2"})
    assert again.is_error
    assert again.structured_content["error"] == "invalid_arguments", again.content[0].text
    assert again.structured_content["field"] == "client_order_id"
    reason = again.structured_content["reason"]
    assert (
        "client_order_id K2 was already used on TESTNET as the id of legs[0] of a place_order_list" in reason
    )
    assert "list_client_order_id L1" in reason and "outcome ok" in reason and "Nothing was sent" in reason
    assert len(posts(fake)) == sent


async def test_a_new_list_reusing_an_old_legs_id_is_refused_naming_the_leg(
    build: Any, fake: FakeBinance
) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        first = await client.call_tool(
            "place_order_list",
            with_leg(BRACKET, 1, client_order_id="stop-1") | {"list_client_order_id": "L1"},
        )
        assert not first.is_error, first.content[0].text
        await client.call_tool("cancel_order_list", {"symbol": "BTCUSDT", "list_client_order_id": "L1"})
        sent = len(posts(fake))
        again = await client.call_tool(
            "place_order_list",
            with_leg(BRACKET, 0, client_order_id="stop-1") | {"list_client_order_id": "L2"},
        )
    assert again.structured_content["error"] == "invalid_arguments", again.content[0].text
    assert again.structured_content["field"] == "legs[0].client_order_id"
    assert (
        "legs[0].client_order_id stop-1 was already used on TESTNET as the id of legs[1]"
        in (again.structured_content["reason"])
    )
    assert len(posts(fake)) == sent


async def test_an_id_the_server_made_for_a_leg_is_used_once_too(build: Any, fake: FakeBinance) -> None:
    """Leg ids made by the server (`bmcp_` and a hash) are recorded like given ones."""
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        placed = await client.call_tool("place_order_list", BRACKET)
        assert not placed.is_error, placed.content[0].text
        made = [order["client_order_id"] for order in placed.structured_content["orders"]]
        assert all(leg_id.startswith("bmcp_") and len(leg_id) == 29 for leg_id in made)
        [record] = [r for r in app.audit.query(tool="place_order_list") if r.outcome == "ok"]
        assert {leg["client_order_id"] for leg in record.arguments["legs"]} == set(made)
        sent = len(posts(fake))
        again = await client.call_tool("place_order", SELL_LIMIT | {"client_order_id": made[1]})
    assert again.structured_content["error"] == "invalid_arguments", again.content[0].text
    assert f"client_order_id {made[1]} was already used" in again.structured_content["reason"]
    assert len(posts(fake)) == sent


async def test_a_list_reusing_a_single_orders_id_for_a_leg_is_refused(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    async with Client(app.server) as client:
        first = await client.call_tool("place_order", SELL_LIMIT | {"client_order_id": "single-1"})
        assert not first.is_error, first.content[0].text
        sent = len(posts(fake))
        again = await client.call_tool("place_order_list", with_leg(BRACKET, 1, client_order_id="single-1"))
    assert again.structured_content["field"] == "legs[1].client_order_id", again.content[0].text
    assert (
        "legs[1].client_order_id single-1 was already used on TESTNET by place_order (order id"
        in (again.structured_content["reason"])
    )
    assert len(posts(fake)) == sent
