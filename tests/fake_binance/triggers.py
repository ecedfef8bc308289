"""When a stop order triggers as the price moves: plain stops at their stop price, trailing stops by BIPS.

Plain stops (binance-api.md, rest-api.md "Trigger order price rules"): STOP_LOSS BUY and TAKE_PROFIT
SELL trigger when the price rises to the stop price, STOP_LOSS SELL and TAKE_PROFIT BUY when it falls.

Trailing stops (faqs/trailing-stop-faq.md): with a stop price, tracking starts when the stop price
condition is met; without one, at placement. A SELL then remembers the highest price since and
triggers after a fall of `trailingDelta` BIPS from it; a BUY remembers the lowest and triggers after
a rise of that many BIPS.
"""

from __future__ import annotations

from decimal import Decimal

from .filters import trails_above
from .orders import Order

BIPS = Decimal(10000)


def stop_condition_met(order: Order, price: Decimal) -> bool:
    """The stop price condition: reached from below for "above" stops, from above for the others."""
    if trails_above(order.side, order.type):
        return price >= order.stop_price
    return price <= order.stop_price


def start_tracking(order: Order, price: Decimal, now: int) -> None:
    order.trailing_time = now
    order.trail_extreme = price


def should_trigger(order: Order, price: Decimal, now: int) -> bool:
    """Advance a stop order's state for a new price; True when it triggers now."""
    if order.trailing_delta is None:
        return order.stop_price != 0 and stop_condition_met(order, price)
    if order.trailing_time == -1:
        if order.stop_price != 0 and stop_condition_met(order, price):
            start_tracking(order, price, now)
        return False
    extreme = order.trail_extreme if order.trail_extreme is not None else price
    delta = Decimal(order.trailing_delta) / BIPS
    if order.side == "SELL":
        if price > extreme:
            order.trail_extreme = price
            return False
        return price <= extreme * (1 - delta)
    if price < extreme:
        order.trail_extreme = price
        return False
    return price >= extreme * (1 + delta)
