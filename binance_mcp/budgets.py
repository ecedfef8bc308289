"""Daily notional budgets: money reserved before an order leaves, in SQLite in the state dir.

DESIGN *budgets.daily_notional*: the sum of order notionals per quote asset, per network (and
base URL) and per UTC day. An order's notional is reserved before it is sent, in one transaction
(`BEGIN IMMEDIATE`: sum today's spending, insert only if it fits), so that two orders in two
server processes sharing a state dir can never both pass a check meant for one. Then:

- `release(id)`: the exchange rejected the order; the amount is given back.
- `keep(id)`: the order was accepted, or its outcome is unknown; it stays spent (a later cancel
  gives nothing back). A reservation never kept nor released (a crash in between) also stays
  spent: the budget fails closed.

Amounts are exact decimal text (never REAL) and summed in Python with `Decimal`.
`BudgetStore` is the small interface the guard uses; `SqliteBudgetStore` is the embedded one
(a Redis store would implement the same four methods with a MULTI/EXEC or a Lua script).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from binance_mcp.decimals import decimal_text
from binance_mcp.state import StateError, connect, migrate, write_transaction

__all__ = [
    "BUDGETS_DB_NAME",
    "BudgetExceeded",
    "BudgetStore",
    "Reservation",
    "SqliteBudgetStore",
    "budgets_path",
    "day_resets_at",
    "open_budget_store",
]

BUDGETS_DB_NAME = "budgets.sqlite3"

RESERVED = "reserved"
KEPT = "kept"
RELEASED = "released"


def budgets_path(state_dir: Path) -> Path:
    """Where the budgets database lives inside a state dir."""
    return Path(state_dir) / BUDGETS_DB_NAME


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:  # a naive datetime is taken to be UTC already
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _utc_day(moment: datetime) -> date:
    return moment.date()


def day_resets_at(now: datetime | None = None) -> datetime:
    """The start of the next UTC day after `now` (when today's budgets start again)."""
    today = _utc_day(_utc(now))
    return datetime.combine(today + timedelta(days=1), time(0, 0), tzinfo=UTC)


def _iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _amount_text(amount: Decimal) -> str:
    """Exact, plain text: no exponent, no trailing zeros (`"100"`, `"0.5"`)."""
    return decimal_text(amount)


@dataclass(frozen=True)
class Reservation:
    """An amount held against one day's budget until it is kept or released."""

    id: str
    network: str
    base_url: str
    asset: str
    amount: Decimal
    day: str
    """The UTC day charged, `YYYY-MM-DD`."""
    resets_at: datetime


class BudgetExceeded(Exception):
    """The order does not fit in what is left of today's budget. `sentence()` says what is left
    and when the day resets."""

    def __init__(
        self,
        asset: str,
        spent: Decimal,
        limit: Decimal,
        left: Decimal,
        resets_at: datetime,
        *,
        network: str = "",
        amount: Decimal | None = None,
    ) -> None:
        self.asset = asset
        self.spent = spent
        self.limit = limit
        self.left = left
        self.resets_at = resets_at
        self.network = network
        self.amount = amount
        super().__init__(self.sentence())

    def sentence(self) -> str:
        """E.g. "daily budget for USDT on testnet: 450 of 500 spent, 50 left; an order of 100 does
        not fit; the budget resets at 2026-11-26T00:00:00Z"."""
        where = f" on {self.network}" if self.network else ""
        order = f"an order of {_amount_text(self.amount)}" if self.amount is not None else "this order"
        return (
            f"daily budget for {self.asset}{where}: {_amount_text(self.spent)} of {_amount_text(self.limit)} "
            f"spent, {_amount_text(self.left)} left; {order} does not fit; "
            f"the budget resets at {_iso_z(self.resets_at)}"
        )


class BudgetStore(Protocol):
    """What the guard needs from budget state; `SqliteBudgetStore` is the embedded one."""

    def reserve(
        self,
        *,
        network: str,
        base_url: str,
        asset: str,
        amount: Decimal,
        limit: Decimal,
        now: datetime | None = None,
    ) -> Reservation: ...

    def release(self, reservation_id: str) -> None: ...

    def keep(self, reservation_id: str) -> None: ...

    def spent_today(
        self, network: str, base_url: str, asset: str, now: datetime | None = None
    ) -> Decimal: ...

    def close(self) -> None: ...


_MIGRATIONS: tuple[str, ...] = (
    # version 1
    """
    CREATE TABLE IF NOT EXISTS reservations (
        id TEXT PRIMARY KEY,
        network TEXT NOT NULL,
        base_url TEXT NOT NULL,
        asset TEXT NOT NULL,
        day TEXT NOT NULL,
        amount TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('reserved', 'kept', 'released')),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS reservations_day ON reservations (network, base_url, asset, day);
    """,
)
SCHEMA_VERSION = len(_MIGRATIONS)


class SqliteBudgetStore:
    """Budgets in the SQLite database at `path` (created with its schema if missing).

    Thread safe (one connection, used under one lock) and shared across processes (each reserve
    is one `BEGIN IMMEDIATE` transaction: SQLite lets one writer in at a time, the others wait up
    to 5 s). Every write is committed, on disk, before the method returns.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = connect(self.path, check_same_thread=False)
        try:
            migrate(self._conn, _MIGRATIONS, name=f"budgets {self.path}")
        except BaseException:
            self._conn.close()
            self._conn = None
            raise

    def __enter__(self) -> SqliteBudgetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reserve(
        self,
        *,
        network: str,
        base_url: str,
        asset: str,
        amount: Decimal,
        limit: Decimal,
        now: datetime | None = None,
    ) -> Reservation:
        """Hold `amount` of today's `limit` for `asset` on this network and base URL, or raise
        `BudgetExceeded` (nothing held). Fits when spent + amount <= limit. A negative amount or
        limit, or a float, raises `ValueError` / `TypeError`."""
        amount = _decimal(amount, "amount")
        limit = _decimal(limit, "limit")
        moment = _utc(now)
        day = _utc_day(moment).isoformat()
        resets_at = day_resets_at(moment)
        base_url = _base(base_url)
        reservation_id = uuid.uuid4().hex
        stamp = moment.isoformat()
        with self._locked() as conn, write_transaction(conn):
            spent = self._spent(conn, network, base_url, asset, day)
            if spent + amount > limit:
                left = max(limit - spent, Decimal(0))
                raise BudgetExceeded(asset, spent, limit, left, resets_at, network=network, amount=amount)
            conn.execute(
                "INSERT INTO reservations (id, network, base_url, asset, day, amount, state, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, 'reserved', ?, ?)",
                (reservation_id, network, base_url, asset, day, _amount_text(amount), stamp, stamp),
            )
        return Reservation(reservation_id, network, base_url, asset, amount, day, resets_at)

    def release(self, reservation_id: str) -> None:
        """Give a reservation back (the exchange rejected the order). Releasing twice is harmless;
        a kept reservation cannot be released (`ValueError`); an unknown id raises `KeyError`."""
        self._move(reservation_id, RELEASED)

    def keep(self, reservation_id: str) -> None:
        """Mark a reservation spent for good (accepted, or outcome unknown). Keeping twice is
        harmless; a released one cannot be kept (`ValueError`); an unknown id raises `KeyError`."""
        self._move(reservation_id, KEPT)

    def spent_today(self, network: str, base_url: str, asset: str, now: datetime | None = None) -> Decimal:
        """Kept plus reserved amounts of the UTC day of `now` (default: today)."""
        day = _utc_day(_utc(now)).isoformat()
        with self._locked() as conn:
            return self._spent(conn, network, _base(base_url), asset, day)

    def get(self, reservation_id: str) -> tuple[Reservation, str] | None:
        """A reservation and its state (`reserved`, `kept`, `released`), or None."""
        with self._locked() as conn:
            row = conn.execute(
                "SELECT id, network, base_url, asset, amount, day, state FROM reservations WHERE id = ?",
                (reservation_id,),
            ).fetchone()
        if row is None:
            return None
        day = date.fromisoformat(row[5])
        resets_at = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=UTC)
        return Reservation(row[0], row[1], row[2], row[3], Decimal(row[4]), row[5], resets_at), row[6]

    def close(self) -> None:
        """Close the connection; later calls raise `StateError`. Closing twice is harmless."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # internals

    @staticmethod
    def _spent(conn: sqlite3.Connection, network: str, base_url: str, asset: str, day: str) -> Decimal:
        rows = conn.execute(
            "SELECT amount FROM reservations WHERE network = ? AND base_url = ? AND asset = ? AND day = ?"
            " AND state IN ('reserved', 'kept')",
            (network, base_url, asset, day),
        ).fetchall()
        return sum((Decimal(row[0]) for row in rows), Decimal(0))

    def _move(self, reservation_id: str, target: str) -> None:
        with self._locked() as conn, write_transaction(conn):
            row = conn.execute("SELECT state FROM reservations WHERE id = ?", (reservation_id,)).fetchone()
            if row is None:
                raise KeyError(f"no budget reservation {reservation_id}")
            state = row[0]
            if state == target:
                return
            if state != RESERVED:
                raise ValueError(
                    f"budget reservation {reservation_id} is already {state}; it cannot be {target}"
                )
            conn.execute(
                "UPDATE reservations SET state = ?, updated_at = ? WHERE id = ?",
                (target, datetime.now(UTC).isoformat(), reservation_id),
            )

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._conn is None:
                raise StateError(f"budgets {self.path} is closed")
            yield self._conn


def open_budget_store(state_dir: Path) -> SqliteBudgetStore:
    """The budget store of a state dir (`budgets.sqlite3`)."""
    return SqliteBudgetStore(budgets_path(state_dir))


def _base(base_url: str) -> str:
    return base_url.rstrip("/")


def _decimal(value: Decimal, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal (never a float), got {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name} must be a finite amount, 0 or more (got {value})")
    return number
