"""What can go wrong talking to Binance, as values the tools turn into readable refusals.

Every class here carries a sentence a person can act on. Two of them are refusals the exchange
layer makes itself, without sending anything: `ExchangePaused` (a 418 ban or a 429's Retry-After
is running, so every call stops until it ends) and `LimitReached` (the next request would break
Binance's request-weight or order-count limit, and waiting for the next window would take too
long). Both are `ExchangeError`s that are never "outcome unknown": nothing was executed.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime


def utc_text(epoch_s: float) -> str:
    """An instant as the server writes times: UTC ISO 8601, seconds, `Z`."""
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class ExchangeError(Exception):
    """Binance answered with an error: its HTTP status, its code and its message.

    `retry_after` is the response's `Retry-After` in seconds (429 and 418), when it had one.
    """

    def __init__(
        self, status: int | None, code: int | None, message: str, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def outcome_unknown(self) -> bool:
        """5xx and -1006/-1007: Binance says the request may still have executed."""
        return (self.status is not None and self.status >= 500) or self.code in (-1006, -1007)

    def sentence(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        wait = (
            f"; Binance asks for no request in the next {self.retry_after:g} s"
            if self.retry_after and self.status == 429
            else ""
        )
        return f"Binance error{code}{status}: {self.message}{wait}"


class ExchangePaused(ExchangeError):
    """Nothing may be sent to Binance before `until` (epoch seconds).

    A 418 (the IP is banned) or a 429 whose Retry-After has not run out yet. `from_response` is
    True for the exception raised by the answer that started the pause, False for the refusals of
    later calls, which sent nothing.
    """

    def __init__(
        self, status: int, code: int | None, message: str, *, until: float, from_response: bool = False
    ) -> None:
        super().__init__(status, code, message, retry_after=max(0.0, until - time.time()))
        self.until = until
        self.from_response = from_response

    @property
    def banned(self) -> bool:
        return self.status == 418

    def seconds_left(self) -> float:
        return max(0.0, self.until - time.time())

    def sentence(self) -> str:
        answer = f"HTTP {self.status}" + (f" {self.code}" if self.code is not None else "")
        what = (
            f"Binance has banned this server's IP address until {utc_text(self.until)}"
            if self.banned
            else f"Binance asked for no requests until {utc_text(self.until)}"
        )
        return (
            f"{what} ({answer}: {self.message}); nothing is sent to Binance until then: "
            f"try again in {max(1, round(self.seconds_left()))} s"
        )


class LimitReached(ExchangeError):
    """The next request would break one of Binance's limits, and the wait is longer than allowed."""

    def __init__(self, limit: str, used: int, wait_s: float, max_wait_s: float) -> None:
        super().__init__(None, None, f"limit of {limit} reached", retry_after=wait_s)
        self.limit = limit
        self.used = used
        self.wait_s = wait_s
        self.max_wait_s = max_wait_s

    def sentence(self) -> str:
        return (
            f"Binance's limit of {self.limit} is used up ({self.used} used) and the next window "
            f"opens in {self.wait_s:.1f} s, longer than the {self.max_wait_s:g} s this server waits; "
            f"nothing was sent: try again in {max(1, round(self.wait_s))} s"
        )


class ExchangeUnavailable(Exception):
    """No (readable) answer from Binance: connection refused, DNS failure, timeout, connection dropped.

    `sent` says whether the request may have reached the exchange (a read timeout or a dropped
    connection after sending), which is what decides between resending and looking up an order.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent


class MissingCredentials(Exception):
    """An account or trading tool was called without BINANCE_API_KEY / BINANCE_API_SECRET."""
