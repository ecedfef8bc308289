"""Is the order list Binance has under a `listClientOrderId` the one that was sent?

After a lost answer (the tool) or a crash (`binance_mcp.guard.recovery`) a list is looked up by its
list client order id, never sent again. An id can be reused once a list is done, so the list found
counts as ours only if each leg sent is there, by its own client order id, with the same symbol,
side, type, quantity and prices (`binance_mcp.orders.mismatch` per leg). Anything else is named.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from binance_mcp.exchange.errors import ExchangeFailure
from binance_mcp.orders import mismatch

if TYPE_CHECKING:
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.orders import Order
    from binance_mcp.tools.order_list_inputs import ListLeg


async def with_member_details(exchange: ExchangeClient, listed: dict[str, Any]) -> dict[str, Any]:
    """A list status object names its orders only; add each order's details (best effort: a member
    that cannot be read stays as named, and then does not match what was sent)."""
    reports = []
    for member in listed.get("orders", []):
        try:
            reports.append(await exchange.get_order(member["symbol"], order_id=member["orderId"]))
        except ExchangeFailure:
            reports.append(member)
    return listed | {"orderReports": reports}


def list_mismatch(order: Order, legs: list[ListLeg], found: dict[str, Any]) -> str | None:
    """How the list found (with `orderReports`) differs from the one sent, or None when it is ours.

    `order` is the guard's view of what was sent (`order_of_place_order_list`), `legs` the same
    legs as the tool's arguments gave them (with each leg's client order id), in the same order."""
    if found.get("symbol") != order.symbol:
        return f"symbol {found.get('symbol')} instead of {order.symbol}"
    reports = found.get("orderReports") or found.get("orders") or []
    if len(reports) != len(order.legs):
        return f"{len(reports)} orders instead of {len(order.legs)}"
    by_client_id = {report.get("clientOrderId"): report for report in reports}
    for leg, sent in zip(order.legs, legs, strict=True):
        report = by_client_id.get(sent.client_order_id) if sent.client_order_id else None
        if report is None:
            return f"no {leg.role} order with client order id {sent.client_order_id}"
        different = mismatch(leg, order.symbol, report)
        if different is not None:
            return f"{leg.role} order: {different}"
    return None
