"""Daily notional budgets: money reserved before an order leaves, in SQLite in the state dir.

A policy's `budgets.daily_notional` (README *Limits in money, human approval, budgets*): the sum of order notionals per quote asset, per account
(`binance_mcp.account.AccountKey`: network and key fingerprint, never the spelling of the REST
root) and per UTC day. An order's notional is reserved before it is sent, in one transaction
(`BEGIN IMMEDIATE`: sum today's spending, insert only if it fits), so that two orders in two
server processes sharing a state dir can never both pass a check meant for one. Then:

- `release(id)`: the exchange rejected the order; the amount is given back.
- `keep(id)`: the order was accepted, or its outcome is unknown; it stays spent (a later cancel
  gives nothing back). A reservation never kept nor released (a crash in between) also stays
  spent: the budget fails closed.

Amounts are exact decimal text (never REAL) and summed in Python with `Decimal`.
`BudgetStore` is the store, on either database of `binance_mcp.stores` (a SQLite file in the state dir, or PostgreSQL, where a
transaction-scoped advisory lock per account and asset stands in for `BEGIN IMMEDIATE`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path

from binance_mcp.account import network_of
from binance_mcp.decimals import decimal_text
from binance_mcp.stores.sqlite import Database, Session, SqliteDatabase
from binance_mcp.timestamps import utc_now_text, utc_seconds_text, utc_text

__all__ = [
    "BUDGETS_DB_NAME",
    "BudgetExceeded",
    "BudgetStore",
    "Reservation",
    "Usage",
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


@dataclass(frozen=True)
class Reservation:
    """An amount held against one day's budget until it is kept or released."""

    id: str
    account: str
    """`network:fingerprint` (`binance_mcp.account.AccountKey`)."""
    asset: str
    amount: Decimal
    day: str
    """The UTC day charged, `YYYY-MM-DD`."""
    resets_at: datetime


@dataclass(frozen=True)
class Usage:
    """One day's budget use: `traded`, what orders traded (settled from their fills, or kept whole
    when their outcome is unknown); `held`, what orders being sent or still open may yet trade, at
    their worst path. Together they are what is no longer left."""

    traded: Decimal
    held: Decimal

    @property
    def used(self) -> Decimal:
        return self.traded + self.held


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
        held: Decimal = Decimal(0),
    ) -> None:
        self.asset = asset
        self.spent = spent
        self.held = held
        self.limit = limit
        self.left = left
        self.resets_at = resets_at
        self.network = network
        self.amount = amount
        super().__init__(self.sentence())

    def sentence(self) -> str:
        """E.g. "daily budget for USDT on testnet: 500: 300 traded, 150 held for orders open or being
        sent, 50 left; an order of 100 does not fit; the budget resets at 2026-11-26T00:00:00Z"."""
        where = f" on {self.network}" if self.network else ""
        order = f"an order of {decimal_text(self.amount)}" if self.amount is not None else "this order"
        traded = self.spent - self.held
        return (
            f"daily budget for {self.asset}{where}: {decimal_text(self.limit)}: {decimal_text(traded)} traded, "
            f"{decimal_text(self.held)} held for orders open or being sent, {decimal_text(self.left)} left; "
            f"{order} does not fit; "
            f"the budget resets at {utc_seconds_text(self.resets_at)}"
        )


_MIGRATIONS = {
    "sqlite": (
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
        # version 2: keyed by account (network + key fingerprint), not by how the REST root is
        # spelled. Rows from before carry no fingerprint: they keep their old key and no longer
        # count against a keyed account.
        """
        ALTER TABLE reservations ADD COLUMN account TEXT NOT NULL DEFAULT '';
        UPDATE reservations SET account = network || ':' || base_url WHERE account = '';
        DROP INDEX IF EXISTS reservations_day;
        CREATE INDEX IF NOT EXISTS reservations_account_day ON reservations (account, asset, day);
        """,
        # version 3: an order accepted and still open is held at its worst path (`watch` names it,
        # to settle it from its fills later); `traded` is what it traded, once final.
        """
        ALTER TABLE reservations ADD COLUMN watch TEXT;
        ALTER TABLE reservations ADD COLUMN traded TEXT;
        """,
    ),
    "postgresql": (
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
            updated_at TEXT NOT NULL,
            account TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX IF NOT EXISTS reservations_account_day ON reservations (account, asset, day);
        """,
        """
        ALTER TABLE reservations ADD COLUMN IF NOT EXISTS watch TEXT;
        ALTER TABLE reservations ADD COLUMN IF NOT EXISTS traded TEXT;
        """,
    ),
}
SCHEMA_VERSION = len(_MIGRATIONS["sqlite"])


class BudgetStore:
    """Budgets in one database: the SQLite file at `path` (created with its schema if missing),
    or `database=` (a `binance_mcp.stores` database, e.g. PostgreSQL).

    Thread safe and shared across processes (each reserve is one serialised transaction: SQLite
    lets one writer in at a time; PostgreSQL takes an advisory lock per account and asset). Every
    write is committed, on disk, before the method returns.
    """

    def __init__(self, path: Path | None = None, *, database: Database | None = None) -> None:
        if database is None:
            if path is None:
                raise TypeError("BudgetStore needs a path or a database")
            database = SqliteDatabase(Path(path), _MIGRATIONS, name="budgets")
        self.path = Path(path) if path is not None else None
        self._db = database

    def __enter__(self) -> BudgetStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def reserve(
        self,
        *,
        account: str,
        asset: str,
        amount: Decimal,
        limit: Decimal,
        now: datetime | None = None,
    ) -> Reservation:
        """Hold `amount` of today's `limit` for `asset` of `account`, or raise `BudgetExceeded`
        (nothing held). Fits when spent + amount <= limit. A negative amount or limit, or a float,
        raises `ValueError` / `TypeError`."""
        amount = _decimal(amount, "amount")
        limit = _decimal(limit, "limit")
        moment = _utc(now)
        day = _utc_day(moment).isoformat()
        resets_at = day_resets_at(moment)
        reservation_id = uuid.uuid4().hex
        stamp = utc_text(moment)
        net = network_of(account)
        with self._db.writing(serialise=f"budget:{account}:{asset}") as session:
            usage = self._usage(session, account, asset, day)
            spent = usage.used
            if spent + amount > limit:
                left = max(limit - spent, Decimal(0))
                raise BudgetExceeded(
                    asset, spent, limit, left, resets_at, network=net, amount=amount, held=usage.held
                )
            session.execute(
                "INSERT INTO reservations (id, account, network, base_url, asset, day, amount, state,"
                " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'reserved', ?, ?)",
                (
                    reservation_id,
                    account,
                    net,
                    "",  # the REST root: no longer part of the key (kept as a column for old rows)
                    asset,
                    day,
                    decimal_text(amount),
                    stamp,
                    stamp,
                ),
            )
        return Reservation(reservation_id, account, asset, amount, day, resets_at)

    def release(self, reservation_id: str) -> None:
        """Give a reservation back (the exchange rejected the order). Releasing twice is harmless;
        a kept reservation cannot be released (`ValueError`); an unknown id raises `KeyError`."""
        self._move(reservation_id, RELEASED)

    def keep(self, reservation_id: str, amount: Decimal | None = None) -> None:
        """Mark a reservation spent for good (accepted, or outcome unknown). With `amount`, what the
        order actually traded once that is final (Binance's cummulativeQuoteQty) replaces the
        amount held. Keeping twice is harmless; a released one cannot be kept (`ValueError`); an
        unknown id raises `KeyError`."""
        self._move(reservation_id, KEPT, amount=None if amount is None else _decimal(amount, "amount"))

    def hold_open(self, reservation_id: str, watch: str) -> None:
        """The order was accepted and is still open: its reservation stays held at the worst path
        until `settle` says what it traded. `watch` names the order (JSON: symbol and order id, or
        order list id) for whoever settles it."""
        self._move(reservation_id, KEPT, watch=watch)

    def settle(self, reservation_id: str, traded: Decimal) -> None:
        """An open order is final: its hold becomes what it traded (from its fills)."""
        traded = _decimal(traded, "traded")
        with self._db.writing() as session:
            session.execute(
                "UPDATE reservations SET amount = ?, traded = ?, updated_at = ? WHERE id = ? AND traded IS NULL",
                (decimal_text(traded), decimal_text(traded), utc_text(datetime.now(UTC)), reservation_id),
            )

    def open_holds(self, account: str) -> list[tuple[str, str]]:
        """(reservation id, watch) of every open order still held for `account`, any day."""
        with self._db.reading() as session:
            rows = session.execute(
                "SELECT id, watch FROM reservations WHERE account = ? AND state = 'kept'"
                " AND watch IS NOT NULL AND traded IS NULL",
                (account,),
            ).fetchall()
        return [(str(row[0]), str(row[1])) for row in rows]

    def usage_today(self, account: str, asset: str, now: datetime | None = None) -> Usage:
        """What today traded and what is held, of `asset` for `account` (see `Usage`)."""
        day = _utc_day(_utc(now)).isoformat()
        with self._db.reading() as session:
            return self._usage(session, account, asset, day)

    def spent_today(
        self,
        account: str,
        asset: str,
        now: datetime | None = None,
    ) -> Decimal:
        """Traded plus held amounts of `asset` for `account` on the UTC day of `now` (default: today)."""
        day = _utc_day(_utc(now)).isoformat()
        with self._db.reading() as session:
            return self._usage(session, account, asset, day).used

    def spent_by_account(self, now: datetime | None = None) -> dict[tuple[str, str], Decimal]:
        """(account, asset) → traded plus held on the UTC day of `now`, for every account: what
        the approvals page shows, from the same rows `spent_today` (and so `get_limits`) reads."""
        return {key: traded + held for key, (traded, held) in self.usage_by_account(now).items()}

    def usage_by_account(self, now: datetime | None = None) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
        """(account, asset) → (traded, held) on the UTC day of `now`, for every account (see `Usage`)."""
        day = _utc_day(_utc(now)).isoformat()
        with self._db.reading() as session:
            rows = session.execute(
                "SELECT account, asset, amount, state, watch, traded FROM reservations WHERE day = ?"
                " AND state IN ('reserved', 'kept')",
                (day,),
            ).fetchall()
        found: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
        for account, asset, amount, state, watch, done in rows:
            key = (str(account), str(asset))
            traded, held = found.get(key, (Decimal(0), Decimal(0)))
            if state == RESERVED or (watch is not None and done is None):
                held += Decimal(str(amount))
            else:
                traded += Decimal(str(amount))
            found[key] = (traded, held)
        return found

    def get(self, reservation_id: str) -> tuple[Reservation, str] | None:
        """A reservation and its state (`reserved`, `kept`, `released`), or None."""
        with self._db.reading() as session:
            row = session.execute(
                "SELECT id, account, asset, amount, day, state FROM reservations WHERE id = ?",
                (reservation_id,),
            ).fetchone()
        if row is None:
            return None
        day = date.fromisoformat(row[4])
        resets_at = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=UTC)
        return Reservation(row[0], row[1], row[2], Decimal(row[3]), row[4], resets_at), row[5]

    def close(self) -> None:
        """Close the database (when the store opened it); later calls raise `StateError`."""
        if self.path is not None:
            self._db.close()

    # internals

    @staticmethod
    def _usage(session: Session, account: str, asset: str, day: str) -> Usage:
        rows = session.execute(
            "SELECT amount, state, watch, traded FROM reservations WHERE account = ? AND asset = ?"
            " AND day = ? AND state IN ('reserved', 'kept')",
            (account, asset, day),
        ).fetchall()
        traded, held = Decimal(0), Decimal(0)
        for amount, state, watch, done in rows:
            if state == RESERVED or (watch is not None and done is None):
                held += Decimal(amount)
            else:
                traded += Decimal(amount)
        return Usage(traded, held)

    def _move(
        self, reservation_id: str, target: str, *, amount: Decimal | None = None, watch: str | None = None
    ) -> None:
        with self._db.writing() as session:
            row = session.execute(
                "SELECT state FROM reservations WHERE id = ? FOR UPDATE"
                if self._db.dialect == "postgresql"
                else "SELECT state FROM reservations WHERE id = ?",
                (reservation_id,),
            ).fetchone()
            if row is None:
                raise KeyError(f"no budget reservation {reservation_id}")
            state = row[0]
            if state == target:
                return
            if state != RESERVED:
                raise ValueError(
                    f"budget reservation {reservation_id} is already {state}; it cannot be {target}"
                )
            session.execute(
                "UPDATE reservations SET state = ?, updated_at = ? WHERE id = ?",
                (target, utc_now_text(), reservation_id),
            )
            if amount is not None:
                session.execute(
                    "UPDATE reservations SET amount = ?, traded = ? WHERE id = ?",
                    (decimal_text(amount), decimal_text(amount), reservation_id),
                )
            if watch is not None:
                session.execute("UPDATE reservations SET watch = ? WHERE id = ?", (watch, reservation_id))


def open_budget_store(state_dir: Path) -> BudgetStore:
    """The budget store of a state dir (`budgets.sqlite3`)."""
    return BudgetStore(budgets_path(state_dir))


def _decimal(value: Decimal, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise TypeError(f"{name} must be a Decimal (never a float), got {type(value).__name__}")
    number = Decimal(value)
    if not number.is_finite() or number < 0:
        raise ValueError(f"{name} must be a finite amount, 0 or more (got {value})")
    return number
