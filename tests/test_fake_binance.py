"""Tests of the fake Binance exchange: signing vectors, python-binance against it, errors and faults."""

from __future__ import annotations

import itertools
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests
from binance.client import Client
from binance.exceptions import BinanceAPIException

from tests.fake_binance import Delay, Drop, ExecuteThenFail, FakeBinance, Status, sign
from tests.fake_binance.signing import signed_payload

DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ORDER_PATH = "/api/v3/order"


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance() as exchange:
        yield exchange


def make_client(fake: FakeBinance, secret: str | None = None, key: str | None = None) -> Client:
    client = Client(key or fake.api_key, secret or fake.api_secret, ping=False)
    client.API_URL = fake.base_url + "/api"
    client.MARGIN_API_URL = fake.base_url + "/sapi"
    return client


@pytest.fixture
def client(fake: FakeBinance) -> Iterator[Client]:
    c = make_client(fake)
    yield c
    c.session.close()


def api_error(call, *args, **kwargs) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as info:
        call(*args, **kwargs)
    return info.value


def limit_buy(client: Client, price: str = "60000.00", qty: str = "0.01", **extra) -> dict:
    return client.create_order(
        symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC", quantity=qty, price=price, **extra
    )


# ------------------------------------------------------------------------------------------------ signing
@pytest.mark.parametrize(
    ("payload", "signature"),
    [
        (
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
            "&timestamp=1499827319559",
            "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71",
        ),
        (
            "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=0.1&recvWindow=5000"
            "&timestamp=1499827319559",
            "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77",
        ),
        (
            "symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96"
            "&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
            "&timestamp=1499827319559",
            "e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3",
        ),
    ],
)
def test_signature_vectors_from_the_docs(payload: str, signature: str) -> None:
    assert sign(DOC_SECRET, payload) == signature


def test_the_signed_payload_is_query_then_body_without_the_signature_pair() -> None:
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559&signature=ABC"
    payload, signature = signed_payload(query, body)
    assert signature == "ABC"
    assert sign(DOC_SECRET, payload) == "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77"


def test_the_doc_vector_is_accepted_over_http_with_query_and_body_mixed() -> None:
    with FakeBinance(
        api_key="vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", api_secret=DOC_SECRET
    ) as fake:
        ts = fake.server_time()
        query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
        body = f"quantity=0.01&price=60000&recvWindow=5000&timestamp={ts}"
        sig = sign(DOC_SECRET, query + body).upper()  # hex is compared case-insensitively
        response = requests.post(
            f"{fake.base_url}/api/v3/order/test?{query}",
            data=f"{body}&signature={sig}",
            headers={"X-MBX-APIKEY": fake.api_key, "Content-Type": "application/x-www-form-urlencoded"},
            timeout=5,
        )
        assert response.status_code == 200, response.text
        assert response.json() == {}
        assert fake.requests[-1].signature_ok is True
        assert fake.requests[-1].params["symbol"] == "BTCUSDT" and fake.requests[-1].body["price"] == "60000"


def test_the_percent_encoded_form_is_what_gets_signed(fake: FakeBinance, client: Client) -> None:
    """§3.3: payloads are signed percent-encoded. A ':' sent as %3A must be signed as %3A."""
    body = "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.001&newClientOrderId=a%3Ab"
    body += f"&timestamp={fake.server_time()}"
    response = requests.post(
        fake.base_url + ORDER_PATH,
        data=f"{body}&signature={sign(fake.api_secret, body)}",
        headers={"X-MBX-APIKEY": fake.api_key, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    assert response.json()["clientOrderId"] == "a:b"
    # python-binance signs the raw "c:d" but sends "c%3Ad": refused, as Binance does since 2026-01-15.
    err = api_error(limit_buy, client, newClientOrderId="c:d")
    assert err.code == -1022


# ---------------------------------------------------------------------------------------------- lifecycle
def test_starts_fast_on_loopback_and_stops() -> None:
    fake = FakeBinance()
    started = time.perf_counter()
    fake.start()
    elapsed = time.perf_counter() - started
    try:
        assert elapsed < 0.1
        assert fake.base_url.startswith("http://127.0.0.1:") and fake.port > 0
        assert requests.get(fake.base_url + "/api/v3/ping", timeout=5).json() == {}
    finally:
        fake.stop()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{fake.port}/api/v3/ping", timeout=2)


def test_refuses_to_bind_anything_but_loopback() -> None:
    with pytest.raises(ValueError):
        FakeBinance(host="0.0.0.0")


def test_command_line_prints_the_base_url() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.fake_binance", "--port", "0", "--api-key", "K", "--api-secret", "S"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        url = match.group(0)
        assert requests.get(url + "/api/v3/time", timeout=5).json()["serverTime"] > 0
    finally:
        proc.terminate()
        proc.wait(timeout=5)


# -------------------------------------------------------------------------------------------- market data
def test_ticker_price_follows_set_price(fake: FakeBinance, client: Client) -> None:
    fake.set_price("BTCUSDT", "64123.45")
    assert client.get_symbol_ticker(symbol="BTCUSDT") == {"symbol": "BTCUSDT", "price": "64123.45000000"}
    everything = client.get_all_tickers()
    assert {t["symbol"] for t in everything} == {"BTCUSDT", "ETHUSDT", "BNBBTC"}
    assert fake.requests[-1].response == everything


def test_order_book_is_sorted_around_the_price(fake: FakeBinance, client: Client) -> None:
    book = client.get_order_book(symbol="ETHUSDT", limit=20)
    bids = [Decimal(p) for p, _ in book["bids"]]
    asks = [Decimal(p) for p, _ in book["asks"]]
    assert isinstance(book["lastUpdateId"], int)
    assert len(bids) == len(asks) == 20
    assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0] == Decimal("3500")
    assert all(len(q.split(".")[1]) == 8 and Decimal(q) > 0 for _, q in book["bids"] + book["asks"])


def test_klines_end_now_and_honour_the_time_range(fake: FakeBinance, client: Client) -> None:
    candles = client.get_klines(symbol="BTCUSDT", interval="1h", limit=5)
    assert len(candles) == 5 and all(len(c) == 12 for c in candles)
    opens = [c[0] for c in candles]
    assert [b - a for a, b in itertools.pairwise(opens)] == [3_600_000] * 4
    assert all(c[6] == c[0] + 3_600_000 - 1 for c in candles)
    assert candles[-1][4] == "65000.00000000"  # the open candle closes at the current price
    assert opens[-1] <= fake.server_time() < opens[-1] + 3_600_000
    for o, h, lo, c in ((Decimal(x) for x in row[1:5]) for row in candles):
        assert lo <= min(o, c) and h >= max(o, c)
    again = client.get_klines(symbol="BTCUSDT", interval="1h", limit=5)
    assert [c[:6] for c in again[:-1]] == [c[:6] for c in candles[:-1]]  # deterministic

    start = opens[1] - 1
    ranged = client.get_klines(symbol="BTCUSDT", interval="1h", startTime=start, endTime=opens[3], limit=10)
    assert [c[0] for c in ranged] == opens[1:4]  # openTime >= startTime, up to endTime
    assert len(client.get_klines(symbol="BTCUSDT", interval="1m")) == 500


def test_kline_parameter_errors(client: Client) -> None:
    err = api_error(client.get_klines, symbol="BTCUSDT", interval="2m")
    assert (err.status_code, err.code, err.message) == (400, -1120, "Invalid interval.")
    err = api_error(client.get_klines, symbol="BTCUSDT", interval="1m", limit=1001)
    assert (err.code, err.message) == (-1130, "Data sent for parameter 'limit' is not valid.")


def test_24hr_ticker(fake: FakeBinance, client: Client) -> None:
    ticker = client.get_ticker(symbol="BNBBTC")
    assert ticker["symbol"] == "BNBBTC" and ticker["lastPrice"] == "0.00900000"
    assert Decimal(ticker["lowPrice"]) <= Decimal("0.009") <= Decimal(ticker["highPrice"])
    assert ticker["closeTime"] - ticker["openTime"] == 86_400_000 and isinstance(ticker["count"], int)


def test_exchange_info_has_the_testnet_symbol_filters_and_rate_limits(client: Client) -> None:
    info = client.get_exchange_info()
    assert [s["symbol"] for s in info["symbols"]] == ["BTCUSDT", "ETHUSDT", "BNBBTC"]
    assert info["rateLimits"][1] == {
        "rateLimitType": "ORDERS",
        "interval": "SECOND",
        "intervalNum": 10,
        "limit": 50,
    }
    btc = client.get_symbol_info("BTCUSDT")
    assert btc is not None
    filters = {f["filterType"]: f for f in btc["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00001000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    two = client._get("exchangeInfo", data={"symbols": '["BNBBTC","ETHUSDT"]'})
    assert [s["symbol"] for s in two["symbols"]] == ["BNBBTC", "ETHUSDT"]
    err = api_error(client._get, "exchangeInfo", data={"symbol": "NOPEUSDT"})
    assert (err.status_code, err.code, err.message) == (400, -1121, "Invalid symbol.")


def test_unknown_path_is_404_and_extra_params_are_refused(fake: FakeBinance) -> None:
    response = requests.get(fake.base_url + "/api/v3/nothing", timeout=5)
    assert response.status_code == 404 and response.text == ""
    response = requests.get(fake.base_url + "/api/v3/ticker/price?symbol=BTCUSDT&colour=red", timeout=5)
    assert response.status_code == 400 and response.json()["code"] == -1104


# ------------------------------------------------------------------------------------------ account, auth
def test_account_balances_and_omit_zero(fake: FakeBinance, client: Client) -> None:
    fake.set_balance("DOGE", "0")
    fake.set_balance("USDT", "1234.5")
    balances = {b["asset"]: b for b in client.get_account()["balances"]}
    assert balances["USDT"] == {"asset": "USDT", "free": "1234.50000000", "locked": "0.00000000"}
    assert "DOGE" in balances
    trimmed = client.get_account(omitZeroBalances="true")["balances"]
    assert "DOGE" not in {b["asset"] for b in trimmed} and len(trimmed) == 4
    assert fake.requests[-1].signature_ok is True and fake.requests[-1].api_key == "test-key"


def test_api_restrictions(fake: FakeBinance, client: Client) -> None:
    fake.withdraw_enabled = True
    restrictions = client.get_account_api_permissions()
    assert restrictions["enableWithdrawals"] is True and restrictions["enableSpotAndMarginTrading"] is True
    assert restrictions["ipRestrict"] is False and isinstance(restrictions["createTime"], int)


def test_a_bad_signature_is_refused(fake: FakeBinance) -> None:
    wrong = make_client(fake, secret="not-the-secret")
    err = api_error(wrong.get_account)
    assert (err.status_code, err.code, err.message) == (
        400,
        -1022,
        "Signature for this request is not valid.",
    )
    assert fake.requests[-1].signature_ok is False and fake.requests[-1].status == 400


def test_unknown_and_missing_api_keys(fake: FakeBinance) -> None:
    err = api_error(make_client(fake, key="someone-else").get_account)
    assert (err.status_code, err.code) == (401, -2015)
    response = requests.get(fake.base_url + "/api/v3/account?timestamp=1&signature=ab", timeout=5)
    assert (response.status_code, response.json()["code"]) == (401, -2014)
    response = requests.get(fake.base_url + "/api/v3/openOrders", timeout=5)
    assert response.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
    }


def test_a_skewed_clock_is_refused_both_ways(fake: FakeBinance, client: Client) -> None:
    fake.server_time_offset_ms = -5000  # the client's timestamp is 5 s ahead of the server
    err = api_error(client.get_account)
    assert (err.code, err.message) == (
        -1021,
        "Timestamp for this request was 1000ms ahead of the server's time.",
    )
    fake.server_time_offset_ms = 15_000  # python-binance sends recvWindow=10000
    err = api_error(client.get_open_orders)
    assert (err.code, err.message) == (-1021, "Timestamp for this request is outside of the recvWindow.")
    assert client.get_server_time()["serverTime"] >= int(time.time() * 1000) + 14_000
    fake.server_time_offset_ms = 0
    assert client.get_open_orders() == []


def test_weight_and_order_count_headers(fake: FakeBinance, client: Client) -> None:
    client.get_order_book(symbol="BTCUSDT", limit=10)
    first = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    client.get_exchange_info()
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 20
    client.get_order_book(symbol="BTCUSDT", limit=1000)
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == first + 70
    assert "X-MBX-ORDER-COUNT-10S" not in client.response.headers
    limit_buy(client)
    limit_buy(client)
    assert client.response.headers["X-MBX-ORDER-COUNT-10S"] == "2"
    assert client.response.headers["X-MBX-ORDER-COUNT-1D"] == "2"


def test_limits_are_enforced_only_when_asked(fake: FakeBinance, client: Client) -> None:
    fake.rate_limiter.add_weight(fake.server_time(), 6001)
    assert client.get_server_time()["serverTime"] > 0  # not enforced by default
    fake.enforce_rate_limits = True
    err = api_error(client.get_server_time)
    assert (err.status_code, err.code) == (429, -1003) and int(err.response.headers["Retry-After"]) >= 1


def test_order_rate_limit_when_enforced(fake: FakeBinance, client: Client) -> None:
    fake.enforce_rate_limits = True
    for _ in range(55):
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.001")  # not counted
    last_count = None
    for _ in range(101):  # ≤ 50 per 10 s window; two windows at worst if a boundary passes meanwhile
        try:
            client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001")
        except BinanceAPIException as err:
            assert (err.status_code, err.code) == (429, -1015)
            assert err.message == "Too many new orders; current limit is 50 orders per 10 SECOND."
            assert 1 <= int(err.response.headers["Retry-After"]) <= 10
            break
        last_count = client.response.headers["X-MBX-ORDER-COUNT-10S"]
    else:
        pytest.fail("the ORDERS limit was never applied")
    assert last_count == "50"


# ------------------------------------------------------------------------------------------------- orders
def test_a_limit_order_rests_locks_balance_and_cancels(fake: FakeBinance, client: Client) -> None:
    order = limit_buy(client, newClientOrderId="my-order_1")
    assert order["status"] == "NEW" and order["fills"] == [] and order["executedQty"] == "0.00000000"
    assert order["price"] == "60000.00000000" and order["origQty"] == "0.01000000"
    assert fake.balance("USDT").locked == Decimal("600") and fake.balance("USDT").free == Decimal("99400")

    found = client.get_order(symbol="BTCUSDT", origClientOrderId="my-order_1")
    assert found["orderId"] == order["orderId"] and found["status"] == "NEW" and found["isWorking"] is True
    assert [o["orderId"] for o in client.get_open_orders(symbol="BTCUSDT")] == [order["orderId"]]

    cancelled = client.cancel_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert cancelled["status"] == "CANCELED" and cancelled["origClientOrderId"] == "my-order_1"
    assert fake.requests[-1].method == "DELETE" and fake.requests[-1].body["orderId"] == str(order["orderId"])
    assert fake.balance("USDT").free == Decimal("100000") and fake.balance("USDT").locked == 0
    assert client.get_order(symbol="BTCUSDT", orderId=order["orderId"])["status"] == "CANCELED"

    err = api_error(client.cancel_order, symbol="BTCUSDT", orderId=order["orderId"])
    assert (err.status_code, err.code, err.message) == (400, -2011, "Unknown order sent.")
    err = api_error(client.get_order, symbol="BTCUSDT", orderId=999)
    assert (err.code, err.message) == (-2013, "Order does not exist.")


def test_a_market_order_takes_the_book_level_by_level(fake: FakeBinance, client: Client) -> None:
    """faqs/market_orders_faq.md: a MARKET order fills at the best available prices until it is filled
    or the book runs out. The book read just before is the one it takes: one trade per level."""
    fake.set_price("BTCUSDT", "60000.00")
    book = client.get_order_book(symbol="BTCUSDT", limit=20)
    asks = [(Decimal(price), Decimal(qty)) for price, qty in book["asks"]]
    left, expected = Decimal("0.1"), []
    for price, qty in asks:
        taken = min(qty, left)
        expected.append((price, taken))
        left -= taken
        if left == 0:
            break
    assert len(expected) > 1, "a 6000 USDT order walks several levels of the test book"
    order = client.create_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.1")
    assert order["status"] == "FILLED" and order["price"] == "0.00000000"
    assert [(Decimal(fill["price"]), Decimal(fill["qty"])) for fill in order["fills"]] == expected
    cost = sum((price * qty for price, qty in expected), Decimal(0))
    assert order["executedQty"] == "0.10000000" and Decimal(order["cummulativeQuoteQty"]) == cost > 6000
    assert fake.balance("USDT").free == Decimal("100000") - cost
    assert fake.balance("BTC").free == Decimal("1.0999")

    by_quote = client.create_order(symbol="BTCUSDT", side="SELL", type="MARKET", quoteOrderQty="120")
    assert by_quote["executedQty"] == "0.00200000" and by_quote["origQuoteOrderQty"] == "120.00000000"
    assert by_quote["fills"][0]["price"] == "59999.99000000"  # the best bid, a tick below the price
    assert [o.status for o in fake.orders] == ["FILLED", "FILLED"] and fake.open_orders() == []


def test_a_crossing_limit_order_fills_and_set_price_fills_resting_ones(
    fake: FakeBinance, client: Client
) -> None:
    taken = limit_buy(client, price="66000.00")
    assert taken["status"] == "FILLED" and taken["fills"][0]["price"] == "65000.00000000"
    resting = client.create_order(
        symbol="ETHUSDT",
        side="SELL",
        type="LIMIT",
        timeInForce="GTC",
        quantity="1",
        price="3600",
        newOrderRespType="ACK",
    )
    assert set(resting) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    assert fake.balance("ETH").locked == 1
    fake.set_price("ETHUSDT", "3600.50")
    assert fake.orders[-1].status == "FILLED" and fake.balance("ETH").locked == 0
    assert fake.balance("USDT").free == Decimal("100000") - Decimal("650") + Decimal("3600") * Decimal(
        "0.999"
    )


def test_stop_limit_rests_and_limit_maker_never_takes(fake: FakeBinance, client: Client) -> None:
    stop = client.create_order(
        symbol="BTCUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="0.01",
        price="59000",
        stopPrice="59500",
    )
    assert set(stop) == {
        "symbol",
        "orderId",
        "orderListId",
        "clientOrderId",
        "transactTime",
    }  # ACK by default
    assert fake.open_orders("BTCUSDT")[0].status == "NEW"
    assert client.get_order(symbol="BTCUSDT", orderId=stop["orderId"])["isWorking"] is False
    err = api_error(
        client.create_order, symbol="BTCUSDT", side="BUY", type="LIMIT_MAKER", quantity="0.01", price="65001"
    )
    assert (err.code, err.message) == (-2010, "Order would immediately match and take.")


def test_cancel_all_open_orders(fake: FakeBinance, client: Client) -> None:
    limit_buy(client, price="60000")
    limit_buy(client, price="61000")
    client.create_order(
        symbol="ETHUSDT", side="SELL", type="LIMIT", timeInForce="GTC", quantity="1", price="4000"
    )
    cancelled = client.cancel_all_open_orders(symbol="BTCUSDT")
    assert [c["status"] for c in cancelled] == ["CANCELED"] * 2
    assert cancelled[0]["clientOrderId"] == cancelled[1]["clientOrderId"]  # one id for the whole cancel
    assert fake.balance("USDT").locked == 0
    assert [o.symbol for o in fake.open_orders()] == ["ETHUSDT"]  # other symbols are untouched
    err = api_error(client.cancel_all_open_orders, symbol="BTCUSDT")
    assert (err.status_code, err.code, err.message) == (400, -2011, "Unknown order sent.")


def test_a_test_order_validates_but_creates_nothing(fake: FakeBinance, client: Client) -> None:
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
    assert client.create_test_order(price="60000", **params) == {}
    rates = client.create_test_order(price="60000", computeCommissionRates="true", **params)
    assert rates["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
    assert rates["discount"]["discountAsset"] == "BNB"
    err = api_error(client.create_test_order, price="60000.000000001", **params)
    assert (err.code, err.message) == (-1111, "Parameter 'price' has too much precision.")
    err = api_error(client.create_test_order, price="60000.015", **params)
    assert (err.code, err.message) == (-1013, "Filter failure: PRICE_FILTER")
    err = api_error(client.create_test_order, price="100", **params)
    assert (err.code, err.message) == (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE")
    assert fake.orders == [] and fake.balance("USDT").locked == 0


_LIMIT = {"type": "LIMIT", "timeInForce": "GTC", "quantity": "0.01"}
_MARKET = {"type": "MARKET", "quantity": "0.01"}


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        (_LIMIT, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
        (_MARKET | {"price": "65000"}, -1106, "Parameter 'price' sent when not required."),
        (_MARKET | {"side": "HOLD"}, -1117, "Invalid side."),
        (_MARKET | {"type": "SOMETIMES"}, -1116, "Invalid orderType."),
        (_LIMIT | {"timeInForce": "GTX", "price": "65000"}, -1115, "Invalid timeInForce."),
        (_MARKET | {"newClientOrderId": "bad~id"}, -1100, None),
        (_MARKET | {"quantity": "0.000001"}, -1013, "Filter failure: LOT_SIZE"),
        (_MARKET | {"quantity": "0.000015"}, -1013, "Filter failure: LOT_SIZE"),
        (_MARKET | {"quantity": "101"}, -1013, "Filter failure: MARKET_LOT_SIZE"),
        (_MARKET | {"quantity": "0.00005"}, -1013, "Filter failure: NOTIONAL"),
        (_LIMIT | {"price": "60000.005"}, -1013, "Filter failure: PRICE_FILTER"),
        (_MARKET | {"quantity": "2"}, -2010, "Account has insufficient balance for requested action."),
        (
            {"type": "STOP_LOSS", "quantity": "0.01", "stopPrice": "66000", "side": "SELL"},
            -2010,
            "Order would trigger immediately.",
        ),
    ],
)
def test_order_rejections(
    fake: FakeBinance, client: Client, params: dict, code: int, msg: str | None
) -> None:
    err = api_error(client.create_order, **({"symbol": "BTCUSDT", "side": "BUY"} | params))
    assert err.status_code == 400 and err.code == code
    if msg is not None:
        assert err.message == msg
    assert fake.orders == []


def test_a_duplicate_client_order_id_of_an_open_order(fake: FakeBinance, client: Client) -> None:
    limit_buy(client, newClientOrderId="dup")
    err = api_error(limit_buy, client, newClientOrderId="dup")
    assert (err.code, err.message) == (-2010, "Duplicate order sent.")
    client.cancel_order(symbol="BTCUSDT", origClientOrderId="dup")
    assert limit_buy(client, newClientOrderId="dup")["status"] == "NEW"  # reusable once the first is closed


def test_all_orders_window_and_limit(fake: FakeBinance, client: Client) -> None:
    ids = [limit_buy(client, price=p)["orderId"] for p in ("60000", "60001", "60002")]
    assert [o["orderId"] for o in client.get_all_orders(symbol="BTCUSDT")] == ids
    assert [o["orderId"] for o in client.get_all_orders(symbol="BTCUSDT", limit=2)] == ids[1:]
    assert [o["orderId"] for o in client.get_all_orders(symbol="BTCUSDT", orderId=ids[1], limit=1)] == [
        ids[1]
    ]
    err = api_error(client.get_all_orders, symbol="BTCUSDT", startTime=0, endTime=86_400_001)
    assert (err.code, err.message) == (-1127, "More than 24 hours between startTime and endTime.")


# ------------------------------------------------------------------------------------------------- faults
def test_status_fault_answers_with_retry_after_without_executing(fake: FakeBinance, client: Client) -> None:
    fake.inject(
        Status(429, -1003, "Too much request weight used.", retry_after=7), method="POST", path=ORDER_PATH
    )
    err = api_error(limit_buy, client)
    assert (err.status_code, err.code) == (429, -1003)
    assert err.response.headers["Retry-After"] == "7" and "X-MBX-USED-WEIGHT-1M" in err.response.headers
    assert fake.orders == []
    assert isinstance(fake.requests[-1].fault, Status) and fake.requests[-1].status == 429
    assert limit_buy(client)["status"] == "NEW"  # one-shot
    assert fake.requests[-1].fault is None


def test_status_fault_matches_method_and_path_and_counts_times(fake: FakeBinance, client: Client) -> None:
    fake.inject(Status(503, -1001, "Internal error; unable to process your request. Please try again."),
                method="GET", path="/api/v3/ticker/*", times=2)  # fmt: skip
    client.get_order_book(symbol="BTCUSDT")  # not matched
    for _ in range(2):
        assert api_error(client.get_symbol_ticker, symbol="BTCUSDT").status_code == 503
    assert client.get_symbol_ticker(symbol="BTCUSDT")["price"] == "65000.00000000"


def test_status_fault_without_a_code_sends_a_non_json_page(fake: FakeBinance, client: Client) -> None:
    fake.inject(Status(403, None))
    err = api_error(client.get_account)
    assert err.status_code == 403 and err.code == 0 and err.message.startswith("Invalid JSON error message")


def test_delay_fault_slows_the_answer_down(fake: FakeBinance, client: Client) -> None:
    fake.inject(Delay(0.2), path="/api/v3/time")
    started = time.perf_counter()
    assert client.get_server_time()["serverTime"] > 0
    assert time.perf_counter() - started >= 0.2
    assert isinstance(fake.requests[-1].fault, Delay) and fake.requests[-1].status == 200


def test_drop_fault_closes_the_connection_without_executing(fake: FakeBinance, client: Client) -> None:
    fake.inject(Drop(), method="POST", path=ORDER_PATH)
    with pytest.raises(requests.ConnectionError):
        limit_buy(client)
    assert fake.orders == []
    assert fake.requests[-1].status is None and isinstance(fake.requests[-1].fault, Drop)
    assert limit_buy(client)["status"] == "NEW"  # the client reconnects


def test_execute_then_fail_places_the_order_but_reports_an_error(fake: FakeBinance, client: Client) -> None:
    fake.inject(ExecuteThenFail(503), method="POST", path=ORDER_PATH)
    err = api_error(limit_buy, client, newClientOrderId="maybe-placed")
    assert err.status_code == 503 and err.code == -1007
    assert fake.requests[-1].executed_response["status"] == "NEW" and fake.requests[-1].status == 503
    assert [o.client_order_id for o in fake.open_orders()] == ["maybe-placed"]
    assert client.get_order(symbol="BTCUSDT", origClientOrderId="maybe-placed")["status"] == "NEW"

    fake.inject(ExecuteThenFail(), method="DELETE", path=ORDER_PATH)
    with pytest.raises(requests.ConnectionError):
        client.cancel_order(symbol="BTCUSDT", origClientOrderId="maybe-placed")
    assert fake.open_orders() == []  # the cancel happened
    dropped = fake.requests[-1]
    assert dropped.status is None and isinstance(dropped.fault, ExecuteThenFail)
    assert dropped.response is None and dropped.executed_response["status"] == "CANCELED"


def test_random_faults_are_reproducible_and_clearable(fake: FakeBinance) -> None:
    def outcomes() -> list[int | None]:
        fake.clear_requests()
        fake.random_faults(seed=42, rate=0.5, kinds=[Status(500, -1000, "x")], paths=["/api/v3/ping"])
        for _ in range(20):
            requests.get(fake.base_url + "/api/v3/ping", timeout=5)
        requests.get(fake.base_url + "/api/v3/time", timeout=5)  # not in paths: never faulted
        return [r.status for r in fake.requests]

    first = outcomes()
    assert first == outcomes()
    assert 3 <= first.count(500) <= 17 and first[-1] == 200
    fake.clear_faults()
    assert requests.get(fake.base_url + "/api/v3/ping", timeout=5).status_code == 200
