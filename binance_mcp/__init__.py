"""binance-mcp: an MCP server for Binance Spot with a policy guard built in."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("binance-mcp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"
