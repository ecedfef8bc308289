"""The MCP server: the ten tools, each wrapped by the guard, registered on the SDK's MCPServer.

The SDK validates a tool's typed parameters before any decorator could run, and drops unknown
arguments silently. So each tool is registered with an argument model that accepts anything and
hands the raw arguments to the guard, while tools/list still publishes the tool's own input
model as its `inputSchema`. Hidden tools are filtered out of tools/list by a middleware that sees
who is asking (per-agent hiding comes with HTTP).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.resolve import build_resolver_plans, find_resolved_parameters
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types import ToolAnnotations
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ConfigDict

from binance_mcp import __version__
from binance_mcp.config import ServerConfig
from binance_mcp.exchange.client import ExchangeClient, Timeouts
from binance_mcp.policy.approval import ApprovalDesk
from binance_mcp.policy.engine import PolicyEngine
from binance_mcp.policy.guard import Guard
from binance_mcp.policy.model import Policy, bundled_policy_path, load_policy_file
from binance_mcp.policy.reload import PolicyWatcher
from binance_mcp.recovery import PendingRecovery
from binance_mcp.state import resolve_state_dir
from binance_mcp.tools import catalog

if TYPE_CHECKING:
    from binance_mcp.audit import AuditLog

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Binance Spot market data, account and trading tools. Every call passes the user's policy: a "
    "refused call explains why in `reason`, names the deciding `rule`, and sends nothing. Amounts are "
    "decimal strings. Results of place_order say which network (testnet, demo, mainnet) the order is on."
)


class RawArguments(ArgModelBase):
    """Accepts any arguments and hands them, untouched, to the guarded handler as `arguments`."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


def sdk_tool(name: str, entry: dict[str, Any], guard: Guard) -> Tool:
    """The SDK's registration of a guarded tool, from its catalogue entry: no model to build.

    The handler's `approval` parameter is filled by the guard's screening resolver, which is how
    a call can ask the human (elicitation) on both protocol eras.
    """
    handler = guard.guarded(name)
    resolved = find_resolved_parameters(handler)
    return Tool(
        fn=handler,
        name=name,
        title=entry["title"],
        description=entry["description"],
        parameters=entry["input_schema"],
        fn_metadata=FuncMetadata(arg_model=RawArguments, output_schema=entry["output_schema"]),
        is_async=True,
        context_kwarg="ctx",
        resolved_params=resolved,
        resolver_plans=build_resolver_plans(resolved, {"arguments"}),
        annotations=ToolAnnotations.model_validate(entry["annotations"]),
    )


class ToolListNotifier:
    """Sends `notifications/tools/list_changed` to every client that can receive it.

    2025-era clients get it on their connection: the latest session object of each connection is
    remembered (mcp 2.3 makes a new one per request, all writing to the same connection).
    2026-era clients get it only through `subscriptions/listen`, fed by the subscription bus.
    """

    def __init__(self) -> None:
        self.bus = InMemorySubscriptionBus()
        self._legacy_sessions: dict[str, Any] = {}

    def note(self, ctx: ServerRequestContext[Any, Any], caller_session: str) -> None:
        if ctx.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self._legacy_sessions[caller_session] = ctx.session

    async def notify(self) -> None:
        await self.bus.publish(ToolsListChanged())
        for key, session in list(self._legacy_sessions.items()):
            try:
                await session.send_tool_list_changed()
            except Exception:  # the connection is gone: forget it
                logger.debug("could not notify session %s; dropping it", key)
                self._legacy_sessions.pop(key, None)


class BinanceMCPServer(MCPServer):
    """MCPServer that tells 2025-era clients their tool list can change (`--watch`).

    The SDK declares `tools.listChanged: false` unless the low-level server's initialization
    options say otherwise, and no public parameter sets them; every transport (stdio, HTTP, the
    in-process client) asks `create_initialization_options()`, so its default is set here.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        lowlevel = self._lowlevel_server
        create = lowlevel.create_initialization_options

        def with_tools_changed(
            notification_options: NotificationOptions | None = None, *rest: Any, **named: Any
        ):
            return create(notification_options or NotificationOptions(tools_changed=True), *rest, **named)

        lowlevel.create_initialization_options = with_tools_changed  # type: ignore[method-assign]


def hide_from_list(guard: Guard, notifier: ToolListNotifier) -> Any:
    """Server middleware: tools/list shows only what the policy lets this caller see."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.request_id is not None:
            notifier.note(ctx, guard.identify_request(ctx).session)
        result = await call_next(ctx)
        if ctx.method == "tools/list" and isinstance(result, dict) and isinstance(result.get("tools"), list):
            agent = guard.identify_request(ctx).agent
            visible = [tool for tool in result["tools"] if guard.is_visible(str(tool.get("name")), agent)]
            result = {**result, "tools": visible}
        return result

    return middleware


@dataclass
class App:
    """A built server and the parts tests and the CLI reach for."""

    server: MCPServer
    watcher: PolicyWatcher | None
    notifier: ToolListNotifier
    guard: Guard
    exchange: ExchangeClient
    state_dir: Path
    policy_path: Path

    @property
    def audit(self) -> AuditLog:
        return self.guard.audit

    def close(self) -> None:
        self.guard.close()

    async def serve_stdio(self) -> None:
        async with anyio.create_task_group() as group:
            if self.watcher is not None:
                group.start_soon(self.watcher.run)
            await self.server.run_stdio_async()
            group.cancel_scope.cancel()


def approvals_opener(state_dir: Path) -> Callable[[], Any]:
    def open_approvals() -> Any:
        from binance_mcp.approvals import open_approval_store

        return open_approval_store(state_dir)

    return open_approvals


def budgets_opener(state_dir: Path) -> Callable[[], Any]:
    def open_budgets() -> Any:
        from binance_mcp.budgets import open_budget_store

        return open_budget_store(state_dir)

    return open_budgets


def audit_opener(path: Path, secrets: tuple[str, ...]) -> Callable[[], AuditLog]:
    def open_audit_log() -> AuditLog:
        from binance_mcp.audit import AuditLog

        return AuditLog(path, secrets=secrets)

    return open_audit_log


def load_policy(config: ServerConfig) -> tuple[Policy, Path]:
    path = config.policy_path or bundled_policy_path("default")
    return load_policy_file(path), path


def build_app(config: ServerConfig, *, policy: Policy | None = None) -> App:
    """Everything the server needs, checked, without contacting Binance."""
    if policy is None:
        policy, policy_path = load_policy(config)
    else:
        policy_path = config.policy_path or Path("<given>")
    state_dir = resolve_state_dir(config.state_dir)
    exchange = ExchangeClient(
        config.base_url,
        config.credentials,
        timeouts=Timeouts(connect=config.connect_timeout, read=config.read_timeout),
    )
    guard = Guard(
        engine=PolicyEngine(policy),
        exchange=exchange,
        audit=audit_opener(state_dir / "audit.sqlite3", config.secrets),
        network=config.network,
        dry_run=config.dry_run,
        allow_withdrawal_keys=config.allow_withdrawal_keys,
        approvals=ApprovalDesk(approvals_opener(state_dir)),
        budgets=budgets_opener(state_dir),
    )
    guard.recover_pending = PendingRecovery(lambda: guard.audit, exchange, config.network)  # crash safety
    notifier = ToolListNotifier()
    server = BinanceMCPServer(
        "binance-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=[sdk_tool(name, entry, guard) for name, entry in catalog.load().items()],
        middleware=[hide_from_list(guard, notifier)],
        subscriptions=notifier.bus,
        log_level=config.log_level,  # type: ignore[arg-type]
    )
    watcher = None
    if config.watch_policy and config.policy_path is not None:
        watcher = PolicyWatcher(config.policy_path, guard.install, notifier.notify)
    return App(
        server=server,
        watcher=watcher,
        notifier=notifier,
        guard=guard,
        exchange=exchange,
        state_dir=state_dir,
        policy_path=policy_path,
    )
