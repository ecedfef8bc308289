"""An order as the guard sees it: a symbol and one or more legs, whatever tool places it.

A tool that places orders (`place_order`, `place_order_list`) declares, through its spec's
`order` hook, the order its validated arguments describe. The guard then checks every leg
against the exchange's filters and the policy's constraints, values the whole order
(`binance_mcp.valuation`) and renders the question a human is asked, all from this value and
never from what the model wrote. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
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
    `pending_below` for OTOCO. `trailing_delta` is in BIPS (100 = 1 %).
    """

    side: Side
    type: str
    quantity: Decimal | None = None
    quote_quantity: Decimal | None = None
    price: Decimal | None = None
    stop_price: Decimal | None = None
    trailing_delta: int | None = None
    role: str = "order"

    @property
    def pending(self) -> bool:
        return self.role.startswith("pending")


@dataclass(frozen=True)
class Order:
    """What a tool that places orders is about to send: one symbol, its legs, how they combine."""

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
