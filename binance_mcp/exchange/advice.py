"""What to do after each Binance error the tools can meet: one sentence per code (and message).

Binance's code and message stay as they came (`BinanceRejected.sentence` shows both); this adds
the next step, naming the setting, the tool or the command that fixes it. Codes and messages are
those of Binance's errors.md (binance-spot-api-docs): -1022 INVALID_SIGNATURE, -2014
BAD_API_KEY_FMT, -2015 REJECTED_MBX_KEY, -1121 BAD_SYMBOL, -2011 CANCEL_REJECTED, -2013
NO_SUCH_ORDER, -1013 INVALID_MESSAGE (filter failures), -2010 NEW_ORDER_REJECTED, -2038
ORDER_AMEND_REJECTED, -1021
INVALID_TIMESTAMP, -1003 TOO_MANY_REQUESTS. A code without advice here gets none: Binance's
message is all there is to say.

`did_you_mean` is imported lazily by the client, only after a -1121, with the symbols of
exchangeInfo.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

DOCTOR = "`binance-mcp doctor`"

_FILTERS = {
    "PRICE_FILTER": "the price is outside the symbol's minimum/maximum price or off its tick size",
    "PERCENT_PRICE": "the price is too far from the recent average price",
    "PERCENT_PRICE_BY_SIDE": "the price is too far from the recent average price for this side",
    "LOT_SIZE": "the quantity is outside the symbol's minimum/maximum quantity or off its step size",
    "MARKET_LOT_SIZE": "the MARKET order's quantity is outside the symbol's market minimum/maximum or off its step size",
    "MIN_NOTIONAL": "price × quantity is below the symbol's minimum order value",
    "NOTIONAL": "price × quantity is outside the symbol's minimum/maximum order value",
    "ICEBERG_PARTS": "the iceberg would break into too many parts",
    "MAX_NUM_ORDERS": "the account has too many open orders on this symbol: cancel some first",
    "MAX_NUM_ALGO_ORDERS": "the account has too many open stop-loss/take-profit orders on this symbol: "
    "cancel some first (get_open_orders lists them)",
    "MAX_POSITION": "the account's position in the base asset would exceed the symbol's maximum",
    "TRAILING_DELTA": "the trailing delta is outside the symbol's allowed range",
    "EXCHANGE_MAX_NUM_ORDERS": "the account has too many open orders on the exchange: cancel some first",
    "EXCHANGE_MAX_NUM_ALGO_ORDERS": "the account has too many open stop-loss/take-profit orders on the "
    "exchange: cancel some first (get_open_orders lists them)",
    "MAX_NUM_ORDER_LISTS": "the account has too many open order lists on this symbol: cancel some first "
    "(get_order_lists lists them)",
    "EXCHANGE_MAX_NUM_ORDER_LISTS": "the account has too many open order lists on the exchange: cancel "
    "some first (get_order_lists lists them)",
    "MAX_NUM_ORDER_AMENDS": "this order was amended as many times as the symbol allows: cancel it and "
    "place a new one with the quantity wanted",
}

_ORDER_REJECTED = {
    "Account has insufficient balance for requested action.": (
        "The account's free balance does not cover this order (open orders lock funds): check it "
        "with get_account_info, or make the order smaller"
    ),
    "Order would trigger immediately.": (
        "The stop price is already reached by the last price: a BUY stop must be above it, a SELL "
        "stop below it (get_price shows the last price)"
    ),
    "Order would immediately match and take.": (
        "A LIMIT_MAKER order must rest on the book: move the price away from the market, or use LIMIT"
    ),
    "Duplicate order sent.": (
        "An open order already uses this client order id: pick another, or leave it out"
    ),
    "Market is closed.": "The symbol is not trading now: try again when its market opens",
    "This account may not place or cancel orders.": (
        "Binance has disabled trading on this account: see the account's settings or Binance support"
    ),
    "Rest API trading is not enabled.": (
        "The API key is not allowed to trade: enable Spot trading on the key, then run " + DOCTOR
    ),
    "The relationship of the prices for the orders is not correct.": (
        "In an OCO the last price must lie between the legs: SELL: the LIMIT_MAKER/TAKE_PROFIT_LIMIT "
        "price (or TAKE_PROFIT stop) above the last price and the stop-loss's stop below it; BUY the "
        "other way round (get_price shows the last price)"
    ),
}

_AMEND_REJECTED = {
    "Order amend (quantity increase) is not supported.": (
        "amend_order only reduces an order: new_quantity must be less than the order's quantity "
        "now (get_order shows it); to increase, cancel it and place a new order"
    ),
    "The requested action would change no state; rejecting": (
        "new_quantity is the order's quantity already: nothing to amend"
    ),
    "Order amend is not supported for this symbol.": (
        "This symbol does not allow amends (amendAllowed is false): cancel the order and place a new one"
    ),
    "Unknown order sent.": (
        "Binance has no open order with this id: it may be filled, cancelled or never placed; "
        "get_open_orders lists the open ones"
    ),
}


def next_step(
    code: int | None,
    message: str,
    params: Mapping[str, Any],
    base_url: str,
    *,
    suggestion: str | None = None,
    key_type: str | None = None,
) -> str | None:
    """The sentence after Binance's `code: message` for a request with `params`, or None.

    `suggestion` is `did_you_mean`'s answer, for a -1121; `key_type` ("HMAC", "Ed25519", "RSA") is
    the kind of key that signed, for a -1022.
    """
    symbol = params.get("symbol")
    on = f" on {symbol}" if symbol else ""
    if code == -1022:
        return "The signature does not match the API key: " + _signature_step(key_type)
    if code == -2014:
        return (
            "BINANCE_API_KEY is not an API key as Binance writes them (64 letters and digits, no "
            "quotes or spaces): copy it again, restart the server, and run " + DOCTOR
        )
    if code == -2015:
        return (
            f"Binance at {base_url} does not accept this API key for this request: the key is unknown "
            "on this network (testnet keys work only on the testnet, mainnet keys only on mainnet), "
            "this machine's IP address is not on the key's allow-list, or the key lacks the permission "
            "(e.g. Spot trading): check BINANCE_API_KEY and the key's settings, then run " + DOCTOR
        )
    if code == -1121:
        hint = suggestion or "symbols are the two assets run together, e.g. BTCUSDT"
        return f"{symbol or 'The symbol'} is not a symbol on Binance at {base_url}: {hint}"
    names_a_list = "orderListId" in params or "listClientOrderId" in params
    if (
        names_a_list
        and code in (-2011, -2013)
        and ("Unknown order" in message or "does not exist" in message)
    ):
        return (
            f"Binance has no open order list with this id{on}: it may be done (filled, cancelled, "
            "expired) or never placed; get_order_lists lists the open ones, or one by its id"
        )
    if code == -2011 and message.startswith("Unknown order"):
        return (
            f"Binance has no open order with this id{on}: it may be filled, cancelled or never "
            "placed; get_open_orders lists the open ones"
        )
    if code == -2013:
        return (
            f"Binance has no order with this id{on}: check the id and the symbol; get_open_orders "
            "lists the open ones, get_order_history the rest"
        )
    if code == -1013:
        return _filter_step(message)
    if code == -2010:
        return _ORDER_REJECTED.get(message)
    if code == -2038:
        return _AMEND_REJECTED.get(message)
    if code == -1021:
        return (
            "This machine's clock is off from Binance's: sync it (NTP: timedatectl set-ntp true); "
            f"{DOCTOR} measures the difference"
        )
    if code == -1003:
        return "Too many requests: wait a minute before the next one"
    return None


def _signature_step(key_type: str | None) -> str:
    """What to check after a -1022, for the kind of key that signed (both kinds when unknown)."""
    then = ", restart the server, and run " + DOCTOR
    hmac = "BINANCE_API_SECRET (the secret shown when this key was made, for this network)"
    if key_type == "HMAC":
        return f"check {hmac}{then}"
    if key_type in ("Ed25519", "RSA"):
        return (
            f"the {key_type} key in BINANCE_PRIVATE_KEY_FILE is not the one whose public key was "
            f"registered for this API key on this network: register its public key ({DOCTOR} shows it) "
            f"or point BINANCE_PRIVATE_KEY_FILE at the key you registered{then}"
        )
    return (
        f"check {hmac.replace('(', '(an HMAC key: ', 1)} or BINANCE_PRIVATE_KEY_FILE (an Ed25519 or RSA "
        f"key: the private key whose public key was registered for this API key){then}"
    )


def _filter_step(message: str) -> str | None:
    name = message.removeprefix("Filter failure: ").strip() if message.startswith("Filter failure") else ""
    what = _FILTERS.get(name)
    if what is None and not message.startswith("Invalid "):
        return None
    what = what or message.rstrip(".").lower()
    if "cancel" in what:  # a count of open orders or amends, not a rule get_symbol_info shows
        return f"The order breaks the symbol's rules ({what})"
    return f"The order breaks the symbol's rules ({what}): get_symbol_info shows them"


def did_you_mean(symbol: str, known: Iterable[str]) -> str | None:
    """`did you mean BTCUSDT?` from exchangeInfo's symbols, or None when nothing is close."""
    import difflib

    names = list(known)
    wanted = symbol.upper()
    close = [name for name in names if name.startswith(wanted) and name != wanted][:3]
    for name in difflib.get_close_matches(wanted, names, n=3, cutoff=0.75):
        if name not in close and len(close) < 3:
            close.append(name)
    if not close:
        return None
    return "did you mean " + " or ".join(close) + "?"


def connection_step(base_url: str) -> str:
    """After a connection that failed (refused, DNS, TLS, timeout): what to check."""
    return (
        f"The REST root in use is {base_url}: check that it is right (--base-url or BINANCE_BASE_URL "
        f"override the network's default) and reachable from here, then run {DOCTOR}"
    )
