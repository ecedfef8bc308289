"""`build_guard`: the whole guard from the server's parts, in one place, complete when it returns."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from binance_mcp.account import account_of
from binance_mcp.guard import Guard
from binance_mcp.guard.approval_desk import ApprovalDesk
from binance_mcp.guard.audit_writer import AuditWriter
from binance_mcp.guard.caller import agent_from_headers
from binance_mcp.guard.keys import KeyCheck
from binance_mcp.guard.lock import DispatchLock
from binance_mcp.guard.recovery import PendingRecovery
from binance_mcp.guard.services import LazyStore, PolicyInForce, Services
from binance_mcp.guard.weight_share import WeightShare
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.stores import Stores, open_stores
from binance_mcp.stores.approvals import approve_command
from binance_mcp.timestamps import utc_text

if TYPE_CHECKING:
    from binance_mcp.config import ServerConfig
    from binance_mcp.exchange.client import ExchangeClient, SentRequest
    from binance_mcp.policy.model import Policy
    from binance_mcp.stores.audit import AuditRecord


def build_guard(
    config: ServerConfig,
    policy: Policy,
    exchange: ExchangeClient,
    *,
    agent_resolver: Callable[[Mapping[str, str]], str | None] | None = None,
    approvals_page: str | None = None,
) -> Guard:
    """The guard for one account. Its stores (`binance_mcp.stores`: SQLite in the state dir, or
    PostgreSQL) are opened on the first call that needs them: answering tools/list needs none."""

    def open_the_stores() -> Stores:
        return open_stores(config)

    def command_to_approve(approval_id: str) -> str:
        return approve_command(config.state_url or config.state_dir, approval_id)

    account = account_of(config)
    stores = LazyStore(open_the_stores)

    def event(name: str, reason: str) -> AuditRecord:
        from binance_mcp.stores.audit import AuditDecision, AuditRecord, Outcome

        return AuditRecord(
            client="binance-mcp",
            network=config.network.value,
            base_url=exchange.base_url,
            account=account,
            tool=name,
            decision=AuditDecision.EVENT,
            outcome=Outcome.OK,
            reason=reason,
        )

    audit = AuditWriter(lambda: stores.get().audit, event)

    def sent(request: SentRequest) -> None:
        from binance_mcp.guard.caller import CURRENT_CALLER

        if not request.reached:
            return  # nothing of it left this machine: not a request Binance saw
        caller, at = CURRENT_CALLER.get(), time.time()

        def make() -> AuditRecord:  # on the audit writer's thread: off the call's own time
            from binance_mcp.stores.audit import AuditDecision, AuditRecord

            return AuditRecord(
                time=utc_text(datetime.fromtimestamp(at, UTC)),
                session="" if caller is None else caller.session,
                client="binance-mcp" if caller is None else caller.agent or f"{caller.client} (declared)",
                network=config.network.value,
                base_url=exchange.base_url,
                account=account,
                tool=request.method,
                arguments={"symbol": request.symbol, "weight": request.weight}
                if request.symbol
                else {"weight": request.weight},
                decision=AuditDecision.EXCHANGE,
                outcome=request.outcome,
                reason=request.failure,
                latency_ms=request.ms,
            )

        audit.write_made(make)

    exchange.observers.append(sent)  # one compact audit record per request Binance was sent
    services = Services(
        policy=PolicyInForce(PolicyEngine(policy)),
        exchange=exchange,
        network=config.network,
        account=account,
        stores=stores,
        audit=audit,
        approvals=ApprovalDesk(lambda: stores.get().approvals),
        lock=DispatchLock(account, lambda: stores.get().account_lock, wait_s=config.lock_wait),
        keys=KeyCheck(exchange, config.network, allow_withdrawal_keys=config.allow_withdrawal_keys),
        recover_pending=PendingRecovery(lambda: audit.store, exchange, config.network, account=account),
        approve_command=command_to_approve,
        approvals_page=approvals_page,
        dry_run=config.dry_run,
        agent_resolver=agent_resolver or agent_from_headers,
    )
    # each agent's share of the exchange's request weight, asked before every request leaves
    exchange.gate = WeightShare(
        services.policy, lambda: services.limiter, lambda: exchange.limits.weight_per_minute()
    )
    guard = Guard(services)
    guard.note_policy("loaded at start-up")
    return guard
