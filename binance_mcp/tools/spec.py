"""What a tool is: an input model, a declared risk, MCP annotations, one exchange call, a shaped result.

Tools are declarative so that the guard can wrap every one the same way, knowing nothing of
Binance beyond what a tool declares here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_types import ToolAnnotations
from pydantic import BaseModel

from binance_mcp.tools.names import Risk, ToolName

if TYPE_CHECKING:
    from binance_mcp.config import Network
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.results import ToolOutput


async def _nothing_to_do() -> None:
    return None


@dataclass(frozen=True)
class CallContext:
    """What a tool body may know of the call beyond its arguments.

    A tool that changes the account awaits `about_to_send()` immediately before the request that
    changes it: that is where the guard commits the `pending` audit record (crash safety), so that
    a failure before it is known to have sent nothing.
    """

    exchange: ExchangeClient
    network: Network
    dry_run: bool = False
    about_to_send: Callable[[], Awaitable[None]] = _nothing_to_do
    quote: Any = None  # the order as the guard priced it (OrderQuote), so the tool need not again


@dataclass(frozen=True)
class ToolSpec:
    name: ToolName
    title: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel]
    risk: Risk
    run: Callable[[Any, CallContext], Awaitable[ToolOutput]]
    # Fills what the server decides for the caller before the call is audited (a client order id).
    prepare: Callable[[Any], Any] | None = None
    # Orders: how to price one (rules, current price, notional), for limits that speak in money.
    quote: Callable[[Any, CallContext], Awaitable[Any]] | None = None
    # The call in words for the human asked to approve it, from the validated arguments.
    describe: Callable[[Any, Any, str], str] | None = None

    @property
    def needs_credentials(self) -> bool:
        return self.risk is not Risk.READ

    @property
    def sends_order(self) -> bool:
        """Orders and cancels: audited as `pending` before they leave (crash safety)."""
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
