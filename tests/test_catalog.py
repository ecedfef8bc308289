"""The precomputed tool catalogue (what tools/list publishes) matches the tool definitions."""

from binance_mcp.tools import ALL_TOOLS, catalog
from binance_mcp.tools.names import TOOL_NAMES


def test_the_committed_catalogue_is_what_the_tools_generate() -> None:
    generated = catalog.render(catalog.generate())
    assert catalog.CATALOG_FILE.read_text() == generated, "run: python -m binance_mcp.tools.catalog"


def test_the_catalogue_lists_the_tools_in_order() -> None:
    """Every tool named in `ToolName`, in its order: the first ten, then the order-list tools."""
    assert list(catalog.load()) == list(TOOL_NAMES) == [spec.name.value for spec in ALL_TOOLS]
    assert list(TOOL_NAMES)[:12] == [
        "get_price", "get_orderbook", "get_klines", "get_24hr_ticker", "get_symbol_info", "get_limits",
        "get_account_info", "get_open_orders",
        "get_order_history", "place_order", "cancel_order", "cancel_all_orders",
    ]  # fmt: skip
    assert list(TOOL_NAMES)[12:] == [
        "place_order_list", "cancel_order_list", "get_order_lists", "get_order", "get_my_trades", "amend_order",
        "get_order_preview",
    ]  # fmt: skip
