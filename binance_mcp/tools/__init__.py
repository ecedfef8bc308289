"""The ten tools. `ALL_TOOLS` (in tools/list order) is loaded on first use, not at start-up.

Start-up registers the tools from `catalog.json` (names, descriptions, annotations, schemas), so
that a client's first tools/list does not wait for twenty pydantic models to be built; the tool
implementations are imported by the first call.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from binance_mcp.tools.spec import CallContext, ToolSpec

    ALL_TOOLS: tuple[ToolSpec, ...]

__all__ = ["ALL_TOOLS", "CallContext", "ToolSpec"]


def __getattr__(name: str) -> Any:
    if name == "ALL_TOOLS":
        from binance_mcp.tools.account import ACCOUNT_TOOLS
        from binance_mcp.tools.market import MARKET_TOOLS
        from binance_mcp.tools.trading import TRADING_TOOLS

        value = MARKET_TOOLS + ACCOUNT_TOOLS + TRADING_TOOLS
    elif name in ("CallContext", "ToolSpec"):
        from binance_mcp.tools import spec

        value = getattr(spec, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
