"""Rate limits for the guard: the `limits` library's moving window, strategy apart from storage.

The guard asks one question, `hit(key, max_calls, window_s)`, and hears either "go" (None) or how
many seconds to wait. Where the counters live is the storage URI chosen at start-up: `memory://`
for one process today, `redis://...` for several replicas later, with no change to the guard.
`limits` is imported on the first rate-limited call: a policy without rate limits never pays for it.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any


class RateLimiter:
    def __init__(self, storage_uri: str = "memory://") -> None:
        self._storage_uri = storage_uri
        self._strategy: Any = None
        self._items: dict[tuple[int, int], Any] = {}
        self._lock = threading.Lock()

    def _ready(self) -> Any:
        if self._strategy is None:
            with self._lock:
                if self._strategy is None:
                    from limits.storage import storage_from_string
                    from limits.strategies import MovingWindowRateLimiter

                    self._strategy = MovingWindowRateLimiter(storage_from_string(self._storage_uri))
        return self._strategy

    def _item(self, max_calls: int, window_s: float) -> Any:
        from limits import RateLimitItemPerSecond

        window = max(1, math.ceil(window_s))  # `limits` counts whole seconds
        key = (max_calls, window)
        item = self._items.get(key)
        if item is None:
            item = self._items[key] = RateLimitItemPerSecond(max_calls, window)
        return item

    def hit(self, key: str, max_calls: int, window_s: float) -> float | None:
        """Count one call under `key`; None if it may go, else the seconds until one may."""
        strategy = self._ready()
        item = self._item(max_calls, window_s)
        if strategy.hit(item, key):
            return None
        reset_at, _remaining = strategy.get_window_stats(item, key)
        return max(0.001, round(reset_at - time.time(), 3))

    def left(self, key: str, max_calls: int, window_s: float) -> int:
        """How many more calls `key` may make in the current window (counts nothing)."""
        strategy = self._ready()
        _reset_at, remaining = strategy.get_window_stats(self._item(max_calls, window_s), key)
        return int(remaining)
