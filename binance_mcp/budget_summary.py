"""Today's budgets for a person to read: traded, held and left per quote asset and network, from the
budget store the guard reserves in (the one `get_limits` reads: SQLite in the state dir, or
PostgreSQL) and the daily limits of the policy in force.

The approvals page shows it next to the orders waiting, so that whoever approves one sees what the
day has already spent, and each card what would be left after it. Given a state dir rather than a
store, it only reads: a state dir with no budgets database shows nothing spent, and creates nothing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from binance_mcp.account import network_of
from binance_mcp.stores.budgets import budgets_path

__all__ = ["BudgetLine", "SpentByAccount", "budget_lines", "spent_today", "usage_today"]


class SpentByAccount(Protocol):
    """A budget store (`binance_mcp.stores.budgets.BudgetStore`, on either backend)."""

    def spent_by_account(self, now: datetime | None = None) -> dict[tuple[str, str], Decimal]: ...

    def usage_by_account(
        self, now: datetime | None = None
    ) -> dict[tuple[str, str], tuple[Decimal, Decimal]]: ...


@dataclass(frozen=True)
class BudgetLine:
    """One quote asset of one account (network and key): its daily limit, what today spent, what is left."""

    network: str
    account: str
    asset: str
    limit: Decimal | None
    """None: the policy sets no daily limit for this asset."""
    spent: Decimal
    """Traded plus held: what is no longer left."""
    held: Decimal = Decimal(0)
    """Of `spent`, what orders being sent or still open hold at their worst path."""

    @property
    def traded(self) -> Decimal:
        return self.spent - self.held

    @property
    def left(self) -> Decimal | None:
        return None if self.limit is None else max(self.limit - self.spent, Decimal(0))


def spent_today(source: Path | SpentByAccount, now: datetime | None = None) -> dict[tuple[str, str], Decimal]:
    """(account, asset) → today's (UTC) traded and held notional, from a budget store, or read
    only from `budgets.sqlite3` in a state dir."""
    return {key: traded + held for key, (traded, held) in usage_today(source, now).items()}


def usage_today(
    source: Path | SpentByAccount, now: datetime | None = None
) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(account, asset) → (traded, held) today (UTC): held is what is being sent or still open, at
    its worst path; traded what orders traded (settled from their fills)."""
    if not isinstance(source, Path):
        return source.usage_by_account(now)
    path = budgets_path(source)
    if not path.is_file():
        return {}
    day = (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()
    # Read-only: looking must not create, migrate or lock anything the server writes.
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=5)  # relative too
    try:
        try:
            rows = conn.execute(
                "SELECT account, asset, amount, state = 'reserved' OR (watch IS NOT NULL AND traded IS NULL)"
                " FROM reservations WHERE day = ? AND state IN ('reserved', 'kept')",
                (day,),
            ).fetchall()
        except sqlite3.OperationalError:  # a database from before open orders were held
            rows = conn.execute(
                "SELECT account, asset, amount, state = 'reserved' FROM reservations"
                " WHERE day = ? AND state IN ('reserved', 'kept')",
                (day,),
            ).fetchall()
    except sqlite3.OperationalError:  # no table yet
        rows = []
    finally:
        conn.close()
    found: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for account, asset, amount, held in rows:
        key = (str(account), str(asset))
        traded_so_far, held_so_far = found.get(key, (Decimal(0), Decimal(0)))
        if held:
            found[key] = (traded_so_far, held_so_far + Decimal(str(amount)))
        else:
            found[key] = (traded_so_far + Decimal(str(amount)), held_so_far)
    return found


def budget_lines(
    source: Path | SpentByAccount,
    limits: Mapping[str, Decimal],
    *,
    here: str | None = None,
    now: datetime | None = None,
    elsewhere: Mapping[tuple[str, str], Decimal] | None = None,
) -> list[BudgetLine]:
    """A line per asset and account that spent today or has a limit. `limits` is the policy's
    `budgets.daily_notional`; `here` the account (`network:key fingerprint`) of the server showing
    the page, whose limited assets get a line even before anything was spent. `elsewhere`: the
    daily limits of other accounts ((account, asset) → limit) as their own servers stated them
    with a request waiting (a mainnet server sharing this state shows its budget here too)."""
    usage = usage_today(source, now)
    spent = {key: traded + held for key, (traded, held) in usage.items()}
    keys = set(spent)
    if here is not None:
        keys |= {(here, asset) for asset in limits}
    known = {key: limit for key, limit in (elsewhere or {}).items() if key[0] != here}
    keys |= set(known)

    def limit_of(account: str, asset: str) -> Decimal | None:
        if (account, asset) in known:
            return known[(account, asset)]
        return limits.get(asset) if here is None or account == here else None

    lines = [
        BudgetLine(
            network_of(account),
            account,
            asset,
            limit_of(account, asset),
            spent.get((account, asset), Decimal(0)),
            usage.get((account, asset), (Decimal(0), Decimal(0)))[1],
        )
        for account, asset in keys
    ]
    if here is None:
        seen = {line.asset for line in lines}
        lines += [
            BudgetLine("", "", asset, limit, Decimal(0))
            for asset, limit in limits.items()
            if asset not in seen
        ]
    return sorted(lines, key=lambda line: (line.network, line.account, line.asset))
