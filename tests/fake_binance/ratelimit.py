"""Usage counters behind the X-MBX-USED-WEIGHT-1M and X-MBX-ORDER-COUNT-10S/-1D headers (binance-api.md §4).

Windows are fixed (the current UTC minute, 10-second slot and day), as Binance's counters reset on boundaries.
Limits are only enforced (429 -1003 / -1015 with Retry-After) when `enforce` is switched on.
"""

from __future__ import annotations

import threading

from .errors import ApiError

WEIGHT_LIMIT = 6000
ORDERS_10S_LIMIT = 50
ORDERS_1D_LIMIT = 160000


class _Window:
    def __init__(self, size_ms: int) -> None:
        self.size_ms = size_ms
        self.slot = -1
        self.used = 0

    def add(self, now_ms: int, amount: int) -> int:
        slot = now_ms // self.size_ms
        if slot != self.slot:
            self.slot, self.used = slot, 0
        self.used += amount
        return self.used

    def retry_after_s(self, now_ms: int) -> int:
        return max(1, -(-((self.slot + 1) * self.size_ms - now_ms) // 1000))


class RateLimiter:
    """Thread-safe request-weight and order counters."""

    def __init__(self) -> None:
        self.enforce = False
        self._lock = threading.Lock()
        self._weight = _Window(60_000)
        self._orders_10s = _Window(10_000)
        self._orders_1d = _Window(86_400_000)

    def new_minute(self) -> None:
        """Forget the weight counted so far, as a new minute would (a test control, like set_price)."""
        with self._lock:
            self._weight = _Window(60_000)

    def add_weight(self, now_ms: int, weight: int) -> int:
        """Count `weight` in the current minute; return the minute's total."""
        with self._lock:
            return self._weight.add(now_ms, weight)

    def used_weight(self, now_ms: int) -> int:
        return self.add_weight(now_ms, 0)

    def check_weight(self, now_ms: int) -> None:
        """Raise 429 -1003 if the minute's weight is already over the limit (only when enforcing)."""
        with self._lock:
            used = self._weight.add(now_ms, 0)
            if self.enforce and used > WEIGHT_LIMIT:
                raise RateLimited(
                    429,
                    -1003,
                    f"Too much request weight used; current limit is {WEIGHT_LIMIT} request weight "
                    "per 1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                    self._weight.retry_after_s(now_ms),
                )

    def check_orders(self, now_ms: int) -> None:
        """Raise 429 -1015 if placing one more order would break the ORDERS limits (only when enforcing)."""
        with self._lock:
            if not self.enforce:
                return
            if self._orders_10s.add(now_ms, 0) >= ORDERS_10S_LIMIT:
                raise RateLimited(
                    429,
                    -1015,
                    f"Too many new orders; current limit is {ORDERS_10S_LIMIT} orders per 10 SECOND.",
                    self._orders_10s.retry_after_s(now_ms),
                )
            if self._orders_1d.add(now_ms, 0) >= ORDERS_1D_LIMIT:
                raise RateLimited(
                    429,
                    -1015,
                    f"Too many new orders; current limit is {ORDERS_1D_LIMIT} orders per 1 DAY.",
                    self._orders_1d.retry_after_s(now_ms),
                )

    def add_order(self, now_ms: int, count: int = 1) -> tuple[int, int]:
        """Count a successful order (an order list counts its orders); return the (10 s, 1 day) counts."""
        with self._lock:
            return self._orders_10s.add(now_ms, count), self._orders_1d.add(now_ms, count)


class RateLimited(ApiError):
    """An ApiError that also carries a Retry-After value in seconds."""

    def __init__(self, http_status: int, code: int, msg: str, retry_after: int) -> None:
        super().__init__(http_status, code, msg)
        self.retry_after = retry_after
