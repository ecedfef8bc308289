"""Handlers of the SIGNED endpoints (account, orders, API-key restrictions); dispatch did the auth."""

from __future__ import annotations

from typing import Any

from .context import Context
from .data import fmt
from .errors import BOTH_IDS_EMPTY, CLIENT_ID_MISMATCH, NO_SUCH_ORDER, RANGE_24H, ApiError, error
from .exchange import new_client_id
from .market import DAY
from .order_request import parse_new_order
from .orders import Order
from .params import Params


def account(ctx: Context, p: Params) -> dict[str, Any]:
    omit_zero = p.opt_bool("omitZeroBalances")
    ex = ctx.exchange
    with ex.lock:
        rate = ex.commission_rate
        balances = [
            {"asset": asset, "free": fmt(b.free), "locked": fmt(b.locked)}
            for asset, b in ex.balances.items()
            if not (omit_zero and b.free == 0 and b.locked == 0)
        ]
        update_time = ex.account_update_time
    bps = int(rate * 10000)
    return {
        "makerCommission": bps,
        "takerCommission": bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": fmt(rate), "taker": fmt(rate), "buyer": fmt(0), "seller": fmt(0)},
        "canTrade": ctx.trading_enabled,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": update_time,
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": 354937868,
    }


def api_restrictions(ctx: Context, p: Params) -> dict[str, Any]:
    return {
        "ipRestrict": ctx.ip_restrict,
        "createTime": ctx.key_create_time,
        "enableReading": True,
        "enableWithdrawals": ctx.withdraw_enabled,
        "enableInternalTransfer": False,
        "enableMargin": False,
        "enableFutures": False,
        "permitsUniversalTransfer": False,
        "enableVanillaOptions": False,
        "enableFixApiTrade": False,
        "enableFixReadOnly": False,
        "enableSpotAndMarginTrading": ctx.trading_enabled,
        "enablePortfolioMarginTrading": False,
    }


def open_orders(ctx: Context, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol(required=False)
    return [o.to_query() for o in ctx.exchange.open_orders(symbol)]


def all_orders(ctx: Context, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol()
    from_id = p.opt_int("orderId")
    start, end = p.opt_int("startTime"), p.opt_int("endTime")
    limit = p.int_in_range("limit", 500, 1, 1000)
    if start is not None and end is not None and end - start > DAY:
        raise error(RANGE_24H)
    orders = [
        o
        for o in ctx.exchange.all_orders()
        if o.symbol == symbol
        and (from_id is None or o.order_id >= from_id)
        and (start is None or o.time >= start)
        and (end is None or o.time <= end)
    ]
    chosen = orders[:limit] if (from_id is not None or start is not None) else orders[-limit:]
    return [o.to_query() for o in chosen]


def _ids(p: Params) -> tuple[str, int | None, str | None]:
    symbol = p.symbol()
    assert symbol is not None
    order_id, client_id = p.opt_int("orderId"), p.opt("origClientOrderId")
    if order_id is None and client_id is None:
        raise error(BOTH_IDS_EMPTY)
    return symbol, order_id, client_id


def query_order(ctx: Context, p: Params) -> dict[str, Any]:
    symbol, order_id, client_id = _ids(p)
    order = ctx.exchange.find(symbol, order_id, client_id)
    if order is None:
        raise error(NO_SUCH_ORDER)
    if order_id is not None and client_id is not None and order.client_order_id != client_id:
        raise error(CLIENT_ID_MISMATCH)
    return order.to_query()


def new_order(ctx: Context, p: Params) -> dict[str, Any]:
    req = parse_new_order(p, ctx.exchange.symbols)
    order = ctx.exchange.place(req)
    if req.resp_type == "ACK":
        return order.to_ack()
    return order.to_result() if req.resp_type == "RESULT" else order.to_full()


def order_test(ctx: Context, p: Params) -> dict[str, Any]:
    compute = p.opt_bool("computeCommissionRates")
    req = parse_new_order(p, ctx.exchange.symbols)
    ctx.exchange.validate(req)
    if not compute:
        return {}
    rate = fmt(ctx.exchange.commission_rate)
    return {
        "standardCommissionForOrder": {"maker": rate, "taker": rate},
        "specialCommissionForOrder": {"maker": fmt(0), "taker": fmt(0)},
        "taxCommissionForOrder": {"maker": fmt(0), "taker": fmt(0)},
        "discount": {
            "enabledForAccount": True,
            "enabledForSymbol": True,
            "discountAsset": "BNB",
            "discount": "0.25000000",
        },
    }


def cancel_order(ctx: Context, p: Params) -> dict[str, Any]:
    symbol, order_id, client_id = _ids(p)
    restriction = p.enum(
        "cancelRestrictions",
        ("ONLY_NEW", "ONLY_PARTIALLY_FILLED"),
        ApiError(400, -1145, "Invalid cancelRestrictions"),
    )
    order = ctx.exchange.cancel(symbol, order_id, client_id, restriction)
    return order.to_cancel(p.opt("newClientOrderId") or new_client_id(), ctx.server_time())


def cancel_open_orders(ctx: Context, p: Params) -> list[dict[str, Any]]:
    symbol = p.symbol()
    assert symbol is not None
    cancel_id, now = new_client_id(), ctx.server_time()
    return [
        done.to_cancel(cancel_id, now)
        if isinstance(done, Order)
        else done.to_api([o.to_cancel(cancel_id, now) for o in done.orders])
        for done in ctx.exchange.cancel_all(symbol)
    ]
