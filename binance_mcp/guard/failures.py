"""Exchange failures as refusals: one translation, used before sending and after.

Whatever the exchange layer raises becomes a `Refusal` the agent can read: Binance's code and
message (and how long to wait, when Binance asked for a pause), or that no answer came. `sent`
says whether the call had already sent something that changes the account: only then can a
failure leave the outcome unknown.
"""

from __future__ import annotations

from binance_mcp.config import ENV_API_KEY, ENV_API_SECRET
from binance_mcp.exchange.errors import ExchangeError, ExchangeUnavailable, MissingCredentials
from binance_mcp.refusals import Refusal, RefusalKind

EXCHANGE_FAILURES = (ExchangeError, ExchangeUnavailable, MissingCredentials)


def may_have_executed(exc: BaseException, *, sent: bool) -> bool:
    """Whether a failed request may still have changed the account."""
    if not sent:
        return False
    if isinstance(exc, ExchangeUnavailable):
        return exc.sent
    if isinstance(exc, ExchangeError):
        return exc.outcome_unknown
    return not isinstance(exc, MissingCredentials)


def missing_keys(what: str) -> Refusal:
    return Refusal(
        RefusalKind.NOT_CONFIGURED,
        f"{what} needs Binance API keys: set {ENV_API_KEY} and {ENV_API_SECRET} in the environment or "
        "in a .env file in the working directory, then restart the server; nothing was sent",
    )


def refusal_for(exc: BaseException, what: str, *, sent: bool = False) -> Refusal:
    """The refusal for an exchange failure while `what` ran."""
    if isinstance(exc, MissingCredentials):
        return missing_keys(what)
    if isinstance(exc, ExchangeError):
        wait = exc.retry_after
        return Refusal(
            RefusalKind.EXCHANGE_ERROR,
            exc.sentence(),
            code=exc.code,
            retry_after_s=round(wait, 3) if wait else None,
        )
    if isinstance(exc, ExchangeUnavailable):
        tail = (
            "; it may or may not have reached Binance"
            if may_have_executed(exc, sent=sent)
            else "; nothing was sent"
        )
        return Refusal(RefusalKind.EXCHANGE_ERROR, exc.message + tail)
    raise TypeError(f"not an exchange failure: {exc!r}")
