"""Filters as Binance applies them (issue #15), through `mcp.Client` on the test exchange.

filters.md: PERCENT_PRICE_BY_SIDE and a MARKET order's NOTIONAL are evaluated against the
volume-weighted average over the preceding `avgPriceMins` minutes (GET /api/v3/avgPrice), not the
last price; the order-count filters (MAX_NUM_ORDERS, MAX_NUM_ALGO_ORDERS, MAX_NUM_ORDER_LISTS) and
an OCO's price relation are Binance's too. The test exchange enforces each of them as Binance
does; the server refuses the same orders before sending, with the fix.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from mcp import Client

from tests.conftest import ALLOW_ALL
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio


def sent(fake: FakeBinance) -> list[Any]:
    return [
        r
        for r in fake.requests
        if r.method == "POST" and r.path.startswith(("/api/v3/order", "/api/v3/orderList"))
    ]


def price_jump(fake: FakeBinance) -> None:
    """65000, then 320000 within the 5-minute window: the average is 192500, the last 320000."""
    fake.set_price("BTCUSDT", "320000")
    assert fake.exchange.average_price("BTCUSDT") == Decimal("192500")


def set_filter(fake: FakeBinance, name: str, **values: Any) -> None:
    for entry in fake.exchange.symbols["BTCUSDT"]["filters"]:
        if entry["filterType"] == name:
            entry.update(values)


async def test_the_test_exchange_serves_the_volume_weighted_average(build: Any, fake: FakeBinance) -> None:
    import json
    from urllib.request import urlopen

    def avg_price() -> dict[str, Any]:
        with urlopen(f"{fake.base_url}/api/v3/avgPrice?symbol=BTCUSDT") as answer:
            return dict(json.load(answer))

    price_jump(fake)
    answer = avg_price()
    assert answer["mins"] == 5 and answer["price"] == "192500.00000000"
    set_filter(fake, "PERCENT_PRICE_BY_SIDE", avgPriceMins=0)
    set_filter(fake, "NOTIONAL", avgPriceMins=0)
    answer = avg_price()
    assert answer["mins"] == 0 and answer["price"] == "320000.00000000"  # 0 minutes: the last price


async def test_a_limit_price_is_checked_against_the_average_as_binance_does(
    build: Any, fake: FakeBinance
) -> None:
    """At 970000 a SELL is within 5× the last price 320000 but above 5× the average 192500."""
    app = build(ALLOW_ALL)
    price_jump(fake)
    async with Client(app.server) as client:
        info = await client.call_tool("get_symbol_info", {"symbol": "BTCUSDT"})
        result = await client.call_tool(
            "place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.0001", "price": "970000"},
        )
    band = info.structured_content
    assert (band["band_price"], band["band_price_basis"]) == ("192500", "5-minute average price")
    assert band["sell_price_band"] == {"lowest": "38500", "highest": "962500"}
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    reason = result.structured_content["reason"]
    assert "the 5-minute average price 192500.00 for a SELL" in reason and "38500.00 to 962500.00" in reason
    assert sent(fake) == []


async def test_a_market_orders_notional_is_the_average_times_the_quantity(
    build: Any, fake: FakeBinance
) -> None:
    """0.00002 BTC is 6.40 USDT at the last price but 3.85 at the average: under the 5 USDT minimum."""
    app = build(ALLOW_ALL)
    price_jump(fake)
    async with Client(app.server) as client:
        result = await client.call_tool(
            "place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.00002"}
        )
        enough = await client.call_tool(
            "place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.00003"}
        )
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    reason = result.structured_content["reason"]
    assert "(5-minute average price × quantity) is below the minimum 5.00 USDT" in reason
    assert "buy at least 0.00003 at the 5-minute average price 192500.00" in reason
    assert not enough.is_error, enough.content[0].text  # the fix it names passes, here and on the exchange
    assert len(sent(fake)) == 1


async def test_too_many_open_stop_orders_is_refused_before_sending(build: Any, fake: FakeBinance) -> None:
    app = build(ALLOW_ALL)
    stop = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_LOSS_LIMIT", "quantity": "0.001",
            "price": "60000", "stop_price": "60500"}  # fmt: skip
    async with Client(app.server) as client:
        for _ in range(5):  # BTCUSDT's MAX_NUM_ALGO_ORDERS
            placed = await client.call_tool("place_order", stop)
            assert not placed.is_error, placed.content[0].text
        before = len(sent(fake))
        sixth = await client.call_tool("place_order", stop)
    assert sixth.structured_content["error"] == "invalid_arguments", sixth.content[0].text
    assert sixth.structured_content["reason"] == (
        "5 stop-loss/take-profit orders are open on BTCUSDT and this call adds 1; BTCUSDT allows at most 5 "
        "(MAX_NUM_ALGO_ORDERS): cancel 1 first (get_open_orders lists them); nothing was sent"
    )
    assert len(sent(fake)) == before


async def test_too_many_open_order_lists_is_refused_before_sending(build: Any, fake: FakeBinance) -> None:
    set_filter(fake, "MAX_NUM_ORDER_LISTS", maxNumOrderLists=1)
    app = build(ALLOW_ALL)
    oco = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
        {"side": "SELL", "type": "LIMIT_MAKER", "quantity": "0.001", "price": "70000"},
        {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stop_price": "60000"},
    ]}  # fmt: skip
    async with Client(app.server) as client:
        first = await client.call_tool("place_order_list", oco)
        assert not first.is_error, first.content[0].text
        second = await client.call_tool("place_order_list", oco)
    assert second.structured_content["error"] == "invalid_arguments", second.content[0].text
    assert (
        "1 order lists are open on BTCUSDT and this call adds 1; BTCUSDT allows at most 1 (MAX_NUM_ORDER_LISTS)"
        in (second.structured_content["reason"])
    )
    assert "get_order_lists lists them" in second.structured_content["reason"]
    assert len([r for r in sent(fake) if r.path.startswith("/api/v3/orderList")]) == 1


async def test_an_oco_take_profit_limit_below_the_last_price_is_refused_before_sending(
    build: Any, fake: FakeBinance
) -> None:
    """SELL OCO: the TAKE_PROFIT_LIMIT's price must be above the last price (Binance: -2010 'The
    relationship of the prices for the orders is not correct.'), though its stop is."""
    app = build(ALLOW_ALL)
    oco = {"symbol": "BTCUSDT", "type": "OCO", "legs": [
        {"side": "SELL", "type": "TAKE_PROFIT_LIMIT", "quantity": "0.001", "price": "64000", "stop_price": "66000"},
        {"side": "SELL", "type": "STOP_LOSS", "quantity": "0.001", "stop_price": "60000"},
    ]}  # fmt: skip
    async with Client(app.server) as client:
        result = await client.call_tool("place_order_list", oco)
    assert result.structured_content["error"] == "invalid_arguments", result.content[0].text
    assert result.structured_content["field"] == "legs[0].price"
    assert "must be above the market price 65000" in result.structured_content["reason"]
    assert sent(fake) == []


async def test_the_test_exchange_refuses_that_oco_as_binance_does(fake: FakeBinance) -> None:
    from tests.fake_binance.errors import ApiError
    from tests.fake_binance.list_engine import PRICE_RELATION, check_oco_pair
    from tests.fake_binance.orders import Order

    def leg(kind: str, **values: Any) -> Order:
        return Order(symbol="BTCUSDT", order_id=0, client_order_id="x", side="SELL", type=kind,
                     time_in_force="GTC", orig_qty=Decimal("0.001"), time=0, update_time=0, **values)  # fmt: skip

    above = leg("TAKE_PROFIT_LIMIT", price=Decimal(64000), stop_price=Decimal(66000))
    below = leg("STOP_LOSS", price=Decimal(0), stop_price=Decimal(60000))
    with pytest.raises(ApiError) as refused:
        check_oco_pair(above, below, Decimal(65000))
    assert refused.value.msg == PRICE_RELATION


async def test_a_reference_price_takes_precedence_over_the_average(build: Any, fake: FakeBinance) -> None:
    """filters.md: when the symbol has a non-null reference price, the filters use it."""
    app = build(ALLOW_ALL)
    price_jump(fake)
    fake.exchange.reference_prices["BTCUSDT"] = Decimal("300000")
    async with Client(app.server) as client:
        info = await client.call_tool("get_symbol_info", {"symbol": "BTCUSDT"})
        allowed = await client.call_tool(  # above 5× the average, within 5× the reference price
            "place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.0001", "price": "970000"},
        )
        fake.exchange.reference_prices["BTCUSDT"] = None  # null: the average again
        refused = await client.call_tool(
            "place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.0001", "price": "970000"},
        )
    assert (info.structured_content["band_price"], info.structured_content["band_price_basis"]) == (
        "300000",
        "reference price",
    )
    assert not allowed.is_error, allowed.content[0].text
    assert "5-minute average price 192500.00" in refused.structured_content["reason"], refused.content[0].text


async def test_a_rest_root_without_reference_prices_falls_back_to_the_average(
    build: Any, fake: FakeBinance
) -> None:
    """A REST root that does not serve GET /api/v3/referencePrice (404) is one without a reference price."""
    from tests.fake_binance import Status

    app = build(ALLOW_ALL)
    price_jump(fake)
    fake.inject(Status(404, None), method="GET", path="/api/v3/referencePrice")
    async with Client(app.server) as client:
        refused = await client.call_tool(
            "place_order",
            {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.0001", "price": "970000"},
        )
    assert refused.structured_content["error"] == "invalid_arguments", refused.content[0].text
    assert "5-minute average price 192500.00" in refused.structured_content["reason"]
    assert fake.faults.pending() == 0  # the 404 was answered
