"""Rate limits for the guard: a moving window per key, its counters where the scope says.

The guard asks one question, `hit(key, max_calls, window_s)`, and hears either "go" (None) or how
many seconds to wait. The key names who shares the count (`session:…`, `agent:…`, `global:…`, then
the rule) and never the bound: a policy reload that changes `max` or `window` counts the calls
already made against the new bound, instead of handing out a fresh allowance.

Where the counters live:

- `session` counters: in the process (`limits`' memory storage) — a session lives in one process.
- `agent` and `global` counters: shared by every process that shares the state. With SQLite state,
  `SqliteRateCounters` in the state dir (two MCP clients on one machine, and a restart, share
  them); with `--rate-limit-url redis://…`, `limits`' Redis storage (every replica shares them,
  and then session counters go there too). With PostgreSQL state and no Redis URL there is no
  shared place: `require_shared_counters` refuses such a start, naming the flag.

Each storage keeps a moving window the same way (`limits`' algorithm): a call is allowed when
fewer than `max` calls were allowed within the last `window` seconds. `limits` is imported on the
first rate-limited call: a policy without rate limits never pays for it.
"""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any, Protocol

from binance_mcp.stores.sqlite import SqliteDatabase

__all__ = [
    "RATE_LIMIT_DB_NAME",
    "SHARED_SCOPES",
    "RateLimiter",
    "SharedCountersMissing",
    "SqliteRateCounters",
    "shared_rate_limits",
]

RATE_LIMIT_DB_NAME = "ratelimits.sqlite3"
SHARED_SCOPES = frozenset({"agent", "global"})
NAMESPACE = "binance-mcp/ratelimit/"
KEEP_S = 86_400
"""Hits are kept at least a day, so that a window made longer by a reload still sees them."""


class SharedCountersMissing(Exception):
    """An `agent` or `global` limit with nowhere shared to count it (PostgreSQL state, no Redis)."""


class MovingWindowStorage(Protocol):
    """The two calls of `limits`' moving-window storages that the limiter uses."""

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool: ...

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]: ...


_MIGRATIONS = {
    "sqlite": (
        """
        CREATE TABLE IF NOT EXISTS hits (
            key TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX IF NOT EXISTS hits_key_at ON hits (key, at);
        """,
    ),
}


class SqliteRateCounters:
    """Moving-window counters in SQLite (`ratelimits.sqlite3` in the state dir), shared by every
    process on the state dir. Each hit is one `BEGIN IMMEDIATE` transaction, committed without an
    fsync (a counter lost to a power loss costs one call too many, never money)."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(Path(path), _MIGRATIONS, name="rate limits")

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> SqliteRateCounters:
        return cls(Path(state_dir) / RATE_LIMIT_DB_NAME)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        with self._db.writing(durable=False, serialise=f"ratelimit:{key}") as session:
            row = session.execute(
                "SELECT at FROM hits WHERE key = ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                (key, limit - amount),
            ).fetchone()
            if row is not None and row[0] >= now - expiry:
                return False
            session.execute("DELETE FROM hits WHERE key = ? AND at < ?", (key, now - max(expiry, KEEP_S)))
            for _ in range(amount):
                session.execute("INSERT INTO hits (key, at) VALUES (?, ?)", (key, now))
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        with self._db.reading() as session:
            row = session.execute(
                "SELECT min(at), count(*) FROM (SELECT at FROM hits WHERE key = ? AND at >= ?"
                " ORDER BY at DESC LIMIT ?) AS recent",
                (key, now - expiry, limit),
            ).fetchone()
        if not row or not row[1]:
            return now, 0
        return float(row[0]), int(row[1])

    def close(self) -> None:
        self._db.close()


class RateLimiter:
    """`hit(key, max_calls, window_s)`: session counters in memory; `agent:`/`global:` keys in
    `shared` (the state's counters) or, with `storage_uri` `redis://…`, every key in Redis.
    `shared_required=True` (PostgreSQL state, no Redis) makes a shared key raise
    `SharedCountersMissing` instead of counting per process."""

    def __init__(
        self,
        storage_uri: str = "memory://",
        *,
        shared: MovingWindowStorage | None = None,
        shared_required: bool = False,
    ) -> None:
        self._storage_uri = storage_uri
        self._remote = not storage_uri.startswith("memory://")
        self._shared = shared
        self._shared_required = shared_required
        self._storage: Any = None
        self._lock = threading.Lock()

    def _local(self) -> MovingWindowStorage:
        if self._storage is None:
            with self._lock:
                if self._storage is None:
                    from limits.storage import storage_from_string

                    self._storage = storage_from_string(self._storage_uri)
        return self._storage

    def _storage_for(self, key: str) -> MovingWindowStorage:
        scope = key.partition(":")[0]
        if self._remote or scope not in SHARED_SCOPES:
            return self._local()
        if self._shared is not None:
            return self._shared
        if self._shared_required:
            raise SharedCountersMissing(
                f"a {scope!r} rate limit needs counters every replica shares: start with --rate-limit-url redis://…"
            )
        return self._local()

    def hit(self, key: str, max_calls: int, window_s: float) -> float | None:
        """Count one call under `key`; None if it may go, else the seconds until one may."""
        storage = self._storage_for(key)
        window = max(1, math.ceil(window_s))  # whole seconds, as the policy says
        stored_key = NAMESPACE + key
        if storage.acquire_entry(stored_key, max_calls, window):
            return None
        start, _count = storage.get_moving_window(stored_key, max_calls, window)
        return max(0.001, round(start + window - time.time(), 3))

    def left(self, key: str, max_calls: int, window_s: float) -> int:
        """How many more calls `key` may make in the current window (counts nothing)."""
        window = max(1, math.ceil(window_s))
        _start, count = self._storage_for(key).get_moving_window(NAMESPACE + key, max_calls, window)
        return max(0, max_calls - count)

    def close(self) -> None:
        closer = getattr(self._shared, "close", None)
        if closer is not None:
            closer()


def shared_rate_limits(policy: Any) -> list[str]:
    """Where a policy (a `Policy` model) sets an `agent` or `global` rate limit, as paths."""
    from pydantic import BaseModel

    from binance_mcp.policy.model import RateLimit

    found: list[str] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, RateLimit):
            if value.scope in SHARED_SCOPES:
                found.append(path)
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name), f"{path}.{name}" if path else name)
        elif isinstance(value, dict):
            for name, item in value.items():
                walk(item, f"{path}.{name}" if path else str(name))
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")

    walk(policy, "")
    return found
