"""The tools. Each handler is declared by `@tool(...)`; `ALL_TOOLS` (in tools/list order, which is
`names.ToolName`'s order) and `SPECS` (by name) are loaded on first use, not at start-up.

Start-up registers the tools from `catalog.json` (names, descriptions, annotations, schemas), so
that a client's first tools/list does not wait for the pydantic models to be built; the tool
implementations are imported by the first call.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from binance_mcp.tools.spec import CallContext, ToolSpec

    ALL_TOOLS: tuple[ToolSpec, ...]
    SPECS: dict[str, ToolSpec]

__all__ = ["ALL_TOOLS", "SPECS", "CallContext", "ToolSpec"]


def __getattr__(name: str) -> Any:
    if name == "ALL_TOOLS":
        from binance_mcp.tools.account import ACCOUNT_TOOLS
        from binance_mcp.tools.agent_limits import AGENT_LIMIT_TOOLS
        from binance_mcp.tools.amend import AMEND_TOOLS
        from binance_mcp.tools.market import MARKET_TOOLS
        from binance_mcp.tools.names import TOOL_NAMES
        from binance_mcp.tools.order_lists import ORDER_LIST_TOOLS
        from binance_mcp.tools.order_reads import ORDER_READ_TOOLS
        from binance_mcp.tools.spec import spec_of
        from binance_mcp.tools.trading import TRADING_TOOLS

        handlers = (
            MARKET_TOOLS
            + AGENT_LIMIT_TOOLS
            + ACCOUNT_TOOLS
            + TRADING_TOOLS
            + ORDER_LIST_TOOLS
            + ORDER_READ_TOOLS
            + AMEND_TOOLS
        )
        value: Any = tuple(
            sorted((spec_of(handler) for handler in handlers), key=lambda spec: TOOL_NAMES.index(spec.name))
        )
    elif name == "SPECS":
        value = {spec.name.value: spec for spec in __getattr__("ALL_TOOLS")}
    elif name in ("CallContext", "ToolSpec"):
        from binance_mcp.tools import spec

        value = getattr(spec, name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
