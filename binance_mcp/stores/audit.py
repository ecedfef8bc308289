"""The audit log: one record per tool call, in SQLite in the state dir, durable before it returns.

README *Audit log* and *Reliability*: every call is recorded whatever its end; an order or a
cancel is first recorded as `pending` (committed) and then finished with its outcome, so that a
server killed in between leaves a record the next run can complete (`pending()`). Nothing secret
is ever written: `AuditLog(path, secrets=(key, secret))` redacts every record first.

Records carry the account (`binance_mcp.account.AccountKey` as text) they concern; a `pending`
record also names its owning process and a lease the owner renews (`binance_mcp.stores.lease`),
so that recovery in a neighbour takes over only what a dead process left (`orphaned_pending`).

`AuditLog` is the log, on either database of `binance_mcp.stores` (the SQLite file in the state
dir, or PostgreSQL).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from binance_mcp.stores.lease import DEFAULT_LEASE_S, process_owner
from binance_mcp.stores.sqlite import Database, SqliteDatabase
from binance_mcp.timestamps import utc_now_text, utc_text

AUDIT_DB_NAME = "audit.sqlite3"
REDACTED = "[redacted]"


class AuditDecision(StrEnum):
    """What the guard decided (a different vocabulary from the refusal kinds, README *Audit log*)."""

    ALLOWED = "allowed"
    DENIED = "denied"
    HIDDEN = "hidden"
    RATE_LIMITED = "rate_limited"
    APPROVAL_REQUIRED = "approval_required"
    APPROVED = "approved"
    DECLINED = "declined"
    INVALID_ARGUMENTS = "invalid_arguments"
    DRY_RUN = "dry_run"
    NOT_CONFIGURED = "not_configured"
    UNDECIDED = "undecided"  # the call failed (the exchange, the guard) before the policy decided


class Outcome(StrEnum):
    """What became of the call: `refused` when nothing was sent, `pending` while in flight."""

    REFUSED = "refused"
    PENDING = "pending"
    OK = "ok"
    ERROR = "error"
    UNKNOWN = "unknown"


class ApprovedVia(StrEnum):
    ELICITATION = "elicitation"
    CLI = "cli"
    PAGE = "page"  # the approvals page (HTTP /approvals or `binance-mcp console`)


DECISIONS: tuple[str, ...] = tuple(d.value for d in AuditDecision)
OUTCOMES: tuple[str, ...] = tuple(o.value for o in Outcome)
APPROVED_VIA: tuple[str, ...] = tuple(a.value for a in ApprovedVia)

_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def audit_path(state_dir: Path) -> Path:
    """Where the audit database lives inside a state dir."""
    return Path(state_dir) / AUDIT_DB_NAME


@dataclass(frozen=True, kw_only=True)
class AuditRecord:
    """One tool call. `network`, `base_url`, `tool`, `decision` and `outcome` are required; the
    rest default to empty. `id` is given by the store (None before the record is written)."""

    time: str = field(default_factory=utc_now_text)
    session: str = ""
    client: str = ""
    network: str
    base_url: str
    tool: str
    arguments: dict[str, Any] = field(default_factory=dict)
    decision: str
    approved_via: str | None = None
    approved_by: str | None = None
    """Who approved: an operator token's name, `cli:<user>` at the CLI; None when nobody did
    (or the client's user did, by elicitation)."""
    reason: str | None = None
    rule: str | None = None
    outcome: str
    order_id: int | None = None
    client_order_id: str | None = None
    latency_ms: float | None = None
    account: str = ""
    """The account (`network:key fingerprint`) the call acted for; "" when not known."""
    id: int | None = None

    def __post_init__(self) -> None:
        # StrEnum members are str; keep the plain value so records compare and serialise simply.
        for name in ("decision", "outcome", "approved_via"):
            value = getattr(self, name)
            if isinstance(value, StrEnum):
                object.__setattr__(self, name, value.value)

    def validate(self) -> None:
        """Raise `ValueError` naming the field if a value is outside the log's vocabulary
        (`DECISIONS`, `OUTCOMES`, `APPROVED_VIA`) or the
        time is not in the log's format. The store calls it before writing (reading stays
        lenient, so an older CLI can still show records a newer server wrote)."""
        if not isinstance(self.time, str) or not _TIME_RE.match(self.time):
            raise ValueError(
                f"audit time {self.time!r} is not UTC ISO 8601 with ms (2026-11-25T14:30:00.123Z)"
            )
        _check(self.decision, DECISIONS, "decision")
        _check(self.outcome, OUTCOMES, "outcome")
        if self.approved_via is not None:
            _check(self.approved_via, APPROVED_VIA, "approved_via")
        for name in ("network", "base_url", "tool"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"audit {name} must be a non-empty string")

    def to_dict(self) -> dict[str, Any]:
        """The record as a JSON-ready dict, `id` first."""
        data = dataclasses.asdict(self)
        return {"id": data.pop("id"), **data}


def _check(value: object, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown audit {what} {value!r}; expected one of: {', '.join(allowed)}")


# --- secrets -----------------------------------------------------------------------------------


def _secrets(secrets: Iterable[str | None]) -> tuple[str, ...]:
    # An empty string would be "contained" in every value: ignore it (an unset key is no secret).
    return tuple(sorted({s for s in secrets if s}, key=len, reverse=True))


def _redact_value(value: Any, secrets: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return REDACTED if any(s in value for s in secrets) else value
    if isinstance(value, Mapping):
        return {_redact_value(str(k), secrets): _redact_value(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v, secrets) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are not JSON
    if value is None or isinstance(value, bool | int | float):
        return value
    return _redact_value(str(value), secrets)  # Decimal, enums, anything else: as its text


def redact(arguments: Mapping[str, Any], secrets: Iterable[str]) -> dict[str, Any]:
    """A copy of `arguments` in which every string value (and key) containing one of `secrets`
    is `"[redacted]"`, at any depth. Values that are not JSON types are turned into their text
    (`Decimal("0.01")` → `"0.01"`), so the result is always JSON-serialisable."""
    return _redact_value(dict(arguments), _secrets(secrets))


def redact_text(text: str | None, secrets: Iterable[str]) -> str | None:
    """`text` with every occurrence of a secret replaced by `"[redacted]"` (for free-text fields
    such as `reason`, where the rest of the sentence is worth keeping)."""
    if text is None:
        return None
    for secret in _secrets(secrets):
        text = text.replace(secret, REDACTED)
    return text


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, Unicode kept: the same arguments always give the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_json_default)


def _json_default(value: Any) -> str:
    return str(value)  # Decimal("0.01") → "0.01"; anything else non-JSON as its text


# --- the store ---------------------------------------------------------------------------------

# The client order ids a call sends besides the one in its record's `client_order_id` column (an
# order list's legs, given or made), so that a leg's id is refused for a later order as a single
# order's id is. Written with the `pending` record, in the same transaction.
_CLIENT_IDS_SQLITE = """
CREATE TABLE IF NOT EXISTS audit_client_ids (
    client_order_id TEXT NOT NULL,
    audit_id INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_client_ids_id ON audit_client_ids (client_order_id);
"""

# Few indexes: every index is written on every call (the audit log is on each call's hot path).
# `--tool` and `--decision` filter a time-ordered scan; crash recovery reads a partial index that
# only pending records enter.
_MIGRATIONS = {
    "sqlite": (
        # version 1
        """
        CREATE TABLE IF NOT EXISTS audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time TEXT NOT NULL,
            session TEXT NOT NULL,
            client TEXT NOT NULL,
            network TEXT NOT NULL,
            base_url TEXT NOT NULL,
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL,
            decision TEXT NOT NULL,
            approved_via TEXT,
            reason TEXT,
            rule TEXT,
            outcome TEXT NOT NULL,
            order_id INTEGER,
            client_order_id TEXT,
            latency_ms REAL
        );
        CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
        CREATE INDEX IF NOT EXISTS audit_pending ON audit (network, base_url) WHERE outcome = 'pending';
        """,
        # version 2: find the orders a client order id was used for (a reused id could place a
        # second order once the first is filled); only records that carry an id enter the index.
        """
        CREATE INDEX IF NOT EXISTS audit_client_order_id ON audit (client_order_id) WHERE client_order_id IS NOT NULL;
        """,
        # version 3: which operator approved
        """
        ALTER TABLE audit ADD COLUMN approved_by TEXT;
        """,
        # version 4: the account a record acted for, and the owner and lease of a pending record.
        """
        ALTER TABLE audit ADD COLUMN account TEXT NOT NULL DEFAULT '';
        ALTER TABLE audit ADD COLUMN owner TEXT;
        ALTER TABLE audit ADD COLUMN lease_until TEXT;
        CREATE INDEX IF NOT EXISTS audit_pending_account ON audit (account) WHERE outcome = 'pending';
        """,
        # version 5: the account's latest record that began `pending` (`account_changes`)
        """
        CREATE INDEX IF NOT EXISTS audit_began_pending ON audit (account, id) WHERE owner IS NOT NULL;
        """,
        # version 6: the other client order ids a call sent (an order list's legs), each used once
        _CLIENT_IDS_SQLITE,
    ),
    "postgresql": (
        """
        CREATE TABLE IF NOT EXISTS audit (
            id BIGSERIAL PRIMARY KEY,
            time TEXT NOT NULL,
            session TEXT NOT NULL,
            client TEXT NOT NULL,
            network TEXT NOT NULL,
            base_url TEXT NOT NULL,
            tool TEXT NOT NULL,
            arguments TEXT NOT NULL,
            decision TEXT NOT NULL,
            approved_via TEXT,
            reason TEXT,
            rule TEXT,
            outcome TEXT NOT NULL,
            order_id BIGINT,
            client_order_id TEXT,
            latency_ms DOUBLE PRECISION,
            approved_by TEXT,
            account TEXT NOT NULL DEFAULT '',
            owner TEXT,
            lease_until TEXT
        );
        CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
        CREATE INDEX IF NOT EXISTS audit_pending ON audit (network, base_url) WHERE outcome = 'pending';
        CREATE INDEX IF NOT EXISTS audit_client_order_id ON audit (client_order_id) WHERE client_order_id IS NOT NULL;
        CREATE INDEX IF NOT EXISTS audit_pending_account ON audit (account) WHERE outcome = 'pending';
        """,
        # version 2: the account's latest record that began `pending` (`account_changes`)
        """
        CREATE INDEX IF NOT EXISTS audit_began_pending ON audit (account, id) WHERE owner IS NOT NULL;
        """,
        # version 3: as SQLite's version 6
        _CLIENT_IDS_SQLITE.replace("INTEGER", "BIGINT"),
    ),
}
SCHEMA_VERSION = len(_MIGRATIONS["sqlite"])

_COLUMNS = (
    "id",
    "time",
    "session",
    "client",
    "network",
    "base_url",
    "tool",
    "arguments",
    "decision",
    "approved_via",
    "reason",
    "rule",
    "outcome",
    "order_id",
    "client_order_id",
    "latency_ms",
    "approved_by",
    "account",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM audit"
_WRITTEN = (*_COLUMNS[1:], "owner", "lease_until")
_INSERT = f"INSERT INTO audit ({', '.join(_WRITTEN)}) VALUES ({', '.join('?' * len(_WRITTEN))}) RETURNING id"
_SENT = "outcome IN ('pending', 'ok', 'unknown') AND decision != 'dry_run'"


_FINISH = (
    "UPDATE audit SET outcome = ?, decision = COALESCE(?, decision),"
    " reason = COALESCE(?, reason), order_id = COALESCE(?, order_id),"
    " client_order_id = COALESCE(?, client_order_id), latency_ms = COALESCE(?, latency_ms),"
    " lease_until = NULL WHERE id = ? AND outcome = 'pending'"
)


class AuditLog:
    """The audit log at `path` (a SQLite file, created with its schema if missing), or in
    `database=` (a `binance_mcp.stores` database, e.g. PostgreSQL).

    Thread safe; other processes read and write it at the same time. Every method that writes has
    committed before it returns. Durability is chosen per record: what money depends on (a
    `pending` order, its outcome, any record naming a client order id) is fsynced (SQLite
    `synchronous=FULL`; PostgreSQL's default commit); other records (reads, refusals) are committed
    without waiting for the disk, which survives a killed process but may lose the last records to
    a power loss — and costs ~50 µs instead of ~350 µs per call. Each record's arguments, reason and
    other text fields are redacted of `secrets` before they are written. A record outside the
    vocabulary raises `ValueError`; a failed write (disk full, a lock held too long) raises the
    database's error: fail the call then.

    `owner` (default: this process, `binance_mcp.stores.lease.process_owner()`) is written on each
    pending record with a lease of `lease_s` seconds; `renew_lease()` extends this owner's leases.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        secrets: Iterable[str | None] = (),
        database: Database | None = None,
        owner: str | None = None,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        if database is None:
            if path is None:
                raise TypeError("AuditLog needs a path or a database")
            database = SqliteDatabase(Path(path), _MIGRATIONS, name="audit log")
        self.path = Path(path) if path is not None else None
        self._db = database
        self._owns_db = path is not None
        self._secrets = _secrets(secrets)
        self.owner = owner or process_owner()
        self.lease_s = lease_s

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # writing

    def append(self, record: AuditRecord) -> int:
        """Write `record`; committed when this returns. Returns its id."""
        row = self._row(record)
        durable = record.outcome == Outcome.PENDING or record.client_order_id is not None
        if record.outcome == Outcome.PENDING:
            lease_until = utc_text(datetime.now(UTC) + timedelta(seconds=self.lease_s))
            row = (*row, self.owner, lease_until)
        else:
            row = (*row, None, None)
        cursor = self._db.statement(_INSERT, row, durable=durable)  # one statement: atomic
        return int(cursor.fetchall()[0][0])

    def begin_pending(self, record: AuditRecord, *, leg_client_order_ids: Sequence[str] = ()) -> int:
        """Write `record` with outcome `pending` before an order or cancel leaves, owned by this
        store's owner with a fresh lease; returns its id, for `finish`. `leg_client_order_ids`: the
        call's other client order ids (an order list's legs), recorded as used with it, in one
        transaction, so that `sent_with_client_order_id` finds them as it finds the record's own."""
        pending = dataclasses.replace(record, outcome=Outcome.PENDING.value)
        if not leg_client_order_ids:
            return self.append(pending)
        lease_until = utc_text(datetime.now(UTC) + timedelta(seconds=self.lease_s))
        row = (*self._row(pending), self.owner, lease_until)
        with self._db.writing(durable=True) as session:
            record_id = int(session.execute(_INSERT, row).fetchall()[0][0])
            for leg_id in dict.fromkeys(leg_client_order_ids):
                session.execute(
                    "INSERT INTO audit_client_ids (client_order_id, audit_id) VALUES (?, ?)",
                    (redact_text(leg_id, self._secrets), record_id),
                )
        return record_id

    def finish(
        self,
        record_id: int,
        *,
        outcome: str,
        decision: str | None = None,
        reason: str | None = None,
        order_id: int | None = None,
        client_order_id: str | None = None,
        latency_ms: float | None = None,
        durable: bool = True,
    ) -> None:
        """Give a `pending` record its outcome; a field passed as None keeps its value.

        `durable=False` skips the fsync: safe for an outcome, since a record a power loss leaves
        `pending` is completed by crash recovery from the exchange.

        Raises `KeyError` for an unknown id and `ValueError` for a record that is not pending
        (finished twice, e.g. by two recoveries), or for an outcome that is `pending` or unknown.
        """
        _check(outcome, OUTCOMES, "outcome")
        if outcome == Outcome.PENDING:
            raise ValueError("finish() needs a final outcome, not 'pending'")
        if decision is not None:
            _check(decision, DECISIONS, "decision")
        values = (
            str(outcome),
            None if decision is None else str(decision),
            redact_text(reason, self._secrets),
            order_id,
            redact_text(client_order_id, self._secrets),
            latency_ms,
            record_id,
        )
        with self._db.writing(durable=durable) as session:
            if session.execute(_FINISH, values).rowcount == 1:
                return
            found = session.execute("SELECT outcome FROM audit WHERE id = ?", (record_id,)).fetchone()
        if found is None:
            raise KeyError(f"no audit record {record_id}")
        raise ValueError(f"audit record {record_id} is not pending (outcome {found[0]!r})")

    def renew_lease(self, now: datetime | None = None) -> int:
        """Extend the lease of every record this owner still has pending to `now` + `lease_s`;
        returns how many. Run every third of the lease while orders are in flight."""
        moment = now or datetime.now(UTC)
        until = utc_text(moment + timedelta(seconds=self.lease_s))
        cursor = self._db.statement(
            "UPDATE audit SET lease_until = ? WHERE outcome = 'pending' AND owner = ?",
            (until, self.owner),
            durable=False,
        )
        return int(cursor.rowcount)

    # reading

    def sent_with_client_order_id(self, client_order_id: str, *, account: str) -> list[AuditRecord]:
        """Calls that sent (or may have sent) a request carrying this client order id for
        `account`, as their own id or as one of an order list's legs: outcome pending, ok or
        unknown, dry runs aside. Oldest first."""
        carrying = (
            "(client_order_id = ? OR id IN (SELECT audit_id FROM audit_client_ids WHERE client_order_id = ?))"
        )
        sql = f"{_SELECT} WHERE {carrying} AND account = ? AND {_SENT} ORDER BY time, id"
        return self._fetch(sql, (client_order_id, client_order_id, account))

    def pending(self, *, account: str) -> list[AuditRecord]:
        """Records of `account` still `pending`, oldest first: orders or cancels in flight, or whose
        fate a crash left unknown."""
        return self._fetch(
            f"{_SELECT} WHERE outcome = 'pending' AND account = ? ORDER BY time, id", (account,)
        )

    def account_changes(self, account: str) -> tuple[int, int]:
        """How far the account's changes have come, for deciding a call again at dispatch
        (`binance_mcp.guard.epoch`): the id of its latest record that began `pending` (an order,
        cancel or amend about to leave, from any process sharing this log; 0 when none) and how
        many of its records are `pending` still (in flight, or left by a process that died)."""
        with self._db.reading() as session:
            latest = session.execute(
                "SELECT max(id) FROM audit WHERE account = ? AND owner IS NOT NULL", (account,)
            ).fetchone()[0]
            in_flight = session.execute(
                "SELECT count(*) FROM audit WHERE account = ? AND outcome = 'pending'", (account,)
            ).fetchone()[0]
        return int(latest or 0), int(in_flight)

    def orphaned_pending(self, account: str, now: datetime | None = None) -> list[AuditRecord]:
        """Pending records of `account` whose owner's lease ran out by `now` (or that name no
        owner: written by an older version): what a dead process left. Never this store's own
        records, and never a record whose owner still renews its lease. Oldest first."""
        from binance_mcp.stores.lease import owner_is_gone

        moment = utc_text(now or datetime.now(UTC))
        sql = (
            f"SELECT owner, lease_until, {', '.join(_COLUMNS)} FROM audit"
            " WHERE outcome = 'pending' AND account = ? AND (owner IS NULL OR owner != ?) ORDER BY time, id"
        )
        with self._db.reading() as session:
            rows = session.execute(sql, (account, self.owner)).fetchall()
        return [
            _record(row[2:])
            for row in rows
            if row[0] is None or row[1] is None or row[1] < moment or owner_is_gone(row[0])
        ]

    def query(
        self,
        *,
        tool: str | None = None,
        decision: str | None = None,
        since: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditRecord]:
        """Records matching every filter given, oldest first. `since` is inclusive (a naive
        datetime is UTC); `limit` keeps the newest N, still returned oldest first."""
        where: list[str] = []
        params: list[Any] = []
        if tool is not None:
            where.append("tool = ?")
            params.append(tool)
        if decision is not None:
            _check(decision, DECISIONS, "decision")
            where.append("decision = ?")
            params.append(str(decision))
        if since is not None:
            where.append("time >= ?")
            params.append(utc_text(since))
        sql = _SELECT + (f" WHERE {' AND '.join(where)}" if where else "")
        if limit is None:
            return self._fetch(f"{sql} ORDER BY time, id", params)
        if limit < 0:
            raise ValueError("limit must be 0 or more")
        newest = self._fetch(f"{sql} ORDER BY time DESC, id DESC LIMIT ?", [*params, limit])
        return newest[::-1]

    def close(self) -> None:
        """Close the database (when this log opened it); later calls raise `StateError`."""
        if self._owns_db:
            self._db.close()

    # internals

    def _row(self, record: AuditRecord) -> tuple[Any, ...]:
        record.validate()
        s = self._secrets
        arguments: Any = record.arguments
        if arguments is None:
            arguments = {}
        elif not isinstance(arguments, Mapping):  # malformed raw input is still recorded
            arguments = {"value": arguments}
        text = canonical_json(redact(arguments, s))
        if any(secret in text for secret in s):  # e.g. a secret split by JSON escaping
            text = canonical_json({REDACTED: REDACTED})
        return (
            record.time,
            redact_text(record.session, s) or "",
            redact_text(record.client, s) or "",
            record.network,
            record.base_url,
            record.tool,
            text,
            record.decision,
            record.approved_via,
            redact_text(record.reason, s),
            redact_text(record.rule, s),
            record.outcome,
            record.order_id,
            redact_text(record.client_order_id, s),
            record.latency_ms,
            redact_text(record.approved_by, s),
            record.account or "",
        )

    def _fetch(self, sql: str, params: Iterable[Any]) -> list[AuditRecord]:
        with self._db.reading() as session:
            rows = session.execute(sql, tuple(params)).fetchall()
        return [_record(row) for row in rows]


def _record(row: tuple[Any, ...]) -> AuditRecord:
    data = dict(zip(_COLUMNS, row, strict=True))
    try:
        arguments = json.loads(data["arguments"])
    except (TypeError, ValueError):
        arguments = {"value": data["arguments"]}
    data["arguments"] = arguments if isinstance(arguments, dict) else {"value": arguments}
    return AuditRecord(**data)
