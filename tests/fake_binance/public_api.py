"""Handlers of the public (NONE security) market-data endpoints: (Context, Params) -> JSON data."""

from __future__ import annotations

import json
from typing import Any

from . import market
from .context import Context
from .data import RATE_LIMITS, fmt
from .errors import (
    BAD_COMBINATION,
    INVALID_INTERVAL,
    INVALID_TICKER_TYPE,
    STATUS_MISMATCH,
    ApiError,
    error,
    illegal_chars,
    invalid_value,
    mandatory,
)
from .params import Params

SYMBOL_STATUSES = ("TRADING", "END_OF_DAY", "HALT", "BREAK", "CANCEL_ONLY")


def ping(ctx: Context, p: Params) -> dict[str, Any]:
    return {}


def server_time(ctx: Context, p: Params) -> dict[str, Any]:
    return {"serverTime": ctx.server_time()}


def _selected_symbols(ctx: Context, p: Params) -> tuple[list[str], bool]:
    """Symbols picked by symbol= / symbols= / neither, filtered by symbolStatus; and if one was asked for."""
    symbol, names = p.symbol(required=False), p.symbols_list()
    status = p.enum("symbolStatus", SYMBOL_STATUSES, mandatory("symbolStatus"))
    if symbol is not None and names is not None:
        raise error(BAD_COMBINATION)
    specs = ctx.exchange.symbols
    if symbol is not None:
        if status is not None and specs[symbol]["status"] != status:
            raise error(STATUS_MISMATCH)
        return [symbol], True
    chosen = names if names is not None else list(specs)
    return [s for s in chosen if status is None or specs[s]["status"] == status], False


def exchange_info(ctx: Context, p: Params) -> dict[str, Any]:
    if (p.has("symbol") or p.has("symbols")) and (p.has("permissions") or p.has("symbolStatus")):
        raise error(BAD_COMBINATION)
    names, _ = _selected_symbols(ctx, p)
    wanted = p.opt("permissions")
    if wanted is not None:
        try:
            perms = set(json.loads(wanted)) if wanted.startswith("[") else {wanted}
        except ValueError:
            raise illegal_chars("permissions", '^\\[("[A-Z_]+"(,"[A-Z_]+")*)?\\]$') from None
        specs = ctx.exchange.symbols
        names = [s for s in names if any(perms & set(ps) for ps in specs[s]["permissionSets"])]
    show_sets = p.opt("showPermissionSets") != "false"
    symbols = []
    for name in names:
        entry = dict(ctx.exchange.symbols[name])
        if not show_sets:
            entry["permissionSets"] = []
        symbols.append(entry)
    return {
        "timezone": "UTC",
        "serverTime": ctx.server_time(),
        "rateLimits": [dict(r) for r in RATE_LIMITS],
        "exchangeFilters": [],
        "symbols": symbols,
    }


def ticker_price(ctx: Context, p: Params) -> Any:
    names, single = _selected_symbols(ctx, p)
    rows = [{"symbol": s, "price": fmt(ctx.exchange.price(s))} for s in names]
    return rows[0] if single else rows


def avg_price(ctx: Context, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    assert symbol is not None
    ex = ctx.exchange
    return {
        "mins": ex.average_price_minutes(symbol),
        "price": fmt(ex.average_price(symbol)),
        "closeTime": max(t for t, _, _ in ex.tape[symbol]),
    }


def depth_limit(p: Params) -> int:
    limit = p.opt_int("limit")
    if limit is None:
        return 100
    if limit < 1:
        raise invalid_value("limit")
    return min(limit, 5000)


def depth(ctx: Context, p: Params) -> dict[str, Any]:
    symbol = p.symbol()
    assert symbol is not None
    limit = depth_limit(p)
    ex = ctx.exchange
    with ex.lock:
        price, update_id = ex.price(symbol), ex.update_id
    return market.depth(symbol, ex.symbols[symbol], price, limit, update_id)


def klines(ctx: Context, p: Params) -> list[list[Any]]:
    symbol = p.symbol()
    assert symbol is not None
    interval = p.req("interval")
    if interval not in market.INTERVAL_MS:
        raise error(INVALID_INTERVAL)
    limit = p.int_in_range("limit", 500, 1, 1000)
    p.opt("timeZone")  # accepted; candles are always generated in UTC
    ex = ctx.exchange
    return market.klines(
        symbol,
        ex.symbols[symbol],
        ex.price(symbol),
        ex.price_set_at[symbol],
        ctx.server_time(),
        interval,
        limit,
        p.opt_int("startTime"),
        p.opt_int("endTime"),
    )


def ticker_24hr(ctx: Context, p: Params) -> Any:
    kind = p.enum("type", ("FULL", "MINI"), error(INVALID_TICKER_TYPE)) or "FULL"
    names, single = _selected_symbols(ctx, p)
    ex = ctx.exchange
    now = ctx.server_time()
    rows = [
        market.ticker_24hr(
            s, ex.symbols[s], ex.price(s), ex.price_set_at[s], now, ex.update_id, mini=kind == "MINI"
        )
        for s in names
    ]
    return rows[0] if single else rows


def reference_price(ctx: Context, p: Params) -> dict[str, Any]:
    """GET /api/v3/referencePrice (rest-api.md): the price, null, or -2043 when never set."""
    symbol = p.symbol()
    assert symbol is not None
    ex = ctx.exchange
    with ex.lock:
        if symbol not in ex.reference_prices:
            raise ApiError(400, -2043, "This symbol doesn't have a reference price.")
        value = ex.reference_prices[symbol]
    return {
        "symbol": symbol,
        "referencePrice": fmt(value) if value is not None else None,
        "timestamp": ctx.server_time(),
    }
