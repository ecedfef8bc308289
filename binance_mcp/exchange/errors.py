"""What can go wrong talking to Binance, as values the tools turn into readable refusals."""

from __future__ import annotations


class ExchangeError(Exception):
    """Binance answered with an error: its HTTP status, its code and its message."""

    def __init__(self, status: int | None, code: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    @property
    def outcome_unknown(self) -> bool:
        """5xx and -1006/-1007: Binance says the request may still have executed."""
        return (self.status is not None and self.status >= 500) or self.code in (-1006, -1007)

    def sentence(self) -> str:
        code = f" {self.code}" if self.code is not None else ""
        status = f" (HTTP {self.status})" if self.status is not None else ""
        return f"Binance error{code}{status}: {self.message}"


class ExchangeUnavailable(Exception):
    """No answer from Binance: connection refused, DNS failure, timeout, connection dropped.

    `sent` says whether the request may have reached the exchange (a read timeout or a dropped
    connection after sending), which is what decides between resending and looking up an order.
    """

    def __init__(self, message: str, *, sent: bool) -> None:
        super().__init__(message)
        self.message = message
        self.sent = sent


class MissingCredentials(Exception):
    """An account or trading tool was called without BINANCE_API_KEY / BINANCE_API_SECRET."""
