"""Handlers of the order-list, amend and trade-list endpoints (SIGNED; dispatch did the auth).

POST /api/v3/orderList/oco, /oto, /otoco; DELETE /api/v3/orderList; GET /api/v3/orderList,
/api/v3/openOrderList, /api/v3/allOrderList; PUT /api/v3/order/amend/keepPriority;
GET /api/v3/myTrades (rest-api.md).
"""

from __future__ import annotations

from typing import Any

from .context import Context
from .errors import BAD_COMBINATION, RANGE_24H, ApiError, error, illegal_chars
from .exchange import new_client_id
from .market import DAY
from .order_list_request import parse_order_list
from .order_lists import ListKind
from .order_request import CLIENT_ID_LEGAL, CLIENT_ID_RE
from .orders import Order
from .params import Params

LIST_IDS_EMPTY = "Param 'origClientOrderId' or 'orderListId' must be sent, but both were empty/null!"
CANCEL_LIST_IDS_EMPTY = "Param 'listClientOrderId' or 'orderListId' must be sent, but both were empty/null!"
NO_SUCH_LIST = (400, -2011, "Order list does not exist.")


def _report(order: Order, resp_type: str) -> dict[str, Any]:
    if resp_type == "ACK":
        return order.to_ack()
    return order.to_result() if resp_type == "RESULT" else order.to_full()


def _place(kind: ListKind, ctx: Context, p: Params) -> dict[str, Any]:
    req = parse_order_list(kind, p, ctx.exchange.symbols)
    lst, orders = ctx.exchange.place_list(req)
    return lst.to_api([_report(order, req.resp_type) for order in orders])


def new_oco(ctx: Context, p: Params) -> dict[str, Any]:
    return _place("OCO", ctx, p)


def new_oto(ctx: Context, p: Params) -> dict[str, Any]:
    return _place("OTO", ctx, p)


def new_otoco(ctx: Context, p: Params) -> dict[str, Any]:
    return _place("OTOCO", ctx, p)


def cancel_order_list(ctx: Context, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    assert symbol is not None
    list_id, client_id = p.opt_int("orderListId"), p.opt("listClientOrderId")
    if list_id is None and client_id is None:
        raise ApiError(400, -1102, CANCEL_LIST_IDS_EMPTY)
    lst, orders = ctx.exchange.cancel_list(symbol, list_id, client_id)
    cancel_id, now = p.opt("newClientOrderId") or new_client_id(), ctx.server_time()
    return lst.to_api([order.to_cancel(cancel_id, now) for order in orders])


def query_order_list(ctx: Context, p: Params) -> dict[str, Any]:
    list_id, client_id = p.opt_int("orderListId"), p.opt("origClientOrderId")
    if list_id is None and client_id is None:
        raise ApiError(400, -1102, LIST_IDS_EMPTY)
    lst = ctx.exchange.find_list(list_id, client_id)
    if lst is None or (
        list_id is not None and client_id is not None and lst.list_client_order_id != client_id
    ):
        raise error(NO_SUCH_LIST)
    return lst.to_api()


def open_order_lists(ctx: Context, p: Params) -> list[dict[str, Any]]:
    return [lst.to_api() for lst in ctx.exchange.open_lists()]


def all_order_lists(ctx: Context, p: Params) -> list[dict[str, Any]]:
    from_id = p.opt_int("fromId")
    start, end = p.opt_int("startTime"), p.opt_int("endTime")
    limit = p.int_in_range("limit", 500, 1, 1000)
    if from_id is not None and (start is not None or end is not None):
        raise error(BAD_COMBINATION)
    if start is not None and end is not None and end - start > DAY:
        raise error(RANGE_24H)
    lists = [
        lst
        for lst in ctx.exchange.all_lists()
        if (from_id is None or lst.order_list_id >= from_id)
        and (start is None or lst.transaction_time >= start)
        and (end is None or lst.transaction_time <= end)
    ]
    chosen = lists[:limit] if (from_id is not None or start is not None) else lists[-limit:]
    return [lst.to_api() for lst in chosen]


def my_trades(ctx: Context, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol()
    assert symbol is not None
    order_id, from_id = p.opt_int("orderId"), p.opt_int("fromId")
    start, end = p.opt_int("startTime"), p.opt_int("endTime")
    limit = p.int_in_range("limit", 500, 1, 1000)
    if (order_id is not None or from_id is not None) and (start is not None or end is not None):
        raise error(BAD_COMBINATION)
    if start is not None and end is not None and end - start > DAY:
        raise error(RANGE_24H)
    return ctx.exchange.trades(symbol, order_id, start, end, from_id, limit)


def my_trades_weight(p: Params) -> int:
    return 5 if p.has("orderId") else 20


def amend_keep_priority(ctx: Context, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    assert symbol is not None
    order_id, client_id = p.opt_int("orderId"), p.opt("origClientOrderId")
    if order_id is None and client_id is None:
        raise ApiError(
            400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
        )
    new_id = p.opt("newClientOrderId")
    if new_id is not None and not CLIENT_ID_RE.match(new_id):
        raise illegal_chars("newClientOrderId", CLIENT_ID_LEGAL)
    new_qty = p.opt_decimal("newQty")
    if new_qty is None:
        raise ApiError(400, -1102, "Mandatory parameter 'newQty' was not sent, was empty/null, or malformed.")
    if new_qty == 0:
        raise ApiError(400, -1013, "Invalid quantity.")
    order, orig_id, lst, now = ctx.exchange.amend(symbol, order_id, client_id, new_id, new_qty)
    out: dict[str, Any] = {
        "transactTime": now,
        "executionId": ctx.exchange.next_execution_id(),
        "amendedOrder": order.to_amended(orig_id),
    }
    if lst is not None:
        out["listStatus"] = lst.to_amend_status()
    return out


def order_amendments(ctx: Context, p: Params) -> list[dict[str, Any]]:
    """GET /api/v3/order/amendments: every amendment of one order, oldest first (rest-api.md)."""
    symbol, order_id = p.symbol(), p.opt_int("orderId")
    assert symbol is not None
    if order_id is None:
        raise ApiError(
            400, -1102, "Mandatory parameter 'orderId' was not sent, was empty/null, or malformed."
        )
    order = ctx.exchange.find(symbol, order_id, None)
    if order is None:
        raise error((400, -2013, "Order does not exist."))
    since = p.opt_int("fromExecutionId") or 0
    limit = min(p.opt_int("limit") or 500, 1000)
    with ctx.exchange.lock:
        history = [dict(entry) for entry in order.amend_history if entry["executionId"] >= since]
    return history[:limit]
