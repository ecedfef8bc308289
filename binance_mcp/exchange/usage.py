"""Binance's request-weight and order-count limits, tracked so that calls wait before a limit.

Binance counts used IP weight per minute and new orders per 10 s and per day, in fixed windows
(Binance's rest-api.md, "LIMITS"), reports the counts in `X-MBX-USED-WEIGHT-1M` and `X-MBX-ORDER-COUNT-10S` /
`-1D`, and answers 429 beyond a limit (and bans the IP with 418 if one keeps going). So each
request first reserves its weight here; a request that would go over waits for the next window
instead, and one that would wait too long is refused (`LimitReached`) rather than sent. The
counts follow the headers (taking the larger of ours and Binance's, since other programs may
share the IP or account), and the limits come from exchangeInfo's `rateLimits`, with the values
of `exchangeInfo`'s `rateLimits` until it has been read.

Only the event loop touches a tracker, so it needs no lock: a reservation and its check happen
with no await between them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

REQUEST_WEIGHT = "REQUEST_WEIGHT"
ORDERS = "ORDERS"

_INTERVALS = {
    "SECOND": (1_000, "s"),
    "MINUTE": (60_000, "m"),
    "HOUR": (3_600_000, "h"),
    "DAY": (86_400_000, "d"),
}
# A window is taken to open this much after our clock says so: clocks and windows never agree exactly.
BOUNDARY_MARGIN_MS = 50


@dataclass(frozen=True)
class RateLimit:
    """One entry of exchangeInfo's `rateLimits` that the server tracks."""

    kind: str  # REQUEST_WEIGHT or ORDERS
    interval: str  # SECOND, MINUTE, HOUR, DAY
    interval_num: int
    limit: int

    @property
    def window_ms(self) -> int:
        return _INTERVALS[self.interval][0] * self.interval_num

    @property
    def header(self) -> str:
        """The response header that reports this count, lower-case: `x-mbx-used-weight-1m`."""
        prefix = "x-mbx-used-weight" if self.kind == REQUEST_WEIGHT else "x-mbx-order-count"
        return f"{prefix}-{self.interval_num}{_INTERVALS[self.interval][1]}"

    def describe(self) -> str:
        what = "request weight" if self.kind == REQUEST_WEIGHT else "orders"
        return f"{self.limit} {what} per {self.interval_num} {self.interval}"


# exchangeInfo's rateLimits: REQUEST_WEIGHT is 6000/min on mainnet and testnet; ORDERS the testnet's
# 50/10 s and 160000/day, the lower of the two networks.
DEFAULT_LIMITS: tuple[RateLimit, ...] = (
    RateLimit(REQUEST_WEIGHT, "MINUTE", 1, 6000),
    RateLimit(ORDERS, "SECOND", 10, 50),
    RateLimit(ORDERS, "DAY", 1, 160_000),
)


def parse_rate_limits(entries: Any) -> tuple[RateLimit, ...] | None:
    """The REQUEST_WEIGHT and ORDERS limits of an exchangeInfo `rateLimits` list; None if it has none."""
    if not isinstance(entries, list):
        return None
    found: list[RateLimit] = []
    for entry in entries:
        try:
            limit = RateLimit(
                kind=str(entry["rateLimitType"]),
                interval=str(entry["interval"]),
                interval_num=int(entry["intervalNum"]),
                limit=int(entry["limit"]),
            )
        except (KeyError, TypeError, ValueError):
            continue
        known = limit.kind in (REQUEST_WEIGHT, ORDERS) and limit.interval in _INTERVALS
        if known and limit.limit > 0 and limit.interval_num > 0:
            found.append(limit)
    return tuple(found) or None


@dataclass
class _Window:
    slot: int = -1
    used: int = 0

    def current(self, slot: int) -> int:
        if slot != self.slot:
            self.slot, self.used = slot, 0
        return self.used


@dataclass(frozen=True)
class Wait:
    """How long to wait before a request may go, and the limit that makes it wait."""

    seconds: float
    limit: RateLimit
    used: int


class UsageTracker:
    """Used weight and order counts in Binance's current windows, against the known limits."""

    def __init__(self, limits: Iterable[RateLimit] = DEFAULT_LIMITS) -> None:
        self.limits: tuple[RateLimit, ...] = tuple(limits)
        self.from_exchange = False  # True once exchangeInfo's rateLimits were read
        self._windows: dict[RateLimit, _Window] = {limit: _Window() for limit in self.limits}

    def set_limits(self, limits: Iterable[RateLimit]) -> None:
        """Put exchangeInfo's limits in force, keeping the counts of windows that stay the same."""
        old = {(w.kind, w.window_ms): self._windows[w] for w in self.limits}
        self.limits = tuple(limits)
        self._windows = {limit: old.get((limit.kind, limit.window_ms), _Window()) for limit in self.limits}
        self.from_exchange = True

    def wait_for(self, weight: int, orders: int, now_ms: int) -> Wait | None:
        """None if a request of this weight (and new orders) fits now, else the longest wait needed."""
        worst: Wait | None = None
        for limit, window in self._windows.items():
            amount = weight if limit.kind == REQUEST_WEIGHT else orders
            if amount <= 0:
                continue
            slot = now_ms // limit.window_ms
            used = window.current(slot)
            if used + amount > limit.limit:
                seconds = ((slot + 1) * limit.window_ms - now_ms + BOUNDARY_MARGIN_MS) / 1000
                if worst is None or seconds > worst.seconds:
                    worst = Wait(seconds, limit, used)
        return worst

    def add(self, weight: int, orders: int, now_ms: int) -> None:
        """Count a request about to be sent."""
        for limit, window in self._windows.items():
            amount = weight if limit.kind == REQUEST_WEIGHT else orders
            if amount > 0:
                window.current(now_ms // limit.window_ms)
                window.used += amount

    def observe(self, headers: Mapping[str, str], now_ms: int) -> None:
        """Take the counts a response reported (lower-case header names)."""
        for limit, window in self._windows.items():
            reported = _int(headers.get(limit.header))
            if reported is not None:
                used = window.current(now_ms // limit.window_ms)
                window.used = max(used, reported)

    def weight_per_minute(self) -> int:
        """The request weight Binance allows per minute (exchangeInfo's, 6000 until it was read)."""
        for limit in self.limits:
            if limit.kind == REQUEST_WEIGHT and limit.window_ms == 60_000:
                return limit.limit
        return DEFAULT_LIMITS[0].limit

    def used(self, limit: RateLimit, now_ms: int) -> int:
        return self._windows[limit].current(now_ms // limit.window_ms)


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds (Binance sends whole seconds); None if absent or not a number."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(0.0, seconds) if seconds == seconds else None  # NaN is no number


_BANNED_UNTIL = re.compile(r"banned until (\d{12,16})")
# Binance bans for 2 minutes at least (Binance's rest-api.md, "LIMITS"): the pause when a 418 says nothing else.
DEFAULT_BAN_S = 120.0


def ban_end(message: str, retry_after: float | None, now_s: float, offset_ms: int) -> float:
    """When a 418 ban ends (epoch seconds): Retry-After first, else the "banned until <ms>" of the
    message (a server-clock time), else two minutes."""
    if retry_after is not None:
        return now_s + retry_after
    match = _BANNED_UNTIL.search(message or "")
    if match:
        return int(match.group(1)) / 1000 - offset_ms / 1000
    return now_s + DEFAULT_BAN_S
