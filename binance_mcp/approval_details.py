"""What a human is shown about a call waiting for approval: its fields, rendered from the validated
call, in one order for the CLI, the approvals page and notifications.

A request for approval keeps these details (`ApprovalStore.request(details=...)`) so that whoever
decides sees the order itself, not only a sentence: side, quantity, symbol, type, price,
≈notional and how it was valued, network, agent and client order id. Every value is built from
the validated arguments and the server's own quote, never from text the model wrote; the places
that show them (HTML, a terminal, a Slack message) still escape them, each in its own way.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from binance_mcp.decimals import decimal_text

__all__ = ["DETAIL_LABELS", "GENERATED_CLIENT_ORDER_ID", "labelled_details", "request_details"]

DETAIL_LABELS: dict[str, str] = {
    "tool": "Tool",
    "side": "Side",
    "quantity": "Quantity",
    "quote_quantity": "Quote quantity",
    "symbol": "Symbol",
    "type": "Type",
    "legs": "Legs",
    "price": "Price",
    "stop_price": "Stop price",
    "time_in_force": "Time in force",
    "notional": "≈ Notional",
    "valued_by": "Valued by",
    "market_price": "Market price when asked",
    "rule": "Rule",
    "threshold": "Needs a human",
    "daily_budget": "Daily budget",
    "order_id": "Order id",
    "order": "Order",
    "network": "Network",
    "agent": "Agent",
    "session": "Session",
    "client_order_id": "Client order id",
}
"""The order details are shown in (known keys first, in this order; any others after them)."""

GENERATED_CLIENT_ORDER_ID = "(generated)"
"""A client order id the server makes anew for each call (no caller could give one with parentheses)."""


def request_details(
    tool: str,
    args: Any,
    quote: Any = None,
    *,
    network: str,
    agent: str | None,
    client_order_id_generated: bool = False,
) -> dict[str, str]:
    """The details of a call for a human: `args` is the tool's validated input model (a pydantic
    model, e.g. `PlaceOrderInput`) and `quote` the order priced by the guard (`OrderQuote`: its
    `notional`, `reference_price` and `quote_asset`), or None. Every value is a string.

    `valued_by` says how the notional was worked out: from the quote quantity, from the limit
    price, or from the last price at the time (the one place a market order's size is a guess)."""
    fields = _fields(args)
    details: dict[str, str] = {"tool": tool}
    for key in (
        "side",
        "quantity",
        "quote_quantity",
        "symbol",
        "type",
        "price",
        "stop_price",
        "time_in_force",
    ):
        value = fields.get(key)
        if value is not None:
            details[key] = _text(value)
    for key in ("order_id",):
        if fields.get(key) is not None:
            details[key] = _text(fields[key])
    legs = fields.get("legs")
    if isinstance(legs, list) and legs:  # an order list: each order in the order given
        details["legs"] = " / ".join(_leg_words(_fields(leg)) for leg in legs)
    notional = getattr(quote, "notional", None)
    quote_asset = getattr(quote, "quote_asset", None)
    if notional is not None:
        amount = _text(Decimal(notional).quantize(Decimal("0.01")))
        details["notional"] = f"{amount} {quote_asset}" if quote_asset else amount
        details["valued_by"] = _valued_by(fields, quote)
    details["network"] = network
    details["agent"] = agent or "(stdio client)"
    client_order_id = fields.get("client_order_id")
    if client_order_id_generated:
        details["client_order_id"] = GENERATED_CLIENT_ORDER_ID
    elif client_order_id is not None:
        details["client_order_id"] = _text(client_order_id)
    return details


def labelled_details(details: Mapping[str, str]) -> list[tuple[str, str]]:
    """(label, value) pairs in display order: the known keys as `DETAIL_LABELS` orders them, then
    any others by name (a request made by a newer server shows everything it kept)."""
    known = [(DETAIL_LABELS[key], details[key]) for key in DETAIL_LABELS if key in details]
    others = [
        (key.replace("_", " ").capitalize(), details[key])
        for key in sorted(details)
        if key not in DETAIL_LABELS
    ]
    return known + others


def _fields(args: Any) -> dict[str, Any]:
    if args is None:
        return {}
    if isinstance(args, Mapping):
        return dict(args)
    dump = getattr(args, "model_dump", None)
    if callable(dump):
        return dict(dump())
    return dict(vars(args))


def _leg_words(leg: Mapping[str, Any]) -> str:
    """`SELL STOP_LOSS_LIMIT 0.01 at 60000, stop 60500`: one leg of an order list."""
    words = " ".join(_text(leg[key]) for key in ("side", "type", "quantity") if leg.get(key) is not None)
    if leg.get("price") is not None:
        words += f" at {_text(leg['price'])}"
    if leg.get("stop_price") is not None:
        words += f", stop {_text(leg['stop_price'])}"
    if leg.get("trailing_delta") is not None:
        words += f", trailing {_text(leg['trailing_delta'])} BIPS"
    return words


def _valued_by(fields: Mapping[str, Any], quote: Any) -> str:
    if fields.get("quote_quantity") is not None:
        return "the quote quantity"
    if fields.get("price") is not None:
        return "quantity × the limit price"
    reference = getattr(quote, "reference_price", None)
    if reference is not None:
        return f"quantity × the last price, {_text(reference)}, when asked"
    return "quantity × the last price when asked"


def _text(value: Any) -> str:
    if isinstance(value, Decimal):
        return decimal_text(value)
    value = getattr(value, "value", value)  # an enum's value
    return str(value)
