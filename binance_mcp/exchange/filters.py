"""Checks an order against a symbol's exchangeInfo filters before it is sent.

Binance answers a bad order with a terse `-1013 Filter failure: LOT_SIZE`; an agent cannot act on
that. This module reads the symbol's rules once (`SymbolRules.from_exchange_info`) and, for an
order, returns the first rule it breaks as one plain sentence naming the value, the rule and the
nearest valid values (`check_order`). It is pure and dependency-free: no network, no clock, and no
floats anywhere, only `Decimal`, so "0.1 + 0.2" never decides whether an order is valid.
A filter that the symbol does not declare is not checked, and a filter value of 0 disables that
one rule, as Binance documents.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Context, Decimal, DecimalException, localcontext
from typing import Any

from binance_mcp.decimals import decimal_text

__all__ = [
    "FilterViolation",
    "LotSizeFilter",
    "MinNotionalFilter",
    "NotionalFilter",
    "PercentPriceBySideFilter",
    "PercentPriceFilter",
    "PriceFilter",
    "SymbolRules",
    "TrailingDeltaFilter",
    "check_order",
    "check_trailing_delta",
    "decimal_places",
    "stop_must_be_above",
]

_ZERO = Decimal(0)
_SIDES = ("BUY", "SELL")
# Orders that execute as market orders (the stop ones once triggered): NOTIONAL's apply*ToMarket and
# MIN_NOTIONAL's applyToMarket decide whether their notional is checked.
_MARKET_LIKE = ("MARKET", "STOP_LOSS", "TAKE_PROFIT")
# Order values outside 1E-30..1E+30 are refused up front (far beyond any real symbol), so with 80 digits
# price × quantity, value / step and value % step are exact and can never overflow.
_CONTEXT = Context(prec=80)
_TINY = Decimal("1E-30")
_HUGE = Decimal("1E+30")


# --------------------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class PriceFilter:
    """PRICE_FILTER: applies to `price` and `stop_price`."""

    min_price: Decimal
    max_price: Decimal
    tick_size: Decimal


@dataclass(frozen=True)
class LotSizeFilter:
    """LOT_SIZE (all orders) or MARKET_LOT_SIZE (MARKET orders): applies to `quantity`."""

    min_qty: Decimal
    max_qty: Decimal
    step_size: Decimal


@dataclass(frozen=True)
class NotionalFilter:
    """NOTIONAL: minimum and maximum of price × quantity."""

    min_notional: Decimal
    max_notional: Decimal
    apply_min_to_market: bool
    apply_max_to_market: bool
    avg_price_mins: int


@dataclass(frozen=True)
class MinNotionalFilter:
    """MIN_NOTIONAL, the older form of NOTIONAL still found on some symbols."""

    min_notional: Decimal
    apply_to_market: bool
    avg_price_mins: int


@dataclass(frozen=True)
class PercentPriceBySideFilter:
    """PERCENT_PRICE_BY_SIDE: a BUY's price within the bid band, a SELL's within the ask band."""

    bid_multiplier_up: Decimal
    bid_multiplier_down: Decimal
    ask_multiplier_up: Decimal
    ask_multiplier_down: Decimal
    avg_price_mins: int


@dataclass(frozen=True)
class PercentPriceFilter:
    """PERCENT_PRICE: price within [reference × down, reference × up] whatever the side."""

    multiplier_up: Decimal
    multiplier_down: Decimal
    avg_price_mins: int


@dataclass(frozen=True)
class TrailingDeltaFilter:
    """TRAILING_DELTA: the trailing delta (BIPS) an order may have, by the direction it trails.

    "Above" bounds apply to STOP_LOSS* BUY and TAKE_PROFIT* SELL (triggered as the price rises),
    "below" bounds to STOP_LOSS* SELL and TAKE_PROFIT* BUY."""

    min_above: int
    max_above: int
    min_below: int
    max_below: int


@dataclass(frozen=True)
class SymbolRules:
    """What Binance will accept for one symbol, parsed from its exchangeInfo entry."""

    symbol: str
    status: str
    base_asset: str
    quote_asset: str
    order_types: tuple[str, ...]
    quote_order_qty_market_allowed: bool
    base_asset_precision: int
    quote_asset_precision: int
    price_filter: PriceFilter | None = None
    lot_size: LotSizeFilter | None = None
    market_lot_size: LotSizeFilter | None = None
    notional: NotionalFilter | None = None
    min_notional: MinNotionalFilter | None = None
    percent_price_by_side: PercentPriceBySideFilter | None = None
    percent_price: PercentPriceFilter | None = None
    trailing_delta: TrailingDeltaFilter | None = None
    max_num_orders: int | None = None
    max_num_algo_orders: int | None = None
    max_num_order_lists: int | None = None
    max_num_order_amends: int | None = None

    @classmethod
    def from_exchange_info(cls, symbol_info: Mapping[str, Any]) -> SymbolRules:
        """Parse one entry of exchangeInfo's `symbols` array. Unknown filters are ignored."""
        try:
            symbol = str(symbol_info["symbol"])
            status = str(symbol_info["status"])
            base_asset = str(symbol_info["baseAsset"])
            quote_asset = str(symbol_info["quoteAsset"])
            order_types = tuple(str(t) for t in symbol_info["orderTypes"])
        except KeyError as missing:
            raise ValueError(f"exchangeInfo symbol entry has no {missing.args[0]!r}") from None
        by_type: dict[str, Mapping[str, Any]] = {}
        for entry in symbol_info.get("filters", ()):
            by_type.setdefault(str(entry.get("filterType")), entry)

        def number(filter_type: str, key: str) -> Decimal:
            raw = by_type[filter_type].get(key, "0")
            try:
                value = Decimal(str(raw))
            except DecimalException:
                raise ValueError(f"{symbol} {filter_type}.{key} is not a number: {raw!r}") from None
            if not value.is_finite():
                raise ValueError(f"{symbol} {filter_type}.{key} is not a number: {raw!r}")
            return value

        def flag(filter_type: str, key: str) -> bool:
            return by_type[filter_type].get(key) is True

        def minutes(filter_type: str) -> int:
            return int(by_type[filter_type].get("avgPriceMins", 0))

        def count(filter_type: str, key: str) -> int | None:
            return int(number(filter_type, key)) if filter_type in by_type else None

        def lot(filter_type: str) -> LotSizeFilter | None:
            if filter_type not in by_type:
                return None
            return LotSizeFilter(
                number(filter_type, "minQty"), number(filter_type, "maxQty"), number(filter_type, "stepSize")
            )

        price_filter = None
        if "PRICE_FILTER" in by_type:
            price_filter = PriceFilter(
                number("PRICE_FILTER", "minPrice"),
                number("PRICE_FILTER", "maxPrice"),
                number("PRICE_FILTER", "tickSize"),
            )
        notional = None
        if "NOTIONAL" in by_type:
            notional = NotionalFilter(
                number("NOTIONAL", "minNotional"),
                number("NOTIONAL", "maxNotional"),
                flag("NOTIONAL", "applyMinToMarket"),
                flag("NOTIONAL", "applyMaxToMarket"),
                minutes("NOTIONAL"),
            )
        min_notional = None
        if "MIN_NOTIONAL" in by_type:
            min_notional = MinNotionalFilter(
                number("MIN_NOTIONAL", "minNotional"),
                flag("MIN_NOTIONAL", "applyToMarket"),
                minutes("MIN_NOTIONAL"),
            )
        by_side = None
        if "PERCENT_PRICE_BY_SIDE" in by_type:
            by_side = PercentPriceBySideFilter(
                number("PERCENT_PRICE_BY_SIDE", "bidMultiplierUp"),
                number("PERCENT_PRICE_BY_SIDE", "bidMultiplierDown"),
                number("PERCENT_PRICE_BY_SIDE", "askMultiplierUp"),
                number("PERCENT_PRICE_BY_SIDE", "askMultiplierDown"),
                minutes("PERCENT_PRICE_BY_SIDE"),
            )
        percent = None
        if "PERCENT_PRICE" in by_type:
            percent = PercentPriceFilter(
                number("PERCENT_PRICE", "multiplierUp"),
                number("PERCENT_PRICE", "multiplierDown"),
                minutes("PERCENT_PRICE"),
            )
        trailing = None
        if "TRAILING_DELTA" in by_type:
            trailing = TrailingDeltaFilter(
                *(
                    int(number("TRAILING_DELTA", key))
                    for key in (
                        "minTrailingAboveDelta",
                        "maxTrailingAboveDelta",
                        "minTrailingBelowDelta",
                        "maxTrailingBelowDelta",
                    )
                )
            )
        return cls(
            symbol=symbol,
            status=status,
            base_asset=base_asset,
            quote_asset=quote_asset,
            order_types=order_types,
            quote_order_qty_market_allowed=symbol_info.get("quoteOrderQtyMarketAllowed") is True,
            base_asset_precision=int(symbol_info.get("baseAssetPrecision", 8)),
            quote_asset_precision=int(
                symbol_info.get("quoteAssetPrecision", symbol_info.get("quotePrecision", 8))
            ),
            price_filter=price_filter,
            lot_size=lot("LOT_SIZE"),
            market_lot_size=lot("MARKET_LOT_SIZE"),
            notional=notional,
            min_notional=min_notional,
            percent_price_by_side=by_side,
            percent_price=percent,
            trailing_delta=trailing,
            max_num_orders=count("MAX_NUM_ORDERS", "maxNumOrders"),
            max_num_algo_orders=count("MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders"),
            max_num_order_lists=count("MAX_NUM_ORDER_LISTS", "maxNumOrderLists"),
            max_num_order_amends=count("MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends"),
        )


@dataclass(frozen=True)
class FilterViolation:
    """The first rule an order breaks: which filter, which order field, and a sentence for the agent."""

    filter: str
    field: str
    message: str


# ---------------------------------------------------------------------------------------- formatting


def decimal_places(step: Decimal) -> int:
    """Decimals a step or tick really has: 0.01000000 → 2, 1.00000000 → 0, 0 → 0."""
    text = decimal_text(step)
    return len(text.partition(".")[2])


def _fixed(value: Decimal, places: int) -> str:
    """A rule's value at the rule's precision, but never hiding a digit the value really has."""
    return format(value, f".{max(places, decimal_places(value))}f")


# ----------------------------------------------------------------------------------------- grid maths


def _floor_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_FLOOR) * step


def _ceil_to(value: Decimal, step: Decimal) -> Decimal:
    return (value / step).to_integral_value(rounding=ROUND_CEILING) * step


def _within(value: Decimal, low: Decimal, high: Decimal) -> bool:
    return value > 0 and (low == 0 or value >= low) and (high == 0 or value <= high)


# ---------------------------------------------------------------------------------------------- checks


def check_order(
    rules: SymbolRules,
    *,
    side: str,
    order_type: str,
    quantity: Decimal | None,
    quote_quantity: Decimal | None,
    price: Decimal | None,
    stop_price: Decimal | None,
    reference_price: Decimal | None,
    average_price: Decimal | None = None,
    average_basis: str = "current price",
) -> FilterViolation | None:
    """Return the first filter the order breaks, or None if every known filter passes.

    `reference_price` is the last price (a stop's trigger direction, a quote amount's implied
    quantity); `average_price` what PERCENT_PRICE(_BY_SIDE) and a MARKET order's NOTIONAL /
    MIN_NOTIONAL are evaluated against (filters.md: the symbol's reference price, else the average
    over `avgPriceMins` minutes, else the last price: `filter_price`), the last price when not
    given; `average_basis` names it in messages ("5-minute average price"). Without a price the checks that need one are skipped, not guessed. Missing order fields
    are not this function's business: what is absent is simply not checked.
    """
    side = side.upper()
    order_type = order_type.upper()
    if side not in _SIDES:
        raise ValueError(f"side must be BUY or SELL, not {side!r}")
    values = {
        "price": price,
        "stop_price": stop_price,
        "quantity": quantity,
        "quote_quantity": quote_quantity,
        "reference_price": reference_price,
    }
    for name, value in values.items():
        if value is not None and not isinstance(value, Decimal):
            raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    if reference_price is not None and not _plausible(reference_price):
        reference_price = None  # an unusable reference is the same as none
    if average_price is None or not _plausible(average_price):
        average_price = reference_price

    with localcontext(_CONTEXT):
        return _first(
            _check_status(rules),
            _check_order_type(rules, order_type),
            _check_quote_quantity(rules, order_type, quote_quantity),
            _check_positive(values),
            _check_quote_precision(rules, quote_quantity),
            _check_price_filter(rules, "price", price),
            _check_price_filter(rules, "stop_price", stop_price),
            _check_trigger(rules, side, order_type, stop_price, reference_price),
            _check_lot_sizes(rules, order_type, quantity),
            _check_quote_quantity_size(rules, quote_quantity, reference_price),
            _check_notionals(
                rules,
                side,
                order_type,
                quantity,
                quote_quantity,
                price,
                stop_price,
                average_price,
                average_basis,
            ),
            _check_percent_prices(rules, side, order_type, price, average_price, average_basis),
        )


def _first(*checks: Iterable[FilterViolation]) -> FilterViolation | None:
    """Run the checks lazily, in order, and stop at the first violation."""
    for check in checks:
        for violation in check:
            return violation
    return None


def _check_status(rules: SymbolRules) -> Iterable[FilterViolation]:
    if rules.status != "TRADING":
        yield FilterViolation(
            "SYMBOL_STATUS",
            "symbol",
            f"symbol {rules.symbol} has status {rules.status}, not TRADING: "
            "Binance accepts no new orders on it until trading resumes",
        )


def _check_order_type(rules: SymbolRules, order_type: str) -> Iterable[FilterViolation]:
    if order_type not in rules.order_types:
        yield FilterViolation(
            "ORDER_TYPES",
            "type",
            f"order type {order_type} is not allowed on {rules.symbol}: "
            f"use one of {', '.join(rules.order_types)}",
        )


def _check_quote_quantity(
    rules: SymbolRules, order_type: str, quote_quantity: Decimal | None
) -> Iterable[FilterViolation]:
    if quote_quantity is None:
        return
    shown = decimal_text(quote_quantity)
    if order_type != "MARKET":
        yield FilterViolation(
            "QUOTE_ORDER_QTY",
            "quote_quantity",
            f"quote_quantity {shown} is only accepted for MARKET orders, not {order_type}: "
            "give quantity instead",
        )
    elif not rules.quote_order_qty_market_allowed:
        yield FilterViolation(
            "QUOTE_ORDER_QTY",
            "quote_quantity",
            f"quote_quantity {shown} is not allowed on {rules.symbol} (quoteOrderQtyMarketAllowed is false): "
            "give quantity instead",
        )


def _check_quote_precision(rules: SymbolRules, quote_quantity: Decimal | None) -> Iterable[FilterViolation]:
    """quoteOrderQty is an amount of the quote asset: no more decimals than quoteAssetPrecision (-1111)."""
    if quote_quantity is None or not _plausible(quote_quantity):
        return
    places = rules.quote_asset_precision
    if decimal_places(quote_quantity) > places:
        unit = Decimal(1).scaleb(-places)
        floored = _floor_to(quote_quantity, unit)
        fix = f": use {_fixed(floored, places)}" if floored > 0 else f": use at least {_fixed(unit, places)}"
        yield FilterViolation(
            "QUOTE_PRECISION",
            "quote_quantity",
            f"quote_quantity {decimal_text(quote_quantity)} has more decimals than {rules.quote_asset} takes on "
            f"{rules.symbol}: at most {places} (quoteAssetPrecision){fix}",
        )


def _check_quote_quantity_size(
    rules: SymbolRules, quote_quantity: Decimal | None, reference: Decimal | None
) -> Iterable[FilterViolation]:
    """A MARKET order by quote_quantity buys or sells about quote_quantity / price of the base asset:
    that amount must not exceed the symbol's maximum quantity (MARKET_LOT_SIZE, else LOT_SIZE)."""
    if quote_quantity is None or reference is None:
        return
    for name, rule in (("MARKET_LOT_SIZE", rules.market_lot_size), ("LOT_SIZE", rules.lot_size)):
        if rule is None or not rule.max_qty:
            continue
        implied = quote_quantity / reference
        if implied > rule.max_qty:
            price_places = decimal_places(rules.price_filter.tick_size) if rules.price_filter else 0
            most = _floor_to(rule.max_qty * reference, Decimal(1).scaleb(-rules.quote_asset_precision))
            yield FilterViolation(
                name,
                "quote_quantity",
                f"quote_quantity {decimal_text(quote_quantity)} {rules.quote_asset} is about "
                f"{decimal_text(implied.quantize(Decimal(1).scaleb(-8)))} {rules.base_asset} at the current price "
                f"{_fixed(reference, price_places)}, above the maximum {decimal_text(rule.max_qty)} ({name}): "
                f"use a quote_quantity of at most {decimal_text(most)} {rules.quote_asset}",
            )
            return


# STOP_LOSS BUY and TAKE_PROFIT SELL trigger as the price rises to the stop, so their stop must be above
# the last price; STOP_LOSS SELL and TAKE_PROFIT BUY trigger as it falls, so below (Binance's rest-api.md,
# "Trigger order price rules against market price"). Otherwise: -2010 "Order would trigger immediately."
_TRIGGERED_TYPES = ("STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")


def stop_must_be_above(side: str, order_type: str) -> bool:
    """True when the order's stop price must lie above the last price, False when below."""
    return order_type.startswith("STOP_LOSS") == (side == "BUY")


def _check_trigger(
    rules: SymbolRules, side: str, order_type: str, stop_price: Decimal | None, reference: Decimal | None
) -> Iterable[FilterViolation]:
    if order_type not in _TRIGGERED_TYPES or stop_price is None or reference is None:
        return
    above = stop_must_be_above(side, order_type)
    if (stop_price > reference) if above else (stop_price < reference):
        return
    tick = rules.price_filter.tick_size if rules.price_filter else _ZERO
    places = decimal_places(tick)
    if tick:
        nearest = _floor_to(reference, tick) + tick if above else _ceil_to(reference, tick) - tick
    else:
        nearest = None
    moves = "rises" if above else "falls"
    where = "above" if above else "below"
    fix = f"a stop_price {where} {_fixed(reference, places)}"
    if nearest is not None and nearest > 0:
        fix += f" (e.g. {_fixed(nearest, places)})"
    yield FilterViolation(
        "TRIGGER_DIRECTION",
        "stop_price",
        f"stop_price {decimal_text(stop_price)} would trigger at once: a {side} {order_type} triggers when the "
        f"price {moves} to its stop, and the last price is {_fixed(reference, places)}: use {fix}",
    )


def check_trailing_delta(
    rules: SymbolRules, *, side: str, order_type: str, trailing_delta: int | None
) -> FilterViolation | None:
    """A trailing stop's delta (BIPS) within the symbol's TRAILING_DELTA bounds for its direction,
    or the violation naming them (Binance: -1013 "Filter failure: TRAILING_DELTA")."""
    rule = rules.trailing_delta
    if rule is None or trailing_delta is None or order_type.upper() not in _TRIGGERED_TYPES:
        return None
    above = stop_must_be_above(side.upper(), order_type.upper())
    low, high = (rule.min_above, rule.max_above) if above else (rule.min_below, rule.max_below)
    if (not low or trailing_delta >= low) and (not high or trailing_delta <= high):
        return None
    moves = "rises" if above else "falls"
    return FilterViolation(
        "TRAILING_DELTA",
        "trailing_delta",
        f"trailing_delta {trailing_delta} is outside {low} to {high} BIPS, what {rules.symbol} allows for a "
        f"{side.upper()} {order_type.upper()} (it trails as the price {moves}; TRAILING_DELTA): use a "
        f"trailing_delta from {low} to {high}",
    )


def _check_positive(values: Mapping[str, Decimal | None]) -> Iterable[FilterViolation]:
    for name, value in values.items():
        if name == "reference_price" or value is None:
            continue
        if not value.is_finite() or value <= 0:
            yield FilterViolation(
                "INVALID_VALUE", name, f"{name} {decimal_text(value)} is not a positive number"
            )
        elif not _plausible(value):
            yield FilterViolation(
                "INVALID_VALUE",
                name,
                f"{name} {value} is out of range: it must lie between 1E-30 and 1E+30",
            )


def _plausible(value: Decimal) -> bool:
    return value.is_finite() and _TINY <= value <= _HUGE


def _check_price_filter(rules: SymbolRules, field: str, value: Decimal | None) -> Iterable[FilterViolation]:
    rule = rules.price_filter
    if rule is None or value is None:
        return
    places = decimal_places(rule.tick_size)
    shown = decimal_text(value)
    if rule.min_price and value < rule.min_price:
        yield FilterViolation(
            "PRICE_FILTER",
            field,
            f"{field} {shown} is below the minimum {_fixed(rule.min_price, places)} (PRICE_FILTER)",
        )
    elif rule.max_price and value > rule.max_price:
        yield FilterViolation(
            "PRICE_FILTER",
            field,
            f"{field} {shown} is above the maximum {_fixed(rule.max_price, places)} (PRICE_FILTER)",
        )
    elif rule.tick_size and value % rule.tick_size:
        options = _neighbours(value, rule.tick_size, rule.min_price, rule.max_price)
        yield FilterViolation(
            "PRICE_FILTER",
            field,
            f"{field} {shown} is not a multiple of tick size {_fixed(rule.tick_size, places)}{options}",
        )


def _check_lot_sizes(
    rules: SymbolRules, order_type: str, quantity: Decimal | None
) -> Iterable[FilterViolation]:
    if quantity is None:
        return
    if order_type == "MARKET":
        # MARKET_LOT_SIZE often has step 0 (disabled): its numbers are shown at LOT_SIZE's precision.
        places = decimal_places(_market_step(rules))
        yield from _check_lot(rules.market_lot_size, "MARKET_LOT_SIZE", quantity, places)
    places = decimal_places(rules.lot_size.step_size) if rules.lot_size else 0
    yield from _check_lot(rules.lot_size, "LOT_SIZE", quantity, places)


def _check_lot(
    rule: LotSizeFilter | None, name: str, quantity: Decimal, places: int
) -> Iterable[FilterViolation]:
    if rule is None:
        return
    shown = decimal_text(quantity)
    if rule.min_qty and quantity < rule.min_qty:
        yield FilterViolation(
            name, "quantity", f"quantity {shown} is below the minimum {_fixed(rule.min_qty, places)} ({name})"
        )
    elif rule.max_qty and quantity > rule.max_qty:
        yield FilterViolation(
            name, "quantity", f"quantity {shown} is above the maximum {_fixed(rule.max_qty, places)} ({name})"
        )
    elif rule.step_size and quantity % rule.step_size:
        options = _neighbours(quantity, rule.step_size, rule.min_qty, rule.max_qty)
        yield FilterViolation(
            name,
            "quantity",
            f"quantity {shown} is not a multiple of step size {_fixed(rule.step_size, places)}{options}",
        )


def _neighbours(value: Decimal, step: Decimal, low: Decimal, high: Decimal) -> str:
    """': use A or B' with the grid values either side of `value` that the bounds allow."""
    places = decimal_places(step)
    below = _floor_to(value, step)
    candidates = [c for c in (below, below + step) if _within(c, low, high)]
    if not candidates:
        return ""
    return ": use " + " or ".join(_fixed(c, places) for c in candidates)


def _market_step(rules: SymbolRules) -> Decimal:
    """The quantity grid of a MARKET order: MARKET_LOT_SIZE's step if set, else LOT_SIZE's."""
    if rules.market_lot_size and rules.market_lot_size.step_size:
        return rules.market_lot_size.step_size
    return rules.lot_size.step_size if rules.lot_size else _ZERO


def _quantity_grid(rules: SymbolRules, order_type: str) -> tuple[Decimal, Decimal]:
    """(step, minimum) a suggested quantity must respect; the step falls back to the base precision."""
    step = _market_step(rules) if order_type == "MARKET" else _ZERO
    if not step and rules.lot_size:
        step = rules.lot_size.step_size
    if not step:
        step = Decimal(1).scaleb(-rules.base_asset_precision)
    minimum = rules.lot_size.min_qty if rules.lot_size else _ZERO
    if order_type == "MARKET" and rules.market_lot_size:
        minimum = max(minimum, rules.market_lot_size.min_qty)
    return step, minimum


@dataclass(frozen=True)
class _Notional:
    """An order's notional and how it was worked out, for the message."""

    value: Decimal
    basis: str  # "price × quantity", "current price × quantity", "stop_price × quantity", "quote_quantity"
    field: str
    unit_price: Decimal | None  # the price the notional was computed at; None for quote_quantity


def _notional_of(
    order_type: str,
    quantity: Decimal | None,
    quote_quantity: Decimal | None,
    price: Decimal | None,
    stop_price: Decimal | None,
    reference_price: Decimal | None,
    basis: str = "current price",
) -> _Notional | None:
    if order_type == "MARKET":
        if quote_quantity is not None:
            return _Notional(quote_quantity, "quote_quantity", "quote_quantity", None)
        if quantity is not None and reference_price is not None:
            return _Notional(reference_price * quantity, f"{basis} × quantity", "quantity", reference_price)
        return None
    if quantity is None:
        return None
    if order_type in _MARKET_LIKE:  # STOP_LOSS / TAKE_PROFIT: no limit price, valued at the stop
        if stop_price is None:
            return None
        return _Notional(stop_price * quantity, "stop_price × quantity", "quantity", stop_price)
    if price is None:
        return None
    return _Notional(price * quantity, "price × quantity", "quantity", price)


def _check_notionals(
    rules: SymbolRules,
    side: str,
    order_type: str,
    quantity: Decimal | None,
    quote_quantity: Decimal | None,
    price: Decimal | None,
    stop_price: Decimal | None,
    reference_price: Decimal | None,
    basis: str = "current price",
) -> Iterable[FilterViolation]:
    notional = _notional_of(order_type, quantity, quote_quantity, price, stop_price, reference_price, basis)
    if notional is None:
        return
    market = order_type in _MARKET_LIKE
    if rules.notional:
        rule = rules.notional
        if not market or rule.apply_min_to_market:
            yield from _check_min_notional(rules, "NOTIONAL", rule.min_notional, notional, side, order_type)
        if (
            rule.max_notional
            and (not market or rule.apply_max_to_market)
            and notional.value > rule.max_notional
        ):
            yield _notional_violation(
                rules, "NOTIONAL", "maximum", rule.max_notional, notional, side, order_type
            )
    if rules.min_notional and (not market or rules.min_notional.apply_to_market):
        yield from _check_min_notional(
            rules, "MIN_NOTIONAL", rules.min_notional.min_notional, notional, side, order_type
        )


def _check_min_notional(
    rules: SymbolRules, name: str, minimum: Decimal, notional: _Notional, side: str, order_type: str
) -> Iterable[FilterViolation]:
    if minimum and notional.value < minimum:
        yield _notional_violation(rules, name, "minimum", minimum, notional, side, order_type)


def _notional_violation(
    rules: SymbolRules,
    name: str,
    bound: str,
    limit: Decimal,
    notional: _Notional,
    side: str,
    order_type: str,
) -> FilterViolation:
    price_places = decimal_places(rules.price_filter.tick_size) if rules.price_filter else 0
    quote = rules.quote_asset
    limit_shown = _fixed(limit, price_places)
    direction = "below" if bound == "minimum" else "above"
    at_least = "at least" if bound == "minimum" else "at most"
    head = (
        f"notional {decimal_text(notional.value)} {quote} ({notional.basis}) "
        f"is {direction} the {bound} {limit_shown} {quote}"
    )
    if notional.unit_price is None:
        advice = f"use a quote_quantity of {at_least} {limit_shown} {quote}"
    else:
        step, min_qty = _quantity_grid(rules, order_type)
        exact = limit / notional.unit_price
        suggested = max(_ceil_to(exact, step), min_qty) if bound == "minimum" else _floor_to(exact, step)
        at = f"at the {notional.basis.removesuffix(' × quantity')} " if order_type == "MARKET" else "at "
        advice = (
            f"{side.lower()} {at_least} {_fixed(suggested, decimal_places(step))} "
            f"{at}{_fixed(notional.unit_price, price_places)}"
        )
    return FilterViolation(name, notional.field, f"{head}: {advice}")


def _check_percent_prices(
    rules: SymbolRules,
    side: str,
    order_type: str,
    price: Decimal | None,
    reference: Decimal | None,
    basis: str = "current price",
) -> Iterable[FilterViolation]:
    if order_type == "MARKET" or price is None or reference is None:
        return
    if rules.percent_price_by_side:
        rule = rules.percent_price_by_side
        if side == "BUY":
            up, down = rule.bid_multiplier_up, rule.bid_multiplier_down
        else:
            up, down = rule.ask_multiplier_up, rule.ask_multiplier_down
        yield from _check_band(
            rules, "PERCENT_PRICE_BY_SIDE", f" for a {side}", up, down, price, reference, basis
        )
    if rules.percent_price:
        rule_pp = rules.percent_price
        yield from _check_band(
            rules,
            "PERCENT_PRICE",
            "",
            rule_pp.multiplier_up,
            rule_pp.multiplier_down,
            price,
            reference,
            basis,
        )


def _check_band(
    rules: SymbolRules,
    name: str,
    for_side: str,
    up: Decimal,
    down: Decimal,
    price: Decimal,
    reference: Decimal,
    basis: str = "current price",
) -> Iterable[FilterViolation]:
    high = reference * up
    low = reference * down
    if up and price > high:
        comparison = f"more than {decimal_text(up)}×"
    elif down and price < low:
        comparison = f"less than {decimal_text(down)}×"
    else:
        return
    tick = rules.price_filter.tick_size if rules.price_filter else _ZERO
    places = decimal_places(tick)
    # The band as prices one can actually send: rounded inwards onto the tick grid.
    low_shown = _fixed(_ceil_to(low, tick) if tick else low, places)
    high_shown = _fixed(_floor_to(high, tick) if tick else high, places)
    if up and down:
        allowed = f"{low_shown} to {high_shown}"
    elif up:
        allowed = f"up to {high_shown}"
    else:
        allowed = f"{low_shown} and above"
    yield FilterViolation(
        name,
        "price",
        f"price {decimal_text(price)} is {comparison} the {basis} {_fixed(reference, places)}{for_side} "
        f"({name} allows {allowed})",
    )


ALGO_TYPES = frozenset(_TRIGGERED_TYPES)
"""The "algo" orders MAX_NUM_ALGO_ORDERS counts (filters.md)."""


def check_open_counts(
    rules: SymbolRules,
    *,
    open_orders: Sequence[Mapping[str, Any]],
    open_lists: int | None,
    new_types: Sequence[str],
    new_list: bool,
) -> FilterViolation | None:
    """The order-count filters for new orders of `new_types` (a list's every leg; `new_list` when
    they form an order list) given the symbol's `open_orders` (Binance's openOrders entries) and
    `open_lists` open order lists on it (None: not known, not checked): MAX_NUM_ORDERS,
    MAX_NUM_ALGO_ORDERS, MAX_NUM_ORDER_LISTS, as Binance refuses them with -1013."""
    symbol = rules.symbol
    open_algo = sum(1 for order in open_orders if str(order.get("type")) in ALGO_TYPES)
    new_algo = sum(1 for kind in new_types if kind in ALGO_TYPES)
    checks = (
        ("MAX_NUM_ORDERS", rules.max_num_orders, len(open_orders), len(new_types), "orders", "get_open_orders"),
        ("MAX_NUM_ALGO_ORDERS", rules.max_num_algo_orders, open_algo, new_algo,
         "stop-loss/take-profit orders", "get_open_orders"),
        ("MAX_NUM_ORDER_LISTS", rules.max_num_order_lists, open_lists, 1 if new_list else 0,
         "order lists", "get_order_lists"),
    )  # fmt: skip
    for name, most, now, adding, what, tool in checks:
        if most is None or now is None or not adding or now + adding <= most:
            continue
        legs = f"this call adds {adding}" if adding > 1 else "this call adds 1"
        return FilterViolation(
            name,
            "symbol",
            f"{now} {what} are open on {symbol} and {legs}; {symbol} allows at most {most} ({name}): "
            f"cancel {now + adding - most} first ({tool} lists them)",
        )
    return None


def average_price_minutes(rules: SymbolRules) -> int:
    """The `avgPriceMins` of the symbol's price-band and notional filters (Binance gives them one
    window; the largest when they differ): 0 when the last price is what they use."""
    windows = [
        rule.avg_price_mins
        for rule in (rules.percent_price_by_side, rules.percent_price, rules.notional, rules.min_notional)
        if rule is not None
    ]
    return max(windows, default=0)


def filter_price(
    rules: SymbolRules, *, last: Decimal, reference: Decimal | None, average: Decimal | None
) -> tuple[Decimal, str]:
    """The price PERCENT_PRICE(_BY_SIDE) and a MARKET order's NOTIONAL are evaluated against, and
    its name (filters.md): the symbol's reference price when it has one; else the volume-weighted
    average over the preceding `avgPriceMins` minutes (GET /api/v3/avgPrice); else (0 minutes) the
    last price."""
    if reference is not None and _plausible(reference):
        return reference, "reference price"
    minutes = average_price_minutes(rules)
    if minutes and average is not None and _plausible(average):
        return average, f"{minutes}-minute average price"
    return last, "last price"


def price_band(rules: SymbolRules, side: str, reference: Decimal) -> tuple[Decimal, Decimal] | None:
    """The lowest and highest limit price the exchange accepts now for `side`, on the tick grid:
    PRICE_FILTER's bounds and the percent-price bands around `reference`, intersected."""
    low, high = _ZERO, None
    if rules.price_filter:
        low = rules.price_filter.min_price
        high = rules.price_filter.max_price or None
    bands = []
    if rules.percent_price_by_side:
        rule = rules.percent_price_by_side
        bands.append(
            (rule.bid_multiplier_down, rule.bid_multiplier_up)
            if side == "BUY"
            else (rule.ask_multiplier_down, rule.ask_multiplier_up)
        )
    if rules.percent_price:
        bands.append((rules.percent_price.multiplier_down, rules.percent_price.multiplier_up))
    for down, up in bands:
        if down:
            low = max(low, reference * down)
        if up:
            high = reference * up if high is None else min(high, reference * up)
    if high is None:
        return None
    tick = rules.price_filter.tick_size if rules.price_filter else _ZERO
    if tick:
        low, high = _ceil_to(low, tick), _floor_to(high, tick)
    return low.normalize(), high.normalize()
