"""Tests of the fake exchange's order lists, stop and trailing orders, amend and myTrades, over HTTP.

Every request goes through python-binance's `Client` to the running fake, as the server's do.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException

from tests.fake_binance import Drop, ExecuteThenFail, FakeBinance, Status


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


@pytest.fixture
def client(fake: FakeBinance) -> Iterator[Client]:
    c = Client(fake.api_key, fake.api_secret, ping=False)
    c.API_URL = fake.base_url + "/api"
    yield c
    c.session.close()


def api_error(call: Any, *args: Any, **kwargs: Any) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as info:
        call(*args, **kwargs)
    return info.value


def sell_oco(client: Client, **extra: Any) -> dict[str, Any]:
    """A take-profit / stop-loss bracket on 0.01 BTC at 65000: LIMIT_MAKER 70000 above, STOP_LOSS_LIMIT below."""
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "quantity": "0.01",
        "aboveType": "LIMIT_MAKER",
        "abovePrice": "70000",
        "belowType": "STOP_LOSS_LIMIT",
        "belowStopPrice": "60500",
        "belowPrice": "60000",
        "belowTimeInForce": "GTC",
        "listClientOrderId": "bracket-1",
    } | extra
    return client.create_oco_order(**{k: v for k, v in params.items() if v is not None})


def order_status(client: Client, order_id: int) -> str:
    return client.get_order(symbol="BTCUSDT", orderId=order_id)["status"]


# ------------------------------------------------------------------------------------------------- OCO
def test_an_oco_is_placed_with_binances_list_shape(fake: FakeBinance, client: Client) -> None:
    btc_before = fake.balance("BTC").free
    answer = sell_oco(client)
    assert answer["contingencyType"] == "OCO"
    assert (answer["listStatusType"], answer["listOrderStatus"]) == ("EXEC_STARTED", "EXECUTING")
    assert answer["listClientOrderId"] == "bracket-1"
    below, above = answer["orderReports"]  # Binance numbers the below order first
    assert [o["orderId"] for o in answer["orders"]] == [below["orderId"], above["orderId"]]
    assert below["type"] == "STOP_LOSS_LIMIT" and below["stopPrice"] == "60500.00000000"
    assert below["workingTime"] == -1 and above["workingTime"] > 0
    assert above["type"] == "LIMIT_MAKER" and above["status"] == below["status"] == "NEW"
    assert {below["orderListId"], above["orderListId"]} == {answer["orderListId"]}
    # the pair locks its quantity once: only one of the two can sell
    assert fake.balance("BTC").locked == Decimal("0.01")
    assert fake.balance("BTC").free == btc_before - Decimal("0.01")


def test_when_the_limit_leg_fills_the_stop_leg_expires(fake: FakeBinance, client: Client) -> None:
    answer = sell_oco(client)
    below, above = (o["orderId"] for o in answer["orderReports"])
    usdt_before = fake.balance("USDT").free
    fake.set_price("BTCUSDT", "70000.00")
    assert order_status(client, above) == "FILLED"
    assert order_status(client, below) == "EXPIRED"
    listed = client.v3_get_order_list(orderListId=answer["orderListId"])
    assert (listed["listStatusType"], listed["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert client.get_open_oco_orders() == []
    assert fake.balance("BTC").locked == 0
    assert fake.balance("USDT").free == usdt_before + Decimal("700") - Decimal("0.7")
    (trade,) = client.get_my_trades(symbol="BTCUSDT")
    assert (
        trade["orderId"] == above
        and trade["isMaker"] is True
        and trade["orderListId"] == answer["orderListId"]
    )


def test_when_the_stop_triggers_the_limit_leg_expires(fake: FakeBinance, client: Client) -> None:
    answer = sell_oco(client, belowType="STOP_LOSS", belowPrice=None, belowTimeInForce=None)
    below, above = (o["orderId"] for o in answer["orderReports"])
    fake.set_price("BTCUSDT", "60600.00")
    assert order_status(client, below) == "NEW"
    fake.set_price("BTCUSDT", "60400.00")
    assert order_status(client, below) == "FILLED"  # STOP_LOSS: a market order once triggered
    assert order_status(client, above) == "EXPIRED"
    (trade,) = client.get_my_trades(symbol="BTCUSDT", orderId=below)
    assert trade["price"] == "60399.99000000" and trade["isMaker"] is False  # the best bid


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"abovePrice": "64000"}, -1166),  # a SELL OCO's limit must be above the last price
        ({"belowStopPrice": "66000", "belowPrice": "66000"}, -1197),  # its stop loss below
        ({"belowType": "LIMIT_MAKER", "belowPrice": "60000", "belowStopPrice": None,
          "belowTimeInForce": None}, -1168),
        ({"aboveType": "STOP_LOSS", "abovePrice": None, "aboveStopPrice": "70000"}, -1158),
        ({"aboveType": "LIMIT"}, -1158),
    ],
)  # fmt: skip
def test_oco_price_and_type_rules(client: Client, extra: dict[str, Any], code: int) -> None:
    assert api_error(sell_oco, client, **extra).code == code


def test_a_buy_oco_has_its_stop_above_and_its_limit_below(fake: FakeBinance, client: Client) -> None:
    answer = client.create_oco_order(
        symbol="BTCUSDT", side="BUY", quantity="0.01", aboveType="STOP_LOSS", aboveStopPrice="66000",
        belowType="LIMIT_MAKER", belowPrice="60000",
    )  # fmt: skip
    assert len(answer["orders"]) == 2
    # the larger leg's cost is locked: 0.01 × 66000
    assert fake.balance("USDT").locked == Decimal("660")
    bad = api_error(
        client.create_oco_order, symbol="BTCUSDT", side="BUY", quantity="0.01", aboveType="STOP_LOSS",
        aboveStopPrice="64000", belowType="LIMIT_MAKER", belowPrice="60000",
    )  # fmt: skip
    assert bad.code == -1196


def test_leg_errors_name_the_prefixed_parameter(client: Client) -> None:
    err = api_error(sell_oco, client, belowPrice=None)
    assert err.code == -1102 and "'belowPrice'" in err.message
    err = api_error(sell_oco, client, belowTimeInForce=None)
    assert "'belowTimeInForce'" in err.message


def test_a_list_client_order_id_is_unique_among_open_lists(client: Client) -> None:
    sell_oco(client)
    assert api_error(sell_oco, client).code == -2010


# ---------------------------------------------------------------------------------------- OTO, OTOCO
def test_oto_places_its_pending_order_when_the_working_order_fills(fake: FakeBinance, client: Client) -> None:
    answer = client.v3_post_order_list_oto(
        symbol="BTCUSDT", workingType="LIMIT", workingSide="BUY", workingPrice="64000",
        workingQuantity="0.01", workingTimeInForce="GTC", pendingType="LIMIT", pendingSide="SELL",
        pendingPrice="68000", pendingQuantity="0.009", pendingTimeInForce="GTC",
    )  # fmt: skip
    assert answer["contingencyType"] == "OTO"
    working, pending = answer["orderReports"]
    assert (working["status"], pending["status"]) == ("NEW", "PENDING_NEW")
    assert pending["workingTime"] == -1
    fake.set_price("BTCUSDT", "66000")
    assert order_status(client, pending["orderId"]) == "PENDING_NEW"  # not placed: nothing filled
    fake.set_price("BTCUSDT", "64000")
    assert order_status(client, working["orderId"]) == "FILLED"
    assert order_status(client, pending["orderId"]) == "NEW"
    fake.set_price("BTCUSDT", "68000")
    assert order_status(client, pending["orderId"]) == "FILLED"
    assert client.v3_get_order_list(orderListId=answer["orderListId"])["listOrderStatus"] == "ALL_DONE"


def test_oto_working_order_filled_at_once_still_answers_pending_new(client: Client) -> None:
    answer = client.v3_post_order_list_oto(
        symbol="BTCUSDT", workingType="LIMIT", workingSide="BUY", workingPrice="65000",
        workingQuantity="0.01", workingTimeInForce="GTC", pendingType="MARKET", pendingSide="SELL",
        pendingQuantity="0.009",
    )  # fmt: skip
    working, pending = answer["orderReports"]
    assert (working["status"], pending["status"]) == ("FILLED", "PENDING_NEW")
    assert order_status(client, pending["orderId"]) == "FILLED"  # queried again: it was placed


def test_otoco_brackets_a_filled_buy(fake: FakeBinance, client: Client) -> None:
    answer = client.v3_post_order_list_otoco(
        symbol="BTCUSDT", workingType="LIMIT", workingSide="BUY", workingPrice="64000",
        workingQuantity="0.01", workingTimeInForce="GTC", pendingSide="SELL", pendingQuantity="0.009",
        pendingAboveType="LIMIT_MAKER", pendingAbovePrice="70000",
        pendingBelowType="STOP_LOSS", pendingBelowStopPrice="60000", listClientOrderId="otoco-1",
    )  # fmt: skip
    assert answer["contingencyType"] == "OTO" and len(answer["orders"]) == 3
    working, above, below = (o["orderId"] for o in answer["orderReports"])
    assert [r["status"] for r in answer["orderReports"]] == ["NEW", "PENDING_NEW", "PENDING_NEW"]
    fake.set_price("BTCUSDT", "63000")  # the BUY fills; the bracket goes on the book
    assert [order_status(client, i) for i in (working, above, below)] == ["FILLED", "NEW", "NEW"]
    assert fake.balance("BTC").locked == Decimal("0.009")
    fake.set_price("BTCUSDT", "70000")
    assert [order_status(client, i) for i in (above, below)] == ["FILLED", "EXPIRED"]
    assert client.v3_get_order_list(origClientOrderId="otoco-1")["listStatusType"] == "ALL_DONE"
    assert len(client.get_my_trades(symbol="BTCUSDT")) == 2


def test_otoco_pending_pair_must_have_a_stop(client: Client) -> None:
    err = api_error(
        client.v3_post_order_list_otoco, symbol="BTCUSDT", workingType="LIMIT", workingSide="BUY",
        workingPrice="64000", workingQuantity="0.01", workingTimeInForce="GTC", pendingSide="SELL",
        pendingQuantity="0.01", pendingAboveType="LIMIT_MAKER", pendingAbovePrice="70000",
        pendingBelowType="LIMIT_MAKER", pendingBelowPrice="60000",
    )  # fmt: skip
    assert err.code == -1168
    err = api_error(
        client.v3_post_order_list_oto, symbol="BTCUSDT", workingType="MARKET", workingSide="BUY",
        workingPrice="64000", workingQuantity="0.01", pendingType="MARKET", pendingSide="SELL",
        pendingQuantity="0.01",
    )  # fmt: skip
    assert err.code == -2010


# ------------------------------------------------------------------------------------------- cancel, query
def test_cancel_an_order_list_by_either_id(fake: FakeBinance, client: Client) -> None:
    answer = sell_oco(client)
    cancelled = client.v3_delete_order_list(symbol="BTCUSDT", listClientOrderId="bracket-1")
    assert (cancelled["listStatusType"], cancelled["listOrderStatus"]) == ("ALL_DONE", "ALL_DONE")
    assert [r["status"] for r in cancelled["orderReports"]] == ["CANCELED", "CANCELED"]
    assert {r["origClientOrderId"] for r in cancelled["orderReports"]} == {
        o["clientOrderId"] for o in answer["orders"]
    }
    assert fake.balance("BTC").locked == 0
    again = api_error(client.v3_delete_order_list, symbol="BTCUSDT", orderListId=answer["orderListId"])
    assert again.code == -2011
    assert api_error(client.v3_delete_order_list, symbol="BTCUSDT").code == -1102


def test_cancelling_one_order_of_a_list_cancels_the_list(fake: FakeBinance, client: Client) -> None:
    answer = sell_oco(client)
    below, above = (o["orderId"] for o in answer["orderReports"])
    report = client.cancel_order(symbol="BTCUSDT", orderId=above)
    assert report["orderListId"] == answer["orderListId"] and report["status"] == "CANCELED"
    assert order_status(client, below) == "CANCELED"
    assert fake.balance("BTC").locked == 0


def test_query_order_lists(client: Client) -> None:
    answer = sell_oco(client)
    by_id = client.v3_get_order_list(orderListId=answer["orderListId"])
    assert by_id == client.v3_get_order_list(origClientOrderId="bracket-1")
    assert "orderReports" not in by_id and by_id["orders"] == answer["orders"]
    assert [x["orderListId"] for x in client.get_open_oco_orders()] == [answer["orderListId"]]
    assert api_error(client.v3_get_order_list).code == -1102
    assert api_error(client.v3_get_order_list, orderListId=999).code == -2011
    all_lists = client._get("allOrderList", True, data={})
    assert [x["orderListId"] for x in all_lists] == [answer["orderListId"]]


def test_cancel_all_open_orders_reports_each_list_once(client: Client) -> None:
    sell_oco(client)
    client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity="0.01",
                        price="60000")  # fmt: skip
    done = client.cancel_all_open_orders(symbol="BTCUSDT")
    assert len(done) == 2
    assert done[0]["contingencyType"] == "OCO" and len(done[0]["orderReports"]) == 2
    assert done[1]["status"] == "CANCELED"


# ----------------------------------------------------------------------------------- stops and trailing
def test_stop_loss_and_take_profit_become_market_orders(fake: FakeBinance, client: Client) -> None:
    stop = client.create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS", quantity="0.01", stopPrice="60000"
    )
    take = client.create_order(
        symbol="BTCUSDT", side="BUY", type="TAKE_PROFIT", quantity="0.01", stopPrice="59000"
    )
    fake.set_price("BTCUSDT", "59500")
    assert order_status(client, stop["orderId"]) == "FILLED"
    assert order_status(client, take["orderId"]) == "NEW"
    fake.set_price("BTCUSDT", "58990")
    assert order_status(client, take["orderId"]) == "FILLED"
    trades = client.get_my_trades(symbol="BTCUSDT")
    assert [(t["price"], t["isBuyer"]) for t in trades] == [
        ("59499.99000000", False),  # a SELL takes the best bid, a tick below the price
        ("58990.00000000", True),  # a BUY the best ask, at the price
    ]


@pytest.mark.parametrize(("delta", "ok"), [(9, False), (10, True), (2000, True), (2001, False)])
def test_the_trailing_delta_filter_bounds(client: Client, delta: int, ok: bool) -> None:
    place = lambda: client.create_order(  # noqa: E731
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS", quantity="0.01", trailingDelta=delta
    )
    if ok:
        assert place()["orderId"] > 0
    else:
        err = api_error(place)
        assert (err.code, err.message) == (-1013, "Filter failure: TRAILING_DELTA")


def test_a_trailing_stop_without_stop_price_follows_the_high(fake: FakeBinance, client: Client) -> None:
    placed = client.create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_LOSS", quantity="0.01", trailingDelta=100,
        newOrderRespType="RESULT",
    )  # fmt: skip
    assert placed["trailingDelta"] == 100 and placed["trailingTime"] > 0  # tracking from placement
    fake.set_price("BTCUSDT", "70000")  # a new high: the trigger moves to 69300
    fake.set_price("BTCUSDT", "69301")
    assert order_status(client, placed["orderId"]) == "NEW"
    fake.set_price("BTCUSDT", "69300")
    assert order_status(client, placed["orderId"]) == "FILLED"


def test_a_trailing_stop_with_a_stop_price_waits_for_it(fake: FakeBinance, client: Client) -> None:
    placed = client.create_order(
        symbol="BTCUSDT", side="BUY", type="STOP_LOSS_LIMIT", quantity="0.01", stopPrice="66000",
        price="68000", timeInForce="GTC", trailingDelta=500, newOrderRespType="RESULT",
    )  # fmt: skip
    assert placed["trailingTime"] == -1
    fake.set_price("BTCUSDT", "60000")  # a large fall: ignored, tracking has not begun
    fake.set_price("BTCUSDT", "66000")  # tracking starts: lowest 66000, trigger at 69300
    fake.set_price("BTCUSDT", "64000")  # a new low: trigger at 67200
    query = client.get_order(symbol="BTCUSDT", orderId=placed["orderId"])
    assert query["status"] == "NEW" and query["trailingTime"] > 0 and query["isWorking"] is False
    fake.set_price("BTCUSDT", "67200")
    assert order_status(client, placed["orderId"]) == "FILLED"


# ---------------------------------------------------------------------------------------------- amend
def test_amend_keep_priority_reduces_only(fake: FakeBinance, client: Client) -> None:
    placed = client.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                  quantity="0.02", price="60000", newClientOrderId="mine")  # fmt: skip
    assert fake.balance("USDT").locked == Decimal("1200")
    amend = lambda **kw: client._put("order/amend/keepPriority", True, data={"symbol": "BTCUSDT"} | kw)  # noqa: E731
    answer = amend(orderId=placed["orderId"], newQty="0.01", newClientOrderId="mine")
    order = answer["amendedOrder"]
    assert (order["qty"], order["origClientOrderId"], order["clientOrderId"]) == (
        "0.01000000",
        "mine",
        "mine",
    )
    assert order["orderId"] == placed["orderId"] and "listStatus" not in answer and answer["executionId"] > 0
    assert fake.balance("USDT").locked == Decimal("600")
    for qty, message in (("0.02", "Order amend (quantity increase) is not supported."),
                         ("0.01", "The requested action would change no state; rejecting")):  # fmt: skip
        err = api_error(amend, origClientOrderId="mine", newQty=qty)
        assert (err.code, err.message) == (-2038, message)
    assert api_error(amend, orderId=999, newQty="0.001").code == -2038
    assert api_error(amend, orderId=placed["orderId"], newQty="0.000001").code == -1013
    assert api_error(amend, orderId=placed["orderId"]).code == -1102
    assert api_error(amend, newQty="0.001").code == -1102


def test_amending_an_oco_leg_amends_both(fake: FakeBinance, client: Client) -> None:
    answer = sell_oco(client)
    below, above = (o["orderId"] for o in answer["orderReports"])
    amended = client._put("order/amend/keepPriority", True,
                          data={"symbol": "BTCUSDT", "orderId": above, "newQty": "0.004"})  # fmt: skip
    status = amended["listStatus"]
    assert status["contingencyType"] == "OCO" and status["listOrderStatus"] == "EXECUTING"
    assert client.get_order(symbol="BTCUSDT", orderId=below)["origQty"] == "0.00400000"
    assert fake.balance("BTC").locked == Decimal("0.004")
    assert client.v3_get_order_list(orderListId=answer["orderListId"])["listStatusType"] == "UPDATED"


# -------------------------------------------------------------------------------------------- myTrades
def test_my_trades_lists_fills_with_commission(fake: FakeBinance, client: Client) -> None:
    bought = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.01")
    client.create_order(symbol="BTCUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="0.005",
                        price="66000")  # fmt: skip
    fake.set_price("BTCUSDT", "66000")
    first, second = client.get_my_trades(symbol="BTCUSDT")
    assert first == first | {
        "symbol": "BTCUSDT", "orderId": bought["orderId"], "orderListId": -1, "price": "65000.00000000",
        "qty": "0.01000000", "quoteQty": "650.00000000", "commission": "0.00001000", "commissionAsset": "BTC",
        "isBuyer": True, "isMaker": False, "isBestMatch": True,
    }  # fmt: skip
    assert first["id"] == bought["fills"][0]["tradeId"] and first["time"] > 0
    assert (second["commissionAsset"], second["commission"], second["isMaker"]) == (
        "USDT",
        "0.33000000",
        True,
    )
    assert client.get_my_trades(symbol="BTCUSDT", orderId=bought["orderId"]) == [first]
    assert client.get_my_trades(symbol="BTCUSDT", fromId=second["id"]) == [second]
    assert client.get_my_trades(symbol="BTCUSDT", limit=1) == [second]
    assert client.get_my_trades(symbol="ETHUSDT") == []
    err = api_error(client.get_my_trades, symbol="BTCUSDT", orderId=1, startTime=1)
    assert err.code == -1128
    assert api_error(client.get_my_trades, symbol="BTCUSDT", startTime=0, endTime=86_400_001).code == -1127


def test_weights_and_order_counts_of_the_new_endpoints(fake: FakeBinance, client: Client) -> None:
    client.get_my_trades(symbol="BTCUSDT")
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    client.get_my_trades(symbol="BTCUSDT", orderId=1)
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "25"
    client.v3_post_order_list_otoco(
        symbol="BTCUSDT", workingType="LIMIT", workingSide="BUY", workingPrice="64000",
        workingQuantity="0.01", workingTimeInForce="GTC", pendingSide="SELL", pendingQuantity="0.009",
        pendingAboveType="LIMIT_MAKER", pendingAbovePrice="70000",
        pendingBelowType="STOP_LOSS", pendingBelowStopPrice="60000",
    )  # fmt: skip
    assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "3"
    client.get_open_oco_orders()
    assert client.response.headers["X-MBX-USED-WEIGHT-1M"] == "31"


# ---------------------------------------------------------------------------------------------- faults
def test_faults_apply_to_the_new_endpoints(fake: FakeBinance, client: Client) -> None:
    fake.inject(Status(503, -1001, "Internal error; unable to process your request. Please try again."),
                "POST", "/api/v3/orderList/*")  # fmt: skip
    assert api_error(sell_oco, client).status_code == 503
    assert fake.open_orders() == []  # refused before it executed
    fake.inject(ExecuteThenFail(http_status=503), "POST", "/api/v3/orderList/oco")
    assert api_error(sell_oco, client).code == -1007
    assert len(fake.open_orders()) == 2  # executed although the answer says otherwise
    assert client.v3_get_order_list(origClientOrderId="bracket-1")["listOrderStatus"] == "EXECUTING"
    fake.inject(Drop(), "DELETE", "/api/v3/orderList")
    with pytest.raises(requests.exceptions.ConnectionError):
        client.v3_delete_order_list(symbol="BTCUSDT", listClientOrderId="bracket-1")
    assert len(fake.open_orders()) == 2  # a dropped request executes nothing
    for path in ("/api/v3/myTrades", "/api/v3/order/amend/keepPriority", "/api/v3/openOrderList"):
        fake.inject(Status(429, -1003, "Too many requests."), None, path)
    assert api_error(client.get_my_trades, symbol="BTCUSDT").status_code == 429
    assert api_error(client.get_open_oco_orders).status_code == 429
    amend = {"symbol": "BTCUSDT", "origClientOrderId": "x", "newQty": "0.001"}
    assert api_error(client._put, "order/amend/keepPriority", True, data=amend).status_code == 429


def test_a_pending_order_without_funds_expires_when_placed(fake: FakeBinance, client: Client) -> None:
    answer = client.v3_post_order_list_oto(
        symbol="BTCUSDT", workingType="LIMIT", workingSide="BUY", workingPrice="64000",
        workingQuantity="0.01", workingTimeInForce="GTC", pendingType="MARKET", pendingSide="SELL",
        pendingQuantity="5",
    )  # fmt: skip
    fake.set_price("BTCUSDT", "64000")  # the BUY fills; selling 5 BTC needs more than the account has
    working, pending = (o["orderId"] for o in answer["orders"])
    assert (order_status(client, working), order_status(client, pending)) == ("FILLED", "EXPIRED")
    assert fake.balance("BTC").free > 0
