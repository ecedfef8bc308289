"""Failed sign-ins: limited per client address, and counted for the audit log without the token.

A bearer token missing, unknown or revoked (or an operator's, on `/mcp`) is a failed sign-in.
Each client address may fail `MAX_FAILURES` times in a `WINDOW_S`-second window; past that, its
failed sign-ins are answered 429 with `Retry-After` until the window ends. A valid token from the
same address still passes: agents behind one address (loopback, a proxy) are never locked out by
another client's mistakes, and a guess at a 256-bit token gains nothing from the answer. The server's log gets one line for an address's first failure
in a window; the audit log gets one summary event per address and window (`sign_in_failures`:
how many, of which kind, from when to when), so a flood of bad tokens cannot fill the disk and
stop every agent. No token, not even a part of one, is ever written.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from binance_mcp.timestamps import utc_now_text

logger = logging.getLogger(__name__)

MAX_FAILURES = 20
WINDOW_S = 60.0
MAX_ADDRESSES = 10_000
"""Addresses tracked at once: past it the oldest window is summarised and let go early (a sweep of
many addresses, an IPv6 range, cannot grow the server's memory without end)."""


@dataclass
class _Window:
    started: float
    since: str
    reasons: Counter[str] = field(default_factory=Counter)

    @property
    def failures(self) -> int:
        return sum(self.reasons.values())


Summary = Callable[[str, str], None]
"""(address, sentence) → the audit event of one address's failed sign-ins in one window."""


class FailedSignIns:
    def __init__(
        self,
        summary: Summary | None = None,
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._summary = summary
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._windows: dict[str, _Window] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> float | None:
        """Seconds until `address` may try again, or None when it may now."""
        with self._lock:
            window = self._current(address)
            if window is None or window.failures < self.max_failures:
                return None
            return max(0.1, window.started + self.window_s - self._clock())

    def failed(self, address: str, reason: str) -> None:
        """One failed sign-in from `address` (`missing_token`, `invalid_token`, `operator_token`)."""
        with self._lock:
            window = self._current(address)
            if window is None:
                self._sweep()
                window = self._windows[address] = _Window(self._clock(), utc_now_text())
                logger.warning(
                    "failed sign-in from %s (%s); more in the next %g s are counted",
                    address,
                    reason,
                    self.window_s,
                )
            window.reasons[reason] += 1

    def close(self) -> None:
        """Write the summaries of the windows still open."""
        with self._lock:
            for address, window in list(self._windows.items()):
                self._summarise(address, window)
            self._windows.clear()

    def _current(self, address: str) -> _Window | None:
        window = self._windows.get(address)
        if window is not None and self._clock() - window.started >= self.window_s:
            del self._windows[address]
            self._summarise(address, window)
            return None
        return window

    def _sweep(self) -> None:
        """Summarise and forget the windows that ran out (an address that never comes back), and
        the oldest past `MAX_ADDRESSES`. Dicts keep insertion order: the oldest windows come first."""
        now = self._clock()
        for address, window in list(self._windows.items()):
            if now - window.started < self.window_s and len(self._windows) < MAX_ADDRESSES:
                break
            del self._windows[address]
            self._summarise(address, window)

    def _summarise(self, address: str, window: _Window) -> None:
        if self._summary is None or not window.failures:
            return
        kinds = ", ".join(f"{reason} {count}" for reason, count in sorted(window.reasons.items()))
        limited = " (limited: answered 429)" if window.failures >= self.max_failures else ""
        sentence = (
            f"{window.failures} failed sign-in{'s' if window.failures != 1 else ''} from {address} "
            f"between {window.since} and {utc_now_text()}: {kinds}{limited}"
        )
        try:
            self._summary(address, sentence)
        except Exception:
            logger.exception("could not record the failed sign-ins from %s", address)
