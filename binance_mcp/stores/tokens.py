"""Bearer tokens for the HTTP transport: one per agent or operator, only a hash kept, in the state dir.

Two kinds, never interchangeable: an `agent` token calls tools on `/mcp` and can approve nothing;
an `operator` token (`binance-mcp tokens add NAME --operator`) signs a human in to the approvals
page and can call no tool. Agents and operators share one namespace of names.

A token is 256 random bits (`secrets.token_urlsafe(32)`), shown once by `binance-mcp tokens add`
and never stored: `tokens.sqlite3` keeps its SHA-256, the agent's name and when it was made. A
salted slow hash would buy nothing here: the token is not a password a person chose, and guessing
a 256-bit value is hopeless, so one SHA-256 is enough and keeps a check at about a microsecond.

The running server checks every request against the store (`agent_for`), so a revoke from the CLI
ends a token at once. It stays cheap by asking whether anyone changed the tokens since the last
look and reloading the few rows only when someone did: SQLite says whether another connection
committed (`PRAGMA data_version`, no disk read); PostgreSQL keeps a counter that a trigger bumps
in the same transaction as every change of `tokens`, whoever makes it (one one-row read). The hash of
the presented token is compared with every stored one by `hmac.compare_digest`, without stopping at
a match, so how long a check takes says nothing about which token, if any, came close.

`TokenStore` runs on either database of `binance_mcp.stores`: the SQLite file, or PostgreSQL for
several replicas (where every check reads the counter: a revoke holds on every replica at once).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from binance_mcp.stores.sqlite import Database, SqliteDatabase, StoreConflict
from binance_mcp.timestamps import utc_now_text

TOKENS_DB_NAME = "tokens.sqlite3"
TOKEN_PREFIX = "bmcp_"
NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
LOCAL_AGENT = "local"
"""The anonymous loopback caller's agent name, when the server started with no token."""
AGENT = "agent"
OPERATOR = "operator"
KINDS = (AGENT, OPERATOR)

_MIGRATIONS = {
    "sqlite": (
        """
        CREATE TABLE IF NOT EXISTS tokens (
            name TEXT PRIMARY KEY,
            token_sha256 TEXT NOT NULL UNIQUE,
            created TEXT NOT NULL
        );
        """,
        # version 2: operators (humans who approve) are not agents
        """
        ALTER TABLE tokens ADD COLUMN kind TEXT NOT NULL DEFAULT 'agent' CHECK (kind IN ('agent', 'operator'));
        """,
    ),
    "postgresql": (
        """
        CREATE TABLE IF NOT EXISTS tokens (
            name TEXT PRIMARY KEY,
            token_sha256 TEXT NOT NULL UNIQUE,
            created TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'agent' CHECK (kind IN ('agent', 'operator'))
        );
        """,
        # version 2: a counter every change of `tokens` bumps, in the same transaction, whoever
        # makes it (this server, an older CLI, psql): what `TokenStore` reads to know whether its
        # copy of the rows is still the store's
        """
        CREATE TABLE IF NOT EXISTS tokens_version (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            n BIGINT NOT NULL
        );
        INSERT INTO tokens_version (one, n) VALUES (1, 0) ON CONFLICT (one) DO NOTHING;
        CREATE OR REPLACE FUNCTION binance_mcp_tokens_changed() RETURNS trigger LANGUAGE plpgsql
            AS 'BEGIN UPDATE tokens_version SET n = n + 1 WHERE one = 1; RETURN NULL; END';
        DO 'BEGIN
            DROP TRIGGER IF EXISTS tokens_changed ON tokens;
            CREATE TRIGGER tokens_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tokens
                FOR EACH STATEMENT EXECUTE FUNCTION binance_mcp_tokens_changed();
        END';
        """,
    ),
}


class TokenError(Exception):
    """A token operation that cannot be done; the message is one line for a person."""


class TokenExists(TokenError):
    pass


class UnknownToken(TokenError):
    pass


@dataclass(frozen=True)
class TokenInfo:
    """What `tokens list` shows: never the token, never its hash."""

    name: str
    created: str
    kind: str = AGENT


@dataclass(frozen=True)
class TokenHolder:
    """Whose a presented token is: a name and its kind (`agent` or `operator`)."""

    name: str
    kind: str

    @property
    def is_operator(self) -> bool:
        return self.kind == OPERATOR


def tokens_path(state_dir: Path) -> Path:
    return Path(state_dir) / TOKENS_DB_NAME


def check_name(name: str) -> str:
    """The agent name, or `ValueError` saying what a name may be."""
    if not NAME_PATTERN.fullmatch(name):
        raise ValueError(f"agent name {name!r}: use 1–64 of A-Z a-z 0-9 _ -")
    if name == LOCAL_AGENT:
        raise ValueError(f"agent name {name!r} is kept for the anonymous loopback caller")
    return name


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


class TokenStore:
    """Tokens in `tokens.sqlite3` at `path`, or in `database=` (e.g. PostgreSQL); safe to share
    between threads."""

    def __init__(self, path: Path | None = None, *, database: Database | None = None) -> None:
        if database is None:
            if path is None:
                raise TypeError("TokenStore needs a path or a database")
            database = SqliteDatabase(Path(path), _MIGRATIONS, name="tokens")
        self.path = Path(path) if path is not None else None
        self._db = database
        self._owns_db = path is not None
        self._lock = threading.Lock()
        self._version: int | None = None
        self._digests: tuple[tuple[str, str, str], ...] = ()  # (sha256 hex, name, kind)

    @classmethod
    def in_state_dir(cls, state_dir: Path) -> TokenStore:
        return cls(tokens_path(state_dir))

    def close(self) -> None:
        if self._owns_db:
            self._db.close()

    def __enter__(self) -> TokenStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- for people (the CLI) ---------------------------------------------------------------------

    def add(self, name: str, *, operator: bool = False) -> str:
        """Make a token for agent `name` (an operator's with `operator`) and return it; only its
        hash is kept."""
        check_name(name)
        kind = OPERATOR if operator else AGENT
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        try:
            with self._lock, self._db.writing() as session:
                session.execute(
                    "INSERT INTO tokens (name, token_sha256, created, kind) VALUES (?, ?, ?, ?)",
                    (name, digest(token), utc_now_text(), kind),
                )
                self._version = None  # data_version notices other connections' commits, not ours
        except StoreConflict:
            raise TokenExists(f"{name!r} already has a token (revoke it first)") from None
        return token

    def revoke(self, name: str) -> None:
        with self._lock, self._db.writing() as session:
            gone = session.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount
            self._version = None
        if not gone:
            raise UnknownToken(f"no token for {name!r}")

    def list(self) -> list[TokenInfo]:
        with self._db.reading() as session:
            rows = session.execute("SELECT name, created, kind FROM tokens ORDER BY created, name").fetchall()
        return [TokenInfo(name=name, created=created, kind=kind) for name, created, kind in rows]

    def count(self, kind: str | None = None) -> int:
        """How many tokens there are (of one kind, `agent` or `operator`, when given)."""
        with self._db.reading() as session:
            if kind is None:
                return int(session.execute("SELECT count(*) FROM tokens").fetchone()[0])
            return int(session.execute("SELECT count(*) FROM tokens WHERE kind = ?", (kind,)).fetchone()[0])

    # -- for the server, once per request ---------------------------------------------------------

    def holder(self, token: str) -> TokenHolder | None:
        """Whose token this is (name and kind), or None (unknown or revoked), as the store is right now."""
        presented = digest(token).encode()
        with self._lock:
            self._refresh()
            digests = self._digests
        found = None
        for stored, name, kind in digests:
            if hmac.compare_digest(stored.encode(), presented):
                found = TokenHolder(name, kind)
        return found

    def agent_for(self, token: str) -> str | None:
        """The agent whose token this is, or None (unknown, revoked, or an operator's token)."""
        found = self.holder(token)
        return found.name if found is not None and found.kind == AGENT else None

    def is_agent(self, name: str) -> bool:
        """Whether `name` holds an agent's token now (revoked: False), as the store is right now."""
        with self._lock:
            self._refresh()
            return any(held == name and kind == AGENT for _, held, kind in self._digests)

    def operator_for(self, token: str) -> str | None:
        """The operator whose token this is, or None (unknown, revoked, or an agent's token)."""
        found = self.holder(token)
        return found.name if found is not None and found.kind == OPERATOR else None

    def _changes(self) -> int:
        """A number that moves whenever the tokens may have changed since the last look."""
        if self._db.dialect == "postgresql":
            with self._db.reading() as session:
                return int(session.execute("SELECT n FROM tokens_version WHERE one = 1").fetchone()[0])
        return self._db.data_version()

    def _refresh(self) -> None:
        version = self._changes()  # read before the rows: a change in between reloads them again
        if version != self._version:
            with self._db.reading() as session:
                rows = session.execute("SELECT token_sha256, name, kind FROM tokens").fetchall()
            self._digests = tuple((str(d), str(n), str(k)) for d, n, k in rows)
            self._version = version
