"""What a tool is, and `@tool`, the decorator that declares one on its handler's definition.

A tool is declarative: an input model, a declared risk, MCP annotations, one exchange call, a
shaped result, and for a tool that places orders, the `order` hook that says which order its
arguments describe (the guard checks, values and describes that, never the raw arguments).
`@tool(...)` attaches this spec to the handler and returns the handler unchanged: it guards
nothing by itself. The server registers every declared tool behind the guard
(`binance_mcp.server.guarded_tool`: the guard's stages run before the handler, on every call),
so `tools/` never imports the guard.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from mcp_types import ToolAnnotations
from pydantic import BaseModel

from binance_mcp.tools.names import TOOL_RISK, Risk, ToolName

if TYPE_CHECKING:
    from binance_mcp.config import Network
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.market import Market
    from binance_mcp.orders import Order
    from binance_mcp.results import ToolOutput
    from binance_mcp.valuation import Valuation


async def _nothing_to_do() -> None:
    return None


@dataclass(frozen=True)
class CallContext:
    """What a tool body may know of the call beyond its arguments.

    A tool that changes the account awaits `about_to_send()` immediately before the request that
    changes it: that is where the guard makes the `pending` audit record durable (crash safety),
    so that a failure before it is known to have sent nothing. `order` and `market` are the order
    as the guard checked and valued it, and the market it was valued against.
    """

    exchange: ExchangeClient
    network: Network
    dry_run: bool = False
    about_to_send: Callable[[], Awaitable[None]] = _nothing_to_do
    order: Order | None = None
    market: Market | None = None
    report_limits: Callable[[], Awaitable[dict[str, Any]]] | None = None  # get_limits: the guard's view
    valuation: Valuation | None = None  # the order's value, as the guard compared it with the policy
    # a cancel or an amend a human approved: the exchange order id they were shown; the call acts on
    # that order (by its id) and no other
    bound_order_id: int | None = None
    # get_order_preview: what the guard would decide for an order (tool, arguments), sending nothing
    preview: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]] | None = None


Run = Callable[[Any, CallContext], Awaitable["ToolOutput"]]


@dataclass(frozen=True)
class ToolSpec:
    name: ToolName
    title: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    risk: Risk
    run: Run
    # Fills what the server decides for the caller before the call is audited (a client order id).
    prepare: Callable[[Any], Any] | None = None
    # Tools that place orders: the order the validated arguments describe.
    order: Callable[[Any], Order] | None = None
    # Other calls a human may be asked about, in words, from the validated arguments and what
    # `resolve` found on the exchange (the order a cancel would cancel), or None.
    describe: Callable[[Any, Any, str], str] | None = None
    # What the call acts on, looked up before a human is asked about it (None: nothing to look up).
    resolve: Callable[[Any, CallContext], Awaitable[Any]] | None = None
    # Tools that place orders: the tool's own rules on the whole order (an OCO's prices against the
    # market, a trailing delta within the symbol's bounds), run by the guard's validate stage right
    # after every leg passed the exchange's filters; raises `Refusal(INVALID_ARGUMENTS, ..., field=...)`.
    check: Callable[[Order, Market], None] | None = None
    # The argument that carries the call's client id (the one a lost answer is looked up by, the
    # audit record keeps, and a reuse of is refused): an order list's is `list_client_order_id`.
    client_id_field: str = "client_order_id"
    # Tools that change an existing order (amend_order): the tool's own checks against that order
    # as the exchange has it (a decrease only, step size, minimum notional, the amend count), run by
    # the guard's validate stage before the policy or a human is asked; raises `Refusal`.
    screen: Callable[[Any, CallContext], Awaitable[None]] | None = None

    @property
    def needs_credentials(self) -> bool:
        return self.risk is not Risk.READ

    @property
    def signed_read(self) -> bool:
        """Tools that read the account with a signed request: recorded `pending` (not synced to the
        disk) before it leaves, so a read killed in flight still has its record."""
        return self.risk is Risk.ACCOUNT

    @property
    def changes_account(self) -> bool:
        """Tools that change the account (orders, cancels): audited `pending` before they leave,
        one at a time per account, decided again at dispatch."""
        return self.risk in (Risk.FINANCIAL, Risk.DESTRUCTIVE)

    @property
    def annotations(self) -> ToolAnnotations:
        read_only = self.risk in (Risk.READ, Risk.ACCOUNT)
        return ToolAnnotations(
            title=self.title,
            read_only_hint=read_only,
            destructive_hint=self.risk is Risk.DESTRUCTIVE,
            idempotent_hint=read_only or self.risk is Risk.DESTRUCTIVE,
            open_world_hint=True,
        )


F = TypeVar("F", bound=Run)


def tool(
    name: ToolName,
    *,
    title: str,
    description: str,
    inputs: type[BaseModel],
    output: type[BaseModel],
    prepare: Callable[[Any], Any] | None = None,
    order: Callable[[Any], Order] | None = None,
    describe: Callable[[Any, Any, str], str] | None = None,
    resolve: Callable[[Any, CallContext], Awaitable[Any]] | None = None,
    check: Callable[[Order, Market], None] | None = None,
    client_id_field: str = "client_order_id",
    screen: Callable[[Any, CallContext], Awaitable[None]] | None = None,
) -> Callable[[F], F]:
    """Declare a tool on its handler: the spec the server registers behind the guard."""

    def mark(run: F) -> F:
        run.tool_spec = ToolSpec(  # type: ignore[attr-defined]
            name=name,
            title=title,
            description=description,
            input_model=inputs,
            output_model=output,
            risk=TOOL_RISK[name],  # declared once, beside the name (the policy reads it without the tools)
            run=run,
            prepare=prepare,
            order=order,
            describe=describe,
            resolve=resolve,
            check=check,
            client_id_field=client_id_field,
            screen=screen,
        )
        return run

    return mark


def spec_of(handler: Run) -> ToolSpec:
    """The spec `@tool` attached to a handler."""
    spec = getattr(handler, "tool_spec", None)
    if not isinstance(spec, ToolSpec):
        raise TypeError(f"{getattr(handler, '__name__', handler)!r} is not a @tool handler")
    return spec
