"""What an order is worth to the policy: the most quote each leg can move, in the quote asset.

Each leg is valued at the price within its reach that moves the most money, given the order's
structure: a pending leg (OTO, OTOCO) starts working only once its working order fills, so it is
valued at no less than the price at which the working order fills, never at today's market. Where
Binance gives the order a bound (a limit price, a quote amount), the value is that bound; where it
gives none (a MARKET order by quantity, a stop that becomes a market order, a trailing stop), the
value is an **estimate**: the live order book walked for the quantity (`/api/v3/depth`), plus the
policy's `market_allowance_pct` for the move between now and the fill. `Valuation.estimate` says
which, and `how` says it in words.

| leg | valued at | bound or estimate |
| --- | --- | --- |
| `quote_quantity` (MARKET) | that amount | bound |
| BUY LIMIT, LIMIT_MAKER, STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT | quantity × limit price | bound |
| SELL LIMIT, LIMIT_MAKER | quantity × the higher of limit price and market | bound |
| SELL STOP_LOSS_LIMIT, TAKE_PROFIT_LIMIT | quantity × the highest of limit, stop and market | bound |
| MARKET by quantity | the book walked for the quantity, + allowance | estimate |
| STOP_LOSS, TAKE_PROFIT (market on trigger) | quantity × the higher of stop and market (a BUY × the book's slippage for the quantity), + allowance | estimate |
| trailing BUY stop | quantity × (stop or market) × (1 + trailing delta) × the book's slippage, + allowance (a limit price caps it: bound) | estimate |
| trailing SELL stop | quantity × the highest of stop, limit and market, + allowance: it follows the price up | estimate |

"Market" for a working leg is the last price; for a pending leg the higher of it and the price at
which its working order fills (a working SELL LIMIT at 320000 puts its pending BUY to work when
the price is 320000).

Two numbers come out, one per kind of limit (README *What each money limit means*):

- `notional`: the largest single execution the order can make, each leg at its worst price
  (`max_notional`, `approve_above_notional`): a bracket's exits do not shrink the entry they protect.
- `held`: the worst path's total (the daily budget holds it while the order is open): an OCO its
  larger leg (one executes, the other expires), an OTO the working plus the pending leg, an OTOCO
  the working leg plus the larger pending one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from binance_mcp.decimals import decimal_text
from binance_mcp.orders import LIMIT_TYPES, Leg, Order

DEFAULT_MARKET_ALLOWANCE_PCT = Decimal(1)
"""The allowance added to an estimate (MARKET by quantity, stop-market, trailing) when the policy
sets no `market_allowance_pct`: 1 % above the book's price for the quantity."""

_HUNDRED = Decimal(100)
_BIPS = Decimal(10_000)


@dataclass(frozen=True)
class Book:
    """An order book as `/api/v3/depth` returns it: (price, quantity) levels, best first."""

    bids: tuple[tuple[Decimal, Decimal], ...]
    asks: tuple[tuple[Decimal, Decimal], ...]

    @classmethod
    def from_depth(cls, depth: dict) -> Book:
        def levels(rows: Sequence[Sequence[str]]) -> tuple[tuple[Decimal, Decimal], ...]:
            return tuple((Decimal(str(price)), Decimal(str(quantity))) for price, quantity in rows)

        return cls(levels(depth.get("bids") or ()), levels(depth.get("asks") or ()))

    def walk(self, side: str, quantity: Decimal) -> tuple[Decimal, bool] | None:
        """The average price a MARKET order of `quantity` fills at now (BUY through the asks, SELL
        through the bids), and whether the levels shown hold the whole quantity (the rest is priced
        at the deepest level shown). None when that side of the book is empty."""
        levels = self.asks if side == "BUY" else self.bids
        if not levels or quantity <= 0:
            return None
        left, quote = quantity, Decimal(0)
        for price, size in levels:
            taken = min(left, size)
            quote += taken * price
            left -= taken
            if left <= 0:
                return quote / quantity, True
        quote += left * levels[-1][0]
        return quote / quantity, False


@dataclass(frozen=True)
class LegValue:
    """One leg's value: the most quote it can move, the price that is, and whether it is a bound."""

    amount: Decimal
    price: Decimal
    how: str
    bound: bool


@dataclass(frozen=True)
class Valuation:
    """The order's value and, in words, how it was reached (shown to the human and on the page).

    `notional`: the largest single execution (what `max_notional` and `approve_above_notional`
    compare); `held`: the worst path's total (what the daily budget holds); `estimate`: True when
    a leg has no bound (valued from the book plus `allowance_pct`); `market_price`: the last price
    it was valued at."""

    notional: Decimal
    quote_asset: str
    how: str
    legs: tuple[Decimal, ...]
    held: Decimal = Decimal(0)
    estimate: bool = False
    market_price: Decimal | None = None
    allowance_pct: Decimal = DEFAULT_MARKET_ALLOWANCE_PCT

    @property
    def kind(self) -> str:
        return "estimate" if self.estimate else "bound"


def value_leg(
    leg: Leg,
    market: Decimal,
    *,
    book: Book | None = None,
    allowance_pct: Decimal = DEFAULT_MARKET_ALLOWANCE_PCT,
    reach: Decimal | None = None,
) -> tuple[Decimal, str]:
    """One leg's value and the words for it (see `leg_value`)."""
    found = leg_value(leg, market, book=book, allowance_pct=allowance_pct, reach=reach)
    return found.amount, found.how


def leg_value(
    leg: Leg,
    market: Decimal,
    *,
    book: Book | None = None,
    allowance_pct: Decimal = DEFAULT_MARKET_ALLOWANCE_PCT,
    reach: Decimal | None = None,
) -> LegValue:
    """One leg at the price within its reach that moves the most money. `reach`, for a pending leg:
    the price at which its working order fills (the leg is valued at no less than it)."""
    allowance = 1 + allowance_pct / _HUNDRED
    plus = f", plus the {decimal_text(allowance_pct)} % market allowance (an estimate, not a bound)"
    where = "the market price"
    if reach is not None and reach > market:
        market, where = reach, "the price at which its working order fills"
    if leg.quote_quantity is not None:
        return LegValue(leg.quote_quantity, market, "its quote quantity", True)
    quantity = leg.quantity or Decimal(0)
    if leg.type == "MARKET" and leg.cap_pct is not None and book is not None and reach is None:
        cap = capped_price(leg.side, quantity, book, leg.cap_pct)
        if cap is not None:
            if leg.side == "BUY":
                how = f"its cap {decimal_text(cap)} (sent as LIMIT IOC: the book's price + {decimal_text(leg.cap_pct)} %)"
                return LegValue(quantity * cap, cap, how, True)
            best = book.bids[0][0]
            how = f"the best bid {decimal_text(best)} (sent as LIMIT IOC at {decimal_text(cap)}: it fills now or expires)"
            return LegValue(quantity * best, best, how, True)
    slip, slipped = slippage(leg.side, quantity, book)
    if leg.type == "MARKET":
        walked = book.walk(leg.side, quantity) if book is not None and reach is None else None
        if walked is None:
            price, how = market * slip, f"{where} {decimal_text(market)}{slipped}"
        else:
            price, how = walked[0], f"the order book's {decimal_text(walked[0])} for this quantity"
            if not walked[1]:
                how += " (the levels read hold less; the rest at the deepest one)"
        return LegValue(quantity * price * allowance, price * allowance, how + plus, False)
    if leg.trailing_delta:
        return _trailing(leg, quantity, market, where, allowance * slip, slipped + plus)
    if leg.type in LIMIT_TYPES:
        assert leg.price is not None, f"a {leg.type} leg has a price"
        if leg.side == "BUY":
            return LegValue(
                quantity * leg.price, leg.price, f"its limit price {decimal_text(leg.price)}", True
            )
        candidates = [("its limit price", leg.price), (where, market)]
        if leg.stop_price is not None:
            candidates.append(("its stop price", leg.stop_price))
        price, how = _highest(candidates)
        return LegValue(quantity * price, price, how, True)
    # STOP_LOSS / TAKE_PROFIT: a market order once triggered, at its stop or worse (a gap).
    candidates = [(where, market)]
    if leg.stop_price is not None:
        candidates.insert(0, ("its stop price", leg.stop_price))
    price, how = _highest(candidates)
    return LegValue(
        quantity * price * slip * allowance, price * slip * allowance, how + slipped + plus, False
    )


def slippage(side: str, quantity: Decimal, book: Book | None) -> tuple[Decimal, str]:
    """How much more than the best ask a BUY of `quantity` pays on average, walking the book now
    (1 when it fits the best level, or no book was read), and the words for it: a BUY that becomes
    a MARKET order later (a stop, a trailing stop, a pending leg) walks the book then as a MARKET
    order does now. A SELL's value is its highest price, which walking the bids only lowers."""
    if side != "BUY" or book is None or not book.asks or quantity <= 0:
        return Decimal(1), ""
    walked = book.walk(side, quantity)
    if walked is None or walked[0] <= book.asks[0][0]:
        return Decimal(1), ""
    factor = walked[0] / book.asks[0][0]
    percent = decimal_text(((factor - 1) * _HUNDRED).quantize(Decimal("0.001")))
    return factor, f", plus the {percent} % the order book's levels for this quantity add"


def capped_price(
    side: str, quantity: Decimal, book: Book, cap_pct: Decimal, price_filter: object = None
) -> Decimal | None:
    """The limit price a capped MARKET order is sent at: the deepest level of the book it needs for
    `quantity`, plus (BUY) or minus (SELL) `cap_pct` percent, on the tick (a BUY's rounded down, a
    SELL's up: the cap only tightens). None when that side of the book is empty."""
    from decimal import ROUND_CEILING, ROUND_FLOOR

    levels = book.asks if side == "BUY" else book.bids
    if not levels:
        return None
    left, deepest = quantity, levels[-1][0]
    for price, size in levels:
        left -= size
        if left <= 0:
            deepest = price
            break
    factor = 1 + cap_pct / _HUNDRED if side == "BUY" else 1 - cap_pct / _HUNDRED
    price = deepest * factor
    tick = getattr(price_filter, "tick_size", None)
    if tick:
        rounding = ROUND_FLOOR if side == "BUY" else ROUND_CEILING
        price = (price / tick).to_integral_value(rounding=rounding) * tick
    return price


def _trailing(
    leg: Leg, quantity: Decimal, market: Decimal, where: str, allowance: Decimal, plus: str
) -> LegValue:
    delta = Decimal(leg.trailing_delta or 0)
    start, how = _highest(
        [("its stop price", leg.stop_price), (where, market)] if leg.stop_price else [(where, market)]
    )
    if leg.side == "BUY":
        # it triggers once the price rises trailing_delta above its lowest point since activation
        triggered = start * (1 + delta / _BIPS)
        how = f"{how}, plus its trailing delta of {leg.trailing_delta} BIPS"
        if leg.price is not None and leg.type in LIMIT_TYPES:
            return LegValue(
                quantity * leg.price, leg.price, f"its limit price {decimal_text(leg.price)}", True
            )
        return LegValue(quantity * triggered * allowance, triggered * allowance, how + plus, False)
    # a trailing SELL follows the price up: nothing bounds what it brings
    candidates = [("its trailing start", start)]
    if leg.price is not None:
        candidates.append(("its limit price", leg.price))
    price, _ = _highest(candidates)
    how = f"{how} (a trailing SELL follows the price up: no price bounds it)"
    return LegValue(quantity * price * allowance, price * allowance, how + plus, False)


def value_order(
    order: Order,
    market: Decimal,
    quote_asset: str,
    *,
    book: Book | None = None,
    allowance_pct: Decimal | None = None,
) -> Valuation:
    """The whole order: its largest single execution (`notional`) and worst path (`held`)."""
    allowance = DEFAULT_MARKET_ALLOWANCE_PCT if allowance_pct is None else allowance_pct
    values: dict[int, LegValue] = {}
    for index, leg in enumerate(order.legs):
        if not leg.pending:
            values[index] = leg_value(leg, market, book=book, allowance_pct=allowance)
    # the price at which the working order fills: its pending legs start there
    reach = max((values[i].price for i, leg in enumerate(order.legs) if not leg.pending), default=market)
    for index, leg in enumerate(order.legs):
        if leg.pending:
            values[index] = leg_value(leg, market, book=book, allowance_pct=allowance, reach=reach)
    ordered = [values[index] for index in range(len(order.legs))]
    amounts = tuple(value.amount for value in ordered)
    estimate = not all(value.bound for value in ordered)
    common = {"estimate": estimate, "market_price": market, "allowance_pct": allowance}
    largest = max(amounts)
    if order.kind == "ORDER":
        how = f"valued at {ordered[0].how}"
        return Valuation(largest, quote_asset, how, amounts, held=largest, **common)  # type: ignore[arg-type]
    if order.kind == "OCO":
        how = "an OCO: its larger leg (one executes, the other expires)"
        return Valuation(largest, quote_asset, how, amounts, held=largest, **common)  # type: ignore[arg-type]
    working_total = sum(
        (value.amount for value, leg in zip(ordered, order.legs, strict=True) if not leg.pending), Decimal(0)
    )
    pending_max = max(
        (value.amount for value, leg in zip(ordered, order.legs, strict=True) if leg.pending),
        default=Decimal(0),
    )
    legs_how = "; ".join(
        f"{leg.role} {decimal_text(value.amount)} at {value.how}"
        for leg, value in zip(order.legs, ordered, strict=True)
    )
    how = (
        f"an {order.kind}: its largest single execution (each leg at its worst price; {legs_how}); "
        f"the budget holds the working order plus the larger pending leg"
    )
    return Valuation(largest, quote_asset, how, amounts, held=working_total + pending_max, **common)  # type: ignore[arg-type]


def _highest(candidates: Sequence[tuple[str, Decimal | None]]) -> tuple[Decimal, str]:
    known = [(name, price) for name, price in candidates if price is not None]
    name, price = max(known, key=lambda pair: pair[1])
    others = " and ".join(f"{other} {decimal_text(value)}" for other, value in known if other != name)
    why = f" (the higher of it and {others})" if others else ""
    return price, f"{name} {decimal_text(price)}{why}"


def least_value(order: Order) -> Decimal | None:
    """The least `value_order` can come to, from what the order itself says, before any market
    is read: its largest leg given by a quote quantity, or by a limit price and a quantity (a
    limit BUY is worth exactly that; a SELL, a pending leg, at least that). None when no leg says
    (a MARKET order by quantity, a stop-market, a trailing stop): only the market values those.
    A value above a bound here is above it whatever the market says."""
    known = []
    for leg in order.legs:
        if leg.quote_quantity is not None:
            known.append(leg.quote_quantity)
        elif not leg.trailing_delta and leg.type in LIMIT_TYPES and leg.quantity and leg.price:
            known.append(leg.quantity * leg.price)
    return max(known) if known else None
