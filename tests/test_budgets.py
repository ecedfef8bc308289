"""Daily budgets: reserve, release, keep; per UTC day and account; across restarts,
threads and real processes sharing one state dir."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from binance_mcp.account import AccountKey
from binance_mcp.stores.budgets import (
    BudgetExceeded,
    BudgetStore,
    budgets_path,
    day_resets_at,
    open_budget_store,
)

D = Decimal
TESTNET = {"account": str(AccountKey.of("testnet", "key-a"))}
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BudgetStore]:
    with open_budget_store(tmp_path) as opened:
        yield opened


def test_it_lives_in_the_state_dir(tmp_path: Path, store: BudgetStore) -> None:
    assert store.path == tmp_path / "budgets.sqlite3" == budgets_path(tmp_path)
    assert store.path.is_file()


def test_reserving_within_the_limit_and_refusing_beyond_it(store: BudgetStore) -> None:
    first = store.reserve(**TESTNET, asset="USDT", amount=D("450"), limit=D("500"), now=NOON)
    assert (first.amount, first.day, first.asset) == (D("450"), "2026-11-25", "USDT")
    assert first.resets_at == datetime(2026, 11, 26, tzinfo=UTC)
    with pytest.raises(BudgetExceeded) as refused:
        store.reserve(**TESTNET, asset="USDT", amount=D("100"), limit=D("500"), now=NOON)
    exc = refused.value
    assert (exc.asset, exc.spent, exc.limit, exc.left) == ("USDT", D("450"), D("500"), D("50"))
    assert exc.sentence() == (
        "daily budget for USDT on testnet: 500: 0 traded, 450 held for orders open or being sent, 50 left; an order of 100 does not fit; "
        "the budget resets at 2026-11-26T00:00:00Z"
    )
    assert store.spent_today(**TESTNET, asset="USDT", now=NOON) == D("450")  # the refused one took nothing


def test_up_to_and_including_the_limit_fits_exactly(store: BudgetStore) -> None:
    store.reserve(**TESTNET, asset="USDT", amount=D("499.99"), limit=D("500"), now=NOON)
    store.reserve(**TESTNET, asset="USDT", amount=D("0.010"), limit=D("500"), now=NOON)
    assert store.spent_today(**TESTNET, asset="USDT", now=NOON) == D("500")
    with pytest.raises(BudgetExceeded) as refused:
        store.reserve(**TESTNET, asset="USDT", amount=D("0.00000001"), limit=D("500"), now=NOON)
    assert refused.value.left == 0


def test_amounts_are_exact_decimals_never_floats(store: BudgetStore) -> None:
    for _ in range(10):
        store.reserve(**TESTNET, asset="USDT", amount=D("0.1"), limit=D("1"), now=NOON)
    assert store.spent_today(**TESTNET, asset="USDT", now=NOON) == D("1")  # a float sum would be 0.9999…
    with pytest.raises(TypeError):
        store.reserve(**TESTNET, asset="USDT", amount=0.1, limit=D("1"), now=NOON)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.reserve(**TESTNET, asset="USDT", amount=D("-1"), limit=D("1"), now=NOON)
    assert store.path is not None
    with sqlite3.connect(store.path) as conn:
        rows = conn.execute("SELECT amount, typeof(amount) FROM reservations LIMIT 1").fetchall()
    assert rows == [("0.1", "text")]


def test_the_day_is_the_utc_day(store: BudgetStore) -> None:
    late = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC)
    store.reserve(**TESTNET, asset="USDT", amount=D("500"), limit=D("500"), now=late)
    with pytest.raises(BudgetExceeded):
        store.reserve(**TESTNET, asset="USDT", amount=D("1"), limit=D("500"), now=late)
    next_day = late + timedelta(seconds=1)
    store.reserve(**TESTNET, asset="USDT", amount=D("500"), limit=D("500"), now=next_day)
    assert store.spent_today(**TESTNET, asset="USDT", now=late) == D("500")
    assert store.spent_today(**TESTNET, asset="USDT", now=next_day) == D("500")
    # 01:00 in UTC+2 on the 26th is still the 25th in UTC.
    plus_two = datetime(2026, 11, 26, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    assert store.spent_today(**TESTNET, asset="USDT", now=plus_two) == D("500")
    assert day_resets_at(plus_two) == datetime(2026, 11, 26, tzinfo=UTC)


def test_accounts_and_assets_are_separate(store: BudgetStore) -> None:
    mainnet = str(AccountKey.of("mainnet", "key-a"))
    other_key = str(AccountKey.of("testnet", "key-b"))
    store.reserve(**TESTNET, asset="USDT", amount=D("500"), limit=D("500"), now=NOON)
    store.reserve(account=mainnet, asset="USDT", amount=D("500"), limit=D("500"), now=NOON)
    store.reserve(account=other_key, asset="USDT", amount=D("500"), limit=D("500"), now=NOON)
    store.reserve(**TESTNET, asset="FDUSD", amount=D("500"), limit=D("500"), now=NOON)
    with pytest.raises(BudgetExceeded, match="on mainnet"):
        store.reserve(account=mainnet, asset="USDT", amount=D("1"), limit=D("500"), now=NOON)
    assert store.spent_today(TESTNET["account"], "USDT", now=NOON) == D("500")
    assert store.spent_today(str(AccountKey.of("demo", "key-a")), "USDT", now=NOON) == D("0")


def test_times_are_written_in_the_one_format_of_the_state(store: BudgetStore) -> None:
    """UTC, milliseconds, `Z`: as the audit log and the approvals write them (never `+00:00`)."""
    kept = store.reserve(**TESTNET, asset="USDT", amount=D("5"), limit=D("500"), now=NOON)
    store.keep(kept.id)
    with sqlite3.connect(store.path) as db:
        created, updated = db.execute("SELECT created_at, updated_at FROM reservations").fetchone()
    assert created == "2026-11-25T12:00:00.000Z"
    assert updated.endswith("Z") and len(updated) == len(created)


def test_release_gives_back_and_keep_stays_spent(store: BudgetStore) -> None:
    rejected = store.reserve(**TESTNET, asset="USDT", amount=D("300"), limit=D("500"), now=NOON)
    accepted = store.reserve(**TESTNET, asset="USDT", amount=D("200"), limit=D("500"), now=NOON)
    store.release(rejected.id)
    store.release(rejected.id)  # harmless twice
    store.keep(accepted.id)
    store.keep(accepted.id)
    assert store.spent_today(**TESTNET, asset="USDT", now=NOON) == D("200")
    assert store.get(rejected.id)[1] == "released"  # type: ignore[index]
    assert store.get(accepted.id)[1] == "kept"  # type: ignore[index]
    with pytest.raises(ValueError, match="already kept"):
        store.release(accepted.id)  # a later cancel gives nothing back
    with pytest.raises(ValueError, match="already released"):
        store.keep(rejected.id)
    with pytest.raises(KeyError):
        store.keep("nope")
    assert store.spent_today(**TESTNET, asset="USDT", now=NOON) == D("200")


def test_a_reservation_never_settled_stays_spent_and_everything_survives_a_restart(tmp_path: Path) -> None:
    with open_budget_store(tmp_path) as first:
        kept = first.reserve(**TESTNET, asset="USDT", amount=D("100"), limit=D("500"), now=NOON)
        first.keep(kept.id)
        first.reserve(
            **TESTNET, asset="USDT", amount=D("150"), limit=D("500"), now=NOON
        )  # crash: never settled
    with open_budget_store(tmp_path) as second:
        assert second.spent_today(**TESTNET, asset="USDT", now=NOON) == D("250")
        with pytest.raises(
            BudgetExceeded,
            match="500: 100 traded, 150 held for orders open or being sent, 250 left; an order of 251",
        ):
            second.reserve(**TESTNET, asset="USDT", amount=D("251"), limit=D("500"), now=NOON)


def test_threads_never_overspend(tmp_path: Path) -> None:
    """20 threads, each with its own connection, reserve 60 against 1000: exactly 16 fit."""
    stores = [open_budget_store(tmp_path) for _ in range(4)]
    results: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(20)

    def worker(n: int) -> None:
        start.wait()
        try:
            stores[n % 4].reserve(**TESTNET, asset="USDT", amount=D("60"), limit=D("1000"), now=NOON)
            ok = True
        except BudgetExceeded:
            ok = False
        with lock:
            results.append(ok)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 16
    assert stores[0].spent_today(**TESTNET, asset="USDT", now=NOON) == D("960")
    for opened in stores:
        opened.close()


_RACER = textwrap.dedent(
    """
    import sys, time
    from datetime import datetime, UTC
    from decimal import Decimal
    from pathlib import Path
    from binance_mcp.stores.budgets import BudgetExceeded, open_budget_store

    state_dir, go = Path(sys.argv[1]), Path(sys.argv[2])
    store = open_budget_store(state_dir)
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.001)
    won = 0
    for _ in range(10):
        try:
            store.reserve(account="testnet:0123456789abcdef", asset="USDT",
                          amount=Decimal("60"), limit=Decimal("1000"), now=datetime(2026, 11, 25, 12, tzinfo=UTC))
            won += 1
        except BudgetExceeded:
            pass
    print(won, flush=True)
    """
)


def test_two_processes_share_one_budget(tmp_path: Path) -> None:
    """Two server processes on one state dir, each reserving 10 × 60 against 1000: 16 in total."""
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(tmp_path), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    for racer in racers:
        assert racer.stdout is not None
        if racer.stdout.readline().strip() != "ready":
            pytest.fail(f"a racer did not start: {racer.communicate(timeout=30)[1]}")
    go.touch()
    won = []
    for racer in racers:
        out, err = racer.communicate(timeout=30)
        assert racer.returncode == 0, err
        won.append(int(out.strip()))
    assert sum(won) == 16, won
    with open_budget_store(tmp_path) as store:
        assert store.spent_today("testnet:0123456789abcdef", "USDT", now=NOON) == D("960")


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    from binance_mcp.state_dir import StateError

    store = BudgetStore(tmp_path / "b.sqlite3")
    store.close()
    store.close()
    with pytest.raises(StateError, match="closed"):
        store.spent_today(**TESTNET, asset="USDT")
