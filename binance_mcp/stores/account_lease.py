"""One lock per account, honoured by every process that shares the state: a lease with a fence.

The checks that depend on the account (a reused client order id, `max_open_orders`, the budget)
and the order's dispatch run one at a time per account, across every process and replica on the
state. The lock is a row per account in the shared store (`account_leases`: holder, generation,
expires_at), in the state dir's `locks.sqlite3` or in PostgreSQL, never a session advisory lock or
an `flock`: those stay held for as long as a stopped (SIGSTOP) process keeps its connection or file
open. A lease runs out instead:

- **taken** in one transaction when the row is free: released, its lease run out, or its holder a
  process of this host that no longer runs (a killed server's lock is free at once). Each taking
  bumps the row's `generation`.
- **renewed** every third of the lease by a thread of the holder while it holds it; a holder that
  stops renewing (paused, cut off from the store) loses it when the lease runs out, and the next
  caller takes it.
- **fenced**: `AccountLeases.fence(lease)` proves, against the store, that this holder's
  generation still holds the row and extends it; dispatch does it right before each request that
  changes the account leaves, so a holder that resumes after its lease ran out sends nothing
  (`LeaseLost`). What a fenced holder sends carries a `recvWindow` that ends with the lease
  (`binance_mcp.exchange.client.SendWindow`): Binance itself refuses it if it arrives later.
- **waited for** a bounded time: past `wait_s` the wait ends with `AccountBusy`, naming the holder
  and how long its lease still runs.

Inside one process, the tasks of an account queue FIFO on an `anyio.Lock` before they poll the
store, so only one task per process waits on the row. The store's own clock (PostgreSQL's
`clock_timestamp()`, the machine's for SQLite) decides expiry, so replicas with skewed clocks agree.
"""

from __future__ import annotations

import functools
import logging
import secrets
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import anyio
import anyio.lowlevel
import anyio.to_thread

from binance_mcp.stores.lease import DEFAULT_LEASE_S, owner_is_gone, process_owner
from binance_mcp.stores.postgres import once_more_if_dropped

if TYPE_CHECKING:
    from binance_mcp.stores.sqlite import Database, Session

__all__ = [
    "DEFAULT_WAIT_S",
    "AccountBusy",
    "AccountLeases",
    "AccountLock",
    "Lease",
    "LeaseLost",
    "open_postgres_leases",
    "open_sqlite_leases",
]

logger = logging.getLogger(__name__)

DEFAULT_WAIT_S = 10.0
"""How long a call waits for another holder's lease before it is refused as `account_busy`:
well under an MCP client's usual request timeout (30–60 s)."""


CLOSE_WAIT_S = 5.0
"""How long `close()` waits for each release still under way (a store that is away)."""

_POLL_S = (0.02, 0.05, 0.1, 0.2)
"""Pauses between two looks at a held row (the last one repeats)."""

_MIGRATIONS = {
    "sqlite": (
        """
        CREATE TABLE IF NOT EXISTS account_leases (
            account TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            generation INTEGER NOT NULL,
            expires_at REAL NOT NULL
        );
        """,
    ),
    "postgresql": (
        """
        CREATE TABLE IF NOT EXISTS account_leases (
            account TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            generation BIGINT NOT NULL,
            expires_at DOUBLE PRECISION NOT NULL
        );
        """,
    ),
}


class AccountBusy(Exception):
    """The account's lease is held by `holder` and was not freed within the wait."""

    def __init__(self, account: str, holder: str, waited_s: float, lease_left_s: float) -> None:
        self.account = account
        self.holder = holder
        self.waited_s = waited_s
        self.lease_left_s = lease_left_s
        super().__init__(f"account {account} is held by {holder}")


class LeaseLost(Exception):
    """The fence refused: another holder took the account's lease (or it ran out) since this one
    took it, so this holder may send nothing more."""

    def __init__(self, lease: Lease, holder: str | None) -> None:
        self.lease = lease
        self.holder = holder
        now = f"; {holder} holds it now" if holder else ""
        super().__init__(
            f"the account lock (generation {lease.generation}) was lost: its lease ran out before the send{now}"
        )


@dataclass
class Lease:
    """One holding of an account's lock: who, which generation (the fencing token), and until when
    (on this process's monotonic clock) it is sure to be held without another look at the store."""

    account: str
    holder: str
    generation: int
    lease_s: float
    sure_until: float
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


class AccountLock(Protocol):
    def held(self, account: str, wait_s: float | None = None) -> AbstractAsyncContextManager[Lease]: ...

    async def fence(self, lease: Lease) -> Lease: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class _Row:
    holder: str
    generation: int
    left_s: float  # how long its lease still runs (≤ 0: ran out)


class AccountLeases:
    """The `account_leases` table on a `Database` (SQLite or PostgreSQL), as a lock per account.

    `holder` names this instance: `host/pid/start#nonce` (the process, as pending audit records
    name it, and which lock object of it), never anything secret.
    """

    def __init__(
        self,
        database: Database,
        *,
        lease_s: float = DEFAULT_LEASE_S,
        closing: Callable[[], None] | None = None,
    ) -> None:
        self._db = database
        self._closing = closing
        self.store_name = "PostgreSQL" if database.dialect == "postgresql" else "SQLite state"
        self.lease_s = lease_s
        self.holder = f"{process_owner()}#{secrets.token_hex(3)}"
        self._queues: dict[str, anyio.Lock] = {}
        self._releasing: set[threading.Thread] = set()

    # -- what dispatch uses ----------------------------------------------------------------------

    @asynccontextmanager
    async def held(self, account: str, wait_s: float | None = None) -> AsyncIterator[Lease]:
        """Hold `account`'s lease for the body (renewed meanwhile); wait at most `wait_s` seconds
        for another holder (None: for as long as it takes), then raise `AccountBusy`."""
        started = time.monotonic()
        deadline = None if wait_s is None else started + wait_s
        queue = self._queues.get(account)
        if queue is None:
            queue = self._queues[account] = anyio.Lock()
        if deadline is None:
            await queue.acquire()
        else:
            with anyio.move_on_after(max(deadline - time.monotonic(), 0)) as queued:
                await queue.acquire()
            if queued.cancelled_caught:  # a task of this process held it all along
                row = await anyio.to_thread.run_sync(self._current, account)
                holder, left = (row.holder, max(row.left_s, 0)) if row else (self.holder, 0.0)
                raise AccountBusy(account, holder, wait_s or 0, left)
        try:
            lease = await self._take(account, started, deadline, wait_s)
            renewer = threading.Thread(target=self._keep, args=(lease,), name="account-lease", daemon=True)
            renewer.start()
            try:
                yield lease
            finally:
                lease._stop.set()
                # Let go of it off the answer's path: a store that is away (PostgreSQL restarting) makes
                # the release wait for a connection, never the call; failing, the lease runs out.
                releasing = threading.Thread(
                    target=self._release, args=(lease,), name="account-unlock", daemon=True
                )
                self._releasing.add(releasing)
                releasing.start()
        finally:
            queue.release()

    async def fence(self, lease: Lease) -> Lease:
        """Prove against the store that `lease` still holds its account, and extend it; raises
        `LeaseLost` when another generation holds it or it ran out. Returns the lease with its new
        `sure_until`."""
        asked = time.monotonic()
        # durable: the extension the send relies on must survive a crash of the store, or another
        # replica could take the lock back to an earlier expiry while this request is still valid
        extend = functools.partial(self._extend, lease, durable=True)
        current = await anyio.to_thread.run_sync(once_more_if_dropped, "account lock fence", extend)
        if current is not None:
            lease.lost = True
            raise LeaseLost(lease, current or None)
        lease.sure_until = asked + lease.lease_s
        return lease

    def close(self) -> None:
        """Let go of what is still being released (each waits at most a few seconds), then close."""
        for releasing in list(self._releasing):
            releasing.join(CLOSE_WAIT_S)
        self._db.close()
        if self._closing is not None:
            self._closing()

    # -- the store -------------------------------------------------------------------------------

    async def _take(
        self, account: str, started: float, deadline: float | None, wait_s: float | None
    ) -> Lease:
        pauses = iter(_POLL_S)
        pause = next(pauses)
        while True:
            asked = time.monotonic()
            with anyio.CancelScope(shield=True):  # a taken lease is never dropped by a cancel
                take = functools.partial(self._try_take, account)
                got = await anyio.to_thread.run_sync(once_more_if_dropped, "account lock", take)
            if isinstance(got, int):
                lease = Lease(account, self.holder, got, self.lease_s, asked + self.lease_s)
                try:
                    await anyio.lowlevel.checkpoint_if_cancelled()
                except BaseException:
                    with anyio.CancelScope(shield=True):
                        await anyio.to_thread.run_sync(self._release, lease)
                    raise
                return lease
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise AccountBusy(account, got.holder, wait_s or 0, max(got.left_s, 0))
            sleep = min(pause, max(got.left_s, 0.005))
            if deadline is not None:
                sleep = min(sleep, deadline - now)
            await anyio.sleep(sleep)
            pause = next(pauses, _POLL_S[-1])

    def _now(self, session: Session) -> float:
        if self._db.dialect == "postgresql":
            return float(session.execute("SELECT EXTRACT(EPOCH FROM clock_timestamp())").fetchone()[0])
        return time.time()

    def _row(self, session: Session, account: str, now: float) -> _Row | None:
        row = session.execute(
            "SELECT holder, generation, expires_at FROM account_leases WHERE account = ?", (account,)
        ).fetchone()
        return None if row is None else _Row(str(row[0]), int(row[1]), float(row[2]) - now)

    def _try_take(self, account: str) -> int | _Row:
        """The new generation when the row was free (or this instance's own, left by a failed
        release), else the row as it is."""
        with self._db.writing(durable=False, serialise=f"account lease {account}") as session:
            now = self._now(session)
            row = self._row(session, account, now)
            expires = now + self.lease_s
            if row is None:
                session.execute(
                    "INSERT INTO account_leases (account, holder, generation, expires_at) VALUES (?, ?, 1, ?)",
                    (account, self.holder, expires),
                )
                return 1
            if row.left_s > 0 and row.holder != self.holder and not owner_is_gone(row.holder):
                return row
            generation = row.generation + 1
            session.execute(
                "UPDATE account_leases SET holder = ?, generation = ?, expires_at = ? WHERE account = ?",
                (self.holder, generation, expires, account),
            )
            return generation

    def _extend(self, lease: Lease, *, durable: bool = False) -> str | None:
        """Extend `lease` if it still holds its row; else who holds it now ("" when nobody)."""
        with self._db.writing(durable=durable, serialise=f"account lease {lease.account}") as session:
            now = self._now(session)
            row = self._row(session, lease.account, now)
            if row is None or row.holder != lease.holder or row.generation != lease.generation:
                return row.holder if row is not None and row.left_s > 0 else ""
            if row.left_s <= 0:
                return ""
            session.execute(
                "UPDATE account_leases SET expires_at = ? WHERE account = ? AND generation = ?",
                (now + lease.lease_s, lease.account, lease.generation),
            )
            return None

    def _release(self, lease: Lease) -> None:
        """Free the row if this generation still holds it. A failure is logged, never raised: the
        lease then runs out by itself (and this instance may take it again at once)."""
        try:
            self._free(lease)
        finally:
            self._releasing.discard(threading.current_thread())

    def _free(self, lease: Lease) -> None:
        try:
            once_more_if_dropped(
                "account lock release",
                lambda: self._db.statement(
                    "UPDATE account_leases SET expires_at = 0 WHERE account = ? AND holder = ? AND generation = ?",
                    (lease.account, lease.holder, lease.generation),
                    durable=False,
                ),
            )
        except Exception as exc:
            logger.warning(
                "could not release the account lock of %s (generation %d): %s; it runs out in %g s at most",
                lease.account,
                lease.generation,
                _first_line(exc),
                lease.lease_s,
            )

    def _keep(self, lease: Lease) -> None:
        """Renew `lease` every third of it until released; stop once it was lost."""
        while not lease._stop.wait(lease.lease_s / 3):
            asked = time.monotonic()
            try:
                current = once_more_if_dropped("account lock renewal", lambda: self._extend(lease))
            except Exception as exc:
                logger.warning("could not renew the account lock of %s: %s", lease.account, _first_line(exc))
                continue
            if current is not None:
                lease.lost = True
                logger.warning(
                    "the account lock of %s (generation %d) was lost%s",
                    lease.account,
                    lease.generation,
                    f" to {current}" if current else "",
                )
                return
            lease.sure_until = asked + lease.lease_s

    def _current(self, account: str) -> _Row | None:
        with self._db.reading() as session:
            return self._row(session, account, self._now(session))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0][:200]}" if text else exc.__class__.__name__


def open_sqlite_leases(state_dir: Path, *, lease_s: float = DEFAULT_LEASE_S) -> AccountLeases:
    """The account leases of a state dir: `locks.sqlite3` in it."""
    from binance_mcp.stores.sqlite import SqliteDatabase

    state_dir = Path(state_dir)
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return AccountLeases(
        SqliteDatabase(state_dir / "locks.sqlite3", _MIGRATIONS, name="account locks"), lease_s=lease_s
    )


def open_postgres_leases(url: str, *, lease_s: float = DEFAULT_LEASE_S) -> AccountLeases:
    """The account leases in the PostgreSQL database at `url`, on a pool of their own (closed
    with them): for a process that needs the lock and no other store."""
    from binance_mcp.stores.postgres import PostgresDatabase, open_pool

    pool = open_pool(url, max_size=4)
    try:
        database = PostgresDatabase(pool, _MIGRATIONS, name="account locks")
    except BaseException:
        pool.close()
        raise
    return AccountLeases(database, lease_s=lease_s, closing=pool.close)
