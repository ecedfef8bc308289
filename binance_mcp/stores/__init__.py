"""Where binance-mcp keeps shared state, chosen once: SQLite in the state dir, or PostgreSQL.

`open_stores(config)` returns `Stores`: the audit log, budgets, approvals (and their nonces),
tokens, the rate limiter and the account lock, all on one backend:

- no `--state-url`: one SQLite file per store in the state dir (nothing to run), `agent`/`global`
  rate-limit counters in `ratelimits.sqlite3`, the account lock a lease row in `locks.sqlite3`;
- `--state-url postgresql://…`: every store in that database on one connection pool, the account
  lock a lease row there (`stores.account_lease`), rate-limit counters in that database too (or in Redis with
  `--rate-limit-url redis://…`): every replica counts in one place.

`open_state(state_url, state_dir)` gives one store at a time, for the CLI.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binance_mcp.state_dir import resolve_state_dir

if TYPE_CHECKING:
    from binance_mcp.config import ServerConfig
    from binance_mcp.stores.account_lease import AccountLock
    from binance_mcp.stores.approvals import ApprovalStore
    from binance_mcp.stores.audit import AuditLog
    from binance_mcp.stores.budgets import BudgetStore
    from binance_mcp.stores.ratelimit import RateLimiter
    from binance_mcp.stores.tokens import TokenStore

__all__ = [
    "PostgresState",
    "SqliteState",
    "Stores",
    "open_state",
    "open_stores",
]


class SqliteState:
    """The stores of a state dir, one SQLite file each, opened on request."""

    kind = "sqlite"

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)

    def __enter__(self) -> SqliteState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        return f"SQLite in {self.state_dir}"

    def audit(self, secrets: Iterable[str | None] = ()) -> AuditLog:
        from binance_mcp.stores.audit import AuditLog, audit_path

        return AuditLog(audit_path(self.state_dir), secrets=secrets)

    def budgets(self) -> BudgetStore:
        from binance_mcp.stores.budgets import open_budget_store

        return open_budget_store(self.state_dir)

    def approvals(self) -> ApprovalStore:
        from binance_mcp.stores.approvals import open_approval_store

        return open_approval_store(self.state_dir)

    def tokens(self) -> TokenStore:
        from binance_mcp.stores.tokens import TokenStore

        return TokenStore.in_state_dir(self.state_dir)

    def rate_counters(self) -> Any:
        from binance_mcp.stores.ratelimit import SqliteRateCounters

        return SqliteRateCounters.in_state_dir(self.state_dir)

    def account_lock(self, lease_s: float | None = None) -> AccountLock:
        from binance_mcp.stores.account_lease import open_sqlite_leases
        from binance_mcp.stores.lease import DEFAULT_LEASE_S

        return open_sqlite_leases(self.state_dir, lease_s=lease_s or DEFAULT_LEASE_S)

    def close(self) -> None:
        """Each store closes its own file."""


class PostgresState:
    """The stores in one PostgreSQL database, on one connection pool (opened here)."""

    kind = "postgresql"

    def __init__(self, url: str) -> None:
        from binance_mcp.stores.postgres import open_pool

        self.url = url
        self.pool = open_pool(url)

    def __enter__(self) -> PostgresState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def describe(self) -> str:
        from binance_mcp.stores.postgres import safe_url

        return f"PostgreSQL at {safe_url(self.url)}"

    def _database(self, migrations: Any, name: str) -> Any:
        from binance_mcp.stores.postgres import PostgresDatabase

        return PostgresDatabase(self.pool, migrations, name=name)

    def audit(self, secrets: Iterable[str | None] = ()) -> AuditLog:
        from binance_mcp.stores import audit

        return audit.AuditLog(database=self._database(audit._MIGRATIONS, "audit"), secrets=secrets)

    def budgets(self) -> BudgetStore:
        from binance_mcp.stores import budgets

        return budgets.BudgetStore(database=self._database(budgets._MIGRATIONS, "budgets"))

    def approvals(self) -> ApprovalStore:
        from binance_mcp.stores import approvals

        return approvals.ApprovalStore(
            database=self._database(approvals._MIGRATIONS, "approvals"), on_decision=self._audit_decision
        )

    def _audit_decision(self, approval: Any) -> None:
        """A human's decision, as an event in this state's audit log."""
        from binance_mcp.stores.audit import operator_decision

        self.audit().append(operator_decision(approval))

    def tokens(self) -> TokenStore:
        from binance_mcp.stores import tokens

        return tokens.TokenStore(database=self._database(tokens._MIGRATIONS, "tokens"))

    def rate_counters(self) -> Any:
        """Rate-limit counters in this database: every replica counts in one place."""
        from binance_mcp.stores import ratelimit

        return ratelimit.SqliteRateCounters(database=self._database(ratelimit._MIGRATIONS, "rate limits"))

    def account_lock(self, lease_s: float | None = None) -> AccountLock:
        from binance_mcp.stores import account_lease
        from binance_mcp.stores.lease import DEFAULT_LEASE_S

        database = self._database(account_lease._MIGRATIONS, "account locks")
        return account_lease.AccountLeases(database, lease_s=lease_s or DEFAULT_LEASE_S)

    def close(self) -> None:
        self.pool.close()


def open_state(state_url: str | None, state_dir: str | Path | None) -> SqliteState | PostgresState:
    """PostgreSQL when `state_url` is given, else SQLite in the state dir (created if missing).
    Raises `binance_mcp.state_dir.StateError` with one line when it cannot be used."""
    if state_url:
        return PostgresState(state_url)
    return SqliteState(resolve_state_dir(state_dir))


@dataclass(frozen=True)
class Stores:
    """Every store the server uses, on one backend. `close()` closes them all."""

    audit: AuditLog
    budgets: BudgetStore
    approvals: ApprovalStore
    tokens: TokenStore
    limiter: RateLimiter
    account_lock: AccountLock
    state: SqliteState | PostgresState = field(repr=False)

    def close(self) -> None:
        for store in (self.audit, self.budgets, self.approvals, self.tokens, self.limiter, self.account_lock):
            store.close()
        self.state.close()


def open_stores(config: ServerConfig) -> Stores:
    """Open every store where `config` says (`state_url`, else `state_dir`), the rate limiter on
    `rate_limit_url` when given. Raises `ConfigError` or `StateError`, one line each."""
    from binance_mcp.stores.ratelimit import RateLimiter

    state = open_state(config.state_url, config.state_dir)
    opened: list[Any] = []
    try:
        audit = state.audit(config.secrets)
        opened.append(audit)
        budgets = state.budgets()
        opened.append(budgets)
        approvals = state.approvals()
        opened.append(approvals)
        tokens = state.tokens()
        opened.append(tokens)
        if config.rate_limit_url:
            limiter = RateLimiter(config.rate_limit_url)
        else:
            counters = state.rate_counters()
            limiter = RateLimiter(shared=counters)
        opened.append(limiter)
        account_lock = state.account_lock(config.lock_lease)
    except BaseException:
        for store in opened:
            store.close()
        state.close()
        raise
    return Stores(
        audit=audit,
        budgets=budgets,
        approvals=approvals,
        tokens=tokens,
        limiter=limiter,
        account_lock=account_lock,
        state=state,
    )
