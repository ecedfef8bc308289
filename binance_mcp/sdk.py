"""Every use of the MCP SDK's internals, in one place, pinned by `tests/test_sdk_contract.py`.

mcp 2.3 validates a tool's typed parameters before any decorator could run and drops unknown
arguments silently, so each tool is registered with an argument model that accepts anything and
hands the raw arguments to the guard, while tools/list still publishes the tool's own input
schema. Asking a human in the 2026 era (an `input_required` round) works only from a parameter
resolver (`Annotated[ElicitationResult[...], Resolve(fn)]`) that the SDK runs before the handler
body: the guard's screening is that resolver. The SDK's resolver machinery costs a call about a
tenth of a millisecond, so each tool is a `GuardedTool` that screens a call's first round itself
and hands the SDK's path only a call that must ask (its conclusion carried along, not screened
twice) or a later round carrying the human's answer; the 2025 era asks mid-call (`ctx.elicit`)
from anywhere, so its calls never need the resolver. The SDK declares `tools.listChanged: false`
unless the low-level server's initialization options say otherwise, with no public parameter for it. The
HTTP session manager keeps its open sessions in a private dict (counted and ended from here), and
our stdio transport serves the low-level server directly. If mcp changes any of these,
the contract tests fail loudly; the dependency is pinned `mcp>=2.3,<2.4`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Annotated, Any

from mcp.server.elicitation import ElicitationResult
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import UnexpectedToolError
from mcp.server.mcpserver.resolve import Resolve, build_resolver_plans, find_resolved_parameters
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import ArgModelBase, FuncMetadata
from mcp.shared.exceptions import MCPError
from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

Screen = Callable[[dict[str, Any], Context], Awaitable[Any]]
Finish = Callable[[Any, Any], Awaitable[CallToolResult]]
UnknownTool = Callable[[str, dict[str, Any], Any], Awaitable[None]]
FirstRound = Callable[[dict[str, Any], Context], Awaitable[CallToolResult | None]]


class RawArguments(ArgModelBase):
    """Accepts any arguments and hands them, untouched, to the guarded handler as `arguments`."""

    model_config = ConfigDict(extra="allow", arbitrary_types_allowed=True)

    def model_dump_one_level(self) -> dict[str, Any]:
        return {"arguments": dict(self.model_extra or {})}


# The resolver and the handler body run in the same task, one after the other: this carries what
# screening concluded from one to the other within one request.
_SCREENED: ContextVar[Any] = ContextVar("binance_mcp_screened", default=None)


def guarded_handler(
    name: str, screen: Screen, finish: Finish, answer_form: type[BaseModel], elicit_of: Callable[[Any], Any]
) -> Callable[..., Awaitable[CallToolResult]]:
    """A handler whose `approval` parameter is filled by `screen`, run by the SDK as a resolver.

    `screen` returns what it concluded; when `elicit_of(concluded)` is not None, that Elicit is
    what the SDK asks the client's human (2026 era: an input_required round). The body hands the
    conclusion and the human's answer to `finish`.
    """

    async def resolve(arguments: dict[str, Any], ctx: Context) -> Any:
        concluded = _SCREENED.get()  # screened already by the first round (`first_round`)
        if concluded is None:
            concluded = await screen(arguments, ctx)
            _SCREENED.set(concluded)
        elicit = elicit_of(concluded)
        return elicit if elicit is not None else concluded

    async def handler(arguments: dict[str, Any], ctx: Context, approval: Any) -> CallToolResult:
        concluded = _SCREENED.get()
        _SCREENED.set(None)
        if concluded is None:  # never expected: the SDK runs the resolver first; screen anyway
            concluded = await screen(arguments, ctx)
        return await finish(concluded, approval)

    handler.__name__ = name
    handler.__annotations__ = {
        "arguments": dict[str, Any],
        "ctx": Context,
        "approval": Annotated[ElicitationResult[answer_form], Resolve(resolve)],  # type: ignore[valid-type]
        "return": CallToolResult,
    }
    return handler


def first_round(screen: Screen, finish: Finish, elicit_of: Callable[[Any], Any]) -> FirstRound:
    """A call's first round without the SDK's resolver machinery: screened, then finished, unless
    screening concluded that the client's human must be asked (2026 era), or the round carries a
    human's answer (a later round): then None, and the SDK's path runs `guarded_handler`'s
    resolver, which asks, or takes the answer; a conclusion already reached is carried to it."""

    async def run(arguments: dict[str, Any], ctx: Context) -> CallToolResult | None:
        if ctx.request_state is not None or ctx.input_responses:
            return None  # a later round: the resolver screens it and takes the human's answer
        concluded = await screen(arguments, ctx)
        if elicit_of(concluded) is not None:
            _SCREENED.set(concluded)  # the resolver asks this, without screening the call again
            return None
        return await finish(concluded, None)

    return run


class GuardedTool(Tool):
    """The SDK's tool, whose call runs `first_round` first and the SDK's own path only when that
    hands the call on (a question for the client's human, or the answer to one). A failure is
    answered as the SDK answers a tool that raised: an `MCPError` as itself, anything else as an
    error result that says nothing of what went wrong (the server logs it)."""

    first_round: FirstRound = Field(exclude=True)

    async def run(self, arguments: dict[str, Any], context: Any, convert_result: bool = False) -> Any:
        try:
            result = await self.first_round(arguments, context)
        except MCPError:
            raise
        except Exception as exc:
            raise UnexpectedToolError(f"Error executing tool {self.name}") from exc
        if result is not None:
            return result
        try:
            return await super().run(arguments, context, convert_result)
        finally:
            _SCREENED.set(None)  # never carried past this call


def sdk_tool(
    name: str,
    entry: dict[str, Any],
    handler: Callable[..., Awaitable[CallToolResult]],
    first: FirstRound,
) -> Tool:
    """The SDK's registration of a guarded handler, from its catalogue entry: no model to build."""
    resolved = find_resolved_parameters(handler)
    return GuardedTool(
        first_round=first,
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


class ServerWithListChanged(MCPServer):
    """MCPServer that tells 2025-era clients their tool list can change (`--watch`).

    Every transport (stdio, HTTP, the in-process client) asks the low-level server's
    `create_initialization_options()`, so its default is set here.
    """

    def __init__(self, *args: Any, unknown_tool: UnknownTool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unknown_tool = unknown_tool
        lowlevel = self._lowlevel_server
        create = lowlevel.create_initialization_options

        def with_tools_changed(
            notification_options: NotificationOptions | None = None, *rest: Any, **named: Any
        ) -> Any:
            return create(notification_options or NotificationOptions(tools_changed=True), *rest, **named)

        lowlevel.create_initialization_options = with_tools_changed  # type: ignore[method-assign]

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        """As the SDK's, and a call to a tool that does not exist is told to `unknown_tool` first
        (the audit log records it); the SDK's own answer follows, word for word."""
        if self._unknown_tool is not None and self._tool_manager.get_tool(name) is None:
            await self._unknown_tool(name, arguments, context)
        return await super().call_tool(name, arguments, context)


def open_http_sessions(manager: Any) -> dict[str, Any] | None:
    """The session manager's open sessions (mcp 2.3 keeps them in a private dict), or None."""
    sessions = getattr(manager, "_server_instances", None)
    return sessions if isinstance(sessions, dict) else None


def end_http_session(manager: Any, session_id: str) -> bool:
    """End one HTTP session the way its idle timeout does (the SDK then discards it: 404 from
    then on). False when there is no such session."""
    sessions = open_http_sessions(manager) or {}
    scope = getattr(sessions.get(session_id), "idle_scope", None)
    if scope is None:
        return False
    scope.cancel()
    return True


def lowlevel_server(server: MCPServer) -> Any:
    """The low-level server an MCPServer serves (what `run_stdio_async` runs), for a transport of ours."""
    return server._lowlevel_server
