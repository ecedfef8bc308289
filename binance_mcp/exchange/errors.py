"""What can go wrong talking to Binance: one exception tree, each failure a sentence a person can act on.

Every failure of the exchange layer is an `ExchangeFailure`, and each says whether the request
may have executed (`may_have_executed`), so a caller needs one `except` and one question, never a
list of classes:

    ExchangeFailure                 status, code, message, retry_after, may_have_executed,
    │                               summary() (what happened), sentence() (and what to do)
    ├── BinanceRejected             Binance answered with an error (its HTTP status, code, message)
    │   └── ExchangePaused          a 418 ban or a 429's Retry-After is running: nothing is sent
    ├── LimitReached                Binance's request-weight or order limit is used up here: not sent
    ├── ShareUsed                   the caller's share of the request weight is used up: not sent
    ├── ExchangeUnavailable         no readable answer (refused, DNS, TLS, timeout, dropped); `sent`
    └── MissingCredentials          no API keys configured: never sent (refusal kind `not_configured`)

`may_have_executed` is True only for a request that reached Binance and whose outcome is unknown
(5xx, -1006/-1007, a timeout or a dropped connection after sending); an order or a cancel that
fails so is looked up, never resent. `refusal_kind` is the kind a tool's refusal carries
(`exchange_error`, or `not_configured` for missing keys: nothing reached the exchange).

"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from binance_mcp.timestamps import utc_seconds_text

ENV_API_KEY = "BINANCE_API_KEY"  # the same names as binance_mcp.config (not imported: start-up cost)
ENV_API_SECRET = "BINANCE_API_SECRET"
ENV_PRIVATE_KEY_FILE = "BINANCE_PRIVATE_KEY_FILE"

EXCHANGE_ERROR = "exchange_error"
NOT_CONFIGURED = "not_configured"

# Binance: "execution status unknown" (Binance's errors.md -1006 UNEXPECTED_RESP, -1007 TIMEOUT).
_OUTCOME_UNKNOWN_CODES = frozenset({-1006, -1007})


def _until_text(epoch_s: float) -> str:
    """A wall-clock epoch as the server writes times for people (`timestamps.utc_seconds_text`)."""
    return utc_seconds_text(datetime.fromtimestamp(epoch_s, UTC))


class ExchangeFailure(Exception):
    """The root: a request to Binance did not give its answer.

    `status` (HTTP) and `code` (Binance's) are None when no answer carried them; `retry_after` is
    how long Binance (or this server's limit tracking) asks to wait, in seconds, when known.
    """

    refusal_kind = EXCHANGE_ERROR

    def __init__(
        self, status: int | None, code: int | None, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def may_have_executed(self) -> bool:
        """5xx and -1006/-1007: Binance says the request may still have executed."""
        return (self.status is not None and self.status >= 500) or self.code in _OUTCOME_UNKNOWN_CODES

    def summary(self) -> str:
        """What happened, without the next step: `Binance error -1121 (HTTP 400): Invalid symbol.`,
        or the message alone when no answer carried a code or status (for logs and lookups)."""
        code = f" {self.code}" if self.code is not None else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"Binance error{code}{status}: {self.message}" if code or status else self.message

    def sentence(self) -> str:
        """What happened and what to do: the text of the refusal the agent reads."""
        return self.summary()


class BinanceRejected(ExchangeFailure):
    """Binance answered with an error: its HTTP status, its code and its message, kept as they came.

    `next_step` is the sentence saying what to do about it (`binance_mcp.exchange.advice`), set by
    the client that knows the request; None when there is nothing better than Binance's message.
    """

    def __init__(
        self,
        status: int | None,
        code: int | None,
        message: str,
        *,
        retry_after: float | None = None,
        next_step: str | None = None,
    ) -> None:
        super().__init__(status, code, message, retry_after=retry_after)
        self.next_step = next_step

    def sentence(self) -> str:
        text = self.summary()
        if self.retry_after and self.status == 429:
            text += f"; Binance asks for no request in the next {self.retry_after:g} s"
        if self.may_have_executed:
            text += "; it may or may not have executed"
        return f"{text.rstrip('.')}. {self.next_step}" if self.next_step else text


class ExchangePaused(BinanceRejected):
    """Nothing may be sent to Binance before `until` (epoch seconds).

    A 418 (the IP is banned) or a 429 whose Retry-After has not run out yet. `from_response` is
    True for the exception raised by the answer that started the pause, False for the refusals of
    later calls, which sent nothing. Never "may have executed": Binance refused the request.
    """

    def __init__(
        self, status: int, code: int | None, message: str, *, until: float, from_response: bool = False
    ) -> None:
        super().__init__(status, code, message, retry_after=max(0.0, until - time.time()))
        self.until = until
        self.from_response = from_response

    @property
    def may_have_executed(self) -> bool:
        return False

    @property
    def banned(self) -> bool:
        return self.status == 418

    def seconds_left(self) -> float:
        return max(0.0, self.until - time.time())

    def sentence(self) -> str:
        answer = f"HTTP {self.status}" + (f" {self.code}" if self.code is not None else "")
        what = (
            f"Binance has banned this server's IP address until {_until_text(self.until)}"
            if self.banned
            else f"Binance asked for no requests until {_until_text(self.until)}"
        )
        return (
            f"{what} ({answer}: {self.message}); nothing is sent to Binance until then: "
            f"try again in {max(1, round(self.seconds_left()))} s"
        )


class LimitReached(ExchangeFailure):
    """The next request would break one of Binance's limits, and the wait is longer than allowed."""

    def __init__(self, limit: str, used: int, wait_s: float, max_wait_s: float) -> None:
        super().__init__(None, None, f"limit of {limit} reached", retry_after=wait_s)
        self.limit = limit
        self.used = used
        self.wait_s = wait_s
        self.max_wait_s = max_wait_s

    @property
    def may_have_executed(self) -> bool:
        return False

    def sentence(self) -> str:
        return (
            f"Binance's limit of {self.limit} is used up ({self.used} used) and the next window "
            f"opens in {self.wait_s:.1f} s, longer than the {self.max_wait_s:g} s this server waits; "
            f"nothing was sent: try again in {max(1, round(self.wait_s))} s"
        )


class ShareUsed(ExchangeFailure):
    """The request would take its caller past the share of Binance's request weight it may use
    (`gate`s of the exchange client set it, e.g. per agent): it is not sent, so that what the
    others need is left to them. `setting` names what sets the share (shown, not interpreted)."""

    refusal_kind = "rate_limited"

    def __init__(
        self, holder: str, share: int, used: int, weight: int, wait_s: float | None, setting: str
    ) -> None:
        super().__init__(None, None, f"{holder}'s share of request weight used up", retry_after=wait_s)
        self.holder = holder
        self.share = share
        self.used = used
        self.weight = weight
        self.setting = setting

    @property
    def may_have_executed(self) -> bool:
        return False

    def sentence(self) -> str:
        if self.retry_after is None:
            return (
                f"a request of weight {self.weight} is more than {self.holder}'s whole share of Binance's "
                f"request weight ({self.share} a minute, {self.setting}); nothing was sent"
            )
        return (
            f"{self.holder} used its share of Binance's request weight ({self.used} of {self.share} in "
            f"the last 60 s, {self.setting}; Binance counts weight per IP address, shared by every "
            f"agent here); nothing was sent: try again in {max(1, round(self.retry_after))} s"
        )


class ExchangeUnavailable(ExchangeFailure):
    """No (readable) answer from Binance: connection refused, DNS failure, TLS, timeout, dropped.

    `sent` says whether the request may have reached the exchange (a read timeout or a dropped
    connection after sending), which is what decides between resending and looking up an order.
    `next_step` says what to check (the REST root, `--base-url`, `binance-mcp doctor`).
    """

    def __init__(self, message: str, *, sent: bool, next_step: str | None = None) -> None:
        super().__init__(None, None, message)
        self.sent = sent
        self.next_step = next_step

    @property
    def may_have_executed(self) -> bool:
        return self.sent

    def sentence(self) -> str:
        tail = "it may or may not have reached Binance" if self.sent else "nothing was sent"
        return f"{self.message}; {tail}" + (f". {self.next_step}" if self.next_step else "")


class MissingCredentials(ExchangeFailure):
    """A call that needs API keys (BINANCE_API_KEY with its secret or private key file), made without them: nothing was sent.

    `request` is the exchange request that needed them (for logs); the refusal kind is
    `not_configured`, never `exchange_error`: the exchange was never asked.
    """

    refusal_kind = NOT_CONFIGURED

    def __init__(self, request: str = "") -> None:
        super().__init__(None, None, missing_keys_sentence(None))
        self.request = request

    @property
    def may_have_executed(self) -> bool:
        return False

    def sentence(self, tool: str | None = None) -> str:
        return missing_keys_sentence(tool)


def missing_keys_sentence(tool: str | None) -> str:
    """The `not_configured` refusal: what is missing, where to set it, how to check it."""
    what = tool or "this call"
    return (
        f"{what} needs Binance API keys and none are configured (nothing was sent to Binance): set "
        f"{ENV_API_KEY} and either {ENV_API_SECRET} (an HMAC key) or {ENV_PRIVATE_KEY_FILE} (the PEM "
        "file of an Ed25519 or RSA key's private key) in the environment or in a .env file in the working "
        "directory, restart the server, and check them with `binance-mcp doctor`"
    )
