"""Human approval, out of band and in the client: approvals and nonces in SQLite in the state dir.

README *Limits in money, human approval, budgets*. When the client may not or cannot ask the human, the guard refuses the call
with an approval id (`request`, which keeps the order's rendered details and when the request
expires: `pending_ttl`, an hour by default); an operator approves it with `binance-mcp approvals
approve ID` or on the approvals page (`approve`, which records who: `cli:<user>` or the operator
token's name); the next call that matches — same tool, network, base URL, agent and canonical
arguments — within the `approval_ttl` in force at that moment is allowed, once (`take`, the only
way an approval lets a call through, marks it used in the same transaction). Until then the
approval can be withdrawn (`revoke`, or `deny` after `approve`). Nothing the model can send
approves a call: ids are random (never derived from the arguments) and only `approve` — run by a
person — turns one into an approval. `approve_command` is the exact command to tell that person.

When the client can ask (elicitation), each question is bound to a single-use nonce
(`new_nonce` / `spend_nonce`): a replayed round finds its nonce spent and runs nothing.

`canonical_arguments` is what "same arguments" means: sorted keys, symbol and enum words
upper-cased, decimals normalised (`"0.010"` = `"0.01"` = `0.01`), nulls dropped, a generated client
order id left out and a caller's kept.

`ApprovalStore` is the store the guard, the CLI and the approvals page use, on either database of
`binance_mcp.stores` (the SQLite file in the state dir, or PostgreSQL).
"""

from __future__ import annotations

import builtins
import json
import re
import secrets
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from binance_mcp.account import network_of
from binance_mcp.decimals import DecimalTextError, decimal_text, parse_decimal
from binance_mcp.stores.sqlite import Database, Session, SqliteDatabase

__all__ = [
    "APPROVALS_DB_NAME",
    "DEFAULT_APPROVAL_TTL_S",
    "DEFAULT_NONCE_TTL_S",
    "DEFAULT_PENDING_TTL_S",
    "PENDING_LIFETIME_S",
    "Approval",
    "ApprovalAlreadyDecided",
    "ApprovalError",
    "ApprovalExpired",
    "ApprovalStore",
    "TooManyPending",
    "UnknownApproval",
    "approvals_path",
    "approve_command",
    "canonical_arguments",
    "normalise_approval_id",
    "open_approval_store",
]

APPROVALS_DB_NAME = "approvals.sqlite3"
DEFAULT_APPROVAL_TTL_S = 600
DEFAULT_NONCE_TTL_S = 300
DEFAULT_PENDING_TTL_S = 3600
"""A request nobody decided within this many seconds expires (the policy's `approvals.pending_ttl`)."""
PENDING_LIFETIME_S = DEFAULT_PENDING_TTL_S
KEEP_NONCES_S = 7 * 24 * 3600
"""Spent or expired nonces are deleted after a week. Approvals are never deleted: the audit log's
records name them (an operator's decision is an audit event of its own)."""

PENDING = "pending"
APPROVED = "approved"
DENIED = "denied"
REVOKED = "revoked"  # approved, then withdrawn before it was used
USED = "used"
EXPIRED = "expired"  # shown, never stored: a request or an approval past its time

# Crockford's base32: no I, L, O or U, so an id read aloud or typed from a screen survives.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_ID_PATTERN = re.compile(r"APR-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")
_TYPO = str.maketrans({"O": "0", "I": "1", "L": "1"})

DECIMAL_FIELDS = frozenset({"quantity", "quote_quantity", "price", "stop_price"})
UPPER_FIELDS = frozenset({"symbol", "side", "type", "time_in_force"})
CLIENT_ORDER_ID = "client_order_id"


# --------------------------------------------------------------------------- canonical arguments


def canonical_arguments(arguments: Mapping[str, Any], *, drop_client_order_id: bool) -> str:
    """The arguments as canonical JSON: the key two calls must share for one approval to cover both.

    - keys sorted, no spaces; a value of None is the same as leaving the argument out;
    - `symbol`, `side`, `type`, `time_in_force` stripped and upper-cased (the tools read them so);
    - `quantity`, `quote_quantity`, `price`, `stop_price`, and any Decimal or float anywhere, as
      plain decimal text without trailing zeros (`"0.010"`, `"0.01"`, `0.01`, `Decimal("1E-2")` all
      give `"0.01"`); other strings are kept as written (a client order id `"0010"` stays `"0010"`);
    - the client ids (`client_order_id`, an order list's `list_client_order_id` and its legs' ids
      made from it, in `legs`) left out when `drop_client_order_id` (the server generated them: each retry
      gets new ones) and kept when the caller gave them (they name a different order).
    """
    data = {key: value for key, value in arguments.items() if value is not None}
    if drop_client_order_id:
        data = {key: value for key, value in data.items() if not key.endswith(CLIENT_ORDER_ID)}
        if isinstance(data.get("legs"), list):  # an order list's legs: their ids made from the list's
            data["legs"] = [
                {k: v for k, v in leg.items() if k != CLIENT_ORDER_ID} if isinstance(leg, Mapping) else leg
                for leg in data["legs"]
            ]
    canonical = {key: _canonical_value(key, value) for key, value in data.items()}
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _canonical_value(key: str | None, value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, Decimal | float):
        return _decimal_text(value)
    if key in DECIMAL_FIELDS and isinstance(value, int | str):
        return _decimal_text(value)
    if key in UPPER_FIELDS and isinstance(value, str):
        return value.strip().upper()
    if isinstance(value, Mapping):
        return {str(k): _canonical_value(str(k), v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_canonical_value(None, v) for v in value]
    return value


def _decimal_text(value: Decimal | float | int | str) -> Any:
    try:
        number = parse_decimal(value)
    except DecimalTextError:
        # not a bounded, finite number: kept as written (a Decimal as its text), so it only matches itself
        return value if isinstance(value, str | int | float) else str(value)
    return decimal_text(number)


# --------------------------------------------------------------------------- values


class ApprovalError(Exception):
    """An approval cannot be decided as asked; the message is one line for the CLI."""


class TooManyPending(ApprovalError):
    """The agent already has `waiting` requests pending, its most (`limit`): no other is opened."""

    def __init__(self, agent: str | None, waiting: int, limit: int) -> None:
        super().__init__(
            f"{agent or 'this caller'} has {waiting} requests waiting for a human, its most ({limit})"
        )
        self.agent = agent
        self.waiting = waiting
        self.limit = limit


class UnknownApproval(ApprovalError, KeyError):
    """No approval has this id."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ApprovalAlreadyDecided(ApprovalError):
    """The approval was already approved or denied (or used)."""


class ApprovalExpired(ApprovalError):
    """The request waited past its `expires_at` and can no longer be decided."""


@dataclass(frozen=True)
class Approval:
    """One request for a human's approval, and what became of it."""

    id: str
    tool: str
    network: str
    base_url: str
    agent: str
    """The agent (HTTP token name); "" for none (stdio)."""
    arguments_key: str
    question: str
    status: str
    """As stored: `pending`, `approved`, `denied` or `used`; see `status_at` for `expired`."""
    ttl_s: int
    """The `approval_ttl` when it was asked; `take` applies the one in force when it is used."""
    created_at: datetime
    decided_at: datetime | None = None
    decided_via: str | None = None
    """How it was decided: `cli` or `page`."""
    used_at: datetime | None = None
    expires_at: datetime | None = None
    """When the request stops waiting for a human (`created_at` + the policy's `pending_ttl`)."""
    details: Mapping[str, str] = field(default_factory=dict)
    """The call as a human should see it, rendered from the validated order: side, quantity,
    symbol, type, price, notional, how it was valued, network, agent, client order id
    (`binance_mcp.approval_details`); {} for a request made without them."""
    decided_by: str | None = None
    """Who decided: the operator token's name, or `cli:<user>` at the CLI."""
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    account: str = ""
    """The account the call was for (`network:key fingerprint`): whose budget it spends."""
    outcome: Mapping[str, str] = field(default_factory=dict)
    """What became of the call it let through, once used: `order_id`, `status`, `executed`
    (as `record_outcome` kept them); {} before."""
    fresh: bool = field(default=False, compare=False)
    """True only on what `request` returns when it made a new request (not one already pending):
    the moment to notify a human (`binance_mcp.notify.announce_pending`). Never stored."""

    @property
    def client_order_id(self) -> str | None:
        return self.details.get("client_order_id") or None

    @property
    def notional(self) -> str | None:
        return self.details.get("notional") or None

    def usable_until(self, ttl_s: int | None = None) -> datetime | None:
        """When an approved approval stops allowing a call (None unless approved), with the ttl in
        force (`ttl_s`) or else the one it was asked with."""
        if self.status != APPROVED or self.decided_at is None:
            return None
        return self.decided_at + timedelta(seconds=self.ttl_s if ttl_s is None else ttl_s)

    def status_at(self, now: datetime | None = None) -> str:
        """The status a person should see: an unused approval past its ttl, or a request nobody
        decided before its `expires_at`, reads `expired`."""
        moment = _utc(now)
        usable_until = self.usable_until()
        if usable_until is not None and moment > usable_until:
            return EXPIRED
        if self.status == PENDING and self.pending_expired(moment):
            return EXPIRED
        return self.status

    def pending_expired(self, now: datetime | None = None) -> bool:
        """Whether the request has waited past its `expires_at`."""
        deadline = self.expires_at or self.created_at + timedelta(seconds=DEFAULT_PENDING_TTL_S)
        return _utc(now) >= deadline

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-ready, times in ISO 8601 UTC, `status` as `status_at(now)`."""
        return {
            "id": self.id,
            "status": self.status_at(now),
            "tool": self.tool,
            "network": self.network,
            "base_url": self.base_url,
            "agent": self.agent or None,
            "client_order_id": self.client_order_id,
            "notional": self.notional,
            "question": self.question,
            "details": dict(self.details),
            "arguments": self.arguments_key,
            "ttl_s": self.ttl_s,
            "created_at": _iso(self.created_at),
            "expires_at": _iso_or_none(self.expires_at),
            "decided_at": _iso_or_none(self.decided_at),
            "decided_via": self.decided_via,
            "decided_by": self.decided_by,
            "used_at": _iso_or_none(self.used_at),
            "revoked_at": _iso_or_none(self.revoked_at),
            "revoked_by": self.revoked_by,
            "outcome": dict(self.outcome) or None,
        }


def normalise_approval_id(text: str) -> str:
    """An id as a person may type it (`apr-7kq2-xm9d`, `7KQ2XM9D`, an O for a 0) in its stored
    form `apr-7KQ2-XM9D`; text that cannot be an id comes back stripped, to match nothing."""
    raw = text.strip().upper().replace(" ", "")
    if raw.startswith("APR"):
        raw = raw[3:]
    body = raw.replace("-", "").translate(_TYPO)
    candidate = f"APR-{body[:4]}-{body[4:]}"
    if len(body) == 8 and _ID_PATTERN.fullmatch(candidate):
        return "apr-" + candidate[4:]
    return text.strip()


def _new_id() -> str:
    body = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    return f"apr-{body[:4]}-{body[4:]}"


# --------------------------------------------------------------------------- the store

_MIGRATIONS = {
    "sqlite": (
        # version 1
        """
    CREATE TABLE IF NOT EXISTS approvals (
        id TEXT PRIMARY KEY,
        tool TEXT NOT NULL,
        network TEXT NOT NULL,
        base_url TEXT NOT NULL,
        agent TEXT NOT NULL,
        arguments_key TEXT NOT NULL,
        question TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'used')),
        ttl_s INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        decided_at TEXT,
        decided_via TEXT,
        used_at TEXT
    );
    CREATE INDEX IF NOT EXISTS approvals_call
        ON approvals (tool, network, base_url, agent, arguments_key, status);
    CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status, created_at);
    CREATE TABLE IF NOT EXISTS nonces (
        nonce TEXT PRIMARY KEY,
        tool TEXT NOT NULL,
        network TEXT NOT NULL,
        base_url TEXT NOT NULL,
        agent TEXT NOT NULL,
        arguments_key TEXT NOT NULL,
        created_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        spent_at TEXT
    );
    """,
        # version 2: requests that expire, the order's details, who decided, approvals withdrawn.
        # SQLite cannot change a CHECK constraint in place: the table is rebuilt (same transaction).
        """
    CREATE TABLE approvals_v2 (
        id TEXT PRIMARY KEY,
        tool TEXT NOT NULL,
        network TEXT NOT NULL,
        base_url TEXT NOT NULL,
        agent TEXT NOT NULL,
        arguments_key TEXT NOT NULL,
        question TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked', 'used')),
        ttl_s INTEGER NOT NULL,
        created_at TEXT NOT NULL,
        decided_at TEXT,
        decided_via TEXT,
        used_at TEXT,
        expires_at TEXT NOT NULL,
        details TEXT NOT NULL DEFAULT '{}',
        decided_by TEXT,
        revoked_at TEXT,
        revoked_by TEXT
    );
    INSERT INTO approvals_v2 (id, tool, network, base_url, agent, arguments_key, question, status, ttl_s,
            created_at, decided_at, decided_via, used_at, expires_at)
        SELECT id, tool, network, base_url, agent, arguments_key, question, status, ttl_s,
            created_at, decided_at, decided_via, used_at,
            strftime('%Y-%m-%dT%H:%M:%S', created_at, '+1 day') || substr(created_at, 20)
        FROM approvals;
    DROP TABLE approvals;
    ALTER TABLE approvals_v2 RENAME TO approvals;
    CREATE INDEX IF NOT EXISTS approvals_call
        ON approvals (tool, network, base_url, agent, arguments_key, status);
    CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status, created_at);
    """,
        # version 3: matched by account (network + API key fingerprint), not by how the REST root is
        # spelled. Rows from before keep their old key (network:base_url).
        """
    ALTER TABLE approvals ADD COLUMN account TEXT NOT NULL DEFAULT '';
    UPDATE approvals SET account = network || ':' || base_url WHERE account = '';
    ALTER TABLE nonces ADD COLUMN account TEXT NOT NULL DEFAULT '';
    UPDATE nonces SET account = network || ':' || base_url WHERE account = '';
    DROP INDEX IF EXISTS approvals_call;
    CREATE INDEX IF NOT EXISTS approvals_account_call ON approvals (tool, account, agent, arguments_key, status);
    """,
        # version 4: what became of the call an approval let through (order id, status, fills)
        """
    ALTER TABLE approvals ADD COLUMN outcome TEXT NOT NULL DEFAULT '{}';
    """,
    ),
    "postgresql": (
        """
        CREATE TABLE IF NOT EXISTS approvals (
            id TEXT PRIMARY KEY,
            tool TEXT NOT NULL,
            network TEXT NOT NULL,
            base_url TEXT NOT NULL,
            agent TEXT NOT NULL,
            arguments_key TEXT NOT NULL,
            question TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'revoked', 'used')),
            ttl_s INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            decided_at TEXT,
            decided_via TEXT,
            used_at TEXT,
            expires_at TEXT NOT NULL,
            details TEXT NOT NULL DEFAULT '{}',
            decided_by TEXT,
            revoked_at TEXT,
            revoked_by TEXT,
            account TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX IF NOT EXISTS approvals_account_call ON approvals (tool, account, agent, arguments_key, status);
        CREATE INDEX IF NOT EXISTS approvals_status ON approvals (status, created_at);
        CREATE TABLE IF NOT EXISTS nonces (
            nonce TEXT PRIMARY KEY,
            tool TEXT NOT NULL,
            network TEXT NOT NULL,
            base_url TEXT NOT NULL,
            agent TEXT NOT NULL,
            arguments_key TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            spent_at TEXT,
            account TEXT NOT NULL DEFAULT ''
        );
        """,
        """
        ALTER TABLE approvals ADD COLUMN IF NOT EXISTS outcome TEXT NOT NULL DEFAULT '{}';
        """,
    ),
}
SCHEMA_VERSION = len(_MIGRATIONS["sqlite"])

_COLUMNS = (
    "id",
    "tool",
    "network",
    "base_url",
    "agent",
    "arguments_key",
    "question",
    "status",
    "ttl_s",
    "created_at",
    "decided_at",
    "decided_via",
    "used_at",
    "expires_at",
    "details",
    "decided_by",
    "revoked_at",
    "revoked_by",
    "account",
    "outcome",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM approvals"
_CALL_MATCH = "tool = ? AND account = ? AND agent = ? AND arguments_key = ?"


def _call(tool: str, account: str, agent: str | None, arguments_key: str) -> tuple[str, str, str, str]:
    """What a call is matched on: tool, account (`binance_mcp.account.AccountKey` as text), agent,
    canonical arguments."""
    return (tool, account, agent or "", arguments_key)


def approvals_path(state_dir: Path) -> Path:
    """Where the approvals database lives inside a state dir."""
    return Path(state_dir) / APPROVALS_DB_NAME


class ApprovalStore:
    """Approvals and nonces in the SQLite database at `path` (created with its schema if missing),
    or in `database=` (a `binance_mcp.stores` database, e.g. PostgreSQL).

    Thread safe; the servers and the CLI share it across processes, each decision one serialised
    transaction (SQLite `BEGIN IMMEDIATE`; PostgreSQL an advisory lock), committed before returning.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        database: Database | None = None,
        on_decision: Callable[[Approval], None] | None = None,
    ) -> None:
        if database is None:
            if path is None:
                raise TypeError("ApprovalStore needs a path or a database")
            database = SqliteDatabase(Path(path), _MIGRATIONS, name="approvals")
        self.path = Path(path) if path is not None else None
        self._db = database
        self._owns_db = path is not None
        self._on_decision = on_decision
        """Told of every decision a human made, once it is committed (the audit log records it)."""

    def __enter__(self) -> ApprovalStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the out-of-band flow

    def request(
        self,
        *,
        tool: str,
        account: str,
        agent: str | None,
        arguments_key: str,
        question: str,
        network: str | None = None,
        base_url: str = "",
        ttl_s: int = DEFAULT_APPROVAL_TTL_S,
        details: Mapping[str, str] | None = None,
        pending_ttl_s: int = DEFAULT_PENDING_TTL_S,
        now: datetime | None = None,
        max_pending: int | None = None,
    ) -> Approval:
        """A pending approval for this call, for a human to decide, with the order's `details` (as
        `binance_mcp.approval_details.request_details` renders them), expiring `pending_ttl_s`
        seconds from now. While an identical call is already pending, that same request is
        returned (its question, details and ttl brought up to date, its expiry kept) instead of a
        second one. `network` and `base_url` are shown to the human (never part of the match).
        With `max_pending`, an agent (on this account) that already has that many pending gets
        `TooManyPending` instead of a new one (counted in the same transaction)."""
        if ttl_s < 1:
            raise ValueError("ttl_s must be at least 1 second")
        if pending_ttl_s < 1:
            raise ValueError("pending_ttl_s must be at least 1 second")
        moment = _utc(now)
        call = _call(tool, account, agent, arguments_key)
        shown = (network or network_of(account), base_url.rstrip("/"))
        details_text = json.dumps(dict(details or {}), sort_keys=True, ensure_ascii=False)
        with self._db.writing(serialise="approvals") as conn:
            self._prune(conn, moment)
            row = conn.execute(
                f"{_SELECT} WHERE {_CALL_MATCH} AND status = 'pending' AND expires_at > ?"
                " ORDER BY created_at DESC LIMIT 1",
                (*call, _iso(moment)),
            ).fetchone()
            if row is not None:
                conn.execute(
                    "UPDATE approvals SET ttl_s = ?, question = ?, details = ? WHERE id = ?",
                    (ttl_s, question, details_text, row[0]),
                )
                found = self._row(conn, row[0])
                assert found is not None
                return found
            if max_pending is not None:
                waiting = conn.execute(
                    "SELECT count(*) FROM approvals WHERE account = ? AND agent = ? AND status = 'pending'"
                    " AND expires_at > ?",
                    (call[1], call[2], _iso(moment)),
                ).fetchone()[0]
                if waiting >= max_pending:
                    raise TooManyPending(agent, int(waiting), max_pending)
            approval_id = _new_id()
            while self._row(conn, approval_id) is not None:  # 2^40 ids: a collision is rare, never fatal
                approval_id = _new_id()
            conn.execute(
                "INSERT INTO approvals (id, tool, account, agent, arguments_key, network, base_url, question,"
                " status, ttl_s, created_at, expires_at, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)",
                (
                    approval_id,
                    *call,
                    *shown,
                    question,
                    ttl_s,
                    _iso(moment),
                    _iso(moment + timedelta(seconds=pending_ttl_s)),
                    details_text,
                ),
            )
            created = self._row(conn, approval_id)
        assert created is not None
        return replace(created, fresh=True)

    def approve(
        self, approval_id: str, via: str = "cli", now: datetime | None = None, *, by: str | None = None
    ) -> Approval:
        """A human (`by`: an operator's name, or `cli:<user>`) approves, through `via` (`cli` or
        `page`): the next matching call within the approval ttl in force then is allowed. Raises
        `UnknownApproval`, `ApprovalAlreadyDecided` or `ApprovalExpired`."""
        return self._decided(self._decide(approval_id, APPROVED, via, by, _utc(now)))

    def deny(
        self, approval_id: str, via: str = "cli", now: datetime | None = None, *, by: str | None = None
    ) -> Approval:
        """A human denies: a pending request is `denied`; an approval not yet used is withdrawn
        (`revoked`). Either way it never allows a call. Same errors as `approve` (a used approval
        cannot be withdrawn: `ApprovalAlreadyDecided`)."""
        return self._decided(self._decide(approval_id, DENIED, via, by, _utc(now)))

    def revoke(
        self, approval_id: str, via: str = "cli", now: datetime | None = None, *, by: str | None = None
    ) -> Approval:
        """Withdraw an approval not yet used (or deny a request still pending): the same as `deny`."""
        return self._decided(self._decide(approval_id, DENIED, via, by, _utc(now)))

    def get(self, approval_id: str) -> Approval | None:
        """The approval with this id (as typed by a person, see `normalise_approval_id`), or None."""
        with self._db.reading() as conn:
            return self._row(conn, normalise_approval_id(approval_id))

    def find(
        self,
        *,
        tool: str,
        account: str,
        agent: str | None,
        arguments_key: str,
        ttl_s: int | None = None,
        now: datetime | None = None,
    ) -> Approval | None:
        """What `take` would spend for this call, without spending it: the guard looks before it
        asks anyone, and takes only at dispatch, once the call has been decided again."""
        moment = _utc(now)
        call = _call(tool, account, agent, arguments_key)
        with self._db.reading() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {_CALL_MATCH} AND status = 'approved' ORDER BY decided_at, id", call
            ).fetchall()
        for row in rows:
            approval = _approval(row)
            if _usable(approval, moment, ttl_s):
                return approval
        return None

    def take(
        self,
        *,
        tool: str,
        account: str,
        agent: str | None,
        arguments_key: str,
        ttl_s: int | None = None,
        now: datetime | None = None,
    ) -> Approval | None:
        """The only way an approval allows a call: an approved, unused (and not revoked) approval
        for exactly this tool, network, base URL, agent and canonical arguments, approved no more
        than `ttl_s` seconds ago — the policy's `approval_ttl` in force now, so that a reload with a
        shorter one shortens approvals already given (None: the ttl it was asked with). It is
        marked used in the same transaction, so it allows one call, once, even with two takers at
        the same moment in two processes. None when there is none."""
        moment = _utc(now)
        call = _call(tool, account, agent, arguments_key)
        with self._db.writing() as conn:
            rows = conn.execute(
                f"{_SELECT} WHERE {_CALL_MATCH} AND status = 'approved' ORDER BY decided_at, id", call
            ).fetchall()
            for row in rows:
                approval = _approval(row)
                if not _usable(approval, moment, ttl_s):
                    continue
                stamp = _iso(moment)
                cursor = conn.execute(
                    "UPDATE approvals SET status = 'used', used_at = ? WHERE id = ? AND status = 'approved'",
                    (stamp, approval.id),
                )
                if cursor.rowcount == 1:
                    return replace(approval, status=USED, used_at=moment)
        return None

    def recent_decline(
        self,
        *,
        tool: str,
        account: str,
        agent: str | None,
        arguments_key: str,
        within_s: int,
        now: datetime | None = None,
    ) -> Approval | None:
        """The latest request for exactly this call that a human denied within the last
        `within_s` seconds (the `approval_ttl`), or None: the guard answers an identical call
        with that decline instead of asking again."""
        moment = _utc(now)
        call = _call(tool, account, agent, arguments_key)
        since = _iso(moment - timedelta(seconds=within_s))
        with self._db.reading() as conn:
            row = conn.execute(
                f"{_SELECT} WHERE {_CALL_MATCH} AND status = 'denied' AND decided_at >= ?"
                " ORDER BY decided_at DESC LIMIT 1",
                (*call, since),
            ).fetchone()
        return None if row is None else _approval(row)

    def record_outcome(self, approval_id: str, outcome: Mapping[str, str | None]) -> None:
        """Keep what became of the call a used approval let through (order id, status, what it
        executed), for the people who approved it."""
        kept = {key: str(value) for key, value in outcome.items() if value is not None}
        with self._db.writing() as conn:
            conn.execute(
                "UPDATE approvals SET outcome = ? WHERE id = ?",
                (json.dumps(kept, sort_keys=True, ensure_ascii=False), approval_id),
            )

    # the elicitation flow

    def new_nonce(
        self,
        *,
        tool: str,
        account: str,
        agent: str | None,
        arguments_key: str,
        ttl_s: int = DEFAULT_NONCE_TTL_S,
        now: datetime | None = None,
    ) -> str:
        """A single-use nonce bound to this call, valid for `ttl_s` seconds (32 random bytes)."""
        if ttl_s < 1:
            raise ValueError("ttl_s must be at least 1 second")
        moment = _utc(now)
        nonce = secrets.token_urlsafe(32)
        call = _call(tool, account, agent, arguments_key)
        with self._db.writing() as conn:
            self._prune(conn, moment)
            conn.execute(
                "INSERT INTO nonces (nonce, tool, account, agent, arguments_key, network, base_url, created_at,"
                " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    nonce,
                    *call,
                    network_of(account),
                    "",
                    _iso(moment),
                    _iso(moment + timedelta(seconds=ttl_s)),
                ),
            )
        return nonce

    def spend_nonce(
        self,
        nonce: str,
        *,
        tool: str,
        account: str,
        agent: str | None,
        arguments_key: str,
        now: datetime | None = None,
    ) -> bool:
        """True exactly once: for the call the nonce was made for, before it expires. A nonce
        offered with another call is not spent (that call gets False; the right one still can)."""
        moment = _utc(now)
        stamp = _iso(moment)
        call = _call(tool, account, agent, arguments_key)
        with self._db.writing() as conn:
            cursor = conn.execute(
                f"UPDATE nonces SET spent_at = ? WHERE nonce = ? AND {_CALL_MATCH}"
                " AND spent_at IS NULL AND expires_at >= ? AND created_at <= ?",
                (stamp, nonce, *call, stamp, stamp),
            )
            return cursor.rowcount == 1

    # listing

    def list(self, include_decided: bool = False, now: datetime | None = None) -> builtins.list[Approval]:
        """Approvals waiting for a human (pending, not expired), oldest first; with
        `include_decided`, every approval still kept (decided ones are deleted after a week)."""
        moment = _utc(now)
        with self._db.reading() as conn:
            if include_decided:
                rows = conn.execute(f"{_SELECT} ORDER BY created_at, id").fetchall()
            else:
                rows = conn.execute(
                    f"{_SELECT} WHERE status = 'pending' AND expires_at > ? ORDER BY created_at, id",
                    (_iso(moment),),
                ).fetchall()
        return [_approval(row) for row in rows]

    def close(self) -> None:
        """Close the database (when this store opened it); later calls raise `StateError`."""
        if self._owns_db:
            self._db.close()

    # internals

    def _decided(self, approval: Approval) -> Approval:
        if self._on_decision is not None:
            self._on_decision(approval)
        return approval

    def _decide(self, approval_id: str, status: str, via: str, by: str | None, moment: datetime) -> Approval:
        wanted = normalise_approval_id(approval_id)
        with self._db.writing(serialise="approvals") as conn:
            approval = self._row(conn, wanted)
            if approval is None:
                raise UnknownApproval(f"no approval {approval_id.strip()}")
            typed = approval_id.strip()  # echoed as typed, not as normalised (O → 0)
            if status == DENIED and approval.status == APPROVED:
                # withdrawn before use: it never allows a call from now on
                conn.execute(
                    "UPDATE approvals SET status = 'revoked', revoked_at = ?, revoked_by = ?"
                    " WHERE id = ? AND status = 'approved'",
                    (_iso(moment), by, approval.id),
                )
                return replace(approval, status=REVOKED, revoked_at=moment, revoked_by=by)
            if approval.status != PENDING:
                raise ApprovalAlreadyDecided(_already(approval, typed))
            if approval.pending_expired(moment):
                raise ApprovalExpired(
                    f"{typed} was asked at {_iso(approval.created_at)} and expired at "
                    f"{_iso_or_none(approval.expires_at)}; it can no longer be decided (the agent can ask again)"
                )
            conn.execute(
                "UPDATE approvals SET status = ?, decided_at = ?, decided_via = ?, decided_by = ?"
                " WHERE id = ? AND status = 'pending'",
                (status, _iso(moment), via, by, approval.id),
            )
        return replace(approval, status=status, decided_at=moment, decided_via=via, decided_by=by)

    @staticmethod
    def _row(conn: Session, approval_id: str) -> Approval | None:
        row = conn.execute(f"{_SELECT} WHERE id = ?", (approval_id,)).fetchone()
        return None if row is None else _approval(row)

    @staticmethod
    def _prune(conn: Session, moment: datetime) -> None:
        """Spent and expired nonces go; approvals stay as long as the audit records naming them."""
        cutoff = _iso(moment - timedelta(seconds=KEEP_NONCES_S))
        conn.execute("DELETE FROM nonces WHERE expires_at < ?", (cutoff,))


def open_approval_store(state_dir: Path) -> ApprovalStore:
    """The approval store of a state dir (`approvals.sqlite3`), each human decision written to the
    state dir's audit log as an event."""
    from binance_mcp.stores.audit import AuditLog, audit_path, operator_decision

    def audit_decision(approval: Approval) -> None:
        with AuditLog(audit_path(state_dir)) as log:
            log.append(operator_decision(approval))

    return ApprovalStore(approvals_path(state_dir), on_decision=audit_decision)


def approve_command(state_dir_or_url: str | Path | None, approval_id: str) -> str:
    """The exact command a human runs to approve this request, as it works in a terminal that
    knows nothing of the server's environment: `binance-mcp approvals approve apr-…`, with
    `--state-dir DIR` when the server's state is not the default state dir (the platform's user
    state dir; `BINANCE_MCP_STATE_DIR` set in an MCP client's config is not set in the human's
    shell), or `--state-url URL` for state kept in a database (its password left out)."""
    words = ["binance-mcp", "approvals"]
    if state_dir_or_url is not None and str(state_dir_or_url) != "":
        text = str(state_dir_or_url)
        if "://" in text:
            words += ["--state-url", _without_password(text)]
        elif not _is_default_state_dir(Path(text)):
            words += ["--state-dir", str(Path(text).expanduser().absolute())]
    words += ["approve", normalise_approval_id(approval_id)]
    return shlex.join(words)


def _is_default_state_dir(path: Path) -> bool:
    import platformdirs

    from binance_mcp.state_dir import APP_NAME

    default = Path(platformdirs.user_state_dir(APP_NAME))
    try:
        return path.expanduser().resolve() == default.resolve()
    except OSError:
        return False


def _without_password(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


# --------------------------------------------------------------------------- helpers


def _utc(moment: datetime | None) -> datetime:
    if moment is None:
        return datetime.now(UTC)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _iso(moment: datetime) -> str:
    # Fixed width (microseconds, Z) so that text order is time order in SQL comparisons.
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _iso_or_none(moment: datetime | None) -> str | None:
    return None if moment is None else _iso(moment)


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _approval(row: tuple[Any, ...]) -> Approval:
    data: dict[str, Any] = dict(zip(_COLUMNS, row, strict=True))
    for name in ("created_at", "decided_at", "used_at", "expires_at", "revoked_at"):
        data[name] = _parse(data[name])
    data["details"] = _text_map(data["details"])
    data["outcome"] = _text_map(data["outcome"])
    return Approval(**data)


def _text_map(text: str | None) -> dict[str, str]:
    try:
        found = json.loads(text or "{}")
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items() if v is not None} if isinstance(found, dict) else {}


def _already(approval: Approval, typed: str | None = None) -> str:
    shown = typed or approval.id
    if approval.status == USED:
        return f"{shown} was already used at {_iso_or_none(approval.used_at)}; it cannot be withdrawn"
    if approval.status == REVOKED:
        who = f" by {approval.revoked_by}" if approval.revoked_by else ""
        return f"{shown} was already withdrawn at {_iso_or_none(approval.revoked_at)}{who}"
    when = f" at {_iso(approval.decided_at)}" if approval.decided_at else ""
    who = f" by {approval.decided_by}" if approval.decided_by else ""
    return f"{shown} was already {approval.status}{when}{who}"


def _usable(approval: Approval, moment: datetime, ttl_s: int | None) -> bool:
    """An approved approval allows a call from its decision for `ttl_s` seconds (the ttl in force;
    None: the one it was asked with). One approved "in the future" by an injected clock: not yet."""
    if approval.decided_at is None or approval.decided_at > moment:
        return False
    return moment - approval.decided_at <= timedelta(seconds=approval.ttl_s if ttl_s is None else ttl_s)
