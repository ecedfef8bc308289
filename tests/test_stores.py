"""The stores on both backends: SQLite in a state dir, and a real PostgreSQL server.

Every test here runs twice (`state` is parametrised): the same store code, the same assertions,
on `SqliteState` and on `PostgresState` (a fresh database on the session's PostgreSQL, started by
tests/services.py). Plus what only shared state can show: pending records' owners and leases,
the account lock across processes on PostgreSQL, and rate-limit counters in a real Redis.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import pytest

from binance_mcp.account import AccountKey
from binance_mcp.config import build_config
from binance_mcp.stores import PostgresState, SqliteState, open_state, open_stores
from binance_mcp.stores.audit import AuditRecord
from binance_mcp.stores.budgets import BudgetExceeded
from binance_mcp.stores.ratelimit import RateLimiter
from tests.command import BINANCE_MCP

ACCOUNT = str(AccountKey.of("testnet", "key-a"))
NOON = datetime(2026, 11, 25, 12, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteState | PostgresState]:
    if request.param == "sqlite":
        opened: SqliteState | PostgresState = open_state(None, tmp_path / "state")
    else:
        opened = open_state(request.getfixturevalue("postgres_url"), None)
    yield opened
    opened.close()


def pending_record(**fields: Any) -> AuditRecord:
    base: dict[str, Any] = {
        "network": "testnet",
        "base_url": "http://127.0.0.1:9",
        "tool": "place_order",
        "decision": "allowed",
        "outcome": "pending",
        "account": ACCOUNT,
        "client_order_id": "cid-1",
        "arguments": {"symbol": "BTCUSDT"},
    }
    return AuditRecord(**(base | fields))


def test_audit_round_trip_and_the_reused_client_order_id_is_found_by_account(state: Any) -> None:
    audit = state.audit(secrets=("s3cret",))
    pending = audit.begin_pending(pending_record(reason="with s3cret inside"))
    # the same account under another spelling of the REST root: one history
    found = audit.sent_with_client_order_id("cid-1", account=ACCOUNT)
    assert [r.id for r in found] == [pending]
    assert found[0].reason == "with [redacted] inside"
    assert audit.sent_with_client_order_id("cid-1", account=str(AccountKey.of("testnet", "key-b"))) == []
    audit.finish(pending, outcome="ok", order_id=4242)
    # the same write again (its commit landed, its answer was lost, it is retried): done already
    audit.finish(pending, outcome="ok", order_id=4242)
    with pytest.raises(ValueError, match="not pending"):
        audit.finish(pending, outcome="error")
    other = state.audit()
    other.owner = "another-host/1/2026-01-01T00:00:00.000Z"
    with pytest.raises(ValueError, match="not pending"):  # e.g. a second recovery elsewhere
        other.finish(pending, outcome="ok")
    other.close()
    with pytest.raises(KeyError):
        audit.finish(999_999, outcome="ok")
    [record] = audit.query(tool="place_order")  # one call, one outcome
    assert (record.outcome, record.order_id, record.account) == ("ok", 4242, ACCOUNT)
    assert audit.pending(account=ACCOUNT) == []
    audit.close()


def test_an_order_lists_leg_ids_are_found_as_used_on_every_backend(state: Any) -> None:
    audit = state.audit()
    listed = audit.begin_pending(
        pending_record(tool="place_order_list", client_order_id="list-1"),
        leg_client_order_ids=("leg-a", "leg-b"),
    )
    assert [r.id for r in audit.sent_with_client_order_id("leg-b", account=ACCOUNT)] == [listed]
    assert [r.id for r in audit.sent_with_client_order_id("list-1", account=ACCOUNT)] == [listed]
    assert audit.sent_with_client_order_id("leg-b", account=str(AccountKey.of("testnet", "key-b"))) == []
    assert audit.sent_with_client_order_id("leg-c", account=ACCOUNT) == []
    audit.close()


def test_recovery_takes_over_only_records_whose_owner_lease_ran_out(state: Any) -> None:
    alive = state.audit()
    alive.owner, alive.lease_s = "host-a/100/2026-11-25T10:00:00.000Z", 30
    dead = state.audit()
    dead.owner, dead.lease_s = "host-b/200/2026-11-25T10:00:00.000Z", 30
    recovering = state.audit()  # a third process, running recovery
    mine = alive.begin_pending(pending_record(client_order_id="a"))
    theirs = dead.begin_pending(pending_record(client_order_id="b"))
    now = datetime.now(UTC)
    assert recovering.orphaned_pending(ACCOUNT, now) == []  # both owners' leases still run
    later = now + timedelta(seconds=60)
    assert alive.renew_lease(later) == 1  # the live owner renews; the dead one cannot
    orphans = recovering.orphaned_pending(ACCOUNT, later + timedelta(seconds=1))
    assert [r.id for r in orphans] == [theirs]
    # a process never takes over its own records, even with its lease run out
    assert [r.id for r in dead.orphaned_pending(ACCOUNT, later + timedelta(days=1))] == [mine]
    assert {r.id for r in recovering.pending(account=ACCOUNT)} == {mine, theirs}
    for log in (alive, dead, recovering):
        log.close()


def test_budget_reservations_hold_exactly_across_threads(state: Any) -> None:
    stores = [state.budgets() for _ in range(4)]
    won: list[str] = []

    def reserve(store: Any) -> None:
        for _ in range(10):
            with contextlib.suppress(BudgetExceeded):
                won.append(store.reserve(account=ACCOUNT, asset="USDT", amount=Decimal("60"), limit=Decimal("1000"), now=NOON).id)  # fmt: skip

    threads = [threading.Thread(target=reserve, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 16
    assert stores[0].spent_today(ACCOUNT, "USDT", now=NOON) == Decimal("960")
    stores[1].release(won[0])
    assert stores[2].spent_today(ACCOUNT, "USDT", now=NOON) == Decimal("900")
    with pytest.raises(ValueError, match="already released"):
        stores[3].keep(won[0])
    for store in stores:
        store.close()


def test_a_newer_schema_is_refused(state: Any, tmp_path: Path) -> None:
    from binance_mcp.state_dir import StateError

    budgets = state.budgets()
    budgets.close()
    if isinstance(state, PostgresState):
        with state.pool.connection() as conn:
            conn.execute("UPDATE binance_mcp_schema SET version = 99 WHERE component = 'budgets'")
    else:
        import sqlite3

        with sqlite3.connect(state.state_dir / "budgets.sqlite3") as conn:
            conn.execute("PRAGMA user_version = 99")
    with pytest.raises(StateError, match="schema version 99"):
        state.budgets()


_PG_RACER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import anyio
    from binance_mcp.stores.account_lease import open_postgres_leases

    url, counter, go = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    lock = open_postgres_leases(url)

    async def bump() -> None:
        async with lock.held("testnet:abc"):
            value = int(counter.read_text())
            await anyio.sleep(0.01)
            counter.write_text(str(value + 1))

    async def main() -> None:
        print("ready", flush=True)
        while not go.exists():
            await anyio.sleep(0.005)
        async with anyio.create_task_group() as group:
            for _ in range(5):
                group.start_soon(bump)
        lock.close()

    anyio.run(main)
    """
)


def test_the_postgres_account_lock_serialises_four_processes(postgres_url: str, tmp_path: Path) -> None:
    counter, go = tmp_path / "counter", tmp_path / "go"
    counter.write_text("0")
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _PG_RACER, postgres_url, str(counter), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for racer in racers:
        assert racer.stdout is not None and racer.stdout.readline().strip() == "ready"
    go.touch()
    for racer in racers:
        _out, err = racer.communicate(timeout=60)
        assert racer.returncode == 0, err
    assert counter.read_text() == "20"  # a lost update would leave less


def test_redis_counters_are_shared_and_keep_their_count_when_the_bound_changes(redis: Any) -> None:
    first, second = RateLimiter(redis.url), RateLimiter(redis.url)
    key = f"global:*:rules.get_price.rate_limit:{datetime.now(UTC).timestamp()}"
    assert [first.hit(key, 10, 600), second.hit(key, 10, 600), first.hit(key, 10, 600)] == [None] * 3
    wait = second.hit(key, 3, 600)  # the policy now says 3: the 3 made count
    assert wait is not None and 590 < wait <= 600
    assert first.hit(key, 4, 600) is None


def test_open_stores_bundles_every_store_on_one_backend(
    tmp_path: Path, postgres_url: str, redis: Any
) -> None:
    config = build_config(
        network_flag="testnet",
        state_url_flag=postgres_url,
        rate_limit_url_flag=redis.url,
        env={"BINANCE_API_KEY": "k", "BINANCE_API_SECRET": "s"},
    )
    stores = open_stores(config)
    try:
        assert stores.state.describe().startswith("PostgreSQL at postgresql://")
        stores.audit.append(pending_record(outcome="ok"))
        assert len(stores.audit.query()) == 1

        async def locked() -> None:
            async with stores.account_lock.held(ACCOUNT):
                pass

        anyio.run(locked)
    finally:
        stores.close()


def test_postgres_state_without_redis_counts_agent_limits_once_for_every_replica(postgres_url: str) -> None:
    """Two replicas on one database: an agent's calls are counted in one place, never N times."""
    with PostgresState(postgres_url) as one, PostgresState(postgres_url) as two:
        first, second = RateLimiter(shared=one.rate_counters()), RateLimiter(shared=two.rate_counters())
        key = f"agent:alice:get_price:{datetime.now(UTC).timestamp()}"
        assert first.hit(key, 3, 600) is None
        assert second.hit(key, 3, 600) is None
        assert first.hit(key, 3, 600) is None
        assert second.hit(key, 3, 600) is not None
        assert first.left(key, 3, 600) == 0


def test_an_approval_given_once_lets_exactly_one_call_through_across_replicas(state: Any) -> None:
    replicas = [state.approvals() for _ in range(3)]
    call = {
        "tool": "place_order",
        "account": ACCOUNT,
        "agent": "bot",
        "arguments_key": '{"symbol":"BTCUSDT"}',
    }
    asked = replicas[0].request(**call, question="BUY 0.01 BTCUSDT — approve?")
    assert replicas[1].request(**call, question="BUY 0.01 BTCUSDT — approve?").id == asked.id  # one request
    replicas[2].approve(asked.id, by="cli:alice")
    taken: list[Any] = []

    def take(store: Any) -> None:
        taken.append(store.take(**call))

    threads = [threading.Thread(target=take, args=(store,)) for store in replicas for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [t.id for t in taken if t is not None] == [asked.id]
    # the same call for another account is another approval
    assert replicas[0].take(**(call | {"account": str(AccountKey.of("mainnet", "key-a"))})) is None
    nonce = replicas[0].new_nonce(**call)
    assert [replicas[1].spend_nonce(nonce, **call), replicas[2].spend_nonce(nonce, **call)] == [True, False]
    for store in replicas:
        store.close()


def test_a_revoked_token_ends_at_once_on_every_replica(state: Any) -> None:
    cli, first, second = state.tokens(), state.tokens(), state.tokens()
    token = cli.add("bot")
    assert first.agent_for(token) == "bot" and second.agent_for(token) == "bot"
    from binance_mcp.stores.tokens import TokenExists

    with pytest.raises(TokenExists):
        cli.add("bot")
    cli.revoke("bot")
    assert first.agent_for(token) is None and second.agent_for(token) is None
    for store in (cli, first, second):
        store.close()


def test_every_cli_subcommand_takes_the_same_state_url(postgres_url: str, tmp_path: Path) -> None:
    """Through the `binance-mcp` entry point: a token, an approval given once at the CLI against
    the URL and taken by a "replica", and the audit log, all in PostgreSQL; no state dir touched."""
    binary = BINANCE_MCP
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "BINANCE_MCP_STATE_DIR": str(tmp_path / "unused")}

    def cli(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [binary, *argv], capture_output=True, text=True, timeout=60, env=env, check=False
        )

    added = cli("tokens", "add", "bot", "--state-url", postgres_url)
    assert added.returncode == 0, added.stderr
    token = added.stdout.split()[-1]
    listed = cli("--state-url", postgres_url, "tokens", "list")
    assert listed.returncode == 0 and "bot" in listed.stdout and token not in listed.stdout

    replica = PostgresState(postgres_url)
    try:
        approvals, audit = replica.approvals(), replica.audit()
        call: dict[str, Any] = {
            "tool": "place_order",
            "account": ACCOUNT,
            "agent": "bot",
            "arguments_key": "{}",
        }
        asked = approvals.request(**call, question="BUY 0.01 BTCUSDT — approve?")
        waiting = cli("approvals", "list", "--state-url", postgres_url)
        assert waiting.returncode == 0 and asked.id in waiting.stdout
        approved = cli("approvals", "approve", asked.id, "--state-url", postgres_url)
        assert approved.returncode == 0, approved.stderr
        assert approvals.take(**call) is not None and approvals.take(**call) is None
        audit.append(pending_record(outcome="ok"))
        shown = cli("audit", "--json", "--state-url", postgres_url)
        assert shown.returncode == 0 and '"client_order_id": "cid-1"' in shown.stdout
        assert replica.tokens().agent_for(token) == "bot"
    finally:
        replica.close()
    assert not (tmp_path / "unused").exists()
    bad = cli("audit", "--state-url", "mysql://x/y")
    assert bad.returncode == 2 and "--state-url" in bad.stderr and "Traceback" not in bad.stderr


def test_a_cancelled_wait_for_the_postgres_lock_leaves_it_free(postgres_url: str) -> None:
    from binance_mcp.stores.account_lease import open_postgres_leases

    async def scenario() -> None:
        holder, waiter = open_postgres_leases(postgres_url), open_postgres_leases(postgres_url)
        async with holder.held("testnet:abc"):
            with anyio.move_on_after(0.3) as waited:
                async with waiter.held("testnet:abc"):
                    pass
            assert waited.cancelled_caught
        with anyio.fail_after(5):
            async with waiter.held("testnet:abc"), anyio.create_task_group():
                pass
        with anyio.fail_after(5):
            async with holder.held("testnet:abc"):
                pass
        holder.close()
        waiter.close()

    anyio.run(scenario)
