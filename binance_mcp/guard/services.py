"""What the stages work with: the policy in force, the exchange, the stores, the account lock.

Built once by `build_guard` and passed to every stage. The policy is the one mutable thing (a
reload puts a new engine in force); a stage reads it once per use, so a call decided again at
dispatch is decided by the policy in force then.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from binance_mcp.guard.counts import CallCounts
from binance_mcp.guard.repairs import Repairs

if TYPE_CHECKING:
    from binance_mcp.config import Network
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.guard.approval_desk import ApprovalDesk
    from binance_mcp.guard.audit_writer import AuditWriter
    from binance_mcp.guard.keys import KeyCheck
    from binance_mcp.guard.lock import DispatchLock
    from binance_mcp.notify import Notices
    from binance_mcp.policy.engine import PolicyEngine
    from binance_mcp.stores.budgets import BudgetStore
    from binance_mcp.stores.ratelimit import RateLimiter


class PolicyInForce:
    """The engine of the policy in force, swapped whole by a reload. `admissible` refuses a policy
    this server cannot enforce as written: the reload is refused, the old policy stays."""

    def __init__(self, engine: PolicyEngine, admissible: Callable[[Any], None] = lambda policy: None) -> None:
        self.engine = engine
        self.generation = 0
        """Bumped by every reload, after the new engine is in force (`binance_mcp.guard.epoch`)."""
        self._admissible = admissible
        self._fingerprint: str | None = None
        self._catch_up: Callable[[], Awaitable[object]] | None = None

    def follow(self, catch_up: Callable[[], Awaitable[object]]) -> None:
        """Under `--watch`: `catch_up` reloads the file now if it changed since the last poll.
        Every epoch read calls it first, so a policy saved before an order's final check under the
        lock is the policy that order is decided by (not the one of the watcher's last poll)."""
        self._catch_up = catch_up

    async def catch_up(self) -> None:
        """Put the policy file's current content in force, if it is followed and it changed."""
        if self._catch_up is not None:
            await self._catch_up()

    @property
    def fingerprint(self) -> str:
        """Which policy is in force, as every audit record names it (computed once per policy)."""
        if self._fingerprint is None:
            from binance_mcp.policy.fingerprint import fingerprint

            self._fingerprint = fingerprint(self.engine.policy)
        return self._fingerprint

    def install(self, engine: PolicyEngine) -> frozenset[str]:
        """Put a new policy in force; returns the tools whose visibility changed for any agent."""
        self._admissible(engine.policy)
        old, self.engine = self.engine, engine
        self.generation += 1
        self._fingerprint = None
        agents: set[str | None] = {None, *old.agent_names, *engine.agent_names}
        return frozenset().union(*(old.hidden_tools(agent) ^ engine.hidden_tools(agent) for agent in agents))


class LazyStore:
    """A store opened on first use: answering tools/list needs no database."""

    def __init__(self, open_store: Callable[[], Any]) -> None:
        self._open = open_store
        self._store: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._store is None:
            with self._lock:  # worker threads may ask at once: open once
                if self._store is None:
                    self._store = self._open()
        return self._store

    @property
    def opened(self) -> bool:
        return self._store is not None

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


def _notices() -> Notices:
    from binance_mcp.notify import Notices

    return Notices()


@dataclass(frozen=True)
class Services:
    policy: PolicyInForce
    exchange: ExchangeClient
    network: Network
    account: str
    """The state key of the account (network and key fingerprint): what budgets, approvals,
    client order ids and pending orders are kept under."""
    stores: LazyStore
    """`binance_mcp.stores.Stores`, opened on first use (SQLite in the state dir, or PostgreSQL)."""
    audit: AuditWriter
    approvals: ApprovalDesk
    lock: DispatchLock
    keys: KeyCheck
    recover_pending: Callable[[], Awaitable[object]]
    approve_command: Callable[[str], str] = lambda approval_id: f"binance-mcp approvals approve {approval_id}"
    """The exact command a human runs to approve a request (carrying the state dir or URL)."""
    approvals_page: str | None = None
    """Where operators see the approvals page (HTTP /approvals, or `binance-mcp console`)."""
    dry_run: bool = False
    agent_resolver: Callable[[Mapping[str, str]], str | None] | None = None
    session_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    repairs: Repairs = field(default_factory=Repairs)
    """Writes owed after a send (a budget settle that failed), tried again until they land."""
    counts: CallCounts = field(default_factory=CallCounts)
    """How this server's calls ended, kept by the record stage (what /metrics reports)."""
    notices: Notices = field(default_factory=lambda: _notices())
    """Notifications of requests waiting for a human, grouped when they come fast (`notify.Notices`)."""

    @property
    def engine(self) -> PolicyEngine:
        return self.policy.engine

    @property
    def budgets(self) -> BudgetStore:
        return self.stores.get().budgets

    @property
    def limiter(self) -> RateLimiter:
        return self.stores.get().limiter
