"""Parsing and validating the parameters of POST /api/v3/order and /order/test (binance-api.md §5.11, §6)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from .errors import ApiError, illegal_chars, mandatory, not_required
from .params import Params

SIDES = ("BUY", "SELL")
TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
CLIENT_ID_RE = re.compile(r"^[A-Za-z0-9_.:/-]{1,36}$")
CLIENT_ID_LEGAL = "^[\\.A-Z\\:/a-z0-9_-]{1,36}$"

ORDER_PARAMS = frozenset(
    {
        "symbol",
        "side",
        "type",
        "timeInForce",
        "quantity",
        "quoteOrderQty",
        "price",
        "newClientOrderId",
        "strategyId",
        "strategyType",
        "stopPrice",
        "trailingDelta",
        "icebergQty",
        "newOrderRespType",
        "selfTradePreventionMode",
    }
)

# Per type: parameters that must be sent, and the type-specific ones that may be sent.
# "stopPrice" in REQUIRED means "stopPrice or trailingDelta".
_REQUIRED: dict[str, tuple[str, ...]] = {
    "LIMIT": ("timeInForce", "quantity", "price"),
    "MARKET": (),
    "STOP_LOSS": ("quantity", "stopPrice"),
    "STOP_LOSS_LIMIT": ("timeInForce", "quantity", "price", "stopPrice"),
    "TAKE_PROFIT": ("quantity", "stopPrice"),
    "TAKE_PROFIT_LIMIT": ("timeInForce", "quantity", "price", "stopPrice"),
    "LIMIT_MAKER": ("quantity", "price"),
}
_OPTIONAL: dict[str, tuple[str, ...]] = {
    "LIMIT": ("icebergQty",),
    "MARKET": ("quantity", "quoteOrderQty"),
    "STOP_LOSS": ("trailingDelta",),
    "STOP_LOSS_LIMIT": ("trailingDelta", "icebergQty"),
    "TAKE_PROFIT": ("trailingDelta",),
    "TAKE_PROFIT_LIMIT": ("trailingDelta", "icebergQty"),
    "LIMIT_MAKER": ("icebergQty",),
}
_TYPE_SPECIFIC = (
    "timeInForce",
    "quantity",
    "quoteOrderQty",
    "price",
    "stopPrice",
    "trailingDelta",
    "icebergQty",
)


@dataclass(frozen=True)
class NewOrder:
    """A syntactically valid new-order request (filters and balances not yet checked)."""

    symbol: str
    side: str
    type: str
    time_in_force: str | None
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    trailing_delta: int | None
    iceberg_qty: Decimal | None
    client_order_id: str | None
    resp_type: str
    stp_mode: str


def parse_new_order(p: Params, spec_by_symbol: dict[str, dict[str, Any]]) -> NewOrder:
    """Validate symbol, enums, per-type mandatory/forbidden params and number formats."""
    symbol = p.symbol()
    assert symbol is not None
    spec = spec_by_symbol[symbol]
    side = p.req("side")
    if side not in SIDES:
        raise ApiError(400, -1117, "Invalid side.")
    order_type = p.req("type")
    if order_type not in TYPES:
        raise ApiError(400, -1116, "Invalid orderType.")
    p.enum("timeInForce", TIME_IN_FORCE, ApiError(400, -1115, "Invalid timeInForce."))

    for name in _REQUIRED[order_type]:
        if name == "stopPrice":
            if not p.has("stopPrice") and not p.has("trailingDelta"):
                raise mandatory("stopPrice")
        elif not p.has(name):
            raise mandatory(name)
    if order_type == "MARKET":
        if not p.has("quantity") and not p.has("quoteOrderQty"):
            raise ApiError(
                400, -1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!"
            )
        if p.has("quantity") and p.has("quoteOrderQty"):
            raise not_required("quoteOrderQty")
    allowed = set(_REQUIRED[order_type]) | set(_OPTIONAL[order_type])
    for name in _TYPE_SPECIFIC:
        if p.has(name) and name not in allowed:
            raise not_required(name)

    client_id = p.opt("newClientOrderId")
    if client_id is not None and not CLIENT_ID_RE.match(client_id):
        raise illegal_chars("newClientOrderId", CLIENT_ID_LEGAL)
    default_resp = "FULL" if order_type in ("MARKET", "LIMIT") else "ACK"
    resp_type = p.enum("newOrderRespType", RESP_TYPES, mandatory("newOrderRespType")) or default_resp
    stp_modes = ["NONE", *spec["allowedSelfTradePreventionModes"]]
    stp = p.enum("selfTradePreventionMode", stp_modes, mandatory("selfTradePreventionMode"))
    p.opt_int("strategyId")
    strategy_type = p.opt_int("strategyType")
    if strategy_type is not None and strategy_type < 1000000:
        raise ApiError(400, -1134, "`strategyType` was less than 1000000.")

    quantity = p.opt_decimal("quantity")
    if quantity is not None and quantity == 0:
        raise ApiError(400, -1013, "Invalid quantity.")
    quote_qty = p.opt_decimal("quoteOrderQty")
    if quote_qty is not None and quote_qty == 0:
        raise ApiError(400, -1013, "Invalid quantity.")
    price = p.opt_decimal("price")
    if price is not None and price == 0:
        raise ApiError(400, -1013, "Invalid price.")
    stop_price = p.opt_decimal("stopPrice")
    if stop_price is not None and stop_price == 0:
        raise ApiError(400, -1013, "Invalid stop price.")
    return NewOrder(
        symbol=symbol,
        side=side,
        type=order_type,
        time_in_force=p.opt("timeInForce"),
        quantity=quantity,
        quote_order_qty=quote_qty,
        price=price,
        stop_price=stop_price,
        trailing_delta=p.opt_int("trailingDelta"),
        iceberg_qty=p.opt_decimal("icebergQty"),
        client_order_id=client_id,
        resp_type=resp_type,
        stp_mode=stp or spec["defaultSelfTradePreventionMode"],
    )
