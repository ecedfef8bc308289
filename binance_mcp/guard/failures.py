"""Exchange failures as refusals: one translation, used before sending and after.

Every failure of the exchange layer is an `ExchangeFailure` that says whether the request may
have executed and what to do next (`binance_mcp.exchange.errors`). Here it becomes the refusal the
agent reads: `not_configured` when the exchange was never asked (no keys), otherwise
`exchange_error` with Binance's code, its message and the next step (and how long to wait, when
Binance asked for a pause). `sent` says whether the call had already sent something that changes
the account: only then can a failure leave the outcome unknown.
"""

from __future__ import annotations

from binance_mcp.exchange.errors import ExchangeFailure, ShareUsed, missing_keys_sentence
from binance_mcp.refusals import Refusal, RefusalKind

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
