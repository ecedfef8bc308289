"""A symbol's market as the guard checked an order against it: its exchange rules, its price and,
for a MARKET order by quantity, its order book.

Shared by the guard (which fetches and values against it) and the tools (whose `check` hooks and
call context read it), so it lives below both: neither side imports the other for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from binance_mcp.exchange.filters import SymbolRules
    from binance_mcp.valuation import Book


@dataclass(frozen=True)
class Market:
    """A symbol's exchange rules and its price now, fetched together; `filter_price` is what its
    price-band and MARKET notional filters are evaluated against (`exchange.filters.filter_price`),
    named by `filter_basis`."""

    rules: SymbolRules
    price: Decimal
    book: Book | None = None  # read for a MARKET order by quantity (its value comes from the book)
    filter_price: Decimal | None = None
    filter_basis: str = "last price"
