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

import contextlib
import dataclasses
import json
import logging
import math
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from binance_mcp.stores.audit_chain import GENESIS, ChainReport, link, walk
from binance_mcp.stores.audit_key import audit_key
from binance_mcp.stores.lease import DEFAULT_LEASE_S, process_owner
from binance_mcp.stores.postgres import once_more_if_dropped
from binance_mcp.stores.sqlite import Database, SqliteDatabase
from binance_mcp.timestamps import utc_now_text, utc_text

logger = logging.getLogger(__name__)

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
    UNKNOWN_TOOL = "unknown_tool"  # a call to a tool that does not exist
    EVENT = "event"  # not a tool call: something the log must say (a gap in it, say); `tool` names it
    EXCHANGE = "exchange"  # one request sent to Binance (`tool` is its method): retries and look-ups too


class Outcome(StrEnum):
    """What became of the call: `refused` when nothing was sent, `pending` while in flight."""

    REFUSED = "refused"
    PENDING = "pending"
    OK = "ok"
    ERROR = "error"
    UNKNOWN = "unknown"
    ABANDONED = "abandoned"  # the client left (disconnected, cancelled, session ended) before the answer
    CUT_BY_DRAIN = "cut_by_drain"  # the server stopped and its drain's grace ran out first; nothing was sent


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
    policy: str | None = None
    """The fingerprint of the policy in force when the guard decided (`policy_loaded` events say
    which file and when), so that `rules.place_order` is unambiguous across reloads."""
    result: dict[str, Any] | None = None
    """What an order or cancel came to, in short: status, executed quantity and quote, fills, legs."""
    replica: str | None = None
    """Which server process wrote it (`host/pid/start`): with several replicas, which one served the call."""
    id: int | None = None
    seq: int | None = None
    """The record's place in the chain (1, 2, 3, … with no gap); None before it is written."""

    @property
    def client_name(self) -> str:
        """Who called, without the mark that says how we know."""
        return self.client.removesuffix(DECLARED)

    @property
    def identity(self) -> str:
        """How the caller is known: `token` (an HTTP bearer token proved it), `declared` (a stdio
        client's own word), or `anonymous` (the loopback caller of a server without tokens)."""
        if self.client.endswith(DECLARED):
            return "declared"
        return "anonymous" if self.client in ("", "local") else "token"

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
        """The record as a JSON-ready dict, `id` first; the caller's name and how it is known as
        fields of their own."""
        data = dataclasses.asdict(self)
        data["client"] = self.client_name
        data["identity"] = self.identity
        return {"id": data.pop("id"), **data}


OPERATOR_EVENTS = {
    "approved": "approval_approved",
    "denied": "approval_denied",
    "revoked": "approval_revoked",
}
"""The audit event each human decision on an approval request becomes."""


def operator_decision(approval: Any) -> AuditRecord:
    """The audit event of a human's decision (`binance_mcp.stores.approvals.Approval` just decided):
    the approval id, the call and the question as the human saw them, who, how and when."""
    status = approval.status
    moment = approval.revoked_at if status == "revoked" else approval.decided_at
    return AuditRecord(
        time=utc_text(moment) if moment is not None else utc_now_text(),
        client=approval.agent or "",
        network=approval.network or "unknown",
        base_url=approval.base_url or "unknown",
        tool=OPERATOR_EVENTS.get(status, f"approval_{status}"),
        arguments={"approval_id": approval.id, "tool": approval.tool, "question": approval.question},
        decision=AuditDecision.EVENT,
        approved_via=approval.decided_via if approval.decided_via in APPROVED_VIA else None,
        approved_by=approval.revoked_by if status == "revoked" else approval.decided_by,
        reason=f"{status} {approval.id}: {approval.question}",
        outcome=Outcome.OK,
        client_order_id=approval.client_order_id,
    )


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

_CHAIN_STEP = """
ALTER TABLE audit ADD COLUMN seq {serial};
ALTER TABLE audit ADD COLUMN hash TEXT;
ALTER TABLE audit ADD COLUMN completes {serial};
ALTER TABLE audit ADD COLUMN policy TEXT;
ALTER TABLE audit ADD COLUMN result TEXT;
ALTER TABLE audit ADD COLUMN replica TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS audit_seq ON audit (seq);
CREATE INDEX IF NOT EXISTS audit_completes ON audit (completes) WHERE completes IS NOT NULL;
CREATE TABLE IF NOT EXISTS audit_head (one INTEGER PRIMARY KEY CHECK (one = 1), seq {serial} NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (one, seq, hash) VALUES (1, 0, '') ON CONFLICT (one) DO NOTHING;
CREATE TABLE IF NOT EXISTS audit_in_flight (
    record_id {serial} PRIMARY KEY,
    account TEXT NOT NULL,
    owner TEXT,
    lease_until TEXT
);
INSERT INTO audit_in_flight (record_id, account, owner, lease_until)
    SELECT id, account, owner, lease_until FROM audit WHERE outcome = 'pending' ON CONFLICT (record_id) DO NOTHING;
DROP INDEX IF EXISTS audit_pending;
DROP INDEX IF EXISTS audit_pending_account;
DROP INDEX IF EXISTS audit_began_pending;
CREATE INDEX IF NOT EXISTS audit_began_pending_account ON audit (account, id) WHERE outcome = 'pending';
"""

_ARCHIVE_STEP = """
CREATE TABLE IF NOT EXISTS audit_checkpoint (
    seq {serial} PRIMARY KEY,
    hash TEXT NOT NULL,
    archive TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    archived_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_archived_ids (
    client_order_id TEXT NOT NULL,
    account TEXT NOT NULL,
    time TEXT NOT NULL,
    tool TEXT NOT NULL,
    outcome TEXT NOT NULL,
    order_id {serial}
);
CREATE INDEX IF NOT EXISTS audit_archived_ids_id ON audit_archived_ids (client_order_id);
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
        # version 7: the chain (audit_chain.py). Records are appended, never updated: a pending
        # record's outcome is a record of its own that `completes` it, and what must change while
        # it is in flight (owner, lease) lives in audit_in_flight. Rows written before this step are
        # chained by the first writer (`AuditLog._chain_unchained`).
        _CHAIN_STEP.replace("{serial}", "INTEGER"),
        # version 8: retention (audit_archive.py): where each archive ends, and the client order
        # ids of archived calls, still refused for reuse
        _ARCHIVE_STEP.replace("{serial}", "INTEGER"),
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
        # version 4: as SQLite's version 7
        _CHAIN_STEP.replace("{serial}", "BIGINT"),
        # version 5: as SQLite's version 8
        _ARCHIVE_STEP.replace("{serial}", "BIGINT"),
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
    "policy",
    "result",
    "replica",
    "seq",
)
_CONTENT = (*_COLUMNS[1:-1], "completes")
"""What a record's hash covers, in this order (with its `seq` and the hash before it)."""
_INSERT = (
    f"INSERT INTO audit ({', '.join(_CONTENT)}, seq, hash) VALUES ({', '.join('?' * (len(_CONTENT) + 2))})"
    " RETURNING id"
)
_UPDATED = frozenset({"decision", "reason", "outcome", "order_id", "client_order_id", "latency_ms", "result"})
"""A call's fields that its outcome record (if any) gives: the rest are the call's own."""
_CALLS = (
    "SELECT "
    + ", ".join(f"COALESCE(o.{c}, a.{c})" if c in _UPDATED else f"a.{c}" for c in _COLUMNS)
    + " FROM audit a LEFT JOIN audit o ON o.completes = a.seq WHERE a.completes IS NULL"
)
"""Every call once, with its outcome: a pending record joined with the record that completes it."""
_SENT = (
    "COALESCE(o.outcome, a.outcome) IN ('pending', 'ok', 'unknown')"
    " AND COALESCE(o.decision, a.decision) != 'dry_run'"
)
_BY_CLIENT_ID = (
    "(a.client_order_id = ? OR a.seq IN (SELECT completes FROM audit WHERE client_order_id = ?"
    " AND completes IS NOT NULL) OR a.id IN (SELECT audit_id FROM audit_client_ids WHERE client_order_id = ?))"
)
"""A call that carried the client order id: as its own (at the start or in its outcome) or as a leg's."""
_SELECT_A = "SELECT " + ", ".join(f"a.{c}" for c in _COLUMNS)
_HEAD = "SELECT seq, hash FROM audit_head WHERE one = 1"
ARCHIVED_EVENT = "audit_archived"
"""The chained event `audit archive` writes: which records it archived, to which file."""
_PAGE = 1000
"""Records read at a time by the streaming readers (`calls`, `verify`)."""
DECLARED = " (declared)"
"""The mark on a client that only declared its name (a stdio client's clientInfo.name)."""
_CHAIN_LOCK = "binance-mcp audit chain"


@dataclass(frozen=True)
class AuditFilter:
    """Which calls to read: every field given must match (several values: any of them)."""

    tools: tuple[str, ...] = ()
    decisions: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    identity: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    order_id: int | None = None
    client_order_id: str | None = None
    approved_by: str | None = None
    ids: tuple[int, ...] = ()
    events: bool = False
    """Also the log's events (operators' decisions, policy loads, gaps): not calls, so left out
    unless asked for, here or by `decisions=("event",)`."""

    def sql(self) -> tuple[str, list[Any]]:
        """` AND …` conditions on the calls query (`_CALLS`), and their parameters."""
        where: list[str] = []
        params: list[Any] = []

        def any_of(column: str, values: tuple[Any, ...]) -> None:
            where.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)

        if self.tools:
            any_of("a.tool", self.tools)
        if self.decisions:
            any_of("COALESCE(o.decision, a.decision)", self.decisions)
        if self.outcomes:
            any_of("COALESCE(o.outcome, a.outcome)", self.outcomes)
        if self.clients:
            any_of("a.client", (*self.clients, *(c + DECLARED for c in self.clients)))
        if self.identity == "declared":
            where.append("a.client LIKE ?")
            params.append("%" + DECLARED)
        elif self.identity == "token":
            where.append("a.client NOT LIKE ? AND a.client NOT IN ('', 'local')")
            params.append("%" + DECLARED)
        elif self.identity == "anonymous":
            where.append("a.client IN ('', 'local')")
        if self.since is not None:
            where.append("a.time >= ?")
            params.append(utc_text(self.since))
        if self.until is not None:
            where.append("a.time < ?")
            params.append(utc_text(self.until))
        if self.order_id is not None:
            where.append("COALESCE(o.order_id, a.order_id) = ?")
            params.append(self.order_id)
        if self.client_order_id is not None:
            where.append(_BY_CLIENT_ID)
            params.extend((self.client_order_id,) * 3)
        if self.approved_by is not None:
            where.append("a.approved_by = ?")
            params.append(self.approved_by)
        if self.ids:
            any_of("a.id", self.ids)
        if not self.events and AuditDecision.EVENT.value not in self.decisions:
            where.append("a.decision != 'event'")
        if AuditDecision.EXCHANGE.value not in self.decisions:
            where.append("a.decision != 'exchange'")
        return ("".join(f" AND {w}" for w in where), params)


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
        key: bytes | None = None,
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
        self._key = key
        self._unchained_checked = False

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # writing

    def append(
        self, record: AuditRecord, *, leg_client_order_ids: Sequence[str] = (), durable: bool | None = None
    ) -> int:
        """Write `record` at the end of the chain; committed when this returns. Returns its id.
        A `pending` record also enters `audit_in_flight`, owned by this store's owner with a lease,
        and `leg_client_order_ids` (an order list's legs) are recorded as used with it, in the same
        transaction, so that `sent_with_client_order_id` finds them as it finds the record's own."""
        row = self._row(record)
        pending = record.outcome == Outcome.PENDING
        if durable is None:
            durable = pending or record.client_order_id is not None or bool(leg_client_order_ids)
        # made once more on a connection found dead (lost exactly while its commit was under way, the
        # record may then be written twice: each copy is a link of the chain)
        return once_more_if_dropped(
            "audit write", lambda: self._append(record, row, leg_client_order_ids, durable=durable)
        )

    def _append(
        self, record: AuditRecord, row: tuple[Any, ...], leg_client_order_ids: Sequence[str], *, durable: bool
    ) -> int:
        pending = record.outcome == Outcome.PENDING
        with self._db.writing(durable=durable, serialise=_CHAIN_LOCK) as session:
            record_id, _seq = self._chain(session, (*row, None))
            if pending:
                lease_until = utc_text(datetime.now(UTC) + timedelta(seconds=self.lease_s))
                session.execute(
                    "INSERT INTO audit_in_flight (record_id, account, owner, lease_until) VALUES (?, ?, ?, ?)",
                    (record_id, record.account or "", self.owner, lease_until),
                )
            for leg_id in dict.fromkeys(leg_client_order_ids):
                session.execute(
                    "INSERT INTO audit_client_ids (client_order_id, audit_id) VALUES (?, ?)",
                    (redact_text(leg_id, self._secrets), record_id),
                )
        return record_id

    def append_all(self, records: Sequence[AuditRecord]) -> list[int]:
        """Write records that are not `pending` at the end of the chain, in order, in one
        transaction (one commit for all: what the audit writer does with the records queued
        together). All or none: a record the log refuses writes none of them. Returns their ids."""
        if any(record.outcome == Outcome.PENDING for record in records):
            raise ValueError("a pending record is written on its own (begin_pending)")
        rows = [self._row(record) for record in records]
        durable = any(record.client_order_id is not None for record in records)
        with self._db.writing(durable=durable, serialise=_CHAIN_LOCK) as session:
            return [self._chain(session, (*row, None))[0] for row in rows]

    def begin_pending(
        self, record: AuditRecord, *, leg_client_order_ids: Sequence[str] = (), durable: bool = True
    ) -> int:
        """Write `record` with outcome `pending` before an order or cancel leaves (or, not synced to
        the disk, a signed read), owned by this store's owner with a fresh lease (and its legs'
        client order ids, see `append`); returns its id, for `finish`."""
        pending = dataclasses.replace(record, outcome=Outcome.PENDING.value)
        return self.append(pending, leg_client_order_ids=leg_client_order_ids, durable=durable)

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
        result: dict[str, Any] | None = None,
        durable: bool = True,
    ) -> None:
        """Give a `pending` record its outcome: a record of its own that `completes` it (the
        pending record is never changed). A field passed as None keeps the pending record's value.

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
        fields = (outcome, decision, reason, order_id, client_order_id, latency_ms, result)
        once_more_if_dropped("audit write", lambda: self._finish(record_id, *fields, durable=durable))

    def _finish(
        self,
        record_id: int,
        outcome: str,
        decision: str | None,
        reason: str | None,
        order_id: int | None,
        client_order_id: str | None,
        latency_ms: float | None,
        result: dict[str, Any] | None,
        *,
        durable: bool,
    ) -> None:
        s = self._secrets
        with self._db.writing(durable=durable, serialise=_CHAIN_LOCK) as session:
            taken = session.execute("DELETE FROM audit_in_flight WHERE record_id = ?", (record_id,)).rowcount
            call = session.execute(
                "SELECT session, client, network, base_url, tool, decision, reason, order_id, client_order_id,"
                " latency_ms, account, seq, policy FROM audit WHERE id = ?",
                (record_id,),
            ).fetchone()
            if call is None:
                raise KeyError(f"no audit record {record_id}")
            if taken != 1:
                done = session.execute(
                    "SELECT replica, outcome FROM audit WHERE completes = ?", (call[11],)
                ).fetchone()
                if done is not None and (done[0], done[1]) == (self.owner, outcome):
                    return  # this writer's own outcome, whose commit landed but whose answer was lost
                raise ValueError(f"audit record {record_id} is not pending (it has an outcome already)")
            content = (
                utc_now_text(),
                call[0],
                call[1],
                call[2],
                call[3],
                call[4],
                "{}",
                str(decision) if decision is not None else call[5],
                None,
                redact_text(reason, s) if reason is not None else call[6],
                None,
                str(outcome),
                order_id if order_id is not None else call[7],
                redact_text(client_order_id, s) if client_order_id is not None else call[8],
                latency_ms if latency_ms is not None else call[9],
                None,
                call[10],
                call[12],
                None if result is None else canonical_json(redact(result, s)),
                self.owner,
                call[11],
            )
            self._chain(session, content)

    def renew_lease(self, now: datetime | None = None) -> int:
        """Extend the lease of every record this owner still has pending to `now` + `lease_s`;
        returns how many. Run every third of the lease while orders are in flight."""
        moment = now or datetime.now(UTC)
        until = utc_text(moment + timedelta(seconds=self.lease_s))
        cursor = self._db.statement(
            "UPDATE audit_in_flight SET lease_until = ? WHERE owner = ?", (until, self.owner), durable=False
        )
        return int(cursor.rowcount)

    # the chain

    def _chain(self, session: Any, content: tuple[Any, ...]) -> tuple[int, int]:
        """Insert one record (its `_CONTENT` columns) after the head; returns (id, seq)."""
        if not self._unchained_checked:
            self._chain_unchained(session)
        seq, previous = session.execute(_HEAD).fetchone()
        seq = int(seq) + 1
        digest = link(self._chain_key(), previous, seq, content)
        record_id = int(session.execute(_INSERT, (*content, seq, digest)).fetchall()[0][0])
        session.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE one = 1", (seq, digest))
        return record_id, seq

    def _chain_unchained(self, session: Any) -> None:
        """Give records written before the chain existed their place in it, oldest first (once)."""
        rows = session.execute(
            f"SELECT id, {', '.join(_CONTENT)} FROM audit WHERE seq IS NULL ORDER BY id"
        ).fetchall()
        if rows:
            seq, previous = session.execute(_HEAD).fetchone()
            seq = int(seq)
            for row in rows:
                seq += 1
                previous = link(self._chain_key(), previous, seq, tuple(row[1:]))
                session.execute("UPDATE audit SET seq = ?, hash = ? WHERE id = ?", (seq, previous, row[0]))
            session.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE one = 1", (seq, previous))
        self._unchained_checked = True

    def _chain_key(self) -> bytes:
        if self._key is None:
            self._key = audit_key(create=True)
        return self._key

    def head(self) -> tuple[int, str]:
        """The last record's number and hash, as the head row keeps them (an anchor: `SEQ:HASH`)."""
        with self._db.reading() as session:
            row = session.execute(_HEAD).fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def verify(self, anchor: tuple[int, str] | None = None, *, key: bytes | None = None) -> ChainReport:
        """Walk the whole chain in `seq` order (in pages: constant memory); see `audit_chain.walk`.
        Raises `AuditKeyError` when the key it was written with cannot be found."""
        chain_key = key or self._key or audit_key(create=False)
        columns = ", ".join(_CONTENT)

        def rows() -> Iterator[tuple[int, int | None, str | None, tuple[Any, ...]]]:
            with self._db.reading() as session:
                for row in session.execute(
                    f"SELECT id, seq, hash, {columns} FROM audit WHERE seq IS NULL ORDER BY id"
                ).fetchall():
                    yield int(row[0]), None, row[2], tuple(row[3:])
            after = 0
            while True:
                with self._db.reading() as session:
                    page = session.execute(
                        f"SELECT id, seq, hash, {columns} FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
                        (after, _PAGE),
                    ).fetchall()
                if not page:
                    return
                for row in page:
                    yield int(row[0]), int(row[1]), row[2], tuple(row[3:])
                after = int(page[-1][1])

        report = walk(chain_key, rows(), head=self.head(), anchor=anchor, start=self.checkpoint())
        report.problems += self._unchained_state_problems()
        return report

    def _unnamed_checkpoints(self) -> list[tuple[int, str]]:
        """Checkpoints no chained `audit_archived` event names (seq, hash)."""
        with self._db.reading() as session:
            checkpoints = session.execute("SELECT seq, hash FROM audit_checkpoint ORDER BY seq").fetchall()
            said = session.execute(
                "SELECT arguments FROM audit WHERE tool = ? AND decision = 'event' AND seq IS NOT NULL",
                (ARCHIVED_EVENT,),
            ).fetchall()
        named: set[tuple[int, str]] = set()
        for (text,) in said:
            with contextlib.suppress(TypeError, ValueError, KeyError):
                arguments = json.loads(text)
                named.add((int(arguments["through"]), str(arguments["hash"])))
        return [
            (int(seq), str(digest)) for seq, digest in checkpoints if (int(seq), str(digest)) not in named
        ]

    def _unchained_state_problems(self) -> list[str]:
        """What lives beside the chain must agree with it: every call still pending (no record
        completes it) is in flight (else recovery would never complete it), and every client order
        id an order list's record names for a leg is recorded as used (else it could be reused)."""
        problems: list[str] = []
        with self._db.reading() as session:
            lost = session.execute(
                "SELECT a.seq, a.id FROM audit a LEFT JOIN audit o ON o.completes = a.seq"
                " LEFT JOIN audit_in_flight p ON p.record_id = a.id"
                " WHERE a.outcome = 'pending' AND a.completes IS NULL AND o.id IS NULL AND p.record_id IS NULL"
                " AND a.seq IS NOT NULL ORDER BY a.seq LIMIT 20"
            ).fetchall()
            lists = session.execute(
                "SELECT a.seq, a.id, a.arguments FROM audit a WHERE a.tool = 'place_order_list'"
                " AND a.outcome = 'pending' AND a.seq IS NOT NULL ORDER BY a.seq"
            ).fetchall()
            used = {
                (int(row[0]), str(row[1]))
                for row in session.execute(
                    "SELECT audit_id, client_order_id FROM audit_client_ids"
                ).fetchall()
            }
        for seq, digest in self._unnamed_checkpoints():
            problems.append(
                f"the checkpoint at record {seq} is named by no archive record of the chain: the records up to "
                f"{seq} were deleted, not archived (hash {digest[:12]}…)"
            )
        for seq, record_id in lost:
            problems.append(
                f"record {seq} (id {record_id}) is pending with no outcome and not in flight: its in-flight "
                "state was removed, so crash recovery would never complete it"
            )
        for seq, record_id, text in lists:
            try:
                arguments = json.loads(text)
            except (TypeError, ValueError):
                continue
            for name, value in _leg_client_ids(arguments):
                if isinstance(value, str) and (int(record_id), value) not in used:
                    problems.append(
                        f"record {seq} (id {record_id}): leg id {value} ({name}) is not among the used client "
                        "order ids: it was removed, and could be reused"
                    )
        return problems + self._stray_beside_the_chain()

    def _stray_beside_the_chain(self) -> list[str]:
        """The other way round: every in-flight row names a call still pending, and every used leg
        id belongs to a record (an edited id would free it, or have recovery settle a call twice)."""
        unsettled = (
            "a.outcome = 'pending' AND a.completes IS NULL"
            " AND NOT EXISTS (SELECT 1 FROM audit o WHERE o.completes = a.seq)"
        )
        with self._db.reading() as session:
            stray = session.execute(
                "SELECT p.record_id FROM audit_in_flight p WHERE NOT EXISTS"
                f" (SELECT 1 FROM audit a WHERE a.id = p.record_id AND {unsettled}) ORDER BY p.record_id LIMIT 20"
            ).fetchall()
            unowned = session.execute(
                "SELECT DISTINCT c.audit_id FROM audit_client_ids c"
                " WHERE NOT EXISTS (SELECT 1 FROM audit a WHERE a.id = c.audit_id) ORDER BY c.audit_id LIMIT 20"
            ).fetchall()
        return [
            f"audit_in_flight names record id {row_id}, which is not a call in flight: audit_in_flight"
            " or the record's id was edited"
            for (row_id,) in stray
        ] + [
            f"audit_client_ids names record id {row_id}, which does not exist: audit_client_ids or the"
            " record's id was edited (its client order ids would be accepted again)"
            for (row_id,) in unowned
        ]

    # retention (binance_mcp.stores.audit_archive writes the files)

    def checkpoint(self) -> tuple[int, str]:
        """The last archived record's seq and hash (0 and the genesis when nothing was archived)."""
        with self._db.reading() as session:
            row = session.execute(
                "SELECT seq, hash FROM audit_checkpoint ORDER BY seq DESC LIMIT 1"
            ).fetchone()
        return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))

    def archivable_through(self, before: datetime) -> int:
        """The last seq that may be archived for `before`: the chain's oldest records, up to the
        first one at or after `before` and the first one still in flight."""
        with self._db.reading() as session:
            newer = session.execute(
                "SELECT min(seq) FROM audit WHERE time >= ?", (utc_text(before),)
            ).fetchone()[0]
            flying = session.execute(
                "SELECT min(a.seq) FROM audit_in_flight p JOIN audit a ON a.id = p.record_id"
            ).fetchone()[0]
            last = session.execute(_HEAD).fetchone()[0]
        bounds = [int(last)] + [int(x) - 1 for x in (newer, flying) if x is not None]
        return min(bounds)

    def raw_records(self, after: int, through: int) -> Iterator[dict[str, Any]]:
        """The stored records with `after` < seq ≤ `through`, in order, each every column as stored
        (what an archive keeps, and what its hashes cover), read in pages."""
        columns = ("id", "seq", "hash", *_CONTENT)
        while True:
            with self._db.reading() as session:
                page = session.execute(
                    f"SELECT {', '.join(columns)} FROM audit WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?",
                    (after, through, _PAGE),
                ).fetchall()
            if not page:
                return
            for row in page:
                yield dict(zip(columns, row, strict=True))
            after = int(page[-1][1])

    def drop_archived(self, through: int, digest: str, archive: str, sha256: str) -> int:
        """Once the archive file is safe: note the checkpoint, keep the archived calls' client
        order ids refused (`audit_archived_ids`), and delete the records through `through`.
        Returns how many were deleted."""
        with self._db.writing(durable=True, serialise=_CHAIN_LOCK) as session:
            session.execute(
                "INSERT INTO audit_checkpoint (seq, hash, archive, sha256, archived_at) VALUES (?, ?, ?, ?, ?)",
                (through, digest, archive, sha256, utc_now_text()),
            )
            # the chain itself says what was archived: a checkpoint it does not name is a deletion
            said = AuditRecord(
                client="binance-mcp",
                network="any",
                base_url="any",
                tool=ARCHIVED_EVENT,
                arguments={"through": through, "hash": digest, "archive": archive, "sha256": sha256},
                decision=AuditDecision.EVENT,
                outcome=Outcome.OK,
                reason=f"records up to {through} archived to {archive} (sha256 {sha256})",
            )
            self._chain(session, (*self._row(said), None))
            sent = f"{_CALLS} AND a.seq <= ? AND {_SENT}"
            columns = "COALESCE(o.client_order_id, a.client_order_id), a.account, a.time, a.tool, COALESCE(o.outcome, a.outcome), COALESCE(o.order_id, a.order_id)"
            calls = sent.replace(_CALLS.split(" FROM ")[0], f"SELECT {columns}", 1)
            session.execute(
                f"INSERT INTO audit_archived_ids (client_order_id, account, time, tool, outcome, order_id) {calls}"
                " AND COALESCE(o.client_order_id, a.client_order_id) IS NOT NULL",
                (through,),
            )
            legs = calls.replace(
                f"SELECT {columns}",
                "SELECT c.client_order_id, a.account, a.time, a.tool, COALESCE(o.outcome, a.outcome),"
                " COALESCE(o.order_id, a.order_id)",
                1,
            ).replace(" FROM audit a ", " FROM audit_client_ids c JOIN audit a ON a.id = c.audit_id ", 1)
            session.execute(
                f"INSERT INTO audit_archived_ids (client_order_id, account, time, tool, outcome, order_id) {legs}",
                (through,),
            )
            session.execute(
                "DELETE FROM audit_client_ids WHERE audit_id IN (SELECT id FROM audit WHERE seq <= ?)",
                (through,),
            )
            return int(session.execute("DELETE FROM audit WHERE seq <= ?", (through,)).rowcount)

    # reading

    def sent_with_client_order_id(self, client_order_id: str, *, account: str) -> list[AuditRecord]:
        """Calls that sent (or may have sent) a request carrying this client order id for
        `account`, as their own id or as one of an order list's legs: outcome pending, ok or
        unknown, dry runs aside. Oldest first."""
        sql = f"{_CALLS} AND {_BY_CLIENT_ID} AND a.account = ? AND {_SENT} ORDER BY a.time, a.id"
        return self._archived_ids(client_order_id, account) + self._fetch(
            sql, (client_order_id, client_order_id, client_order_id, account)
        )

    def _archived_ids(self, client_order_id: str, account: str) -> list[AuditRecord]:
        """Calls that carried the id and were archived since (their records are in an archive file)."""
        with self._db.reading() as session:
            rows = session.execute(
                "SELECT time, tool, outcome, order_id FROM audit_archived_ids WHERE client_order_id = ?"
                " AND account = ? ORDER BY time",
                (client_order_id, account),
            ).fetchall()
        return [
            AuditRecord(
                time=row[0],
                network="archived",
                base_url="archived",
                account=account,
                tool=row[1],
                decision=AuditDecision.ALLOWED,
                outcome=row[2],
                order_id=row[3],
                client_order_id=client_order_id,
                reason="archived",
            )
            for row in rows
        ]

    def pending(self, *, account: str) -> list[AuditRecord]:
        """Records of `account` still `pending`, oldest first: orders or cancels in flight, or whose
        fate a crash left unknown."""
        selected = f"{_SELECT_A} FROM audit_in_flight p JOIN audit a ON a.id = p.record_id"
        return self._fetch(f"{selected} WHERE p.account = ? ORDER BY a.time, a.id", (account,))

    def account_changes(self, account: str, tools: Sequence[str]) -> tuple[int, int]:
        """How far the account's changes have come, for deciding a call again at dispatch
        (`binance_mcp.guard.epoch`): the id of its latest record of one of `tools` (those that
        change the account) that began `pending` (an order, cancel or amend about to leave, from
        any process sharing this log; 0 when none) and how many of those are in flight still (or
        were left by a process that died). Signed reads, pending too while in flight, do not count."""
        marks = ", ".join("?" * len(tools))
        with self._db.reading() as session:
            latest = session.execute(
                f"SELECT max(id) FROM audit WHERE account = ? AND outcome = 'pending' AND tool IN ({marks})",
                (account, *tools),
            ).fetchone()[0]
            in_flight = session.execute(
                "SELECT count(*) FROM audit_in_flight p JOIN audit a ON a.id = p.record_id"
                f" WHERE p.account = ? AND a.tool IN ({marks})",
                (account, *tools),
            ).fetchone()[0]
        return int(latest or 0), int(in_flight)

    def orphaned_pending(self, account: str, now: datetime | None = None) -> list[AuditRecord]:
        """Pending records of `account` whose owner's lease ran out by `now` (or that name no
        owner: written by an older version): what a dead process left. Never this store's own
        records, and never a record whose owner still renews its lease. Oldest first."""
        from binance_mcp.stores.lease import owner_is_gone

        moment = utc_text(now or datetime.now(UTC))
        sql = (
            f"SELECT p.owner, p.lease_until, {_SELECT_A[len('SELECT ') :]}"
            " FROM audit_in_flight p JOIN audit a ON a.id = p.record_id"
            " WHERE p.account = ? AND (p.owner IS NULL OR p.owner != ?) ORDER BY a.time, a.id"
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
        """Calls matching every filter given, oldest first. `since` is inclusive (a naive
        datetime is UTC); `limit` keeps the newest N, still returned oldest first."""
        if decision is not None:
            _check(decision, DECISIONS, "decision")
        if limit is not None and limit < 0:
            raise ValueError("limit must be 0 or more")
        found = AuditFilter(
            tools=(tool,) if tool else (),
            decisions=(decision,) if decision else (),
            since=since,
        )
        return list(self.calls(found, newest=limit))

    def calls(self, found: AuditFilter, *, newest: int | None = None) -> Iterator[AuditRecord]:
        """Every call `found` matches, oldest first, read in pages (constant memory); with
        `newest`, only the newest N of them."""
        where, params = found.sql()
        if newest is not None:
            sql = f"{_CALLS}{where} ORDER BY a.time DESC, a.id DESC LIMIT ?"
            yield from reversed(self._fetch(sql, [*params, newest]))
            return
        after: tuple[str, int] = ("", 0)
        while True:
            sql = (
                f"{_CALLS}{where} AND (a.time > ? OR (a.time = ? AND a.id > ?)) ORDER BY a.time, a.id LIMIT ?"
            )
            page = self._fetch(sql, [*params, after[0], after[0], after[1], _PAGE])
            yield from page
            if len(page) < _PAGE:
                return
            last = page[-1]
            after = (last.time, int(last.id or 0))

    def records(self, seqs: Iterable[int]) -> list[tuple[int, AuditRecord, int | None]]:
        """The raw records with these numbers (a call and the record completing it), in order:
        (seq, record, the seq it completes or None)."""
        wanted = sorted(set(seqs))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        sql = f"SELECT {', '.join(_COLUMNS)}, completes FROM audit WHERE seq IN ({marks}) ORDER BY seq"
        with self._db.reading() as session:
            rows = session.execute(sql, wanted).fetchall()
        return [(int(row[-2]), _record(row[:-1]), row[-1]) for row in rows]

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
            record.policy,
            None if record.result is None else canonical_json(redact(record.result, s)),
            record.replica or self.owner,
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
    if data.get("result") is not None:
        try:
            data["result"] = json.loads(data["result"])
        except (TypeError, ValueError):
            data["result"] = {"value": data["result"]}
    return AuditRecord(**data)


def _leg_client_ids(arguments: object) -> list[tuple[str, object]]:
    """An order list's legs' client order ids in its recorded arguments, as (argument, id):
    `legs[1].client_order_id`, or, in a record written before legs, `above_client_order_id`."""
    if not isinstance(arguments, dict):
        return []
    legs = arguments.get("legs")
    found = [
        (f"legs[{index}].client_order_id", leg["client_order_id"])
        for index, leg in enumerate(legs if isinstance(legs, list) else [])
        if isinstance(leg, dict) and "client_order_id" in leg
    ]
    return found + [
        (name, value)
        for name, value in sorted(arguments.items())
        if name.endswith("_client_order_id") and name != "list_client_order_id"
    ]
