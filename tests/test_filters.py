"""Pre-send filter checks: each filter at, just under and just over its bound, with exact messages."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_mcp.exchange.filters import (
    FilterViolation,
    LotSizeFilter,
    MinNotionalFilter,
    NotionalFilter,
    PercentPriceBySideFilter,
    PercentPriceFilter,
    PriceFilter,
    SymbolRules,
    check_order,
    decimal_places,
)

D = Decimal

# binance-api.md §5.3, pasted verbatim: the realistic BTCUSDT symbol (live testnet filters, 2026).
BTCUSDT: dict[str, Any] = json.loads(
    """
{
  "symbol": "BTCUSDT", "status": "TRADING",
  "baseAsset": "BTC", "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8, "quoteAssetPrecision": 8,
  "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
  "orderTypes": ["LIMIT","LIMIT_MAKER","MARKET","STOP_LOSS","STOP_LOSS_LIMIT","TAKE_PROFIT","TAKE_PROFIT_LIMIT"],
  "icebergAllowed": true, "ocoAllowed": true, "otoAllowed": true, "opoAllowed": true,
  "quoteOrderQtyMarketAllowed": true, "allowTrailingStop": true, "cancelReplaceAllowed": true, "amendAllowed": true,
  "pegInstructionsAllowed": true, "isSpotTradingAllowed": true, "isMarginTradingAllowed": false,
  "filters": [
    {"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},
    {"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"},
    {"filterType":"ICEBERG_PARTS","limit":100},
    {"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"100.00000000","stepSize":"0.00000000"},
    {"filterType":"TRAILING_DELTA","minTrailingAboveDelta":10,"maxTrailingAboveDelta":2000,"minTrailingBelowDelta":10,"maxTrailingBelowDelta":2000},
    {"filterType":"PERCENT_PRICE_BY_SIDE","bidMultiplierUp":"5","bidMultiplierDown":"0.2","askMultiplierUp":"5","askMultiplierDown":"0.2","avgPriceMins":5},
    {"filterType":"NOTIONAL","minNotional":"5.00000000","applyMinToMarket":true,"maxNotional":"9000000.00000000","applyMaxToMarket":false,"avgPriceMins":5},
    {"filterType":"MAX_NUM_ORDERS","maxNumOrders":200},
    {"filterType":"MAX_NUM_ORDER_LISTS","maxNumOrderLists":20},
    {"filterType":"MAX_NUM_ALGO_ORDERS","maxNumAlgoOrders":5},
    {"filterType":"MAX_NUM_ORDER_AMENDS","maxNumOrderAmends":10}
  ],
  "permissions": [], "permissionSets": [["SPOT"]],
  "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
  "allowedSelfTradePreventionModes": ["EXPIRE_TAKER","EXPIRE_MAKER","EXPIRE_BOTH","DECREMENT","TRANSFER"]
}
"""
)

# An older-style symbol: MIN_NOTIONAL and PERCENT_PRICE instead of NOTIONAL and PERCENT_PRICE_BY_SIDE,
# no quoteOrderQty, no plain STOP_LOSS / TAKE_PROFIT.
BNBBTC: dict[str, Any] = json.loads(
    """
{
  "symbol": "BNBBTC", "status": "TRADING",
  "baseAsset": "BNB", "baseAssetPrecision": 8, "quoteAsset": "BTC",
  "quotePrecision": 8, "quoteAssetPrecision": 8,
  "orderTypes": ["LIMIT","LIMIT_MAKER","MARKET","STOP_LOSS_LIMIT","TAKE_PROFIT_LIMIT"],
  "quoteOrderQtyMarketAllowed": false,
  "filters": [
    {"filterType":"PRICE_FILTER","minPrice":"0.00000100","maxPrice":"100000.00000000","tickSize":"0.00000100"},
    {"filterType":"PERCENT_PRICE","multiplierUp":"5","multiplierDown":"0.2","avgPriceMins":5},
    {"filterType":"LOT_SIZE","minQty":"0.00100000","maxQty":"100000.00000000","stepSize":"0.00100000"},
    {"filterType":"MIN_NOTIONAL","minNotional":"0.00010000","applyToMarket":true,"avgPriceMins":5},
    {"filterType":"MARKET_LOT_SIZE","minQty":"0.00000000","maxQty":"1000.00000000","stepSize":"0.00000000"}
  ]
}
"""
)


def variant(info: dict[str, Any], filter_type: str | None = None, **changes: Any) -> SymbolRules:
    """Rules for a copy of `info` with top-level fields, or one filter's fields, changed."""
    info = copy.deepcopy(info)
    if filter_type is None:
        info.update(changes)
    else:
        (entry,) = [f for f in info["filters"] if f["filterType"] == filter_type]
        entry.update(changes)
    return SymbolRules.from_exchange_info(info)


@pytest.fixture
def btc() -> SymbolRules:
    return SymbolRules.from_exchange_info(BTCUSDT)


@pytest.fixture
def bnb() -> SymbolRules:
    return SymbolRules.from_exchange_info(BNBBTC)


def check(
    rules: SymbolRules,
    *,
    side: str = "BUY",
    order_type: str = "LIMIT",
    quantity: str | None = None,
    quote_quantity: str | None = None,
    price: str | None = None,
    stop_price: str | None = None,
    reference_price: str | None = None,
) -> FilterViolation | None:
    """check_order with decimal strings; fields left out are not sent, so their checks are skipped."""

    def dec(value: str | None) -> Decimal | None:
        return None if value is None else D(value)

    return check_order(
        rules,
        side=side,
        order_type=order_type,
        quantity=dec(quantity),
        quote_quantity=dec(quote_quantity),
        price=dec(price),
        stop_price=dec(stop_price),
        reference_price=dec(reference_price),
    )


def message(violation: FilterViolation | None) -> str | None:
    return None if violation is None else violation.message


# ----------------------------------------------------------------------------------------------- parsing


def test_parses_btcusdt(btc: SymbolRules) -> None:
    assert btc.symbol == "BTCUSDT"
    assert btc.status == "TRADING"
    assert (btc.base_asset, btc.quote_asset) == ("BTC", "USDT")
    assert btc.order_types == tuple(BTCUSDT["orderTypes"])
    assert btc.quote_order_qty_market_allowed is True
    assert (btc.base_asset_precision, btc.quote_asset_precision) == (8, 8)
    assert btc.price_filter == PriceFilter(D("0.01"), D("1000000"), D("0.01"))
    assert btc.lot_size == LotSizeFilter(D("0.00001"), D("9000"), D("0.00001"))
    assert btc.market_lot_size == LotSizeFilter(D(0), D(100), D(0))
    assert btc.notional == NotionalFilter(D(5), D(9000000), True, False, 5)
    assert btc.percent_price_by_side == PercentPriceBySideFilter(D(5), D("0.2"), D(5), D("0.2"), 5)
    assert btc.min_notional is None
    assert btc.percent_price is None


def test_parses_older_symbol(bnb: SymbolRules) -> None:
    assert bnb.quote_order_qty_market_allowed is False
    assert bnb.min_notional == MinNotionalFilter(D("0.0001"), True, 5)
    assert bnb.percent_price == PercentPriceFilter(D(5), D("0.2"), 5)
    assert bnb.notional is None
    assert bnb.percent_price_by_side is None


def test_filters_are_decimals_never_floats(btc: SymbolRules) -> None:
    assert btc.price_filter is not None
    assert isinstance(btc.price_filter.tick_size, Decimal)
    assert str(btc.price_filter.tick_size) == "0.01000000"  # kept exactly as Binance sent it


def test_entry_without_a_required_field_is_refused() -> None:
    info = copy.deepcopy(BTCUSDT)
    del info["orderTypes"]
    with pytest.raises(ValueError, match="orderTypes"):
        SymbolRules.from_exchange_info(info)


def test_filter_value_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match=r"BTCUSDT PRICE_FILTER.tickSize is not a number: 'abc'"):
        variant(BTCUSDT, "PRICE_FILTER", tickSize="abc")


@pytest.mark.parametrize(
    ("step", "places"),
    [("0.01000000", 2), ("0.00001000", 5), ("1.00000000", 0), ("10", 0), ("0.5", 1), ("0", 0), ("0E-8", 0)],
)
def test_decimal_places(step: str, places: int) -> None:
    assert decimal_places(D(step)) == places


# ------------------------------------------------------------------------------------------ valid orders


def test_valid_limit_order_passes(btc: SymbolRules) -> None:
    assert check(btc, price="65000.00", quantity="0.001", reference_price="65000.00") is None


def test_valid_market_orders_pass(btc: SymbolRules) -> None:
    assert check(btc, order_type="MARKET", quantity="0.001", reference_price="65000") is None
    assert check(btc, order_type="MARKET", quote_quantity="50", reference_price="65000") is None
    assert check(btc, side="SELL", order_type="MARKET", quote_quantity="50") is None


def test_side_and_type_are_case_insensitive(btc: SymbolRules) -> None:
    assert check(btc, side="buy", order_type="limit", price="65000", quantity="0.001") is None


def test_symbol_without_filters_checks_nothing_but_status_and_type() -> None:
    rules = SymbolRules.from_exchange_info({**BTCUSDT, "filters": []})
    assert check(rules, price="0.000000001", quantity="123456.123456789", reference_price="1") is None


# ----------------------------------------------------------------------------------- status, type, quote


def test_symbol_not_trading_is_refused_first() -> None:
    rules = variant(BTCUSDT, status="HALT")
    violation = check(rules, order_type="OCO", price="0.001")
    assert violation == FilterViolation(
        "SYMBOL_STATUS",
        "symbol",
        "symbol BTCUSDT has status HALT, not TRADING: "
        "Binance accepts no new orders on it until trading resumes",
    )


def test_order_type_not_allowed(bnb: SymbolRules) -> None:
    assert check(bnb, order_type="STOP_LOSS", stop_price="0.01", quantity="1") == FilterViolation(
        "ORDER_TYPES",
        "type",
        "order type STOP_LOSS is not allowed on BNBBTC: "
        "use one of LIMIT, LIMIT_MAKER, MARKET, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT",
    )


def test_quote_quantity_only_for_market(btc: SymbolRules) -> None:
    assert check(btc, price="65000", quote_quantity="100.00") == FilterViolation(
        "QUOTE_ORDER_QTY",
        "quote_quantity",
        "quote_quantity 100 is only accepted for MARKET orders, not LIMIT: give quantity instead",
    )


def test_quote_quantity_not_allowed_on_symbol(bnb: SymbolRules) -> None:
    assert check(bnb, order_type="MARKET", quote_quantity="0.01") == FilterViolation(
        "QUOTE_ORDER_QTY",
        "quote_quantity",
        "quote_quantity 0.01 is not allowed on BNBBTC "
        "(quoteOrderQtyMarketAllowed is false): give quantity instead",
    )


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"quantity": "0"}, "quantity", "quantity 0 is not a positive number"),
        ({"quantity": "-0.001"}, "quantity", "quantity -0.001 is not a positive number"),
        ({"price": "NaN"}, "price", "price NaN is not a positive number"),
        ({"stop_price": "Infinity"}, "stop_price", "stop_price Infinity is not a positive number"),
    ],
)
def test_non_positive_values(btc: SymbolRules, fields: dict[str, str], field: str, text: str) -> None:
    assert check(btc, **fields) == FilterViolation("INVALID_VALUE", field, text)


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"price": "1E+31"}, "price", "price 1E+31 is out of range: it must lie between 1E-30 and 1E+30"),
        (
            {"quantity": "1E-999999"},
            "quantity",
            "quantity 1E-999999 is out of range: it must lie between 1E-30 and 1E+30",
        ),
    ],
)
def test_absurd_magnitudes(btc: SymbolRules, fields: dict[str, str], field: str, text: str) -> None:
    assert check(btc, **fields) == FilterViolation("INVALID_VALUE", field, text)


def test_absurd_values_are_echoed_briefly(btc: SymbolRules) -> None:
    assert message(check(btc, price="65000", quote_quantity="1E+999999")) == (
        "quote_quantity 1E+999999 is only accepted for MARKET orders, not LIMIT: give quantity instead"
    )


def test_programming_errors_raise(btc: SymbolRules) -> None:
    with pytest.raises(ValueError, match="side must be BUY or SELL"):
        check(btc, side="HOLD")
    with pytest.raises(TypeError, match="quantity must be a Decimal, not float"):
        check_order(
            btc,
            side="BUY",
            order_type="LIMIT",
            quantity=0.1,  # type: ignore[arg-type]
            quote_quantity=None,
            price=None,
            stop_price=None,
            reference_price=None,
        )


# --------------------------------------------------------------------------------------------- PRICE_FILTER


@pytest.mark.parametrize("price", ["0.01", "1000000", "1000000.00000000", "60000.01", "60000.010000"])
def test_price_filter_passes_at_bounds_and_on_tick(btc: SymbolRules, price: str) -> None:
    assert check(btc, price=price) is None


@pytest.mark.parametrize(
    ("price", "text"),
    [
        ("0.009", "price 0.009 is below the minimum 0.01 (PRICE_FILTER)"),
        ("1000000.01", "price 1000000.01 is above the maximum 1000000.00 (PRICE_FILTER)"),
        ("2000000", "price 2000000 is above the maximum 1000000.00 (PRICE_FILTER)"),
        ("2000000.00000000", "price 2000000 is above the maximum 1000000.00 (PRICE_FILTER)"),
        ("60000.005", "price 60000.005 is not a multiple of tick size 0.01: use 60000.00 or 60000.01"),
        ("0.011", "price 0.011 is not a multiple of tick size 0.01: use 0.01 or 0.02"),
        ("999999.999", "price 999999.999 is not a multiple of tick size 0.01: use 999999.99 or 1000000.00"),
        (
            "60000.0000000000000000000000000001",
            "price 60000.0000000000000000000000000001 is not a multiple of tick size 0.01: "
            "use 60000.00 or 60000.01",
        ),
    ],
)
def test_price_filter_violations(btc: SymbolRules, price: str, text: str) -> None:
    assert check(btc, price=price) == FilterViolation("PRICE_FILTER", "price", text)


def test_price_filter_applies_to_stop_price(btc: SymbolRules) -> None:
    violation = check(btc, order_type="STOP_LOSS_LIMIT", price="60000.00", stop_price="60000.005")
    assert violation == FilterViolation(
        "PRICE_FILTER",
        "stop_price",
        "stop_price 60000.005 is not a multiple of tick size 0.01: use 60000.00 or 60000.01",
    )
    assert message(check(btc, order_type="STOP_LOSS", stop_price="0.001")) == (
        "stop_price 0.001 is below the minimum 0.01 (PRICE_FILTER)"
    )


def test_price_checked_before_stop_price_and_quantity(btc: SymbolRules) -> None:
    violation = check(
        btc, order_type="STOP_LOSS_LIMIT", price="1.001", stop_price="1.001", quantity="0.000015"
    )
    assert violation is not None
    assert (violation.filter, violation.field) == ("PRICE_FILTER", "price")


def test_tick_suggestions_stay_inside_the_bounds() -> None:
    rules = variant(BTCUSDT, "PRICE_FILTER", minPrice="0")
    assert message(check(rules, price="0.005")) == "price 0.005 is not a multiple of tick size 0.01: use 0.01"


def test_tick_size_that_is_not_a_power_of_ten() -> None:
    rules = variant(BTCUSDT, "PRICE_FILTER", tickSize="0.50000000")
    assert (
        message(check(rules, price="100.2"))
        == "price 100.2 is not a multiple of tick size 0.5: use 100.0 or 100.5"
    )
    assert check(rules, price="100.5") is None


def test_zero_disables_each_price_rule() -> None:
    rules = variant(BTCUSDT, "PRICE_FILTER", minPrice="0", maxPrice="0", tickSize="0")
    assert check(rules, price="0.0000001") is None
    assert check(rules, price="123456789.123456789") is None


# ------------------------------------------------------------------------------ LOT_SIZE / MARKET_LOT_SIZE


@pytest.mark.parametrize("quantity", ["0.00001", "0.00002", "9000", "9000.00000000", "150"])
def test_lot_size_passes_at_bounds_and_on_step(btc: SymbolRules, quantity: str) -> None:
    assert check(btc, quantity=quantity) is None  # 150 > MARKET_LOT_SIZE max: irrelevant for LIMIT


@pytest.mark.parametrize(
    ("quantity", "text"),
    [
        ("0.000001", "quantity 0.000001 is below the minimum 0.00001 (LOT_SIZE)"),
        ("0.0000099", "quantity 0.0000099 is below the minimum 0.00001 (LOT_SIZE)"),
        ("9000.00001", "quantity 9000.00001 is above the maximum 9000.00000 (LOT_SIZE)"),
        ("0.000015", "quantity 0.000015 is not a multiple of step size 0.00001: use 0.00001 or 0.00002"),
        ("1.234567", "quantity 1.234567 is not a multiple of step size 0.00001: use 1.23456 or 1.23457"),
        (
            "8999.999999",
            "quantity 8999.999999 is not a multiple of step size 0.00001: use 8999.99999 or 9000.00000",
        ),
    ],
)
def test_lot_size_violations(btc: SymbolRules, quantity: str, text: str) -> None:
    assert check(btc, quantity=quantity) == FilterViolation("LOT_SIZE", "quantity", text)


def test_market_lot_size_max(btc: SymbolRules) -> None:
    assert check(btc, order_type="MARKET", quantity="100") is None
    assert check(btc, order_type="MARKET", quantity="100.00001") == FilterViolation(
        "MARKET_LOT_SIZE", "quantity", "quantity 100.00001 is above the maximum 100.00000 (MARKET_LOT_SIZE)"
    )


def test_market_quantity_also_obeys_lot_size(btc: SymbolRules) -> None:
    # MARKET_LOT_SIZE has minQty and stepSize 0 (disabled), so LOT_SIZE's apply.
    assert check(btc, order_type="MARKET", quantity="0.000015") == FilterViolation(
        "LOT_SIZE",
        "quantity",
        "quantity 0.000015 is not a multiple of step size 0.00001: use 0.00001 or 0.00002",
    )
    assert message(check(btc, order_type="MARKET", quantity="0.000001")) == (
        "quantity 0.000001 is below the minimum 0.00001 (LOT_SIZE)"
    )


def test_market_lot_size_with_its_own_step() -> None:
    rules = variant(BTCUSDT, "MARKET_LOT_SIZE", minQty="0.00010000", stepSize="0.00010000")
    assert check(rules, order_type="MARKET", quantity="0.0001") is None
    assert check(rules, order_type="MARKET", quantity="0.00015") == FilterViolation(
        "MARKET_LOT_SIZE",
        "quantity",
        "quantity 0.00015 is not a multiple of step size 0.0001: use 0.0001 or 0.0002",
    )
    assert message(check(rules, order_type="MARKET", quantity="0.00009")) == (
        "quantity 0.00009 is below the minimum 0.0001 (MARKET_LOT_SIZE)"
    )


def test_zero_disables_each_lot_rule() -> None:
    rules = variant(BTCUSDT, "LOT_SIZE", minQty="0", maxQty="0", stepSize="0")
    assert check(rules, quantity="0.000000001") is None
    assert check(rules, quantity="123456.123456789") is None


# ------------------------------------------------------------------------------------------------ NOTIONAL


@pytest.mark.parametrize(
    ("price", "quantity"), [("50000", "0.0001"), ("100000", "90"), ("65000.00", "0.00008")]
)
def test_notional_passes_at_bounds(btc: SymbolRules, price: str, quantity: str) -> None:
    assert check(btc, price=price, quantity=quantity) is None


def test_notional_below_minimum(btc: SymbolRules) -> None:
    assert check(btc, price="65000.00", quantity="0.00005") == FilterViolation(
        "NOTIONAL",
        "quantity",
        "notional 3.25 USDT (price × quantity) is below the minimum 5.00 USDT: "
        "buy at least 0.00008 at 65000.00",
    )


def test_notional_just_below_minimum(btc: SymbolRules) -> None:
    assert message(check(btc, side="SELL", price="49999.99", quantity="0.0001")) == (
        "notional 4.999999 USDT (price × quantity) is below the minimum 5.00 USDT: "
        "sell at least 0.00011 at 49999.99"
    )


def test_notional_above_maximum(btc: SymbolRules) -> None:
    assert check(btc, price="100000", quantity="90.00001") == FilterViolation(
        "NOTIONAL",
        "quantity",
        "notional 9000001 USDT (price × quantity) is above the maximum 9000000.00 USDT: "
        "buy at most 90.00000 at 100000.00",
    )


def test_market_notional_uses_reference_price(btc: SymbolRules) -> None:
    assert check(btc, order_type="MARKET", quantity="0.00005", reference_price="65000.00") == FilterViolation(
        "NOTIONAL",
        "quantity",
        "notional 3.25 USDT (current price × quantity) is below the minimum 5.00 USDT: "
        "buy at least 0.00008 at the current price 65000.00",
    )
    assert check(btc, order_type="MARKET", quantity="0.00008", reference_price="65000.00") is None


def test_market_without_reference_price_skips_notional(btc: SymbolRules) -> None:
    assert check(btc, order_type="MARKET", quantity="0.00001") is None


def test_market_quote_quantity_is_the_notional(btc: SymbolRules) -> None:
    assert check(btc, order_type="MARKET", quote_quantity="5") is None
    assert check(btc, order_type="MARKET", quote_quantity="4.99") == FilterViolation(
        "NOTIONAL",
        "quote_quantity",
        "notional 4.99 USDT (quote_quantity) is below the minimum 5.00 USDT: "
        "use a quote_quantity of at least 5.00 USDT",
    )


def test_apply_max_to_market_false_skips_the_maximum(btc: SymbolRules) -> None:
    assert check(btc, order_type="MARKET", quote_quantity="9000000.01") is None
    assert check(btc, order_type="MARKET", quantity="100", reference_price="100000") is None


def test_apply_max_to_market_true_checks_the_maximum() -> None:
    rules = variant(BTCUSDT, "NOTIONAL", applyMaxToMarket=True)
    assert check(rules, order_type="MARKET", quote_quantity="9000000") is None
    assert message(check(rules, order_type="MARKET", quote_quantity="9000000.01")) == (
        "notional 9000000.01 USDT (quote_quantity) is above the maximum 9000000.00 USDT: "
        "use a quote_quantity of at most 9000000.00 USDT"
    )


def test_apply_min_to_market_false_skips_the_minimum() -> None:
    rules = variant(BTCUSDT, "NOTIONAL", applyMinToMarket=False)
    assert check(rules, order_type="MARKET", quote_quantity="1") is None
    assert check(rules, order_type="MARKET", quantity="0.00001", reference_price="65000") is None
    assert check(rules, price="65000", quantity="0.00001") is not None  # limit orders are still checked


def test_stop_loss_notional_is_valued_at_the_stop_price(btc: SymbolRules) -> None:
    assert message(
        check(btc, order_type="STOP_LOSS", side="SELL", stop_price="60000.00", quantity="0.00005")
    ) == (
        "notional 3 USDT (stop_price × quantity) is below the minimum 5.00 USDT: "
        "sell at least 0.00009 at 60000.00"
    )


def test_zero_disables_notional_bounds() -> None:
    rules = variant(BTCUSDT, "NOTIONAL", minNotional="0", maxNotional="0")
    assert check(rules, price="0.01", quantity="0.00001") is None
    assert check(rules, price="1000000", quantity="9000") is None


# -------------------------------------------------------------------------------------------- MIN_NOTIONAL


def test_min_notional_at_and_below(bnb: SymbolRules) -> None:
    assert check(bnb, price="0.010000", quantity="0.01") is None
    assert check(bnb, price="0.009999", quantity="0.01") == FilterViolation(
        "MIN_NOTIONAL",
        "quantity",
        "notional 0.00009999 BTC (price × quantity) is below the minimum 0.000100 BTC: "
        "buy at least 0.011 at 0.009999",
    )


def test_min_notional_apply_to_market(bnb: SymbolRules) -> None:
    assert message(check(bnb, order_type="MARKET", quantity="0.01", reference_price="0.009")) == (
        "notional 0.00009 BTC (current price × quantity) is below the minimum 0.000100 BTC: "
        "buy at least 0.012 at the current price 0.009000"
    )
    rules = variant(BNBBTC, "MIN_NOTIONAL", applyToMarket=False)
    assert check(rules, order_type="MARKET", quantity="0.01", reference_price="0.009") is None


def test_min_notional_zero_disables() -> None:
    rules = variant(BNBBTC, "MIN_NOTIONAL", minNotional="0.00000000")
    assert check(rules, price="0.000001", quantity="0.001") is None


# --------------------------------------------------------------------- PERCENT_PRICE_BY_SIDE / PERCENT_PRICE


@pytest.mark.parametrize("price", ["13000.00", "65000", "325000.00"])
def test_percent_price_by_side_passes_at_bounds(btc: SymbolRules, price: str) -> None:
    assert check(btc, price=price, reference_price="65000.00") is None


@pytest.mark.parametrize(
    ("price", "text"),
    [
        (
            "400000",
            "price 400000 is more than 5× the current price 65000.00 for a BUY "
            "(PERCENT_PRICE_BY_SIDE allows 13000.00 to 325000.00)",
        ),
        (
            "325000.01",
            "price 325000.01 is more than 5× the current price 65000.00 for a BUY "
            "(PERCENT_PRICE_BY_SIDE allows 13000.00 to 325000.00)",
        ),
        (
            "12999.99",
            "price 12999.99 is less than 0.2× the current price 65000.00 for a BUY "
            "(PERCENT_PRICE_BY_SIDE allows 13000.00 to 325000.00)",
        ),
    ],
)
def test_percent_price_by_side_violations(btc: SymbolRules, price: str, text: str) -> None:
    assert check(btc, price=price, reference_price="65000") == FilterViolation(
        "PERCENT_PRICE_BY_SIDE", "price", text
    )


def test_percent_price_by_side_uses_the_sides_multipliers() -> None:
    rules = variant(BTCUSDT, "PERCENT_PRICE_BY_SIDE", askMultiplierUp="2", askMultiplierDown="0.5")
    assert check(rules, side="BUY", price="140000", reference_price="65000") is None
    assert message(check(rules, side="SELL", price="140000", reference_price="65000")) == (
        "price 140000 is more than 2× the current price 65000.00 for a SELL "
        "(PERCENT_PRICE_BY_SIDE allows 32500.00 to 130000.00)"
    )
    assert message(check(rules, side="SELL", price="30000", reference_price="65000")) == (
        "price 30000 is less than 0.5× the current price 65000.00 for a SELL "
        "(PERCENT_PRICE_BY_SIDE allows 32500.00 to 130000.00)"
    )


def test_percent_price_band_is_shown_on_the_tick_grid(btc: SymbolRules) -> None:
    # 65000.01 × 0.2 = 13000.002 and × 5 = 325000.05: the lowest valid tick is 13000.01.
    assert message(check(btc, price="13000.00", reference_price="65000.01")) == (
        "price 13000 is less than 0.2× the current price 65000.01 for a BUY "
        "(PERCENT_PRICE_BY_SIDE allows 13000.01 to 325000.05)"
    )


def test_percent_price_skipped_without_reference_or_for_market(btc: SymbolRules) -> None:
    assert check(btc, price="999999") is None
    assert check(btc, order_type="MARKET", quantity="0.001", reference_price="65000") is None


def test_percent_price_zero_multiplier_disables_that_side() -> None:
    rules = variant(BTCUSDT, "PERCENT_PRICE_BY_SIDE", bidMultiplierUp="0")
    assert check(rules, price="999999", reference_price="65000") is None
    assert message(check(rules, price="12999.99", reference_price="65000")) == (
        "price 12999.99 is less than 0.2× the current price 65000.00 for a BUY "
        "(PERCENT_PRICE_BY_SIDE allows 13000.00 and above)"
    )


def test_percent_price(bnb: SymbolRules) -> None:
    assert check(bnb, side="SELL", price="0.050000", reference_price="0.01") is None
    assert check(bnb, side="SELL", price="0.050001", reference_price="0.01") == FilterViolation(
        "PERCENT_PRICE",
        "price",
        "price 0.050001 is more than 5× the current price 0.010000 "
        "(PERCENT_PRICE allows 0.002000 to 0.050000)",
    )
    assert message(check(bnb, price="0.001999", reference_price="0.01")) == (
        "price 0.001999 is less than 0.2× the current price 0.010000 "
        "(PERCENT_PRICE allows 0.002000 to 0.050000)"
    )


# ---------------------------------------------------------------------------------------------------- order


def test_filters_are_checked_in_a_fixed_order(btc: SymbolRules) -> None:
    def first(**fields: str) -> str | None:
        violation = check(btc, **fields)
        return None if violation is None else violation.filter

    bad = {"price": "400000.001", "quantity": "0.000001", "reference_price": "65000"}
    assert first(**bad) == "PRICE_FILTER"
    assert first(**{**bad, "price": "400000"}) == "LOT_SIZE"
    assert first(**{**bad, "price": "400000", "quantity": "0.0001"}) == "PERCENT_PRICE_BY_SIDE"
    assert first(**{**bad, "price": "65000", "quantity": "0.00001"}) == "NOTIONAL"
    assert first(**{**bad, "order_type": "OCO"}) == "ORDER_TYPES"


# ------------------------------------------------------------------------------------------------- properties

ANY_DECIMAL = st.one_of(st.none(), st.decimals(allow_nan=True, allow_infinity=True))


@settings(max_examples=300, deadline=None)
@given(
    side=st.sampled_from(["BUY", "SELL"]),
    order_type=st.sampled_from(["LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "OCO"]),
    quantity=ANY_DECIMAL,
    quote_quantity=ANY_DECIMAL,
    price=ANY_DECIMAL,
    stop_price=ANY_DECIMAL,
    reference_price=ANY_DECIMAL,
    filtered=st.booleans(),
)
def test_never_raises_on_any_decimal(
    side: str,
    order_type: str,
    quantity: Decimal | None,
    quote_quantity: Decimal | None,
    price: Decimal | None,
    stop_price: Decimal | None,
    reference_price: Decimal | None,
    filtered: bool,
) -> None:
    rules = SymbolRules.from_exchange_info(BTCUSDT if filtered else {**BTCUSDT, "filters": []})
    result = check_order(
        rules,
        side=side,
        order_type=order_type,
        quantity=quantity,
        quote_quantity=quote_quantity,
        price=price,
        stop_price=stop_price,
        reference_price=reference_price,
    )
    assert result is None or len(result.message) < 300


def suggestions(violation: FilterViolation | None) -> list[str]:
    assert violation is not None
    return violation.message.split(": use ")[1].split(" or ")


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=4))
def test_tick_suggestions_are_valid_prices(price: Decimal) -> None:
    rules = SymbolRules.from_exchange_info(BTCUSDT)
    violation = check(rules, price=str(price))
    if violation is None:
        assert price % D("0.01") == 0
        return
    for suggestion in suggestions(violation):
        assert check(rules, price=suggestion) is None
        assert abs(D(suggestion) - price) < D("0.01")


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=D("0.00001"), max_value=D("9000"), places=7))
def test_step_suggestions_are_valid_quantities(quantity: Decimal) -> None:
    rules = SymbolRules.from_exchange_info(BTCUSDT)
    violation = check(rules, quantity=str(quantity))
    if violation is None:
        return
    for suggestion in suggestions(violation):
        assert check(rules, quantity=suggestion) is None
        assert abs(D(suggestion) - quantity) < D("0.00001")


@settings(max_examples=200, deadline=None)
@given(
    price=st.decimals(min_value=D("0.01"), max_value=D("1000000"), places=2),
    quantity=st.decimals(min_value=D("0.00001"), max_value=D("0.01"), places=5),
    side=st.sampled_from(["BUY", "SELL"]),
)
def test_min_notional_suggestion_is_enough(price: Decimal, quantity: Decimal, side: str) -> None:
    rules = SymbolRules.from_exchange_info(BTCUSDT)
    violation = check(rules, side=side, price=str(price), quantity=str(quantity))
    if violation is None:
        assert price * quantity >= 5
        return
    assert violation.filter == "NOTIONAL"
    suggested = violation.message.split(" at least ")[1].split(" at ")[0]
    assert check(rules, side=side, price=str(price), quantity=suggested) is None
    assert D(suggested) - D("0.00001") < max(D(5) / price, D("0.00001"))  # the smallest that works
