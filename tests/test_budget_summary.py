"""Today's budgets as the approvals page shows them: spent and left per quote asset and network,
read from the budgets the guard reserves (issue 10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from binance_mcp.account import AccountKey
from binance_mcp.budget_summary import budget_lines, spent_today
from binance_mcp.stores.budgets import open_budget_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HERE = str(AccountKey.of("testnet", "key-a"))  # the account those reservations were made for
ELSEWHERE = str(AccountKey.of("mainnet", "key-b"))


def test_nothing_spent_and_no_database_creates_nothing(tmp_path: Path) -> None:
    assert spent_today(tmp_path, NOW) == {}
    assert budget_lines(tmp_path, {}, now=NOW) == []
    (line,) = budget_lines(tmp_path, {"USDT": Decimal("500")}, here=HERE, now=NOW)
    assert (line.network, line.asset, line.limit, line.spent, line.left) == (
        "testnet",
        "USDT",
        Decimal("500"),
        Decimal(0),
        Decimal("500"),
    )
    assert not list(tmp_path.iterdir())


def test_spent_and_left_per_asset_and_network_today_only(tmp_path: Path) -> None:
    with open_budget_store(tmp_path) as store:
        limit = Decimal("1000")
        kept = store.reserve(account=HERE, asset="USDT", amount=Decimal("97.5"), limit=limit, now=NOW)
        store.keep(kept.id)
        released = store.reserve(account=HERE, asset="USDT", amount=Decimal("50"), limit=limit, now=NOW)
        store.release(released.id)
        store.reserve(account=HERE, asset="USDT", amount=Decimal("2.5"), limit=limit, now=NOW)
        store.reserve(
            account=ELSEWHERE,
            asset="FDUSD",
            amount=Decimal("10"),
            limit=limit,
            now=NOW,
        )
        store.reserve(
            account=HERE,
            asset="USDT",
            amount=Decimal("400"),
            limit=limit,
            now=NOW - timedelta(days=1),
        )
    lines = budget_lines(tmp_path, {"USDT": Decimal("500")}, here=HERE, now=NOW)
    shown = [(line.network, line.asset, line.limit, line.spent, line.left) for line in lines]
    assert shown == [
        ("mainnet", "FDUSD", None, Decimal("10"), None),
        ("testnet", "USDT", Decimal("500"), Decimal("100"), Decimal("400")),
    ]
    # without a server of its own (the console), a limited asset nobody spent still shows
    console = budget_lines(tmp_path, {"USDT": Decimal("500"), "BTC": Decimal("1")}, now=NOW)
    assert [(line.network, line.asset) for line in console] == [
        ("", "BTC"),
        ("mainnet", "FDUSD"),
        ("testnet", "USDT"),
    ]
