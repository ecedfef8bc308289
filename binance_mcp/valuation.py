"""What an order is worth to the policy: the most it can cost or bring, in the quote asset.

`max_notional`, `approve_above_notional`, the daily budget and the question a human is asked all
read this one number, so it must never be less than what the order can trade. One leg:

| leg | valued at |
| --- | --- |
| `quote_quantity` (MARKET) | that amount |
| BUY LIMIT, LIMIT_MAKER | quantity × limit price (a buy never pays more) |
| SELL LIMIT, LIMIT_MAKER | quantity × the higher of limit price and market (a marketable sell fills at the market) |
| MARKET, BUY or SELL | quantity × market |
| BUY STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT | quantity × limit price |
| SELL STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT | quantity × the highest of limit price, stop price and market |
| STOP_LOSS, TAKE_PROFIT (market on trigger) | quantity × the higher of stop price and market |
| trailing stop without a stop price | quantity × market (it activates at once) |
| trailing BUY stop (STOP_LOSS, TAKE_PROFIT) | the above × (1 + trailing_delta / 10,000): it fills up to that much above where it activated |

Lists: an OCO by its larger leg (one executes, the other expires); an OTO by the working order
plus the pending one; an OTOCO by the working order plus the larger of its two pending legs.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from binance_mcp.decimals import decimal_text
from binance_mcp.orders import LIMIT_TYPES, Leg, Order


@dataclass(frozen=True)
class Valuation:
    """The order's value and, in words, how it was reached (shown to the human and on the page)."""

    notional: Decimal
    quote_asset: str
    how: str
    legs: tuple[Decimal, ...]


def value_leg(leg: Leg, market: Decimal) -> tuple[Decimal, str]:
    """One leg's upper bound and the words for it."""
    if leg.quote_quantity is not None:
        return leg.quote_quantity, "its quote quantity"
    quantity = leg.quantity or Decimal(0)
    if leg.type == "MARKET":
        return quantity * market, f"the market price {decimal_text(market)}"
    if leg.type in LIMIT_TYPES:
        assert leg.price is not None, f"a {leg.type} leg has a price"
        if leg.side == "BUY":
            return quantity * leg.price, f"its limit price {decimal_text(leg.price)}"
        candidates = [("its limit price", leg.price), ("the market price", market)]
        if leg.stop_price is not None:
            candidates.append(("its stop price", leg.stop_price))
        return _highest(quantity, candidates)
    # STOP_LOSS / TAKE_PROFIT: a market order once triggered, near its stop price or the market.
    candidates = [("the market price", market)]
    if leg.stop_price is not None:
        candidates.insert(0, ("its stop price", leg.stop_price))
    value, how = _highest(quantity, candidates)
    if leg.trailing_delta and leg.side == "BUY":
        # A trailing BUY triggers once the price rises trailing_delta above its lowest point since
        # activation: from there it can pay that much more than the price it activated at.
        value *= 1 + Decimal(leg.trailing_delta) / 10_000
        how += f", plus its trailing delta of {leg.trailing_delta} BIPS above it"
    return value, how


def value_order(order: Order, market: Decimal, quote_asset: str) -> Valuation:
    """The whole order's upper bound: see the module's table for lists."""
    valued = [value_leg(leg, market) for leg in order.legs]
    amounts = tuple(amount for amount, _how in valued)
    if order.kind == "ORDER":
        notional, how = valued[0]
        return Valuation(notional, quote_asset, f"valued at {how}", amounts)
    working = [amount for leg, amount in zip(order.legs, amounts, strict=True) if not leg.pending]
    pending = [amount for leg, amount in zip(order.legs, amounts, strict=True) if leg.pending]
    if order.kind == "OCO":
        return Valuation(max(amounts), quote_asset, "an OCO valued by its larger leg", amounts)
    notional = sum(working, Decimal(0)) + max(pending, default=Decimal(0))
    how = (
        "the working order plus the pending one"
        if order.kind == "OTO"
        else "the working order plus the larger pending leg"
    )
    return Valuation(notional, quote_asset, f"an {order.kind} valued as {how}", amounts)


def _highest(quantity: Decimal, candidates: list[tuple[str, Decimal]]) -> tuple[Decimal, str]:
    name, price = max(candidates, key=lambda pair: pair[1])
    others = " and ".join(f"{other} {decimal_text(value)}" for other, value in candidates if other != name)
    why = f" (the higher of it and {others})" if others else ""
    return quantity * price, f"{name} {decimal_text(price)}{why}"
