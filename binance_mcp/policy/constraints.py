"""A rule's `constraints`, checked against one call: pure functions, no I/O, exact decimals.

The guard prices the order (`tools.trading.quote_order`), counts the account's open orders and
then asks `check_constraints` whether every bound the rule sets holds. Bounds are checked in one
fixed order (symbols, sides, order_types, max_quantity, max_notional, max_price_deviation_pct,
max_open_orders) and the first one broken is returned as a `ConstraintViolation`: the policy path
for the refusal's `rule` and one sentence naming the bound, the value and the limit.

Semantics (README *Policies*):

- Every `max_*` bound allows the value up to and including it.
- `max_open_orders` counts the account's open orders before this one (all symbols): with N open
  the order is refused when N >= max_open_orders, so the account never holds more than
  max_open_orders open orders because of this call (0 refuses every order).
- `max_price_deviation_pct` bounds every price an order carries: the limit price and the stop
  price (a trailing stop's activation price too), of every leg of a list, each as
  |price − current price| / current price × 100. An order without a price (MARKET) has nothing
  to bound.
- `max_quantity` bounds the base-asset quantity; a MARKET order given by `quote_quantity` has
  none, so its quantity is estimated as notional / current price.
- A value a set bound needs but the call does not give (an unknown notional, no open-order count,
  no symbol for a `symbols` rule) refuses the call: the guard fails closed.

`needs_approval_above` is `approve_above_notional`: allowed up to and including it, a human's
approval above it, and a notional nobody could compute counts as above.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from binance_mcp.decimals import decimal_text
from binance_mcp.policy.model import Constraints

__all__ = ["CONSTRAINT_ORDER", "ConstraintViolation", "check_constraints", "needs_approval_above"]

CONSTRAINT_ORDER: tuple[str, ...] = (
    "symbols",
    "sides",
    "order_types",
    "max_quantity",
    "max_notional",
    "max_price_deviation_pct",
    "max_open_orders",
)
"""The order in which bounds are checked; the first broken one is reported."""

_HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ConstraintViolation:
    """A broken bound: `rule` is its policy path (`rules.place_order.constraints.max_notional`),
    `reason` one sentence for the agent, `bound` the constraint's name (`max_notional`)."""

    rule: str
    reason: str
    bound: str
    limit: str | None = None
    """The bound as the policy writes it, and what the call came to, in `unit`; `scope` says what
    a count is over (`account` for max_open_orders)."""
    value: str | None = None
    unit: str | None = None
    scope: str | None = None


def check_constraints(
    constraints: Constraints | None,
    path_of: Callable[[str], str],
    *,
    tool: str,
    symbol: str | None,
    side: str | None = None,
    order_type: str | None = None,
    quantity: Decimal | None = None,
    notional: Decimal | None = None,
    quote_asset: str | None = None,
    price: Decimal | None = None,
    reference_price: Decimal | None = None,
    open_orders: int | None = None,
    new_orders: int = 1,
    stop_price: Decimal | None = None,
) -> ConstraintViolation | None:
    """The first bound of `constraints` that this call breaks, or None when all hold.

    `path_of(field)` gives a bound's policy path (pass `Decision.constraint_path`). `quantity` is
    the base-asset quantity (None for a MARKET order by quote_quantity), `notional` the order's
    value in `quote_asset`, `price` the limit price (None for MARKET), `stop_price` the stop or
    trailing activation price (None without one), `reference_price` the current price,
    `open_orders` the account's open orders before this call and `new_orders` the orders it adds
    (an order list's every leg). Every number must be
    a Decimal or an int, never a float (TypeError).
    """
    if constraints is None:
        return None
    quantity, notional, price, reference_price, stop_price = (
        _exact(quantity, "quantity"),
        _exact(notional, "notional"),
        _exact(price, "price"),
        _exact(reference_price, "reference_price"),
        _exact(stop_price, "stop_price"),
    )

    def broken(
        bound: str,
        reason: str,
        *,
        limit: Decimal | int | None = None,
        value: Decimal | int | None = None,
        unit: str | None = None,
        scope: str | None = None,
    ) -> ConstraintViolation:
        return ConstraintViolation(
            rule=path_of(bound),
            reason=reason,
            bound=bound,
            limit=decimal_text(Decimal(limit)) if limit is not None else None,
            value=decimal_text(Decimal(value)) if value is not None else None,
            unit=unit,
            scope=scope,
        )

    if constraints.symbols is not None:
        allowed = _listed(constraints.symbols)
        if symbol is None:
            return broken(
                "symbols", f"{tool} without a symbol is refused: this rule allows only {allowed}; name one"
            )
        if symbol.strip().upper() not in constraints.symbols:
            return broken(
                "symbols", f"symbol {symbol.strip().upper()} is not allowed: this rule allows {allowed}"
            )

    for bound, value, noun in (("sides", side, "side"), ("order_types", order_type, "order type")):
        allowed_values = getattr(constraints, bound)
        if allowed_values is None:
            continue
        if value is None:
            return broken(
                bound, f"{tool} without a {noun} is refused: this rule allows only {_listed(allowed_values)}"
            )
        if value.strip().upper() not in allowed_values:
            return broken(
                bound,
                f"{noun} {value.strip().upper()} is not allowed: this rule allows {_listed(allowed_values)}",
            )

    unit = f" {quote_asset}" if quote_asset else ""

    if constraints.max_quantity is not None:
        limit = constraints.max_quantity
        if quantity is not None:
            if quantity > limit:
                return broken(
                    "max_quantity",
                    f"quantity {decimal_text(quantity)} exceeds max_quantity {decimal_text(limit)}",
                    limit=limit,
                    value=quantity,
                    unit="base asset",
                )
        elif notional is not None and reference_price is not None and reference_price > 0:
            estimate = notional / reference_price
            if estimate > limit:
                return broken(
                    "max_quantity",
                    f"quantity ≈{_shown(estimate, limit)} ({decimal_text(notional)}{unit} at the current price "
                    f"{decimal_text(reference_price)}) exceeds max_quantity {decimal_text(limit)}",
                    limit=limit,
                    value=estimate,
                    unit="base asset",
                )
        else:
            return broken(
                "max_quantity",
                f"the order's quantity is unknown, so max_quantity {decimal_text(limit)} cannot be checked",
            )

    if constraints.max_notional is not None:
        limit = constraints.max_notional
        if notional is None:
            return broken(
                "max_notional",
                f"the order's notional is unknown, so max_notional {decimal_text(limit)}{unit} cannot be checked",
            )
        if notional > limit:
            return broken(
                "max_notional",
                f"notional {decimal_text(notional)}{unit} exceeds max_notional {decimal_text(limit)}{unit}",
                limit=limit,
                value=notional,
                unit=quote_asset,
            )

    prices = [
        (name, given) for name, given in (("price", price), ("stop price", stop_price)) if given is not None
    ]
    if constraints.max_price_deviation_pct is not None and prices:
        limit = constraints.max_price_deviation_pct
        if reference_price is None or reference_price <= 0:
            return broken(
                "max_price_deviation_pct",
                f"the current price is unknown, so max_price_deviation_pct {decimal_text(limit)} cannot be checked",
            )
        for name, given in prices:
            distance = abs(given - reference_price)
            if distance * _HUNDRED > limit * reference_price:  # exact: no division before comparing
                deviation = distance * _HUNDRED / reference_price
                return broken(
                    "max_price_deviation_pct",
                    f"{name} {decimal_text(given)} is {_shown(deviation, limit)}% from the current price "
                    f"{decimal_text(reference_price)}, over max_price_deviation_pct {decimal_text(limit)}",
                    limit=limit,
                    value=deviation,
                    unit="%",
                )

    if constraints.max_open_orders is not None:
        limit_count = constraints.max_open_orders
        if open_orders is None:
            return broken(
                "max_open_orders",
                f"the account's open orders could not be counted, so max_open_orders {limit_count} "
                "cannot be checked",
            )
        if open_orders + new_orders - 1 >= limit_count:
            verb = "order is" if open_orders == 1 else "orders are"
            adds = "" if new_orders == 1 else f" and this order list adds {new_orders}"
            return broken(
                "max_open_orders",
                f"{open_orders} {verb} open on this account (all symbols){adds}, max_open_orders is "
                f"{limit_count}",
                limit=limit_count,
                value=open_orders + new_orders - 1,
                unit="open orders",
                scope="account",
            )

    return None


def needs_approval_above(approve_above_notional: Decimal | None, notional: Decimal | None) -> bool:
    """Whether `approve_above_notional` asks a human about this order: True when the notional is
    above the bound (equal is allowed) or unknown (fail closed: a MARKET order nobody could price).
    No bound: False."""
    bound = _exact(approve_above_notional, "approve_above_notional")
    if bound is None:
        return False
    value = _exact(notional, "notional")
    return value is None or value > bound


# --------------------------------------------------------------------------- helpers


def _exact(value: Any, name: str) -> Decimal | None:
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    raise TypeError(f"{name} must be a Decimal (never a float), got {type(value).__name__}")


def _shown(value: Decimal, limit: Decimal) -> str:
    """`value` rounded to 2 places, or to as many more as it takes to read as over `limit`
    (5.001 against 5 is shown as 5.001, not 5.00)."""
    places = 2
    while True:
        rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
        if rounded > limit or places >= 12:
            return format(rounded, "f")
        places += 1


def _listed(values: Iterable[str]) -> str:
    return ", ".join(values)
