"""The precomputed tool catalogue (what tools/list publishes) matches the tool definitions."""

from binance_mcp.tools import catalog


def test_the_committed_catalogue_is_what_the_tools_generate() -> None:
    generated = catalog.render(catalog.generate())
    assert catalog.CATALOG_FILE.read_text() == generated, "run: python -m binance_mcp.tools.catalog"


def test_the_catalogue_lists_the_tools_in_order() -> None:
    assert list(catalog.load()) == [
        "get_price", "get_orderbook", "get_klines", "get_24hr_ticker", "get_symbol_info", "get_limits",
        "get_account_info", "get_open_orders",
        "get_order_history", "place_order", "cancel_order", "cancel_all_orders",
    ]  # fmt: skip
