"""Symbol filter checks (binance-api.md §7) in decimal.Decimal; failures are -1013 "Filter failure: NAME"."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal
from typing import Any

from .data import get_filter
from .errors import filter_failure
from .order_request import NewOrder

LIMIT_PRICED = ("LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
ALGO_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def floor_to_step(qty: Decimal, step: Decimal) -> Decimal:
    """Round a quantity down to a multiple of `step` (unchanged when step is 0)."""
    if step == 0:
        return qty
    return (qty / step).to_integral_value(rounding=ROUND_DOWN) * step


def market_quantity(order: NewOrder, spec: dict[str, Any], ref_price: Decimal) -> Decimal:
    """Base quantity of a MARKET order: `quantity`, or quoteOrderQty / price rounded down to the step."""
    if order.quantity is not None:
        return order.quantity
    assert order.quote_order_qty is not None
    lot = get_filter(spec, "LOT_SIZE")
    step = _d(lot["stepSize"]) if lot else Decimal(0)
    return floor_to_step(order.quote_order_qty / ref_price, step)


def _check_price(name: str, f: dict[str, Any], price: Decimal) -> None:
    low, high, tick = _d(f["minPrice"]), _d(f["maxPrice"]), _d(f["tickSize"])
    if (low and price < low) or (high and price > high) or (tick and price % tick != 0):
        raise filter_failure(name)


def _check_qty(name: str, f: dict[str, Any], qty: Decimal) -> None:
    low, high, step = _d(f["minQty"]), _d(f["maxQty"]), _d(f["stepSize"])
    if (low and qty < low) or (high and qty > high) or (step and qty % step != 0):
        raise filter_failure(name)


def check_filters(
    order: NewOrder,
    spec: dict[str, Any],
    ref_price: Decimal,
    open_orders: int,
    open_algo_orders: int,
    *,
    average_price: Decimal | None = None,
) -> None:
    """Run every relevant filter of the symbol against `order`; `ref_price` is the last price,
    `average_price` the avgPriceMins average that PERCENT_PRICE_BY_SIDE and a MARKET order's
    NOTIONAL are evaluated against (filters.md; the last price when not given)."""
    average = average_price if average_price is not None else ref_price
    is_market = order.type == "MARKET"
    qty = market_quantity(order, spec, ref_price) if is_market else order.quantity
    assert qty is not None

    f = get_filter(spec, "PRICE_FILTER")
    if f:
        for value in (order.price, order.stop_price):
            if value is not None:
                _check_price("PRICE_FILTER", f, value)

    f = get_filter(spec, "PERCENT_PRICE_BY_SIDE")
    if f and order.type in LIMIT_PRICED and order.price is not None:
        up, down = (
            ("bidMultiplierUp", "bidMultiplierDown")
            if order.side == "BUY"
            else ("askMultiplierUp", "askMultiplierDown")
        )
        if not average * _d(f[down]) <= order.price <= average * _d(f[up]):
            raise filter_failure("PERCENT_PRICE_BY_SIDE")

    f = get_filter(spec, "LOT_SIZE")
    if f:
        _check_qty("LOT_SIZE", f, qty)
        if order.iceberg_qty is not None:
            _check_qty("LOT_SIZE", f, order.iceberg_qty)

    f = get_filter(spec, "MARKET_LOT_SIZE")
    if f and is_market:
        _check_qty("MARKET_LOT_SIZE", f, qty)

    f = get_filter(spec, "ICEBERG_PARTS")
    if f and order.iceberg_qty:
        parts = (qty / order.iceberg_qty).to_integral_value(rounding=ROUND_UP)
        if parts > int(f["limit"]):
            raise filter_failure("ICEBERG_PARTS")

    f = get_filter(spec, "NOTIONAL")
    if f:
        _check_notional(order, f, qty, average)

    f = get_filter(spec, "MAX_NUM_ORDERS")
    if f and open_orders >= int(f["maxNumOrders"]):
        raise filter_failure("MAX_NUM_ORDERS")
    f = get_filter(spec, "MAX_NUM_ALGO_ORDERS")
    if f and order.type in ALGO_TYPES and open_algo_orders >= int(f["maxNumAlgoOrders"]):
        raise filter_failure("MAX_NUM_ALGO_ORDERS")


def _check_notional(order: NewOrder, f: dict[str, Any], qty: Decimal, ref_price: Decimal) -> None:
    if order.type in LIMIT_PRICED:
        assert order.price is not None
        notional, apply_min, apply_max = order.price * qty, True, True
    else:  # MARKET, or STOP_LOSS / TAKE_PROFIT which become market orders when triggered
        if order.quote_order_qty is not None:
            notional = order.quote_order_qty
        else:
            notional = (order.stop_price if order.stop_price is not None else ref_price) * qty
        apply_min, apply_max = bool(f["applyMinToMarket"]), bool(f["applyMaxToMarket"])
    low, high = _d(f["minNotional"]), _d(f["maxNotional"])
    if (apply_min and notional < low) or (apply_max and high and notional > high):
        raise filter_failure("NOTIONAL")


def trails_above(side: str, order_type: str) -> bool:
    """STOP_LOSS* BUY and TAKE_PROFIT* SELL trigger above the market (the TRAILING_DELTA "above" bounds)."""
    return order_type.startswith("STOP_LOSS") == (side == "BUY")


def check_trailing_delta(order: NewOrder, spec: dict[str, Any]) -> None:
    """The TRAILING_DELTA filter (filters.md): trailingDelta within the bounds for the order's direction."""
    if order.trailing_delta is None:
        return
    f = get_filter(spec, "TRAILING_DELTA")
    if f is None:
        return
    kind = "Above" if trails_above(order.side, order.type) else "Below"
    if not int(f[f"minTrailing{kind}Delta"]) <= order.trailing_delta <= int(f[f"maxTrailing{kind}Delta"]):
        raise filter_failure("TRAILING_DELTA")
