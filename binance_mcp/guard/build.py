"""`build_guard`: the whole guard from the server's parts, in one place, complete when it returns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from binance_mcp.guard import Guard
from binance_mcp.guard.approval_desk import ApprovalDesk
from binance_mcp.guard.keys import KeyCheck
from binance_mcp.guard.lock import AccountLock
from binance_mcp.guard.record import AuditWriter
from binance_mcp.guard.services import LazyStore, PolicyInForce, Services
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.ratelimit import RateLimiter

if TYPE_CHECKING:
    from binance_mcp.config import ServerConfig
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.policy.model import Policy


def build_guard(
    config: ServerConfig,
    policy: Policy,
    exchange: ExchangeClient,
    state_dir: Path,
    *,
    agent_resolver: Callable[[Mapping[str, str]], str | None] | None = None,
) -> Guard:
    from binance_mcp.http.auth import agent_from_headers
    from binance_mcp.recovery import PendingRecovery

    account = exchange.base_url
    audit = AuditWriter(
        _opener("binance_mcp.audit", "AuditLog", state_dir / "audit.sqlite3", secrets=config.secrets)
    )
    recovery = PendingRecovery(lambda: audit.store, exchange, config.network, account=account)
    services = Services(
        policy=PolicyInForce(PolicyEngine(policy)),
        exchange=exchange,
        network=config.network,
        account=account,
        audit=audit,
        budgets=LazyStore(_opener("binance_mcp.budgets", "open_budget_store", state_dir)),
        approvals=ApprovalDesk(_opener("binance_mcp.approvals", "open_approval_store", state_dir)),
        limiter=RateLimiter(),
        lock=AccountLock(),
        keys=KeyCheck(exchange, config.network, allow_withdrawal_keys=config.allow_withdrawal_keys),
        recover_pending=recovery,
        dry_run=config.dry_run,
        agent_resolver=agent_resolver or agent_from_headers,
    )
    return Guard(services)


def _opener(module: str, name: str, *args: Any, **kwargs: Any) -> Callable[[], Any]:
    """Open a store on first use: its module (and sqlite3) is imported only then."""

    def open_store() -> Any:
        import importlib

        return getattr(importlib.import_module(module), name)(*args, **kwargs)

    return open_store
