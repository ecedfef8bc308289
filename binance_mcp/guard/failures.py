"""Exchange failures as refusals: one translation, used before sending and after.

Every failure of the exchange layer is an `ExchangeFailure` that says whether the request may
have executed and what to do next (`binance_mcp.exchange.errors`). Here it becomes the refusal the
agent reads: `not_configured` when the exchange was never asked (no keys), otherwise
`exchange_error` with Binance's code, its message and the next step (and how long to wait, when
Binance asked for a pause). `sent` says whether the call had already sent something that changes
the account: only then can a failure leave the outcome unknown.

A shared store that cannot be reached (PostgreSQL, Redis) is a refusal of its own,
`store_unavailable`, naming the store and the cause (never a password), with `retry_after`:
nothing was sent (`store_refusal`).
"""

from __future__ import annotations

import re
import sys

from binance_mcp.exchange.errors import ExchangeFailure, ShareUsed, missing_keys_sentence
from binance_mcp.refusals import Refusal, RefusalKind
from binance_mcp.stores.postgres import connection_lost

EXCHANGE_FAILURES = (ExchangeFailure,)


def may_have_executed(exc: ExchangeFailure, *, sent: bool) -> bool:
    """Whether a failed request may still have changed the account."""
    return sent and exc.may_have_executed


def missing_keys(what: str) -> Refusal:
    return Refusal(RefusalKind.NOT_CONFIGURED, missing_keys_sentence(what))


def refusal_for(exc: ExchangeFailure, what: str, *, sent: bool = False) -> Refusal:
    """The refusal for an exchange failure while `what` ran."""
    if exc.refusal_kind == RefusalKind.NOT_CONFIGURED:
        return missing_keys(what)
    if isinstance(exc, ShareUsed):  # this agent's share of the weight, not the exchange's refusal
        return Refusal(
            RefusalKind.RATE_LIMITED,
            exc.sentence(),
            rule=exc.setting,
            retry_after_s=round(exc.retry_after, 3) if exc.retry_after else None,
            limit=str(exc.share),
            value=str(exc.used + exc.weight),
            unit="request weight per 60 s",
            scope="agent",
        )
    wait = exc.retry_after
    return Refusal(
        RefusalKind.EXCHANGE_ERROR,
        exc.sentence(),
        code=exc.code,
        retry_after_s=round(wait, 3) if wait else None,
    )


STORE_RETRY_AFTER_S = 5.0
"""What a `store_unavailable` refusal of PostgreSQL or Redis suggests waiting."""

_SECRET_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_SECRET_IN_CONNINFO = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def unreachable_store(exc: BaseException) -> str | None:
    """`postgresql` or `redis` when `exc` says that store cannot be reached (a refused or lost
    connection, a server shutting down, a pool that found no connection in time), else None. A
    store's other errors (a constraint, a bug) are not an outage and stay what they were."""
    if connection_lost(exc):
        return "postgresql"
    redis = sys.modules.get("redis.exceptions")
    if redis is not None and isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return "redis"
    limits_errors = sys.modules.get("limits.errors")
    if limits_errors is not None and isinstance(exc, limits_errors.StorageError):
        return unreachable_store(exc.storage_error)
    return None


def store_cause(exc: BaseException) -> str:
    """The failure in a few words, without a password a URL or a conninfo may carry."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[0] if lines else exc.__class__.__name__
    text = _SECRET_IN_CONNINFO.sub(r"\1***", _SECRET_IN_URL.sub(r"\1***@", text))
    return text[:200]


STORE_NAMES = {"postgresql": "PostgreSQL", "redis": "Redis"}


def store_unavailable(
    store: str, cause: str, *, what: str = "this call", maybe_sent: bool = False
) -> Refusal:
    """The refusal of a call whose store (`postgresql`, `redis`) cannot be used: nothing was sent.
    `maybe_sent`: the store failed while an order was being dispatched, where this cannot tell
    whether it had left; the agent is told to look before calling again."""
    done = (
        "if it had already been sent to Binance it stands: look it up (get_order with its client "
        "order id, get_open_orders) before calling again"
        if maybe_sent
        else f"{what} was refused and nothing was sent to Binance"
    )
    return Refusal(
        RefusalKind.STORE_UNAVAILABLE,
        f"{STORE_NAMES.get(store, store)} cannot be reached ({cause}), so {done}; try again in "
        f"{STORE_RETRY_AFTER_S:g} s (the operator: is it running? binance-mcp doctor checks it)",
        retry_after_s=STORE_RETRY_AFTER_S,
        store=store,
    )


def store_refusal(exc: BaseException, *, what: str = "this call", maybe_sent: bool = False) -> Refusal | None:
    """The `store_unavailable` refusal for a store that cannot be reached, or None when `exc` is
    something else (then the guard fails closed as before)."""
    store = unreachable_store(exc)
    if store is None:
        return None
    return store_unavailable(store, store_cause(exc), what=what, maybe_sent=maybe_sent)
