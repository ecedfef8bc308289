"""The request weight of each python-binance call this server makes (the `Weight` of each endpoint in Binance's rest-api.md).

Reserved against `X-MBX-USED-WEIGHT-1M` before the request leaves (see `limits`). Order and cancel
requests count their failure weight (1), although a successful one costs 0 since 2026: erring on
the safe side keeps the count at or above Binance's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_FIXED = {
    "ping": 1,
    "get_server_time": 1,
    "exchange_info": 20,
    "get_symbol_ticker": 2,
    "get_avg_price": 2,
    "get_reference_price": 2,
    "get_klines": 2,
    "get_ticker": 2,
    "get_account": 20,
    "get_all_orders": 20,
    "get_order": 4,
    "get_account_api_permissions": 1,
    "create_order": 1,
    "cancel_order": 1,
    "cancel_all_open_orders": 1,
    # order lists, amend (Binance's rest-api.md "Order lists", "Order Amend Keep Priority")
    "create_oco_order": 1,
    "v3_post_order_list_oto": 1,
    "v3_post_order_list_otoco": 1,
    "v3_delete_order_list": 1,
    "v3_get_order_list": 4,
    "get_open_oco_orders": 6,
    "amend_order_keep_priority": 4,
    "get_order_amendments": 4,
}
NEW_ORDER_METHODS = frozenset({"create_order"})
# An order list adds each of its orders to the ORDERS counts: an OCO or OTO 2, an OTOCO 3.
LIST_ORDER_COUNTS = {"create_oco_order": 2, "v3_post_order_list_oto": 2, "v3_post_order_list_otoco": 3}


def request_weight(method: str, params: Mapping[str, Any]) -> int:
    """The IP weight Binance charges for `method` called with `params`."""
    if method == "get_order_book":
        limit = int(params.get("limit", 100))
        return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250
    if method == "get_open_orders":
        return 6 if params.get("symbol") else 80
    if method == "get_my_trades":
        return 5 if params.get("orderId") is not None else 20
    if method == "create_test_order":
        return 20 if str(params.get("computeCommissionRates", "")).lower() == "true" else 1
    return _FIXED.get(method, 1)


def new_orders(method: str) -> int:
    """How many new orders a call counts against the ORDERS limits."""
    if method in LIST_ORDER_COUNTS:
        return LIST_ORDER_COUNTS[method]
    return 1 if method in NEW_ORDER_METHODS else 0
