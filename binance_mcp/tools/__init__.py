"""The ten tools, in the order tools/list shows them."""

from binance_mcp.tools.account import ACCOUNT_TOOLS
from binance_mcp.tools.market import MARKET_TOOLS
from binance_mcp.tools.spec import CallContext, ToolSpec
from binance_mcp.tools.trading import TRADING_TOOLS

ALL_TOOLS: tuple[ToolSpec, ...] = MARKET_TOOLS + ACCOUNT_TOOLS + TRADING_TOOLS

__all__ = ["ALL_TOOLS", "CallContext", "ToolSpec"]
