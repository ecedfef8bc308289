"""The endpoint table: (method, path) → handler, accepted parameters, security and request weight (§5)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import list_api as lists
from . import private_api as priv
from . import public_api as pub
from .context import Context
from .errors import ApiError
from .order_list_request import OCO_PARAMS, OTO_PARAMS, OTOCO_PARAMS
from .order_request import ORDER_PARAMS
from .params import Params

SIGNED_PARAMS = frozenset({"timestamp", "recvWindow", "signature"})
Handler = Callable[[Context, Params], Any]


@dataclass(frozen=True)
class Route:
    handler: Handler
    params: frozenset[str]
    weight: int | Callable[[Params], int] = 1
    signed: bool = False
    trade: bool = False  # needs the key's spot-trading permission
    free_on_success: bool = False  # weight 0 when successful (order endpoints since 2026-04-02)
    new_order: bool = False  # counts towards ORDERS limits and gets X-MBX-ORDER-COUNT-* headers
    order_count: int = 1  # orders it adds to the unfilled order count (an OCO 2, an OTOCO 3)

    def allowed(self) -> frozenset[str]:
        return self.params | SIGNED_PARAMS if self.signed else self.params

    def weight_for(self, p: Params) -> int:
        if isinstance(self.weight, int):
            return self.weight
        try:
            return self.weight(p)
        except ApiError:
            return 1


def _ps(*names: str) -> frozenset[str]:
    return frozenset(names)


def _depth_weight(p: Params) -> int:
    limit = pub.depth_limit(p)
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def _ticker_price_weight(p: Params) -> int:
    return 2 if p.has("symbol") else 4


def _ticker_24hr_weight(p: Params) -> int:
    if p.has("symbol"):
        return 2
    names = p.symbols_list()
    if names is None:
        return 80
    return 2 if len(names) <= 20 else 40 if len(names) <= 100 else 80


def _open_orders_weight(p: Params) -> int:
    return 6 if p.has("symbol") else 80


def _order_test_weight(p: Params) -> int:
    return 20 if p.opt("computeCommissionRates") == "true" else 1


_SYMBOL_SELECT = _ps("symbol", "symbols", "symbolStatus")

ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/api/v3/ping"): Route(pub.ping, _ps()),
    ("GET", "/api/v3/time"): Route(pub.server_time, _ps()),
    ("GET", "/api/v3/exchangeInfo"): Route(
        pub.exchange_info, _SYMBOL_SELECT | _ps("permissions", "showPermissionSets"), 20
    ),
    ("GET", "/api/v3/ticker/price"): Route(pub.ticker_price, _SYMBOL_SELECT, _ticker_price_weight),
    ("GET", "/api/v3/avgPrice"): Route(pub.avg_price, _ps("symbol"), 2),
    ("GET", "/api/v3/referencePrice"): Route(pub.reference_price, _ps("symbol"), 2),
    ("GET", "/api/v3/depth"): Route(pub.depth, _ps("symbol", "limit", "symbolStatus"), _depth_weight),
    ("GET", "/api/v3/klines"): Route(
        pub.klines, _ps("symbol", "interval", "startTime", "endTime", "timeZone", "limit"), 2
    ),
    ("GET", "/api/v3/uiKlines"): Route(
        pub.klines, _ps("symbol", "interval", "startTime", "endTime", "timeZone", "limit"), 2
    ),
    ("GET", "/api/v3/ticker/24hr"): Route(pub.ticker_24hr, _SYMBOL_SELECT | _ps("type"), _ticker_24hr_weight),
    ("GET", "/api/v3/account"): Route(priv.account, _ps("omitZeroBalances"), 20, signed=True),
    ("GET", "/api/v3/openOrders"): Route(priv.open_orders, _ps("symbol"), _open_orders_weight, signed=True),
    ("GET", "/api/v3/allOrders"): Route(
        priv.all_orders, _ps("symbol", "orderId", "startTime", "endTime", "limit"), 20, signed=True
    ),
    ("GET", "/api/v3/order"): Route(
        priv.query_order, _ps("symbol", "orderId", "origClientOrderId"), 4, signed=True
    ),
    ("POST", "/api/v3/order"): Route(
        priv.new_order, ORDER_PARAMS, 1, signed=True, trade=True, free_on_success=True, new_order=True
    ),
    ("POST", "/api/v3/order/test"): Route(
        priv.order_test,
        ORDER_PARAMS | _ps("computeCommissionRates"),
        _order_test_weight,
        signed=True,
        trade=True,
    ),
    ("DELETE", "/api/v3/order"): Route(
        priv.cancel_order,
        _ps("symbol", "orderId", "origClientOrderId", "newClientOrderId", "cancelRestrictions"),
        1,
        signed=True,
        trade=True,
        free_on_success=True,
    ),
    ("DELETE", "/api/v3/openOrders"): Route(
        priv.cancel_open_orders, _ps("symbol"), 1, signed=True, trade=True, free_on_success=True
    ),
    # order lists (rest-api.md "Order lists"): weight 1 each; an OCO / OTO counts 2 orders, an OTOCO 3
    ("POST", "/api/v3/orderList/oco"): Route(
        lists.new_oco,
        OCO_PARAMS,
        1,
        signed=True,
        trade=True,
        free_on_success=True,
        new_order=True,
        order_count=2,
    ),
    ("POST", "/api/v3/orderList/oto"): Route(
        lists.new_oto,
        OTO_PARAMS,
        1,
        signed=True,
        trade=True,
        free_on_success=True,
        new_order=True,
        order_count=2,
    ),
    ("POST", "/api/v3/orderList/otoco"): Route(
        lists.new_otoco,
        OTOCO_PARAMS,
        1,
        signed=True,
        trade=True,
        free_on_success=True,
        new_order=True,
        order_count=3,
    ),
    ("DELETE", "/api/v3/orderList"): Route(
        lists.cancel_order_list,
        _ps("symbol", "orderListId", "listClientOrderId", "newClientOrderId"),
        1,
        signed=True,
        trade=True,
        free_on_success=True,
    ),
    ("GET", "/api/v3/orderList"): Route(
        lists.query_order_list, _ps("orderListId", "origClientOrderId"), 4, signed=True
    ),
    ("GET", "/api/v3/openOrderList"): Route(lists.open_order_lists, _ps(), 6, signed=True),
    ("GET", "/api/v3/allOrderList"): Route(
        lists.all_order_lists, _ps("fromId", "startTime", "endTime", "limit"), 20, signed=True
    ),
    ("PUT", "/api/v3/order/amend/keepPriority"): Route(
        lists.amend_keep_priority,
        _ps("symbol", "orderId", "origClientOrderId", "newClientOrderId", "newQty"),
        4,
        signed=True,
        trade=True,
    ),
    ("GET", "/api/v3/order/amendments"): Route(
        lists.order_amendments, _ps("symbol", "orderId", "fromExecutionId", "limit"), 4, signed=True
    ),
    ("GET", "/api/v3/myTrades"): Route(
        lists.my_trades,
        _ps("symbol", "orderId", "startTime", "endTime", "fromId", "limit"),
        lists.my_trades_weight,
        signed=True,
    ),
    ("GET", "/sapi/v1/account/apiRestrictions"): Route(priv.api_restrictions, _ps(), 1, signed=True),
}
