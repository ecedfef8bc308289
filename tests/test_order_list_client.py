"""The exchange client's order-list, trade-list and amend calls, against the test exchange over HTTP."""

from __future__ import annotations

import contextlib
from decimal import Decimal
from typing import Any

import pytest

from binance_mcp.config import Credentials
from binance_mcp.exchange.client import ExchangeClient
from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.exchange.order_kinds import LIST, Ref
from binance_mcp.exchange.retry import RetryPolicy
from binance_mcp.exchange.weights import new_orders, request_weight
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import ExecuteThenFail, FakeBinance, Status

pytestmark = pytest.mark.anyio

FAST = RetryPolicy(attempts=2, first_wait=0.01, longest_wait=0.02, lookups=3, first_lookup_wait=0.02)
OCO = {
    "symbol": "BTCUSDT",
    "listClientOrderId": "bmcp_list_1",
    "side": "SELL",
    "quantity": "0.01",
    "aboveType": "LIMIT_MAKER",
    "aboveClientOrderId": "bmcp_above_1",
    "abovePrice": "70000",
    "belowType": "STOP_LOSS",
    "belowClientOrderId": "bmcp_below_1",
    "belowStopPrice": "60000",
}
OTOCO = {
    "symbol": "BTCUSDT",
    "listClientOrderId": "bmcp_list_2",
    "workingType": "LIMIT",
    "workingSide": "BUY",
    "workingPrice": "64000",
    "workingQuantity": "0.01",
    "workingTimeInForce": "GTC",
    "pendingSide": "SELL",
    "pendingQuantity": "0.009",
    "pendingAboveType": "LIMIT_MAKER",
    "pendingAbovePrice": "70000",
    "pendingBelowType": "STOP_LOSS",
    "pendingBelowStopPrice": "60000",
}


def exchange_for(fake: FakeBinance) -> ExchangeClient:
    return ExchangeClient(fake.base_url, Credentials(API_KEY, API_SECRET), retry=FAST)


@pytest.fixture
def exchange(fake: FakeBinance) -> ExchangeClient:
    return exchange_for(fake)


async def test_place_query_and_cancel_an_oco(fake: FakeBinance, exchange: ExchangeClient) -> None:
    placed = await exchange.place_order_list("OCO", dict(OCO))
    assert placed["listClientOrderId"] == "bmcp_list_1" and placed["listOrderStatus"] == "EXECUTING"
    assert {o["clientOrderId"] for o in placed["orders"]} == {"bmcp_above_1", "bmcp_below_1"}
    by_client_id = await exchange.get_order_list(list_client_order_id="bmcp_list_1")
    assert by_client_id == await exchange.get_order_list(order_list_id=placed["orderListId"])
    assert [x["orderListId"] for x in await exchange.get_open_order_lists()] == [placed["orderListId"]]
    cancelled = await exchange.cancel_order_list("BTCUSDT", list_client_order_id="bmcp_list_1")
    assert [r["status"] for r in cancelled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert await exchange.get_open_order_lists() == []
    with pytest.raises(ExchangeFailure) as info:
        await exchange.cancel_order_list("BTCUSDT", order_list_id=placed["orderListId"])
    assert info.value.code == -2011
    with pytest.raises(ValueError, match="OCO, OTO or OTOCO"):
        await exchange.place_order_list("OPO", {})


async def test_otoco_then_fills_and_my_trades(fake: FakeBinance, exchange: ExchangeClient) -> None:
    placed = await exchange.place_order_list("otoco", dict(OTOCO))
    working_id = placed["orders"][0]["orderId"]
    fake.set_price("BTCUSDT", "64000")
    fake.set_price("BTCUSDT", "70000")
    trades = await exchange.get_my_trades("BTCUSDT")
    assert [(t["isBuyer"], t["isMaker"]) for t in trades] == [(True, True), (False, True)]
    assert await exchange.get_my_trades("BTCUSDT", order_id=working_id) == trades[:1]
    assert await exchange.get_my_trades("BTCUSDT", limit=1) == trades[1:]
    listed = await exchange.get_order_list(list_client_order_id="bmcp_list_2")
    assert listed["listOrderStatus"] == "ALL_DONE"


async def test_amend_reduces_the_quantity(fake: FakeBinance, exchange: ExchangeClient) -> None:
    await exchange.place_order(
        {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.02",
         "price": "60000", "newClientOrderId": "bmcp_amend_1"}
    )  # fmt: skip
    answer = await exchange.amend_order("BTCUSDT", "0.015", orig_client_order_id="bmcp_amend_1")
    assert answer["amendedOrder"]["qty"] == "0.01500000"
    assert answer["amendedOrder"]["origClientOrderId"] == "bmcp_amend_1"
    new_id = answer["amendedOrder"]["clientOrderId"]
    kept = await exchange.amend_order(
        "BTCUSDT", "0.01", order_id=answer["amendedOrder"]["orderId"], new_client_order_id=new_id
    )
    assert kept["amendedOrder"]["clientOrderId"] == new_id
    with pytest.raises(ExchangeFailure) as info:
        await exchange.amend_order("BTCUSDT", "0.02", orig_client_order_id=new_id)
    assert info.value.code == -2038
    assert fake.balance("USDT").locked == Decimal("600")


async def test_an_order_list_is_looked_up_after_a_lost_answer(
    fake: FakeBinance, exchange: ExchangeClient
) -> None:
    fake.inject(ExecuteThenFail(http_status=503), "POST", "/api/v3/orderList/oco")
    with pytest.raises(ExchangeFailure) as info:
        await exchange.place_order_list("OCO", dict(OCO))
    assert info.value.may_have_executed
    found = await LIST.look_up(exchange, Ref("BTCUSDT", "bmcp_list_1"))
    assert found.settled and found.order is not None and found.order["listClientOrderId"] == "bmcp_list_1"
    assert [report["status"] for report in found.order["orderReports"]] == ["NEW", "NEW"]
    assert len([r for r in fake.requests if r.path == "/api/v3/orderList/oco"]) == 1  # never resent
    elsewhere = await LIST.look_up(exchange, Ref("ETHUSDT", "bmcp_list_1"), tries=1)
    assert elsewhere.order is None and elsewhere.missing
    missing = await LIST.look_up(exchange, Ref("BTCUSDT", "never_sent"), tries=2)
    assert (missing.order, missing.settled, missing.missing) == (None, False, True)
    fake.inject(Status(503, -1001, "Internal error."), "GET", "/api/v3/orderList", times=10)
    unavailable = await LIST.look_up(exchange, Ref("BTCUSDT", "bmcp_list_1"), tries=2)
    assert unavailable.order is None and not unavailable.missing


@pytest.mark.parametrize(
    ("call", "method", "params"),
    [
        (lambda x: x.get_my_trades("BTCUSDT"), "get_my_trades", {"symbol": "BTCUSDT"}),
        (lambda x: x.get_my_trades("BTCUSDT", order_id=1), "get_my_trades", {"orderId": 1}),
        (lambda x: x.get_order_list(order_list_id=1), "v3_get_order_list", {}),
        (lambda x: x.get_open_order_lists(), "get_open_oco_orders", {}),
    ],
)
async def test_read_weights_match_what_binance_charges(
    fake: FakeBinance, exchange: ExchangeClient, call: Any, method: str, params: dict[str, Any]
) -> None:
    before = exchange.usage.used_weight_1m or 0
    with contextlib.suppress(ExchangeFailure):  # an unknown list still costs its weight
        await call(exchange)
    assert exchange.usage.used_weight_1m == before + request_weight(method, params)


def test_order_lists_count_each_of_their_orders() -> None:
    assert [
        new_orders(m) for m in ("create_oco_order", "v3_post_order_list_oto", "v3_post_order_list_otoco")
    ] == [
        2,
        2,
        3,
    ]
    assert new_orders("amend_order_keep_priority") == 0
