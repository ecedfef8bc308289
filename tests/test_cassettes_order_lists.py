"""The order-list, get_order, get_my_trades and amend_order tools against recorded answers (cassettes/).

As tests/test_cassettes.py (whose fixtures these share): replayed offline from Binance's documented
examples (cassettes/from_docs.py), re-recorded against the Spot Testnet with keys and
`--record-mode=rewrite`. Skipped until the tools are registered (ALL_TOOLS and catalog.json).
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal
from typing import Any

import pytest
from mcp import Client

from binance_mcp.tools import catalog
from tests import test_cassettes as base
from tests.test_cassettes import CASSETTES, ok, place_resting_buy

# The cassette fixtures of tests/test_cassettes.py: the same replay keys, policy and vcr settings.
client = base.client
replaying = base.replaying
vcr_cassette_dir = base.vcr_cassette_dir
vcr_config = base.vcr_config

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
    pytest.mark.vcr,
    pytest.mark.skipif(
        not set(NEW_TOOLS) <= set(catalog.load()),
        reason="the order-list tools are not registered yet (ALL_TOOLS, then python -m binance_mcp.tools.catalog)",
    ),
]


def _tick(price: Decimal) -> str:
    return str(price.quantize(Decimal("0.01"), rounding=ROUND_DOWN))


async def place_sell_bracket(client: Client, n: int) -> dict[str, Any]:
    """A SELL OCO around the price: a LIMIT_MAKER 10% above, a STOP_LOSS_LIMIT 10% (11%) below."""
    price = Decimal((await ok(client, "get_price", {"symbol": "BTCUSDT"}))["price"])
    arguments = {"symbol": "BTCUSDT", "type": "OCO", "list_client_order_id": f"bmcp-cassette-list-{n}", "legs": [
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": _tick(price * Decimal("1.1")),
         "client_order_id": f"bmcp-cassette-above-{n}"},
        {"side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.001", "price": _tick(price * Decimal("0.89")),
         "stop_price": _tick(price * Decimal("0.9")), "client_order_id": f"bmcp-cassette-below-{n}"},
    ]}  # fmt: skip
    return await ok(client, "place_order_list", arguments)


async def test_place_order_list(client: Client, replaying: bool) -> None:
    placed = await place_sell_bracket(client, 1)
    assert placed["contingency_type"] == "OCO" and placed["list_client_order_id"] == "bmcp-cassette-list-1"
    assert {o["client_order_id"] for o in placed["orders"]} == {
        "bmcp-cassette-above-1",
        "bmcp-cassette-below-1",
    }
    if replaying:
        assert [(o["order_id"], o["type"]) for o in placed["orders"]] == [
            (10, "STOP_LOSS_LIMIT"),
            (11, "LIMIT_MAKER"),
        ]
        assert placed["list_order_status"] == "EXECUTING"
    else:
        await ok(
            client, "cancel_order_list", {"symbol": "BTCUSDT", "list_client_order_id": "bmcp-cassette-list-1"}
        )


async def test_cancel_order_list(client: Client, replaying: bool) -> None:
    await place_sell_bracket(client, 2)
    done = await ok(
        client, "cancel_order_list", {"symbol": "BTCUSDT", "list_client_order_id": "bmcp-cassette-list-2"}
    )
    assert done["list_order_status"] == "ALL_DONE" and all(o["status"] == "CANCELED" for o in done["orders"])
    assert {o["client_order_id"] for o in done["orders"]} == {
        "bmcp-cassette-above-2",
        "bmcp-cassette-below-2",
    }


async def test_get_order_lists(client: Client, replaying: bool) -> None:
    lists = await ok(client, "get_order_lists", {})
    assert lists["count"] == len(lists["order_lists"])
    if replaying:
        (one,) = lists["order_lists"]
        assert (one["order_list_id"], one["symbol"], one["list_order_status"]) == (31, "LTCBTC", "EXECUTING")
        assert [(o["order_id"], o["type"], o["status"]) for o in one["orders"]] == [
            (4, "STOP_LOSS_LIMIT", "NEW"),
            (5, "LIMIT_MAKER", "NEW"),
        ]


async def test_get_order(client: Client, replaying: bool) -> None:
    if replaying:
        order = await ok(client, "get_order", {"symbol": "LTCBTC", "order_id": 1})
        assert (order["client_order_id"], order["status"], order["price"]) == ("myOrder1", "NEW", "0.1")
        return
    placed = await place_resting_buy(client, "bmcp-cassette-5")
    order = await ok(client, "get_order", {"symbol": "BTCUSDT", "order_id": placed["order_id"]})
    assert order["client_order_id"] == "bmcp-cassette-5"
    await ok(client, "cancel_order", {"symbol": "BTCUSDT", "client_order_id": "bmcp-cassette-5"})


async def test_get_my_trades(client: Client, replaying: bool) -> None:
    trades = await ok(client, "get_my_trades", {"symbol": "BNBBTC", "limit": 5})
    assert trades["count"] <= 5
    if replaying:
        assert trades["trades"] == [
            {"id": 28457, "order_id": 100234, "price": "4.00000100", "quantity": "12.00000000",
             "quote_quantity": "48.000012", "commission": "10.10000000", "commission_asset": "BNB",
             "time": 1499865549590, "is_buyer": True, "is_maker": False}
        ]  # fmt: skip


async def test_amend_order(client: Client, replaying: bool) -> None:
    if replaying:
        amended = await ok(client, "amend_order", {"symbol": "BTCUSDT", "order_id": 33, "new_quantity": "5"})
        assert (amended["quantity"], amended["orig_client_order_id"]) == (
            "5.00000000",
            "5xrgbMyg6z36NzBn2pbT8H",
        )
        assert amended["client_order_id"] == "5xrgbMyg6z36NzBn2pbT8H"  # named by order_id, it keeps its id
        return
    await place_resting_buy(client, "bmcp-cassette-6")
    amended = await ok(client, "amend_order",
                       {"symbol": "BTCUSDT", "client_order_id": "bmcp-cassette-6", "new_quantity": "0.0005"})  # fmt: skip
    assert amended["client_order_id"] == "bmcp-cassette-6" and Decimal(amended["quantity"]) == Decimal(
        "0.0005"
    )
    await ok(client, "cancel_order", {"symbol": "BTCUSDT", "client_order_id": "bmcp-cassette-6"})


@pytest.mark.vcr(record_mode="none")
def test_every_new_tool_has_its_cassette() -> None:
    names = {path.stem for path in CASSETTES.glob("*.yaml")}
    assert {f"test_{tool}" for tool in NEW_TOOLS} <= names
