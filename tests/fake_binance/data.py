"""Static exchange data: symbols (exchangeInfo entries with filters), default prices and balances, rateLimits.

BTCUSDT is the live Spot Testnet symbol from binance-api.md §5.3; ETHUSDT and BNBBTC follow the same
layout with their own tick/step/notional values. Also the 8-decimal number formatting every endpoint uses.
"""

from __future__ import annotations

import copy
from decimal import ROUND_DOWN, Decimal
from typing import Any

EIGHT = Decimal("0.00000001")

RATE_LIMITS: list[dict[str, Any]] = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 160000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000},
]

ORDER_TYPES = [
    "LIMIT",
    "LIMIT_MAKER",
    "MARKET",
    "STOP_LOSS",
    "STOP_LOSS_LIMIT",
    "TAKE_PROFIT",
    "TAKE_PROFIT_LIMIT",
]
STP_MODES = ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT", "TRANSFER"]


def _symbol(
    symbol: str,
    base: str,
    quote: str,
    *,
    tick: str,
    min_qty: str,
    max_qty: str,
    step: str,
    market_max_qty: str,
    min_notional: str,
    max_notional: str,
) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "status": "TRADING",
        "baseAsset": base,
        "baseAssetPrecision": 8,
        "quoteAsset": quote,
        "quotePrecision": 8,
        "quoteAssetPrecision": 8,
        "baseCommissionPrecision": 8,
        "quoteCommissionPrecision": 8,
        "orderTypes": list(ORDER_TYPES),
        "icebergAllowed": True,
        "ocoAllowed": True,
        "otoAllowed": True,
        "opoAllowed": True,
        "quoteOrderQtyMarketAllowed": True,
        "allowTrailingStop": True,
        "cancelReplaceAllowed": True,
        "amendAllowed": True,
        "pegInstructionsAllowed": True,
        "isSpotTradingAllowed": True,
        "isMarginTradingAllowed": False,
        "filters": [
            {
                "filterType": "PRICE_FILTER",
                "minPrice": tick,
                "maxPrice": "1000000.00000000",
                "tickSize": tick,
            },
            {"filterType": "LOT_SIZE", "minQty": min_qty, "maxQty": max_qty, "stepSize": step},
            {"filterType": "ICEBERG_PARTS", "limit": 100},
            {
                "filterType": "MARKET_LOT_SIZE",
                "minQty": "0.00000000",
                "maxQty": market_max_qty,
                "stepSize": "0.00000000",
            },
            {
                "filterType": "TRAILING_DELTA",
                "minTrailingAboveDelta": 10,
                "maxTrailingAboveDelta": 2000,
                "minTrailingBelowDelta": 10,
                "maxTrailingBelowDelta": 2000,
            },
            {
                "filterType": "PERCENT_PRICE_BY_SIDE",
                "bidMultiplierUp": "5",
                "bidMultiplierDown": "0.2",
                "askMultiplierUp": "5",
                "askMultiplierDown": "0.2",
                "avgPriceMins": 5,
            },
            {
                "filterType": "NOTIONAL",
                "minNotional": min_notional,
                "applyMinToMarket": True,
                "maxNotional": max_notional,
                "applyMaxToMarket": False,
                "avgPriceMins": 5,
            },
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
            {"filterType": "MAX_NUM_ORDER_LISTS", "maxNumOrderLists": 20},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
            {"filterType": "MAX_NUM_ORDER_AMENDS", "maxNumOrderAmends": 10},
        ],
        "permissions": [],
        "permissionSets": [["SPOT"]],
        "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
        "allowedSelfTradePreventionModes": list(STP_MODES),
    }


SYMBOLS: dict[str, dict[str, Any]] = {
    "BTCUSDT": _symbol(
        "BTCUSDT",
        "BTC",
        "USDT",
        tick="0.01000000",
        min_qty="0.00001000",
        max_qty="9000.00000000",
        step="0.00001000",
        market_max_qty="100.00000000",
        min_notional="5.00000000",
        max_notional="9000000.00000000",
    ),
    "ETHUSDT": _symbol(
        "ETHUSDT",
        "ETH",
        "USDT",
        tick="0.01000000",
        min_qty="0.00010000",
        max_qty="9000.00000000",
        step="0.00010000",
        market_max_qty="1000.00000000",
        min_notional="5.00000000",
        max_notional="9000000.00000000",
    ),
    "BNBBTC": _symbol(
        "BNBBTC",
        "BNB",
        "BTC",
        tick="0.00000100",
        min_qty="0.00100000",
        max_qty="900000.00000000",
        step="0.00100000",
        market_max_qty="10000.00000000",
        min_notional="0.00010000",
        max_notional="9000.00000000",
    ),
}

DEFAULT_PRICES: dict[str, str] = {"BTCUSDT": "65000.00", "ETHUSDT": "3500.00", "BNBBTC": "0.009"}
DEFAULT_BALANCES: dict[str, str] = {"USDT": "100000", "BTC": "1", "ETH": "10", "BNB": "100"}


def symbol_specs() -> dict[str, dict[str, Any]]:
    """A private deep copy of the symbol table, so one fake instance can't leak changes into another."""
    return copy.deepcopy(SYMBOLS)


def get_filter(spec: dict[str, Any], filter_type: str) -> dict[str, Any] | None:
    """The filter object of `filter_type` in a symbol spec, or None."""
    for f in spec["filters"]:
        if f["filterType"] == filter_type:
            return f
    return None


def fmt(value: Decimal | int | str) -> str:
    """Binance number formatting: a decimal string padded (and truncated) to 8 places, e.g. "0.10000000"."""
    return f"{Decimal(value).quantize(EIGHT, rounding=ROUND_DOWN):f}"
