"""The MCP server: the tools of the catalogue, each wrapped by the guard, on the SDK's MCPServer.

Each tool handler in `binance_mcp.tools` is declared by `@tool(...)` on its definition; here every
one is registered with the guard's stages around it (`binance_mcp.sdk` holds how that is done with
the SDK). Hidden tools are filtered out of tools/list by a middleware that sees who is asking.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.server.subscriptions import InMemorySubscriptionBus
from mcp.shared.subscriptions import ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from binance_mcp import __version__
from binance_mcp.config import ServerConfig
from binance_mcp.exchange.client import ExchangeClient, Timeouts
from binance_mcp.guard import Guard
from binance_mcp.guard.build import build_guard
from binance_mcp.guard.caller import CURRENT_CALLER
from binance_mcp.policy.model import Policy, bundled_policy_path, load_policy_file
from binance_mcp.policy.reload import PolicyWatcher
from binance_mcp.results import dumps
from binance_mcp.sdk import ServerWithListChanged, first_round, guarded_handler, sdk_tool
from binance_mcp.state_dir import resolve_state_dir
from binance_mcp.stdio import serve_stdio as serve_over_stdio
from binance_mcp.stopping import DEPLOYED, DrainTimes
from binance_mcp.stores.lease import keep_leases
from binance_mcp.tools import catalog

if TYPE_CHECKING:
    from binance_mcp.stores.audit import AuditLog
    from binance_mcp.tools.spec import ToolSpec

logger = logging.getLogger(__name__)

INSTRUCTIONS = (
    "Binance Spot market data, account and trading tools. Every call passes the user's policy: a "
    "refused call explains why in `reason`, names the deciding `rule` and the bound it hit (`limit`, "
    "`value`, `unit`), and sends nothing. Before trading, call get_limits (what you may do, the largest "
    "order that needs no human, budgets and rate limits left) and get_symbol_info (tick size, step size, "
    "min notional, the price band): then your orders fit on the first try. Amounts are decimal strings. "
    "Results of place_order say which network (testnet, demo, mainnet) the order is on."
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


LIMITS_URI = "binance-mcp://limits"


def add_limits_resource(server: MCPServer, guard: Guard) -> None:
    """`binance-mcp://limits`: what `get_limits` answers, for clients that read resources."""

    @server.resource(
        LIMITS_URI,
        name="limits",
        title="What this agent may do",
        description="The calling agent's limits on this server now: the same content as the get_limits tool.",
        mime_type="application/json",
    )
    async def limits() -> str:
        return await read_limits(guard)


async def read_limits(guard: Guard) -> str:
    """The resource, read through the guard as a get_limits call: get_limits' rule hides it
    (unknown resource), denies or rate-limits it (an error naming the rule), and the read is
    audited like the call."""
    from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

    screened = await guard.screen(tool_spec("get_limits"), {}, None)
    result = await guard.finish(screened, None)
    if getattr(screened, "decision", None) == "hidden":
        raise ResourceNotFoundError(f"Unknown resource: {LIMITS_URI}")
    if result.is_error:
        content = result.structured_content or {}
        rule = f" ({content['rule']})" if content.get("rule") else ""
        raise ResourceError(f"{content.get('error', 'refused')}: {content.get('reason', 'refused')}{rule}")
    return dumps(result.structured_content)


def hide_from_list(guard: Guard, notifier: ToolListNotifier) -> Any:
    """Server middleware: tools/list (and resources/list) show only what the policy lets this caller see."""

    async def middleware(ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        caller = guard.identify(ctx)
        if ctx.request_id is not None:
            notifier.note(ctx, caller.session)
        token = CURRENT_CALLER.set(caller)
        try:
            result = await call_next(ctx)
        finally:
            CURRENT_CALLER.reset(token)
        if ctx.method == "tools/list" and isinstance(result, dict) and isinstance(result.get("tools"), list):
            visible = [
                tool for tool in result["tools"] if guard.is_visible(str(tool.get("name")), caller.agent)
            ]
            result = {**result, "tools": visible}
        listing = (
            result.get("resources") if ctx.method == "resources/list" and isinstance(result, dict) else None
        )
        if (
            isinstance(result, dict)
            and isinstance(listing, list)
            and not guard.is_visible("get_limits", caller.agent)
        ):
            # the limits resource is get_limits' content, hidden with it
            result = {**result, "resources": [r for r in listing if r.get("uri") != LIMITS_URI]}
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

    async def serve_stdio(
        self, times: DrainTimes = DEPLOYED, metrics_port: int | None = None, metrics_token: str | None = None
    ) -> None:
        """Serve over stdio until EOF or SIGTERM; with `metrics_port`, /metrics on 127.0.0.1 beside it."""
        async with anyio.create_task_group() as group:
            if self.watcher is not None:
                group.start_soon(self.watcher.run)
            group.start_soon(keep_leases, self.guard)
            if metrics_port is not None:
                from binance_mcp.metrics import serve_metrics

                await group.start(serve_metrics, self.guard, metrics_port, metrics_token)
            # finishes calls in flight on EOF and SIGTERM
            await serve_over_stdio(self.server, times=times, stopping=self.guard.stopping)
            await self.guard.services.notices.flush()  # grouped approval requests not yet posted
            group.cancel_scope.cancel()


def load_policy(config: ServerConfig) -> tuple[Policy, Path]:
    from binance_mcp.policy.model import policy_notes

    path = config.policy_path or bundled_policy_path("default")
    policy = load_policy_file(path)
    for note in policy_notes(policy):  # a deprecated tool name: still loaded, said once
        logger.warning("%s: %s", path, note)
    return policy, path


def guarded_tool(name: str, entry: dict[str, Any], guard: Guard) -> Tool:
    """One catalogue entry registered on the SDK, its handler wrapped by the guard.

    The tool's implementation (its `@tool` spec in `binance_mcp.tools`) is looked up on the
    first call, so start-up imports none of the tool modules.
    """
    from binance_mcp.guard.approval_desk import ApprovalForm

    async def screen(arguments: dict[str, Any], ctx: Any) -> Any:
        return await guard.screen(tool_spec(name), arguments, ctx)

    def elicit_of(concluded: Any) -> Any:
        return getattr(concluded, "elicit", None)  # an `Asking` carries the question

    handler = guarded_handler(name, screen, guard.finish, ApprovalForm, elicit_of)
    return sdk_tool(name, entry, handler, first_round(screen, guard.finish, elicit_of))


def tool_spec(name: str) -> ToolSpec:
    from binance_mcp.tools import SPECS

    return SPECS[name]


def build_app(
    config: ServerConfig,
    *,
    policy: Policy | None = None,
    agent_resolver: Callable[[Mapping[str, str]], str | None] | None = None,
    approvals_page: str | None = None,
) -> App:
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
        market_data_max_age=config.market_data_max_age,
    )
    guard = build_guard(
        config, policy, exchange, agent_resolver=agent_resolver, approvals_page=approvals_page
    )
    notifier = ToolListNotifier()
    server = ServerWithListChanged(
        "binance-mcp",
        version=__version__,
        instructions=INSTRUCTIONS,
        tools=[guarded_tool(name, entry, guard) for name, entry in catalog.load().items()],
        middleware=[hide_from_list(guard, notifier)],
        subscriptions=notifier.bus,
        log_level=config.log_level,
        unknown_tool=guard.unknown_tool,
    )
    add_limits_resource(server, guard)
    watcher = None
    if config.watch_policy and config.policy_path is not None:
        watcher = PolicyWatcher(config.policy_path, guard.install, notifier.notify)
        guard.services.policy.follow(watcher.check)
    return App(
        server=server,
        watcher=watcher,
        notifier=notifier,
        guard=guard,
        exchange=exchange,
        state_dir=state_dir,
        policy_path=policy_path,
    )
