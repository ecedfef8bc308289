"""Rate limits for the guard: a moving window per key, its counters where the scope says.

The guard asks one question, `hit(key, max_calls, window_s, others)`, and hears either "go"
(None) or how many seconds to wait. A key names who is counted and for which tool (`agent:bob:
place_order`), never the rule nor the bound: a reload that changes `max`, `window` or the rule's
key (`place_order` → `place_*`) counts the calls already made against the new rule. A rule that
covers several tools (a glob, or place_order's rule that place_order_list takes) checks its limit
against the sum of its tools' counts (`others`: the keys of the other tools it covers).

Where the counters live:

- `session` counters: in the process (`limits`' memory storage) — a 2025-era session lives in
  one process; a 2026-era client has no session and is counted as its agent (shared).
- `agent` and `global` counters: shared by every process that shares the state. With SQLite state,
  `SqliteRateCounters` in the state dir (two MCP clients on one machine, and a restart, share
  them); with PostgreSQL state, the same counters in that database (every replica shares them);
  with `--rate-limit-url redis://…`, `limits`' Redis storage (and then session counters go there
  too).

Each storage keeps a moving window the same way (`limits`' algorithm): a call is allowed when
fewer than `max` calls were allowed within the last `window` seconds. `limits` is imported on the
first rate-limited call: a policy without rate limits never pays for it.

Redis may lose its counters (a restart without persistence, a flush, a failover to a replica that
had not caught up): that must never hand out a fresh allowance inside a window. Beside the
counters Redis keeps the `run_id` of the server they were last known complete on; `restart()`
compares it with the server's own (`INFO server`). When they differ (or the mark is gone with the
counters), one process claims the rebuild and `rebuild()` writes the counts again from the calls
the audit log recorded (the guard reads them: `binance_mcp.guard.ratelimit`); the others wait for
it, a few seconds at most. A call is on record only once it ended, so the rebuilding process also
writes back the hits it counted itself (`_mine`) wherever the audit log knows fewer: its calls
still in flight (waiting for the account lock, for the exchange, for a human) stay counted. The
calls in flight in *another* process at that moment are not known to the rebuild (README,
*Several replicas*).
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from binance_mcp.stores.sqlite import Database, SqliteDatabase

__all__ = [
    "RATE_LIMIT_DB_NAME",
    "SHARED_SCOPES",
    "RateLimiter",
    "Restart",
    "SqliteRateCounters",
]

RATE_LIMIT_DB_NAME = "ratelimits.sqlite3"
SHARED_SCOPES = frozenset({"agent", "global"})
NAMESPACE = "binance-mcp/ratelimit/"
KEEP_S = 86_400
"""Hits are kept at least a day, so that a window made longer by a reload still sees them."""
COMPLETE_ON = NAMESPACE + "complete-on-run-id"
"""Redis: the `run_id` of the Redis server the counters were last known complete on."""
REBUILDING = NAMESPACE + "rebuilding"
"""Redis: held (SET NX, with an expiry) by the process rebuilding the counters after a restart."""
REBUILD_CLAIM_S = 30
MINE_PER_KEY = 10_000
"""The most hits of one key this process remembers having counted in Redis (for a rebuild)."""
NO_RUN_ID = "unknown"
"""The mark kept when Redis does not say its `run_id`: then a restart is known by the mark's loss."""


@dataclass(frozen=True)
class Restart:
    """Redis restarted (or lost the counters) since they were last known complete: `run_id` is the
    server's now; `claimed` says this process is the one to rebuild them."""

    run_id: str
    claimed: bool


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
    "postgresql": (
        """
        CREATE TABLE IF NOT EXISTS rate_limit_hits (
            key TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL
        );
        CREATE INDEX IF NOT EXISTS rate_limit_hits_key_at ON rate_limit_hits (key, at);
        """,
    ),
}


class SqliteRateCounters:
    """Moving-window counters in SQLite (`ratelimits.sqlite3` in the state dir), shared by every
    process on the state dir. Each hit is one `BEGIN IMMEDIATE` transaction, committed without an
    fsync (a counter lost to a power loss costs one call too many, never money)."""

    def __init__(self, path: Path | None = None, *, database: Database | None = None) -> None:
        if database is None:
            if path is None:
                raise TypeError("SqliteRateCounters needs a path or a database")
            database = SqliteDatabase(Path(path), _MIGRATIONS, name="rate limits")
        self._db = database
        self._owns_db = path is not None
        self._table = "rate_limit_hits" if database.dialect == "postgresql" else "hits"

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> SqliteRateCounters:
        return cls(Path(state_dir) / RATE_LIMIT_DB_NAME)

    def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        table = self._table
        with self._db.writing(durable=False, serialise=f"ratelimit:{key}") as session:
            row = session.execute(
                f"SELECT at FROM {table} WHERE key = ? ORDER BY at DESC LIMIT 1 OFFSET ?",
                (key, limit - amount),
            ).fetchone()
            if row is not None and row[0] >= now - expiry:
                return False
            session.execute(f"DELETE FROM {table} WHERE key = ? AND at < ?", (key, now - max(expiry, KEEP_S)))
            for _ in range(amount):
                session.execute(f"INSERT INTO {table} (key, at) VALUES (?, ?)", (key, now))
        return True

    def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        now = time.time()
        with self._db.reading() as session:
            row = session.execute(
                f"SELECT min(at), count(*) FROM (SELECT at FROM {self._table} WHERE key = ? AND at >= ?"
                " ORDER BY at DESC LIMIT ?) AS recent",
                (key, now - expiry, limit),
            ).fetchone()
        if not row or not row[1]:
            return now, 0
        return float(row[0]), int(row[1])

    def close(self) -> None:
        if self._owns_db:
            self._db.close()


class RateLimiter:
    """`hit(key, max_calls, window_s)`: session counters in memory; `agent:`/`global:` keys in
    `shared` (the state's counters) or, with `storage_uri` `redis://…`, every key in Redis."""

    def __init__(self, storage_uri: str = "memory://", *, shared: MovingWindowStorage | None = None) -> None:
        self._storage_uri = storage_uri
        self._remote = not storage_uri.startswith("memory://")
        self._shared = shared
        self._storage: Any = None
        self._lock = threading.Lock()
        self._mine: dict[str, deque[float]] = {}
        """Redis: when this process counted each key's hits (epoch seconds), for `rebuild`."""

    def _local(self) -> MovingWindowStorage:
        if self._storage is None:
            with self._lock:
                if self._storage is None:
                    from limits.storage import storage_from_string

                    self._storage = storage_from_string(self._storage_uri)
        return self._storage

    def _redis(self) -> Any:
        """`limits`' Redis storage (its client and key prefix)."""
        return self._local()

    def _storage_for(self, key: str) -> MovingWindowStorage:
        scope = key.partition(":")[0]
        if self._remote or scope not in SHARED_SCOPES:
            return self._local()
        if self._shared is not None:
            return self._shared
        return self._local()

    def hit(
        self,
        key: str,
        max_calls: int,
        window_s: float,
        others: tuple[str, ...] = (),
        *,
        record: bool = True,
        amount: int = 1,
    ) -> float | None:
        """Count one call under `key`; None if it may go, else the seconds until one may. With
        `others` (the keys of the other tools a limit covers) the limit holds for the sum: this
        key may take what the others left. `record=False` checks without counting. `amount`
        counts that many at once (a request's weight), all or none."""
        window = max(1, math.ceil(window_s))  # whole seconds, as the policy says
        taken = 0
        oldest: float | None = None
        for other in others:
            start, count = self._storage_for(other).get_moving_window(NAMESPACE + other, max_calls, window)
            if count:
                taken += count
                oldest = start if oldest is None else min(oldest, start)
        storage = self._storage_for(key)
        stored_key = NAMESPACE + key
        room = max_calls - taken
        if room >= amount:
            if not record:
                _start, count = storage.get_moving_window(stored_key, room, window)
                if count + amount <= room:
                    return None
            elif storage.acquire_entry(stored_key, room, window, amount):
                if self._remote:
                    self._mine.setdefault(key, deque(maxlen=MINE_PER_KEY)).extend([time.time()] * amount)
                return None
        start, count = storage.get_moving_window(stored_key, max_calls, window)
        if count:
            oldest = start if oldest is None else min(oldest, start)
        now = time.time()
        return max(0.001, round((oldest if oldest is not None else now) + window - now, 3))

    def left(self, key: str, max_calls: int, window_s: float, others: tuple[str, ...] = ()) -> int:
        """How many more calls `key` may make in the current window, the others' counted (counts nothing)."""
        window = max(1, math.ceil(window_s))
        used = sum(
            self._storage_for(k).get_moving_window(NAMESPACE + k, max_calls, window)[1]
            for k in (key, *others)
        )
        return max(0, max_calls - used)

    def restart(self) -> Restart | None:
        """None while the counters are whole: not Redis, or the Redis server they were last known
        complete on (its `run_id`). Else a `Restart`, claimed by at most one process at a time."""
        if not self._remote:
            return None
        client = self._redis().get_connection()
        pipe = client.pipeline(transaction=False)
        pipe.info("server")
        pipe.get(COMPLETE_ON)
        info, complete_on = pipe.execute(raise_on_error=False)
        if isinstance(complete_on, Exception):
            raise complete_on
        # a Redis that refuses INFO (renamed away by its host): the mark's presence alone tells
        run_id = str(info["run_id"]) if isinstance(info, dict) else NO_RUN_ID
        if complete_on is not None and _text(complete_on) == run_id:
            return None
        claimed = bool(client.set(REBUILDING, run_id, nx=True, ex=REBUILD_CLAIM_S))
        return Restart(run_id, claimed)

    def rebuild(self, restart: Restart, hits: Iterable[tuple[str, float]], keep_s: float) -> int:
        """Write each key's counts again from `hits` (key, epoch seconds) — the calls the audit log
        recorded in the last `keep_s` seconds, or the hits this process counted itself where those
        are more (its calls still in flight) — replacing what the key held, then mark the counters
        complete on this Redis server; returns how many keys. A key no call of the span names is
        left as it is."""
        storage = self._redis()
        client = storage.get_connection()
        by_key: dict[str, list[float]] = {}
        for key, at in hits:
            by_key.setdefault(key, []).append(at)
        since = time.time() - keep_s
        for key, mine in list(self._mine.items()):  # this process's calls not on record yet
            recent = [at for at in list(mine) if at >= since]
            if len(recent) > len(by_key.get(key, ())):
                by_key[key] = recent
        expiry = max(1, math.ceil(keep_s))
        pipe = client.pipeline(transaction=True)
        for key, times in by_key.items():
            stored = storage.prefixed_key(NAMESPACE + key)
            pipe.delete(stored)
            pipe.rpush(stored, *sorted(times, reverse=True))  # newest first, as `limits` keeps them
            pipe.expire(stored, expiry)
        pipe.set(COMPLETE_ON, restart.run_id)
        pipe.delete(REBUILDING)
        pipe.execute()
        return len(by_key)

    def give_up(self, restart: Restart) -> None:
        """Let go of a rebuild this process claimed and could not finish (best effort: the claim
        expires on its own after `REBUILD_CLAIM_S`)."""
        if not restart.claimed:
            return
        client = self._redis().get_connection()
        with contextlib.suppress(Exception):
            if _text(client.get(REBUILDING) or b"") == restart.run_id:
                client.delete(REBUILDING)

    def close(self) -> None:
        closer = getattr(self._shared, "close", None)
        if closer is not None:
            closer()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
