"""Which side of the market a triggered order's price must be on, checked before anything is sent.

Binance (its rest-api.md, "Trigger order price rules"; "New Order list - OCO"): STOP_LOSS(_LIMIT) BUY
and TAKE_PROFIT(_LIMIT) SELL trigger above the market, STOP_LOSS(_LIMIT) SELL and
TAKE_PROFIT(_LIMIT) BUY below it; an order already past its trigger is refused ("Order would
trigger immediately"). In an OCO a LIMIT_MAKER leg stands where a take-profit would.
"""

from __future__ import annotations

from decimal import Decimal

from binance_mcp.decimals import decimal_text


def triggers_above(side: str, order_type: str) -> bool:
    """True when the order's trigger (or an OCO LIMIT_MAKER's price) must be above the market."""
    return order_type.startswith("STOP_LOSS") == (side == "BUY")


def trigger_problem(
    side: str, order_type: str, price: Decimal | None, market: Decimal, name: str
) -> str | None:
    """A sentence when `price` (the stop price, or an OCO LIMIT_MAKER's price) is on the wrong side
    of `market`, else None. `name` is the argument's name, put first as the refusal's field."""
    if price is None:
        return None  # a trailing stop without a stop price starts from the market
    above = triggers_above(side, order_type)
    if (above and price > market) or (not above and price < market):
        return None
    where = "above" if above else "below"
    return (
        f"{name}: a {side} {order_type} triggers {where} the market, so its {_words(name)} must be "
        f"{where} the market price {decimal_text(market)} (got {decimal_text(price)}); nothing was sent"
    )


def _words(name: str) -> str:
    """`stop_price` or `legs[1].stop_price` in words: `stop price`."""
    return name.rsplit(".", 1)[-1].replace("_", " ")
