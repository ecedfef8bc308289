"""Input models of the order-list tools.

`place_order_list` takes a list type and its orders as `legs`, each leg one order's own
arguments (side, type, quantity, price...): one leg schema shared by every place in every list
type, where Binance's own parameters are flat and prefixed (`aboveType`, `pendingBelowStopPrice`).
Where a leg stands in the list (its role: an OCO's above or below leg, an OTO's working or
pending order) follows from its position and, in a one-cancels-the-other pair, from its type: a
SELL pair's stop-loss is below the market, a BUY pair's above. The legs are exposed as `ListLeg`s
(`legs_of`) so that the Binance request, the guard's `Order` and the approval question are all
read from the same validated values. The model checks what Binance would refuse, in words, each
naming the argument at fault (`legs[1].price`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from binance_mcp.tools.inputs import (
    ClientOrderId,
    ListId,
    OrderSide,
    OrderType,
    PositiveDecimal,
    Symbol,
    SymbolInput,
    TimeInForce,
    ToolInput,
    TrailingDelta,
    _upper,
)

ListType = Literal["OCO", "OTO", "OTOCO"]
Side = Annotated[OrderSide, BeforeValidator(_upper)]
Tif = Annotated[TimeInForce, BeforeValidator(_upper)]

STOP_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT"})
TRIGGERED = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
PRICED = frozenset({"LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
TAKES_TIF = frozenset({"LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"})
PAIR_TYPES = frozenset({"LIMIT_MAKER", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT"})
WORKING_TYPES = frozenset({"LIMIT", "LIMIT_MAKER"})
LEG_COUNT = {"OCO": 2, "OTO": 2, "OTOCO": 3}
LEG_FIELDS = (
    "side",
    "type",
    "quantity",
    "price",
    "stop_price",
    "trailing_delta",
    "time_in_force",
    "client_order_id",
)

# the flat arguments place_order_list took before `legs` (above_type, working_price, pending_side...)
_FLAT_ROLES = ("above", "below", "working", "pending", "pending_above", "pending_below")
_FLAT = re.compile(r"^(side|quantity|(" + "|".join(_FLAT_ROLES) + r")_[a-z_]+)$")
NEW_SHAPE = (
    "place_order_list takes its orders as legs, a list of objects with side, type, quantity and, as "
    "the type needs, price, stop_price, trailing_delta, time_in_force, client_order_id: OCO 2 legs "
    "(a stop-loss and a take-profit, either order), OTO the working order then the pending one, "
    "OTOCO the working order then its stop-loss and take-profit"
)


class ListLegInput(ToolInput):
    side: Side
    type: Annotated[OrderType, BeforeValidator(_upper)]
    quantity: PositiveDecimal
    price: PositiveDecimal | None = None
    stop_price: PositiveDecimal | None = None
    trailing_delta: TrailingDelta | None = None
    time_in_force: Tif | None = None
    client_order_id: ClientOrderId | None = None


@dataclass(frozen=True)
class ListLeg:
    """One leg of a validated order list: its place in `legs`, its role and its values."""

    index: int
    role: str
    side: str
    type: str
    quantity: Decimal
    price: Decimal | None
    stop_price: Decimal | None
    trailing_delta: int | None
    time_in_force: str | None
    client_order_id: str | None

    @property
    def argument(self) -> str:
        return f"legs[{self.index}]"


class PlaceOrderListInput(SymbolInput):
    type: Annotated[ListType, BeforeValidator(_upper)]
    legs: list[ListLegInput] = Field(
        min_length=2,
        max_length=3,
        description="OCO: 2 legs. OTO: working order, then pending. OTOCO: working order, then an OCO pair",
    )
    list_client_order_id: ClientOrderId | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_flat(cls, data: Any) -> Any:
        """The flat arguments of before (`above_type`, `pending_side`...): named, with the new shape."""
        if isinstance(data, dict):
            flat = [name for name in data if isinstance(name, str) and _FLAT.match(name)]
            if flat:
                shown = ", ".join(flat[:4]) + (", ..." if len(flat) > 4 else "")
                gone = "is no longer an argument" if len(flat) == 1 else "are no longer arguments"
                raise ValueError(f"legs: {NEW_SHAPE}; {shown} {gone}")
        return data

    @model_validator(mode="after")
    def _fits_the_type(self) -> PlaceOrderListInput:
        kind = self.type
        if len(self.legs) != LEG_COUNT[kind]:
            raise ValueError(
                f"legs: an {kind} has {LEG_COUNT[kind]} legs (got {len(self.legs)}); {NEW_SHAPE}"
            )
        if kind != "OCO" and self.legs[0].type not in WORKING_TYPES:
            raise ValueError(
                f"legs[0].type: an {kind}'s working order is LIMIT or LIMIT_MAKER (got {self.legs[0].type})"
            )
        pair = [0, 1] if kind == "OCO" else [1, 2] if kind == "OTOCO" else []
        for index in pair:
            if self.legs[index].type not in PAIR_TYPES:
                raise ValueError(
                    f"legs[{index}].type: an OCO leg is LIMIT_MAKER, TAKE_PROFIT(_LIMIT) or STOP_LOSS(_LIMIT) "
                    f"(got {self.legs[index].type})"
                )
        if pair:
            _check_pair(self.legs[pair[0]], self.legs[pair[1]], pair[1])
        legs = legs_of(self)
        for leg in legs:
            _check_leg(leg)
        ids = [leg.client_order_id for leg in legs if leg.client_order_id]
        if self.list_client_order_id:
            ids.append(self.list_client_order_id)
        if len(set(ids)) != len(ids):
            raise ValueError("list_client_order_id: the list's and each leg's client order ids must differ")
        return self


def leg_client_order_id(list_client_order_id: str, role: str) -> str:
    """The client order id of a leg the caller gave none: made from the list's id and the leg's
    role, so that it is the same on every round of one call (an approval's identity, the audit,
    a lookup after a lost answer or a crash all see the same ids) and differs between legs.
    `bmcp_` and 24 hex characters: 29 characters."""
    digest = hashlib.sha256(f"{list_client_order_id}/{role}".encode()).hexdigest()
    return f"bmcp_{digest[:24]}"


def _pair_roles(first: ListLegInput, second: ListLegInput) -> tuple[str, str]:
    """A one-cancels-the-other pair's places: a SELL's stop-loss is below the market (it triggers
    as the price falls), a BUY's above."""
    stop_first = first.type in STOP_TYPES
    stop_role = "below" if first.side == "SELL" else "above"
    other_role = "above" if stop_role == "below" else "below"
    return (stop_role, other_role) if stop_first else (other_role, stop_role)


def roles_of(args: PlaceOrderListInput) -> list[str]:
    """Each leg's role, in the order of `legs`: an OCO's above/below, OTO's working/pending,
    OTOCO's working/pending_above/pending_below."""
    if args.type == "OCO":
        return list(_pair_roles(args.legs[0], args.legs[1]))
    if args.type == "OTO":
        return ["working", "pending"]
    return ["working", *(f"pending_{role}" for role in _pair_roles(args.legs[1], args.legs[2]))]


def legs_of(args: PlaceOrderListInput) -> list[ListLeg]:
    """The list's legs in the order given. A leg without a client order id of its own gets one
    made from the list's (`leg_client_order_id`)."""
    return [
        ListLeg(
            index=index,
            role=role,
            side=leg.side,
            type=leg.type,
            quantity=leg.quantity,
            price=leg.price,
            stop_price=leg.stop_price,
            trailing_delta=leg.trailing_delta,
            time_in_force=leg.time_in_force,
            client_order_id=leg.client_order_id
            or (leg_client_order_id(args.list_client_order_id, role) if args.list_client_order_id else None),
        )
        for index, (leg, role) in enumerate(zip(args.legs, roles_of(args), strict=True))
    ]


def _check_leg(leg: ListLeg) -> None:
    kind, at = leg.type, leg.argument
    if kind in PRICED and leg.price is None:
        raise ValueError(f"{at}.price: a {kind} leg needs a price")
    if kind not in PRICED and leg.price is not None:
        raise ValueError(f"{at}.price: a {kind} leg takes no price")
    if kind in TRIGGERED and leg.stop_price is None and leg.trailing_delta is None:
        raise ValueError(f"{at}.stop_price: a {kind} leg needs a stop_price, a trailing_delta or both")
    if kind not in TRIGGERED:
        for trigger in ("stop_price", "trailing_delta"):
            if getattr(leg, trigger) is not None:
                raise ValueError(f"{at}.{trigger}: a {kind} leg takes no {trigger}")
    if kind not in TAKES_TIF and leg.time_in_force is not None:
        raise ValueError(f"{at}.time_in_force: a {kind} leg takes no time_in_force")


def _check_pair(first: ListLegInput, second: ListLegInput, second_index: int) -> None:
    """One-cancels-the-other: one stop-loss and one limit or take-profit, of one side and quantity."""
    at = f"legs[{second_index}]"
    if (first.type in STOP_TYPES) == (second.type in STOP_TYPES):
        raise ValueError(
            f"{at}.type: an OCO pair is one STOP_LOSS or STOP_LOSS_LIMIT leg and one LIMIT_MAKER, "
            f"TAKE_PROFIT or TAKE_PROFIT_LIMIT leg (got {first.type} and {second.type})"
        )
    if first.side != second.side:
        raise ValueError(f"{at}.side: an OCO pair's legs have one side (got {first.side} and {second.side})")
    if first.quantity != second.quantity:
        raise ValueError(f"{at}.quantity: an OCO pair's legs have one quantity")


def from_flat(arguments: dict[str, Any]) -> dict[str, Any]:
    """An order list's arguments as recorded before `legs` (flat: `above_type`, `pending_side`...),
    in today's shape: an audit record written by an earlier version is read back by crash recovery."""
    kind = str(arguments.get("type", "")).upper()
    roles = {"OCO": ("above", "below"), "OTO": ("working", "pending")}.get(
        kind, ("working", "pending_above", "pending_below")
    )
    if "legs" in arguments or kind not in LEG_COUNT:
        return arguments
    legs = []
    for role in roles:
        leg = {name: arguments[f"{role}_{name}"] for name in LEG_FIELDS if f"{role}_{name}" in arguments}
        if role != "working":
            shared = "" if kind == "OCO" else "pending_"
            for name in ("side", "quantity"):
                if f"{shared}{name}" in arguments:
                    leg.setdefault(name, arguments[f"{shared}{name}"])
        legs.append(leg)
    kept = {name: arguments[name] for name in ("symbol", "type", "list_client_order_id") if name in arguments}
    return kept | {"legs": legs}


class CancelOrderListInput(SymbolInput):
    order_list_id: ListId | None = None
    list_client_order_id: ClientOrderId | None = None

    @model_validator(mode="after")
    def _one_id(self) -> CancelOrderListInput:
        if self.order_list_id is None and self.list_client_order_id is None:
            raise ValueError("order_list_id: give order_list_id or list_client_order_id")
        return self


class GetOrderListsInput(ToolInput):
    symbol: Symbol | None = None
    order_list_id: ListId | None = None
    list_client_order_id: ClientOrderId | None = None

    @model_validator(mode="after")
    def _one_way(self) -> GetOrderListsInput:
        if self.order_list_id is not None and self.list_client_order_id is not None:
            raise ValueError("order_list_id: give order_list_id or list_client_order_id, not both")
        return self
