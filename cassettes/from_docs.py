"""Write the replay cassettes from Binance's documented examples (no network needed).

    python cassettes/from_docs.py

These cassettes stand in for recordings of the Spot Testnet, which this project's CI cannot
reach. Each response body is an example from Binance's Spot API documentation (the source of
each is named beside it and in cassettes/README.md); where a test's request must be coherent with
the answer (the same symbol, a resting order), the adaptation is named too. Recording against the
real testnet replaces them:

    BINANCE_API_KEY=... BINANCE_API_SECRET=... pytest tests/test_cassettes.py --record-mode=rewrite

Requests are stored as the server sends them, minus what the cassette filters hide: the
`X-MBX-APIKEY` header and the `signature` and `timestamp` parameters.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from vcr.request import Request
from vcr.serialize import serialize
from vcr.serializers import yamlserializer

HERE = Path(__file__).resolve().parent
ROOT = "https://testnet.binance.vision"
SIGNED_TAIL = {"recvWindow": "10000"}  # python-binance adds these; timestamp and signature are filtered

# rest-api.md, "Symbol price ticker" example.
PRICE = {"symbol": "LTCBTC", "price": "4.00000200"}
# rest-api.md, "Order book" example.
DEPTH = {
    "lastUpdateId": 1027024,
    "bids": [["4.00000000", "431.00000000"]],
    "asks": [["4.00000200", "12.00000000"]],
}
# rest-api.md, "Kline/Candlestick data" example.
KLINES = [
    [
        1499040000000, "0.01634790", "0.80000000", "0.01575800", "0.01577100", "148976.11427815",
        1499644799999, "2434.19055334", 308, "1756.87402397", "28.46694368", "0",
    ]
]  # fmt: skip
# rest-api.md, "24hr ticker price change statistics" example (FULL).
TICKER_24H = {
    "symbol": "BNBBTC", "priceChange": "-94.99999800", "priceChangePercent": "-95.960",
    "weightedAvgPrice": "0.29628482", "prevClosePrice": "0.10002000", "lastPrice": "4.00000200",
    "lastQty": "200.00000000", "bidPrice": "4.00000000", "bidQty": "100.00000000", "askPrice": "4.00000200",
    "askQty": "100.00000000", "openPrice": "99.00000000", "highPrice": "100.00000000", "lowPrice": "0.10000000",
    "volume": "8913.30000000", "quoteVolume": "15.30000000", "openTime": 1499783499040,
    "closeTime": 1499869899040, "firstId": 28385, "lastId": 28460, "count": 76,
}  # fmt: skip
# rest-api.md, "Account information" example.
ACCOUNT = {
    "makerCommission": 15, "takerCommission": 15, "buyerCommission": 0, "sellerCommission": 0,
    "commissionRates": {"maker": "0.00150000", "taker": "0.00150000", "buyer": "0.00000000", "seller": "0.00000000"},
    "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
    "requireSelfTradePrevention": False, "preventSor": False, "updateTime": 123456789, "accountType": "SPOT",
    "balances": [
        {"asset": "BTC", "free": "4723846.89208129", "locked": "0.00000000"},
        {"asset": "LTC", "free": "4763368.68006011", "locked": "0.00000000"},
    ],
    "permissions": ["SPOT"], "uid": 354937868,
}  # fmt: skip
# rest-api.md, "Current open orders" example (also the shape of "All orders").
OPEN_ORDER = {
    "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1", "price": "0.1",
    "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0", "status": "NEW", "timeInForce": "GTC",
    "type": "LIMIT", "side": "BUY", "stopPrice": "0.0", "icebergQty": "0.0", "time": 1499827319559,
    "updateTime": 1499827319559, "isWorking": True, "origQuoteOrderQty": "0.000000", "workingTime": 1499827319559,
    "selfTradePreventionMode": "NONE",
}  # fmt: skip
# rest-api.md, "Cancel order" example.
CANCELLED = {
    "symbol": "LTCBTC", "origClientOrderId": "myOrder1", "orderId": 4, "orderListId": -1,
    "clientOrderId": "cancelMyOrder1", "transactTime": 1684804350068, "price": "2.00000000",
    "origQty": "1.00000000", "executedQty": "0.00000000", "origQuoteOrderQty": "0.000000",
    "cummulativeQuoteQty": "0.00000000", "status": "CANCELED", "timeInForce": "GTC", "type": "LIMIT",
    "side": "BUY", "selfTradePreventionMode": "NONE",
}  # fmt: skip
# rest-api.md, "Cancel all open orders on a symbol" example (its two plain order reports).
CANCELLED_ALL = [
    {
        "symbol": "BTCUSDT", "origClientOrderId": "E6APeyTJvkMvLMYMqu1KQ4", "orderId": 11, "orderListId": -1,
        "clientOrderId": "pXLV6Hz6mprAcVYpVMTGgx", "transactTime": 1684804350068, "price": "0.089853",
        "origQty": "0.178622", "executedQty": "0.000000", "origQuoteOrderQty": "0.000000",
        "cummulativeQuoteQty": "0.000000", "status": "CANCELED", "timeInForce": "GTC", "type": "LIMIT",
        "side": "BUY", "selfTradePreventionMode": "NONE",
    },
    {
        "symbol": "BTCUSDT", "origClientOrderId": "A3EF2HCwxgZPFMrfwbgrhv", "orderId": 13, "orderListId": -1,
        "clientOrderId": "pXLV6Hz6mprAcVYpVMTGgx", "transactTime": 1684804350069, "price": "0.090430",
        "origQty": "0.178622", "executedQty": "0.000000", "origQuoteOrderQty": "0.000000",
        "cummulativeQuoteQty": "0.000000", "status": "CANCELED", "timeInForce": "GTC", "type": "LIMIT",
        "side": "BUY", "selfTradePreventionMode": "NONE",
    },
]  # fmt: skip
# exchangeInfo: the documented envelope around the BTCUSDT symbol as the Spot Testnet serves it
# (shared/binance-api.md §5.3; the documentation's own ETHBTC example has an empty filter list).
BTCUSDT_FILTERS = [
    {"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000", "tickSize": "0.01000000"},
    {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
    {"filterType": "ICEBERG_PARTS", "limit": 100},
    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000", "stepSize": "0.00000000"},
    {
        "filterType": "PERCENT_PRICE_BY_SIDE", "bidMultiplierUp": "5", "bidMultiplierDown": "0.2",
        "askMultiplierUp": "5", "askMultiplierDown": "0.2", "avgPriceMins": 5,
    },
    {
        "filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
        "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5,
    },
    {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
]  # fmt: skip
EXCHANGE_INFO = {
    "timezone": "UTC", "serverTime": 1565246363776, "rateLimits": [], "exchangeFilters": [],
    "symbols": [
        {
            "symbol": "BTCUSDT", "status": "TRADING", "baseAsset": "BTC", "baseAssetPrecision": 8,
            "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT",
                           "TAKE_PROFIT_LIMIT"],
            "quoteOrderQtyMarketAllowed": True, "isSpotTradingAllowed": True, "filters": BTCUSDT_FILTERS,
            "permissions": [], "permissionSets": [["SPOT"]],
        }
    ],
}  # fmt: skip
# The order test: a LIMIT BUY 10% under the price, so it rests. The price answer is the documented
# ticker shape for BTCUSDT; the order answer is the documented FULL response with the values of a
# resting LIMIT order (status NEW, nothing executed, no fills), as rest-api.md describes one.
BTC_PRICE = {"symbol": "BTCUSDT", "price": "65000.00000000"}
# rest-api.md "Current average price" shape, for BTCUSDT at the same price (its filters' avgPriceMins 5)
BTC_AVG_PRICE = {"mins": 5, "price": "65000.00000000", "closeTime": 1694061154503}
# rest-api.md "Query Reference Price": the error when a symbol never had one (errors.md -2043)
NO_REFERENCE_PRICE = {"code": -2043, "msg": "This symbol doesn't have a reference price."}


def market_reads(*, signed_reads: bool = True) -> list[tuple]:
    """What the guard reads before an order on BTCUSDT: its rules, last and average price, and (for
    MAX_NUM_ORDERS) the orders open on it, none here."""
    reads = [
        interaction("GET", "/api/v3/exchangeInfo", {"symbol": "BTCUSDT"}, EXCHANGE_INFO),
        interaction("GET", "/api/v3/ticker/price", {"symbol": "BTCUSDT"}, BTC_PRICE),
        interaction("GET", "/api/v3/avgPrice", {"symbol": "BTCUSDT"}, BTC_AVG_PRICE),
        interaction("GET", "/api/v3/referencePrice", {"symbol": "BTCUSDT"}, NO_REFERENCE_PRICE, status=400),
    ]
    if signed_reads:
        reads.append(interaction("GET", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, [], signed=True))
    return reads


PLACED = {
    "symbol": "BTCUSDT", "orderId": 28, "orderListId": -1, "clientOrderId": "bmcp-cassette-1",
    "transactTime": 1507725176595, "price": "58500.00000000", "origQty": "0.00100000", "executedQty": "0.00000000",
    "origQuoteOrderQty": "0.000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW", "timeInForce": "GTC",
    "type": "LIMIT", "side": "BUY", "workingTime": 1507725176595, "selfTradePreventionMode": "NONE", "fills": [],
}  # fmt: skip


def placing(client_order_id: str) -> list[tuple]:
    """What place_order sends for the tests' resting LIMIT BUY: the symbol's rules, its price, the order."""
    order = {
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
        "price": "58500", "newClientOrderId": client_order_id, "newOrderRespType": "FULL",
    }  # fmt: skip
    return [
        *market_reads(),
        interaction("POST", "/api/v3/order", order, PLACED | {"clientOrderId": client_order_id}, signed=True),
    ]


# -- order lists, one order, fills, amend (issue #11) -------------------------------------------------
# rest-api.md "New Order list - OCO" example (RESULT reports), with the test's BTCUSDT SELL bracket
# around the price 65000: LIMIT_MAKER 71500 above, STOP_LOSS_LIMIT 57850 (stop 58500) below, 0.001.
OCO_IDS = {"list": "bmcp-cassette-list-1", "above": "bmcp-cassette-above-1", "below": "bmcp-cassette-below-1"}


def oco_report(order_id: int, client_id: str, order_type: str, price: str, **extra: Any) -> dict[str, Any]:
    return {
        "symbol": "BTCUSDT", "orderId": order_id, "orderListId": 1, "clientOrderId": client_id,
        "transactTime": 1710485608839, "price": price, "origQty": "0.00100000", "executedQty": "0.00000000",
        "origQuoteOrderQty": "0.000000", "cummulativeQuoteQty": "0.00000000", "status": "NEW",
        "timeInForce": "GTC", "type": order_type, "side": "SELL", **extra, "selfTradePreventionMode": "NONE",
    }  # fmt: skip


def oco_answer(ids: dict[str, str]) -> dict[str, Any]:
    below = oco_report(10, ids["below"], "STOP_LOSS_LIMIT", "57850.00000000", stopPrice="58500.00000000",
                       workingTime=-1)  # fmt: skip
    above = oco_report(11, ids["above"], "LIMIT_MAKER", "71500.00000000", workingTime=1710485608839)
    return {
        "orderListId": 1, "contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING", "listClientOrderId": ids["list"], "transactionTime": 1710485608839,
        "symbol": "BTCUSDT",
        "orders": [
            {"symbol": "BTCUSDT", "orderId": 10, "clientOrderId": ids["below"]},
            {"symbol": "BTCUSDT", "orderId": 11, "clientOrderId": ids["above"]},
        ],
        "orderReports": [below, above],
    }  # fmt: skip


def placing_oco(ids: dict[str, str]) -> list[tuple]:
    """What place_order_list sends for the tests' SELL OCO: the symbol's rules, its price, the list."""
    params = {
        "symbol": "BTCUSDT", "listClientOrderId": ids["list"], "newOrderRespType": "FULL", "side": "SELL",
        "quantity": "0.001", "aboveType": "LIMIT_MAKER", "abovePrice": "71500", "aboveClientOrderId": ids["above"],
        "belowType": "STOP_LOSS_LIMIT", "belowPrice": "57850", "belowStopPrice": "58500",
        "belowTimeInForce": "GTC", "belowClientOrderId": ids["below"],
    }  # fmt: skip
    return [
        *market_reads(),
        interaction("POST", "/api/v3/orderList/oco", params, oco_answer(ids), signed=True),
    ]


def cancelled_oco(ids: dict[str, str]) -> dict[str, Any]:
    """rest-api.md "Cancel Order list" example, with the test's list."""
    answer = oco_answer(ids) | {"listStatusType": "ALL_DONE", "listOrderStatus": "ALL_DONE"}
    answer["orderReports"] = [
        {k: v for k, v in report.items() if k != "workingTime"}
        | {"origClientOrderId": report["clientOrderId"], "clientOrderId": "unfWT8ig8i0uj6lPuYLez6",
           "status": "CANCELED", "transactTime": 1688005070874}
        for report in answer["orderReports"]
    ]  # fmt: skip
    return answer


# rest-api.md "Query Open Order lists" example.
OPEN_ORDER_LISTS = [
    {
        "orderListId": 31, "contingencyType": "OCO", "listStatusType": "EXEC_STARTED",
        "listOrderStatus": "EXECUTING", "listClientOrderId": "wuB13fmulKj3YjdqWEcsnp",
        "transactionTime": 1565246080644, "symbol": "LTCBTC",
        "orders": [
            {"symbol": "LTCBTC", "orderId": 4, "clientOrderId": "r3EH2N76dHfLoSZWIUw1bT"},
            {"symbol": "LTCBTC", "orderId": 5, "clientOrderId": "Cv1SnyPD3qhqpbjpYEHbd2"},
        ],
    }
]  # fmt: skip
# get_order_lists reads the legs' side, type and status from the symbol's open orders: the list's
# two orders in the documented "Current open orders" shape (an OCO SELL: a LIMIT_MAKER and a stop).
OPEN_LIST_LEGS = [
    OPEN_ORDER | {"orderId": 4, "orderListId": 31, "clientOrderId": "r3EH2N76dHfLoSZWIUw1bT", "side": "SELL",
                  "type": "STOP_LOSS_LIMIT", "price": "0.09", "stopPrice": "0.095", "isWorking": False},
    OPEN_ORDER | {"orderId": 5, "orderListId": 31, "clientOrderId": "Cv1SnyPD3qhqpbjpYEHbd2", "side": "SELL",
                  "type": "LIMIT_MAKER", "price": "0.12"},
]  # fmt: skip
# rest-api.md "Query order" example.
QUERIED_ORDER = {
    "symbol": "LTCBTC", "orderId": 1, "orderListId": -1, "clientOrderId": "myOrder1", "price": "0.1",
    "origQty": "1.0", "executedQty": "0.0", "cummulativeQuoteQty": "0.0", "status": "NEW", "timeInForce": "GTC",
    "type": "LIMIT", "side": "BUY", "stopPrice": "0.0", "icebergQty": "0.0", "time": 1499827319559,
    "updateTime": 1499827319559, "isWorking": True, "workingTime": 1499827319559, "origQuoteOrderQty": "0.000000",
    "selfTradePreventionMode": "NONE",
}  # fmt: skip
# rest-api.md "Account trade list" example.
MY_TRADES = [
    {
        "symbol": "BNBBTC", "id": 28457, "orderId": 100234, "orderListId": -1, "price": "4.00000100",
        "qty": "12.00000000", "quoteQty": "48.000012", "commission": "10.10000000", "commissionAsset": "BNB",
        "time": 1499865549590, "isBuyer": True, "isMaker": False, "isBestMatch": True,
    }
]  # fmt: skip
# rest-api.md "Order Amend Keep Priority" example (a single order).
AMENDED = {
    "transactTime": 1741926410255, "executionId": 75,
    "amendedOrder": {
        "symbol": "BTCUSDT", "orderId": 33, "orderListId": -1, "origClientOrderId": "5xrgbMyg6z36NzBn2pbT8H",
        "clientOrderId": "5xrgbMyg6z36NzBn2pbT8H", "price": "6.00000000", "qty": "5.00000000",
        "executedQty": "0.00000000", "preventedQty": "0.00000000", "quoteOrderQty": "0.00000000",
        "cumulativeQuoteQty": "0.00000000", "status": "NEW", "timeInForce": "GTC", "type": "LIMIT", "side": "SELL",
        "workingTime": 1741926410242, "selfTradePreventionMode": "NONE",
    },
}  # fmt: skip
# The same order before the amend, in the documented "Query order" shape: amend_order reads it first
# (is it open, is the new quantity a decrease on the step and above the minimum notional) and, named
# by orderId alone, sends its clientOrderId as newClientOrderId so that the order keeps it (the
# documented answer above then carries that id, as Binance's does when it is reused).
BEFORE_AMEND = QUERIED_ORDER | {
    "symbol": "BTCUSDT", "orderId": 33, "clientOrderId": "5xrgbMyg6z36NzBn2pbT8H", "price": "6.00000000",
    "origQty": "10.00000000", "side": "SELL",
}  # fmt: skip
CANCEL_LIST_IDS = {
    "list": "bmcp-cassette-list-2",
    "above": "bmcp-cassette-above-2",
    "below": "bmcp-cassette-below-2",
}


def interaction(
    method: str, path: str, params: dict[str, Any], body: Any, signed: bool = False, status: int = 200
) -> tuple:
    params = {k: str(v) for k, v in params.items()} | (SIGNED_TAIL if signed else {})
    ordered = urlencode(sorted(params.items()))
    headers = {"Accept": ["application/json"], "User-Agent": ["python-requests"]}
    if method == "GET":
        request = Request(method, f"{ROOT}{path}" + (f"?{ordered}" if ordered else ""), None, headers)
    else:
        headers["Content-Type"] = ["application/x-www-form-urlencoded"]
        request = Request(method, f"{ROOT}{path}", ordered, headers)
    response = {
        "status": {"code": status, "message": "OK" if status == 200 else "Bad Request"},
        "headers": {"Content-Type": ["application/json;charset=UTF-8"], "x-mbx-used-weight-1m": ["20"]},
        "body": {"string": json.dumps(body, separators=(",", ":"))},
    }
    return request, response


CASSETTES: dict[str, list[tuple]] = {
    "test_get_price": [interaction("GET", "/api/v3/ticker/price", {"symbol": "LTCBTC"}, PRICE)],
    "test_get_orderbook": [interaction("GET", "/api/v3/depth", {"symbol": "LTCBTC", "limit": 5}, DEPTH)],
    "test_get_klines": [
        interaction("GET", "/api/v3/klines", {"symbol": "LTCBTC", "interval": "1d", "limit": 1}, KLINES)
    ],
    "test_get_24hr_ticker": [interaction("GET", "/api/v3/ticker/24hr", {"symbol": "BNBBTC"}, TICKER_24H)],
    "test_get_account_info": [
        interaction("GET", "/api/v3/account", {"omitZeroBalances": "true"}, ACCOUNT, signed=True)
    ],
    "test_get_open_orders": [
        interaction("GET", "/api/v3/openOrders", {"symbol": "LTCBTC"}, [OPEN_ORDER], signed=True)
    ],
    "test_get_order_history": [
        interaction("GET", "/api/v3/allOrders", {"symbol": "LTCBTC", "limit": 5}, [OPEN_ORDER], signed=True)
    ],
    "test_place_order": placing("bmcp-cassette-1"),
    "test_cancel_order": [
        *placing("bmcp-cassette-2"),
        interaction(
            "DELETE",
            "/api/v3/order",
            {"symbol": "BTCUSDT", "origClientOrderId": "bmcp-cassette-2"},
            CANCELLED | {"symbol": "BTCUSDT", "origClientOrderId": "bmcp-cassette-2", "orderId": 28},
            signed=True,
        ),
    ],
    "test_cancel_all_orders": [
        *placing("bmcp-cassette-3"),
        interaction("DELETE", "/api/v3/openOrders", {"symbol": "BTCUSDT"}, CANCELLED_ALL, signed=True),
    ],
    "test_place_order_list": placing_oco(OCO_IDS),
    "test_cancel_order_list": [
        *placing_oco(CANCEL_LIST_IDS),
        interaction(
            "DELETE",
            "/api/v3/orderList",
            {"symbol": "BTCUSDT", "listClientOrderId": CANCEL_LIST_IDS["list"]},
            cancelled_oco(CANCEL_LIST_IDS),
            signed=True,
        ),
    ],
    "test_get_order_lists": [
        interaction("GET", "/api/v3/openOrderList", {}, OPEN_ORDER_LISTS, signed=True),
        interaction("GET", "/api/v3/openOrders", {"symbol": "LTCBTC"}, OPEN_LIST_LEGS, signed=True),
    ],
    "test_get_order": [
        interaction("GET", "/api/v3/order", {"symbol": "LTCBTC", "orderId": 1}, QUERIED_ORDER, signed=True)
    ],
    "test_get_my_trades": [
        interaction("GET", "/api/v3/myTrades", {"symbol": "BNBBTC", "limit": 5}, MY_TRADES, signed=True)
    ],
    "test_amend_order": [
        interaction("GET", "/api/v3/order", {"symbol": "BTCUSDT", "orderId": 33}, BEFORE_AMEND, signed=True),
        interaction("GET", "/api/v3/exchangeInfo", {"symbol": "BTCUSDT"}, EXCHANGE_INFO),
        interaction(
            "PUT",
            "/api/v3/order/amend/keepPriority",
            {"symbol": "BTCUSDT", "orderId": 33, "newQty": "5", "newClientOrderId": "5xrgbMyg6z36NzBn2pbT8H"},
            AMENDED,
            signed=True,
        ),
    ],
}


def main() -> None:
    for name, interactions in CASSETTES.items():
        requests, responses = zip(*interactions, strict=True)
        text = serialize({"requests": list(requests), "responses": list(responses)}, yamlserializer)
        (HERE / f"{name}.yaml").write_text(text)
        print(f"wrote cassettes/{name}.yaml")


if __name__ == "__main__":
    main()
