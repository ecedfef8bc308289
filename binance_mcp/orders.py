"""An order as the guard sees it: a symbol and one or more legs, whatever tool places it.

A tool that places orders (`place_order`, `place_order_list`) declares, through its spec's
`order` hook, the order its validated arguments describe. The guard then checks every leg
against the exchange's filters and the policy's constraints, values the whole order
(`binance_mcp.valuation`) and renders the question a human is asked, all from this value and
never from what the model wrote; the request sent and the match of what is found after a lost
answer are read from it too (`binance_mcp.exchange.order_kinds`). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Literal

Side = Literal["BUY", "SELL"]
ListKind = Literal["ORDER", "OCO", "OTO", "OTOCO"]

LIMIT_TYPES = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
"""Types whose `price` caps what a BUY pays and floors what a SELL receives."""
TRIGGERED_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
"""Types that wait for a trigger (`stop_price`, or `trailing_delta`) before they work."""


@dataclass(frozen=True)
class Leg:
    """One order of an order (a single order has one leg; an OCO two; an OTOCO three).

    `role` says where the leg stands in a list: `order` for a single order, `above` / `below`
    for an OCO's two legs, `working` / `pending` for OTO, and `working` / `pending_above` /
    `pending_below` for OTOCO. `trailing_delta` is in BIPS (100 = 1 %). `client_order_id` is the
    leg's own (a single order's is the order's); `time_in_force` None means Binance's GTC.
    """

    side: Side
    type: str
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_delta: int | None = None
    role: str = "order"
    time_in_force: str | None = None
    client_order_id: str | None = None
    cap_pct: Decimal | None = None
    """A MARKET order sent capped: as a LIMIT IOC at the book's price for it ± this percent."""
    argument: str = ""
    """Where the caller gave the leg: `legs[1]` in an order list's arguments, "" for a single order."""

    @property
    def where(self) -> str:
        """How a refusal's reason starts for this leg: `legs[1] (below leg): `; "" for one order."""
        if self.role == "order":
            return ""
        return f"{self.argument} ({self.role} leg): " if self.argument else f"{self.role} leg: "

    def field(self, name: str) -> str:
        """The argument that carries one of the leg's values: `price`, or `legs[1].price`."""
        return f"{self.argument}.{name}" if self.argument else name

    @property
    def pending(self) -> bool:
        return self.role.startswith("pending")


@dataclass(frozen=True)
class Order:
    """What a tool that places orders is about to send: one symbol, its legs, how they combine.
    `client_order_id` is the order's (a list's `listClientOrderId`): what it is looked up by."""

    symbol: str
    kind: ListKind
    legs: tuple[Leg, ...]
    client_order_id: str | None = None

    @property
    def working(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if not leg.pending)

    @property
    def pending(self) -> tuple[Leg, ...]:
        return tuple(leg for leg in self.legs if leg.pending)


def describe(order: Order, notional: Decimal | None, quote_asset: str, network: str) -> str:
    """The order in one line, from validated values only: what a human is asked to approve.

    `BUY 0.01 BTCUSDT LIMIT at 65000 (≈650 USDT) on TESTNET`; a list names every leg:
    `OCO SELL 0.01 BTCUSDT: LIMIT_MAKER at 70000 / STOP_LOSS_LIMIT at 60000 (stop 60500), ≈700 USDT
    on TESTNET`. The value is rounded up, so a value above a limit never reads as equal to it.
    """
    from binance_mcp.decimals import decimal_text

    def leg_words(leg: Leg, with_side: bool) -> str:
        words: list[str] = [leg.side] if with_side else []
        if leg.quantity is not None:
            words.append(decimal_text(leg.quantity))
        if with_side:
            words.append(order.symbol)
        if leg.quote_quantity is not None:
            words.append(f"for {decimal_text(leg.quote_quantity)} {quote_asset}")
        words.append(leg.type)
        if leg.price is not None:
            words.append(f"at {decimal_text(leg.price)}")
        triggers = []
        if leg.stop_price is not None:
            triggers.append(f"stop {decimal_text(leg.stop_price)}")
        if leg.trailing_delta is not None:
            triggers.append(f"trailing {leg.trailing_delta} BIPS")
        if triggers:
            words.append(f"({', '.join(triggers)})")
        return " ".join(words)

    value = f"≈{decimal_text(rounded_up(notional))} {quote_asset}" if notional is not None else None
    if order.kind == "ORDER":
        text = leg_words(order.legs[0], with_side=True)
        if value is not None and order.legs[0].quote_quantity is None:
            text += f" ({value})"
    else:
        sides = {leg.side for leg in order.legs}
        quantities = {leg.quantity for leg in order.legs}
        if len(sides) == 1 and len(quantities) == 1 and order.kind == "OCO":
            head = f"OCO {order.legs[0].side} {decimal_text(order.legs[0].quantity or Decimal(0))} {order.symbol}"
            legs = " / ".join(leg_words(replace(leg, quantity=None), with_side=False) for leg in order.legs)
        else:
            head = f"{order.kind} {order.symbol}"
            legs = " / ".join(f"{leg.role} {leg_words(leg, with_side=True)}" for leg in order.legs)
        text = f"{head}: {legs}" + (f", {value}" if value is not None else "")
    return f"{text} on {network.upper()}"


def rounded_up(value: Decimal | None, places: str = "0.01") -> Decimal:
    """Shown values round up: 200.0003 reads ≈200.01, never ≈200."""
    from decimal import ROUND_CEILING

    if value is None:
        return Decimal(0)
    return value.quantize(Decimal(places), rounding=ROUND_CEILING)
