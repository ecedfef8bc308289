"""Parsing the parameters of POST /api/v3/orderList/oco, /oto and /otoco into one `NewOrder` per leg.

Each leg's parameters carry a prefix (`above`, `below`, `working`, `pending`, `pendingAbove`,
`pendingBelow`); a leg is read by stripping it and checking the rest as POST /api/v3/order does,
so every per-type rule (mandatory price, stopPrice or trailingDelta, timeInForce...) is the same,
and an error names the prefixed parameter the caller sent ("Mandatory parameter 'abovePrice'...").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ApiError, illegal_chars
from .order_lists import ListKind
from .order_request import CLIENT_ID_LEGAL, CLIENT_ID_RE, RESP_TYPES, NewOrder, parse_new_order
from .params import Params

OCO_TYPES = ("STOP_LOSS_LIMIT", "STOP_LOSS", "LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
WORKING_TYPES = ("LIMIT", "LIMIT_MAKER")
OCO_TYPE_REJECTED = (400, -1158, "Order type not supported in OCO.")
UNSUPPORTED_COMBINATION = "Unsupported order combination"

_LEG_FIELDS = {  # suffix of the prefixed name → the POST /api/v3/order parameter
    "Type": "type",
    "Side": "side",
    "Quantity": "quantity",
    "Price": "price",
    "StopPrice": "stopPrice",
    "TrailingDelta": "trailingDelta",
    "IcebergQty": "icebergQty",
    "TimeInForce": "timeInForce",
    "ClientOrderId": "newClientOrderId",
    "StrategyId": "strategyId",
    "StrategyType": "strategyType",
}
_COMMON = ("symbol", "listClientOrderId", "newOrderRespType", "selfTradePreventionMode")
_OCO_LEG = ("Type", "ClientOrderId", "IcebergQty", "Price", "StopPrice", "TrailingDelta", "TimeInForce",
            "StrategyId", "StrategyType")  # fmt: skip
_WORKING_LEG = ("Type", "Side", "ClientOrderId", "Price", "Quantity", "IcebergQty", "TimeInForce",
                "StrategyId", "StrategyType")  # fmt: skip
_PENDING_LEG = (*_WORKING_LEG, "StopPrice", "TrailingDelta")


def _names(prefix: str, suffixes: tuple[str, ...]) -> set[str]:
    return {prefix + suffix for suffix in suffixes}


OCO_PARAMS = frozenset({*_COMMON, "side", "quantity", *_names("above", _OCO_LEG), *_names("below", _OCO_LEG)})
OTO_PARAMS = frozenset({*_COMMON, *_names("working", _WORKING_LEG), *_names("pending", _PENDING_LEG)})
OTOCO_PARAMS = frozenset(
    {
        *_COMMON,
        "pendingSide",
        "pendingQuantity",
        *_names("working", _WORKING_LEG),
        *_names("pendingAbove", _OCO_LEG),
        *_names("pendingBelow", _OCO_LEG),
    }
)


@dataclass(frozen=True)
class NewOrderList:
    """A syntactically valid order-list request: its legs in Binance's order (see `roles`)."""

    kind: ListKind
    symbol: str
    list_client_order_id: str | None
    legs: tuple[NewOrder, ...]
    roles: tuple[str, ...]  # "above"/"below", "working"/"pending", "working"/"pendingAbove"/"pendingBelow"
    resp_type: str


def _leg(
    p: Params, symbols: dict[str, dict[str, Any]], prefix: str, shared: dict[str, str | None]
) -> NewOrder:
    """One leg checked like a single order; errors name the prefixed parameters."""
    values: dict[str, str] = {"symbol": p.values["symbol"], "newOrderRespType": "ACK"}
    stp = p.opt("selfTradePreventionMode")
    if stp:
        values["selfTradePreventionMode"] = stp
    renamed: dict[str, str] = {}
    for suffix, plain in _LEG_FIELDS.items():
        raw = p.opt(prefix + suffix)
        if raw is not None:
            values[plain] = raw
        renamed[plain] = prefix + suffix
    for plain, value in shared.items():
        if value is not None:
            values[plain] = value
    try:
        return parse_new_order(Params(values, symbols), symbols)
    except ApiError as err:
        msg = err.msg
        for plain, prefixed in renamed.items():
            if plain not in shared:
                msg = msg.replace(f"'{plain}'", f"'{prefixed}'")
        raise ApiError(err.http_status, err.code, msg) from None


def _type(p: Params, name: str, allowed: tuple[str, ...], rejected: ApiError) -> None:
    value = p.req(name)
    if value not in allowed:
        raise rejected


def parse_order_list(kind: ListKind, p: Params, symbols: dict[str, dict[str, Any]]) -> NewOrderList:
    """Validate an OCO, OTO or OTOCO request (types, per-leg parameters); no matching-engine rules yet."""
    symbol = p.symbol()
    assert symbol is not None
    list_id = p.opt("listClientOrderId")
    if list_id is not None and not CLIENT_ID_RE.match(list_id):
        raise illegal_chars("listClientOrderId", CLIENT_ID_LEGAL)
    resp_type = (
        p.enum("newOrderRespType", RESP_TYPES, ApiError(400, -1102, "Invalid newOrderRespType.")) or "FULL"
    )
    if kind == "OCO":
        side, quantity = p.req("side"), p.req("quantity")
        for prefix in ("above", "below"):
            _type(p, prefix + "Type", OCO_TYPES, ApiError(*OCO_TYPE_REJECTED))
        shared = {"side": side, "quantity": quantity}
        legs = (_leg(p, symbols, "above", shared), _leg(p, symbols, "below", shared))
        roles: tuple[str, ...] = ("above", "below")
    else:
        _type(p, "workingType", WORKING_TYPES, ApiError(400, -2010, UNSUPPORTED_COMBINATION))
        working = _leg(p, symbols, "working", {})
        if kind == "OTO":
            legs, roles = (working, _leg(p, symbols, "pending", {})), ("working", "pending")
        else:
            shared = {"side": p.req("pendingSide"), "quantity": p.req("pendingQuantity")}
            for prefix in ("pendingAbove", "pendingBelow"):
                _type(p, prefix + "Type", OCO_TYPES, ApiError(*OCO_TYPE_REJECTED))
            legs = (
                working,
                _leg(p, symbols, "pendingAbove", shared),
                _leg(p, symbols, "pendingBelow", shared),
            )
            roles = ("working", "pendingAbove", "pendingBelow")
    return NewOrderList(kind, symbol, list_id, legs, roles, resp_type)
