"""The account lock across processes: four servers' worth of racers on one state dir.

Each racer process runs three tasks at once; every task does what the guard does under the
account lock: look the client order id up in the audit log and place a MARKET order with it only
if it was never sent, and place a resting LIMIT order only while fewer than three are open. The
orders go to the test exchange over HTTP. Without a lock across processes (the issue's
reproduction) the same id placed three orders and `max_open_orders: 3` ended with five open; with
the account lease (`stores.account_lease`) the id places exactly one order and exactly three stay open. `--no-lock` runs the
same racers unlocked, to show the test can fail.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import anyio
import pytest

from binance_mcp.stores.account_lease import open_sqlite_leases
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio

_RACER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import anyio
    from binance_mcp.account import AccountKey
    from binance_mcp.stores.audit import AuditLog, AuditRecord
    from binance_mcp.config import Credentials
    from binance_mcp.exchange.client import ExchangeClient
    from binance_mcp.stores.account_lease import open_sqlite_leases

    state, base_url, go, key, secret, mode = sys.argv[1:7]
    WINDOW = 0.25  # wide enough that four racers overlap even on a loaded machine (the control relies on it)
    account = str(AccountKey.of("testnet", key))
    audit = AuditLog(Path(state) / "audit.sqlite3")
    lock = open_sqlite_leases(Path(state))
    exchange = ExchangeClient(base_url, Credentials(key, secret))

    class Unlocked:
        async def __aenter__(self): return None
        async def __aexit__(self, *exc): return None

    def guard():
        return lock.held(account) if mode == "lock" else Unlocked()

    async def same_id() -> None:
        async with guard():
            if audit.sent_with_client_order_id("same-id", account=account):
                return
            record = AuditRecord(network="testnet", base_url=base_url, tool="place_order", decision="allowed",
                                 outcome="pending", client_order_id="same-id", account=account)
            pending = audit.begin_pending(record)
            await anyio.sleep(WINDOW)  # the exchange's round trip, stretched so a race would show
            order = await exchange.place_order({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                "quantity": "0.001", "newClientOrderId": "same-id"})
            audit.finish(pending, outcome="ok", order_id=order["orderId"])

    async def resting() -> None:
        async with guard():
            if len(await exchange.get_open_orders(None)) >= 3:
                return
            await anyio.sleep(WINDOW)
            await exchange.place_order({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                        "quantity": "0.001", "price": "30000"})

    async def main() -> None:
        print("ready", flush=True)
        while not Path(go).exists():
            await anyio.sleep(0.005)
        async with anyio.create_task_group() as group:
            for _ in range(3):
                group.start_soon(same_id)
                group.start_soon(resting)

    anyio.run(main)
    """
)


def race(tmp_path: Path, fake: FakeBinance, mode: str) -> None:
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    go = tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACER, str(state), fake.base_url, str(go), API_KEY, API_SECRET, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for racer in racers:
        assert racer.stdout is not None
        if racer.stdout.readline().strip() != "ready":
            pytest.fail(f"a racer did not start: {racer.communicate(timeout=30)[1]}")
    go.touch()
    for racer in racers:
        _out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err


def test_four_processes_place_one_order_per_client_order_id_and_at_most_three_open(
    tmp_path: Path, fake: FakeBinance
) -> None:
    race(tmp_path, fake, "lock")
    assert [o.client_order_id for o in fake.orders].count("same-id") == 1
    assert len(fake.open_orders()) == 3


def test_without_the_lock_the_same_racers_break_both_rules(tmp_path: Path, fake: FakeBinance) -> None:
    """The control: the racers are fast enough to break the rules when nothing serialises them."""
    race(tmp_path, fake, "none")
    assert [o.client_order_id for o in fake.orders].count("same-id") > 1 or len(fake.open_orders()) > 3


async def test_tasks_of_one_process_queue_and_the_file_is_released_on_exit(tmp_path: Path) -> None:
    lock = open_sqlite_leases(tmp_path)
    inside: list[int] = []
    most = 0

    async def task(n: int) -> None:
        nonlocal most
        async with lock.held("testnet:abc"):
            inside.append(n)
            most = max(most, len(inside))
            await anyio.sleep(0.01)
            inside.remove(n)

    async with anyio.create_task_group() as group:
        for n in range(10):
            group.start_soon(task, n)
    assert most == 1
    # Another account is not held up by this one.
    async with lock.held("testnet:abc"), lock.held("testnet:def"):
        pass
    lock.close()


async def test_a_cancelled_waiter_does_not_keep_the_lock(tmp_path: Path) -> None:
    lock = open_sqlite_leases(tmp_path)
    other = open_sqlite_leases(tmp_path)  # another open file: stands in for another process
    async with anyio.create_task_group() as group, other.held("a"):
        scope = anyio.CancelScope()

        async def wait() -> None:
            with scope:
                async with lock.held("a"):
                    await anyio.sleep(10)

        group.start_soon(wait)
        await anyio.sleep(0.1)
        scope.cancel()
        await anyio.sleep(0.05)
        # `other` let go: the cancelled waiter takes the lock in its thread, then gives it back.
    started = time.monotonic()
    with anyio.fail_after(5):
        async with other.held("a"):
            pass
    assert time.monotonic() - started < 5
    lock.close()
    other.close()


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import anyio
    from binance_mcp.stores.account_lease import open_sqlite_leases

    async def main() -> None:
        async with open_sqlite_leases(Path(sys.argv[1])).held("testnet:abc"):
            print("held", flush=True)
            time.sleep(60)

    anyio.run(main)
    """
)


async def test_a_killed_holder_never_leaves_the_lock_held(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        lock = open_sqlite_leases(tmp_path)
        with anyio.move_on_after(0.3) as waited:
            async with lock.held("testnet:abc"):
                pass
        assert waited.cancelled_caught  # held by the other process
        holder.kill()
        holder.wait()
        with anyio.fail_after(5):  # the kernel released it with the process
            async with lock.held("testnet:abc"):
                pass
        lock.close()
    finally:
        holder.kill()
        holder.wait()


async def test_leases_are_renewed_while_the_owner_lives(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from binance_mcp.stores.audit import AuditLog, AuditRecord
    from binance_mcp.stores.lease import keep_leases

    log = AuditLog(tmp_path / "audit.sqlite3", lease_s=0.6)
    other = AuditLog(tmp_path / "audit.sqlite3", owner="elsewhere/1/x")
    log.begin_pending(
        AuditRecord(
            network="testnet",
            base_url="x",
            tool="place_order",
            decision="allowed",
            outcome="pending",
            account="a",
        )
    )
    async with anyio.create_task_group() as group:
        group.start_soon(keep_leases, log)
        await anyio.sleep(1.5)  # more than twice the lease: only renewals keep it alive
        assert other.orphaned_pending("a", datetime.now(UTC)) == []
        group.cancel_scope.cancel()
    await anyio.sleep(0.8)
    assert len(other.orphaned_pending("a", datetime.now(UTC))) == 1  # the owner stopped renewing
    log.close()
    other.close()
