"""Input models of the order-list tools: flat snake_case arguments.

`place_order_list` takes Binance's own order-list parameters in snake_case (`aboveType` →
`above_type`, `pendingBelowStopPrice` → `pending_below_stop_price`), and its legs are exposed as
`ListLeg`s (`legs_of`) so that the Binance request, the guard's `Order` and the approval question
are all read from the same validated values. Each model checks what Binance would refuse, in
words: which arguments a list type takes, what each leg type needs, and an OCO's shape.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from binance_mcp.tools.inputs import (
    ClientOrderId,
    ListId,
    OrderSide,
    PositiveDecimal,
    Symbol,
    SymbolInput,
    TimeInForce,
    ToolInput,
    TrailingDelta,
    _upper,
)

ListType = Literal["OCO", "OTO", "OTOCO"]
OcoLegType = Literal["LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"]
WorkingType = Literal["LIMIT", "LIMIT_MAKER"]
PendingType = Literal[
    "LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"
]
Side = Annotated[OrderSide, BeforeValidator(_upper)]
Tif = Annotated[TimeInForce, BeforeValidator(_upper)]

STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT"})
TRIGGERED = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
PRICED = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
TAKES_TIF = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})

# (our prefix, Binance's prefix, role in binance_mcp.orders.Leg) of each list type's legs
LEG_PREFIXES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "OCO": (("above", "above", "above"), ("below", "below", "below")),
    "OTO": (("working", "working", "working"), ("pending", "pending", "pending")),
    "OTOCO": (
        ("working", "working", "working"),
        ("pending_above", "pendingAbove", "pending_above"),
        ("pending_below", "pendingBelow", "pending_below"),
    ),
}
_LEG_SUFFIXES = ("type", "side", "quantity", "price", "stop_price", "trailing_delta", "time_in_force",
                 "client_order_id")  # fmt: skip
_TAKES: dict[str, set[str]] = {
    "OCO": {"side", "quantity", *(f"{p}_{s}" for p in ("above", "below") for s in _LEG_SUFFIXES)},
    "OTO": {
        "pending_side",
        "pending_quantity",
        *(f"{p}_{s}" for p in ("working", "pending") for s in _LEG_SUFFIXES),
    },
    "OTOCO": {
        "pending_side",
        "pending_quantity",
        *(f"{p}_{s}" for p in ("working", "pending_above", "pending_below") for s in _LEG_SUFFIXES),
    },
}
_NEEDS: dict[str, tuple[str, ...]] = {
    "OCO": ("side", "quantity", "above_type", "below_type"),
    "OTO": (
        "working_type",
        "working_side",
        "working_price",
        "working_quantity",
        "pending_type",
        "pending_side",
        "pending_quantity",
    ),
    "OTOCO": (
        "working_type",
        "working_side",
        "working_price",
        "working_quantity",
        "pending_side",
        "pending_quantity",
        "pending_above_type",
        "pending_below_type",
    ),
}


@dataclass(frozen=True)
class ListLeg:
    """One leg of a validated order list: our prefix, Binance's, its role and its values."""

    prefix: str
    binance_prefix: str
    role: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    trailing_delta: int | None
    time_in_force: str | None
    client_order_id: str | None


class PlaceOrderListInput(SymbolInput):
    type: Annotated[ListType, BeforeValidator(_upper)] = Field(
        description=(
            "OCO: two orders of one side and quantity, one cancels the other (a take-profit above "
            "and a stop-loss below for a SELL). OTO: a working LIMIT/LIMIT_MAKER order, and a "
            "pending order placed once it fills. OTOCO: a working order, then an OCO pair"
        )
    )
    list_client_order_id: ClientOrderId | None = Field(
        None, description="Your id for the list (1-36 of A-Za-z0-9_-); generated when left out"
    )
    # OCO
    side: Side | None = Field(None, description="OCO: BUY or SELL, for both legs")
    quantity: PositiveDecimal | None = Field(None, description="OCO: base quantity of both legs")
    above_type: Annotated[OcoLegType, BeforeValidator(_upper)] | None = Field(
        None,
        description="OCO: the leg above the market. SELL: LIMIT_MAKER or TAKE_PROFIT(_LIMIT); BUY: STOP_LOSS(_LIMIT)",
    )
    above_price: PositiveDecimal | None = Field(None, description="OCO: limit price of the above leg")
    above_stop_price: PositiveDecimal | None = Field(None, description="OCO: trigger price of the above leg")
    above_trailing_delta: TrailingDelta | None = None
    above_time_in_force: Tif | None = Field(None, description="OCO: GTC (default), IOC or FOK for *_LIMIT")
    above_client_order_id: ClientOrderId | None = Field(
        None, description="Left out: bmcp_ + a hash of list_client_order_id and the leg"
    )
    below_type: Annotated[OcoLegType, BeforeValidator(_upper)] | None = Field(
        None,
        description="OCO: the leg below the market. SELL: STOP_LOSS(_LIMIT); BUY: LIMIT_MAKER or TAKE_PROFIT(_LIMIT)",
    )
    below_price: PositiveDecimal | None = Field(None, description="OCO: limit price of the below leg")
    below_stop_price: PositiveDecimal | None = Field(None, description="OCO: trigger price of the below leg")
    below_trailing_delta: TrailingDelta | None = None
    below_time_in_force: Tif | None = Field(None, description="OCO: GTC (default), IOC or FOK for *_LIMIT")
    below_client_order_id: ClientOrderId | None = Field(
        None, description="Left out: bmcp_ + a hash of list_client_order_id and the leg"
    )
    # OTO, OTOCO: the working order
    working_type: Annotated[WorkingType, BeforeValidator(_upper)] | None = Field(
        None, description="OTO/OTOCO: LIMIT or LIMIT_MAKER"
    )
    working_side: Side | None = Field(None, description="OTO/OTOCO: BUY or SELL")
    working_price: PositiveDecimal | None = Field(
        None, description="OTO/OTOCO: limit price of the working order"
    )
    working_quantity: PositiveDecimal | None = Field(None, description="OTO/OTOCO: base quantity")
    working_time_in_force: Tif | None = Field(
        None, description="OTO/OTOCO: GTC (default), IOC or FOK for LIMIT"
    )
    working_client_order_id: ClientOrderId | None = Field(
        None, description="Left out: bmcp_ + a hash of list_client_order_id and the leg"
    )
    # OTO, OTOCO: the pending order(s)
    pending_side: Side | None = Field(None, description="OTO/OTOCO: side of the pending order(s)")
    pending_quantity: PositiveDecimal | None = Field(
        None, description="OTO/OTOCO: base quantity of the pending order(s)"
    )
    pending_type: Annotated[PendingType, BeforeValidator(_upper)] | None = Field(
        None, description="OTO: any order type (MARKET by quantity only)"
    )
    pending_price: PositiveDecimal | None = None
    pending_stop_price: PositiveDecimal | None = None
    pending_trailing_delta: TrailingDelta | None = None
    pending_time_in_force: Tif | None = None
    pending_client_order_id: ClientOrderId | None = Field(
        None, description="Left out: bmcp_ + a hash of list_client_order_id and the leg"
    )
    pending_above_type: Annotated[OcoLegType, BeforeValidator(_upper)] | None = Field(
        None, description="OTOCO: the pending leg above the market (as OCO's above_type)"
    )
    pending_above_price: PositiveDecimal | None = None
    pending_above_stop_price: PositiveDecimal | None = None
    pending_above_trailing_delta: TrailingDelta | None = None
    pending_above_time_in_force: Tif | None = None
    pending_above_client_order_id: ClientOrderId | None = Field(
        None, description="Left out: bmcp_ + a hash of list_client_order_id and the leg"
    )
    pending_below_type: Annotated[OcoLegType, BeforeValidator(_upper)] | None = Field(
        None, description="OTOCO: the pending leg below the market (as OCO's below_type)"
    )
    pending_below_price: PositiveDecimal | None = None
    pending_below_stop_price: PositiveDecimal | None = None
    pending_below_trailing_delta: TrailingDelta | None = None
    pending_below_time_in_force: Tif | None = None
    pending_below_client_order_id: ClientOrderId | None = Field(
        None, description="Left out: bmcp_ + a hash of list_client_order_id and the leg"
    )

    @model_validator(mode="after")
    def _fits_the_type(self) -> PlaceOrderListInput:
        kind = self.type
        takes = _TAKES[kind]
        for name in type(self).model_fields:
            if name in ("symbol", "type", "list_client_order_id") or getattr(self, name) is None:
                continue
            if name not in takes:
                raise ValueError(f"{name}: an {kind} list takes no {name}")
        for name in _NEEDS[kind]:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: an {kind} list needs {name}")
        legs = legs_of(self)
        for leg in legs:
            _check_leg(leg)
        pair = [leg for leg in legs if leg.role in ("above", "below", "pending_above", "pending_below")]
        if pair:
            _check_pair(*pair)
        ids = [leg.client_order_id for leg in legs if leg.client_order_id]
        if self.list_client_order_id:
            ids.append(self.list_client_order_id)
        if len(set(ids)) != len(ids):
            raise ValueError("list_client_order_id: the list's and each leg's client order ids must differ")
        return self


def leg_client_order_id(list_client_order_id: str, prefix: str) -> str:
    """The client order id of a leg the caller gave none: made from the list's id and the leg's
    place, so that it is the same on every round of one call (an approval's identity, the audit,
    a lookup after a lost answer or a crash all see the same ids) and differs between legs.
    `bmcp_` and 24 hex characters: 29 characters."""
    digest = hashlib.sha256(f"{list_client_order_id}/{prefix}".encode()).hexdigest()
    return f"bmcp_{digest[:24]}"


def legs_of(args: PlaceOrderListInput) -> list[ListLeg]:
    """The list's legs in Binance's order of parameters (above, below; working, pending...). A leg
    without a client order id of its own gets one made from the list's (`leg_client_order_id`)."""
    legs = []
    for prefix, binance_prefix, role in LEG_PREFIXES[args.type]:
        shared_side = args.side if args.type == "OCO" else args.pending_side
        shared_qty = args.quantity if args.type == "OCO" else args.pending_quantity
        side = getattr(args, f"{prefix}_side", None) if prefix in ("working", "pending") else None
        quantity = getattr(args, f"{prefix}_quantity", None) if prefix == "working" else None
        legs.append(
            ListLeg(
                prefix=prefix,
                binance_prefix=binance_prefix,
                role=role,
                side=side or shared_side or "",
                type=getattr(args, f"{prefix}_type") or "",
                quantity=quantity or shared_qty or Decimal(0),
                price=getattr(args, f"{prefix}_price"),
                stop_price=getattr(args, f"{prefix}_stop_price", None),
                trailing_delta=getattr(args, f"{prefix}_trailing_delta", None),
                time_in_force=getattr(args, f"{prefix}_time_in_force"),
                client_order_id=getattr(args, f"{prefix}_client_order_id")
                or (
                    leg_client_order_id(args.list_client_order_id, prefix)
                    if args.list_client_order_id
                    else None
                ),
            )
        )
    return legs


def _check_leg(leg: ListLeg) -> None:
    kind, p = leg.type, leg.prefix
    if kind in PRICED and leg.price is None:
        raise ValueError(f"{p}_price: a {kind} leg needs a price")
    if kind not in PRICED and leg.price is not None:
        raise ValueError(f"{p}_price: a {kind} leg takes no price")
    if kind in TRIGGERED and leg.stop_price is None and leg.trailing_delta is None:
        raise ValueError(f"{p}_stop_price: a {kind} leg needs a stop price, a trailing delta or both")
    if kind not in TRIGGERED:
        for trigger in ("stop_price", "trailing_delta"):
            if getattr(leg, trigger) is not None:
                raise ValueError(f"{p}_{trigger}: a {kind} leg takes no {trigger}")
    if kind not in TAKES_TIF and leg.time_in_force is not None:
        raise ValueError(f"{p}_time_in_force: a {kind} leg takes no time_in_force")


def _check_pair(above: ListLeg, below: ListLeg) -> None:
    """One-cancels-the-other: a stop-loss on one side, a limit or take-profit on the other."""
    stops = [leg for leg in (above, below) if leg.type in STOP_TYPES]
    if len(stops) != 1:
        raise ValueError(
            f"{above.prefix}_type: an OCO pair is one STOP_LOSS or STOP_LOSS_LIMIT leg and one LIMIT_MAKER, "
            f"TAKE_PROFIT or TAKE_PROFIT_LIMIT leg (got {above.type} and {below.type})"
        )
    stop_leg, other = stops[0], below if stops[0] is above else above
    if above.side == "SELL" and stop_leg is above:
        raise ValueError(
            f"{above.prefix}_type: in a SELL OCO the stop-loss is the below leg (it triggers as the price falls) "
            f"and the {other.type} the above leg"
        )
    if above.side == "BUY" and stop_leg is below:
        raise ValueError(
            f"{below.prefix}_type: in a BUY OCO the stop-loss is the above leg (it triggers as the price rises) "
            f"and the {other.type} the below leg"
        )


class CancelOrderListInput(SymbolInput):
    order_list_id: ListId | None = Field(None, description="Binance's order list id")
    list_client_order_id: ClientOrderId | None = Field(None, description="The list's client order id")

    @model_validator(mode="after")
    def _one_id(self) -> CancelOrderListInput:
        if self.order_list_id is None and self.list_client_order_id is None:
            raise ValueError("order_list_id: give order_list_id or list_client_order_id")
        return self


class GetOrderListsInput(ToolInput):
    symbol: Symbol | None = Field(None, description="Only the lists on this pair (open lists only)")
    order_list_id: ListId | None = Field(None, description="One list by Binance's id (any status)")
    list_client_order_id: ClientOrderId | None = Field(None, description="One list by its client order id")

    @model_validator(mode="after")
    def _one_way(self) -> GetOrderListsInput:
        if self.order_list_id is not None and self.list_client_order_id is not None:
            raise ValueError("order_list_id: give order_list_id or list_client_order_id, not both")
        return self
