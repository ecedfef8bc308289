"""Shared-state outages, named: PostgreSQL and Redis going away and coming back, for real.

Each test runs a PostgreSQL or Redis server of its own (started as tests/services.py starts them)
so that it can stop, restart or cut it without touching the servers other tests share:

- Redis unreachable: a rate-limited call and `get_limits` are refused as `store_unavailable`
  naming redis, with `retry_after`, and nothing reaches the exchange;
- PostgreSQL restarted between calls: the pooled connections it left dead are replaced, so the
  next calls succeed and each has its audit record;
- Redis restarted without persistence inside a window of a `global` limit of 3: the counts are
  rebuilt from the audit log, so no fourth order passes in that window;
- `binance-mcp doctor` (the entry point, as a subprocess) checks each backend it is given.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from binance_mcp.config import build_config
from binance_mcp.server import App, build_app
from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import FakeBinance
from tests.services import PostgresServer, free_port, postgres_server, unavailable, wait_for_port

pytestmark = pytest.mark.anyio

LIMIT_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "9000"}
GLOBAL_THREE = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "rate_limit": {"max": 3, "window": 600, "scope": "global"}}},
}


@dataclass
class OwnRedis:
    """A redis-server without persistence on a port of its own, that a test may stop and start
    again on the same port (a restart: every key gone, a new run_id)."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            unavailable("Redis", "redis-server")
        argv = [
            str(binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        self.process = subprocess.Popen(
            [*argv, "--dir", str(self.directory)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    server = OwnRedis(free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


def pg_ctl(server: PostgresServer, action: str) -> None:
    """`pg_ctl restart|stop|start` on the server (`-m fast`: every connection it had is gone after
    a restart or a stop), started again with the options tests/services.py starts it with."""
    import psycopg

    data = PG_DATA.get(server.port)
    if data is None:
        with psycopg.connect(server.url(), autocommit=True) as conn:
            found = conn.execute("SHOW data_directory").fetchone()
        data = PG_DATA[server.port] = Path(str(found[0] if found else ""))
    binary = Path(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1])
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = data.parent
    options = f"-p {server.port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    argv = [*prefix, str(binary), "-D", str(data), "-m", "fast", "-l", str(base / "log"), "-w", action]
    if action == "start":
        argv += ["-o", options]
    subprocess.run(argv, check=True, capture_output=True, cwd=base)
    if action != "stop":
        wait_for_port(server.port)


PG_DATA: dict[int, Path] = {}
"""Each server's data directory, asked once (a stopped server cannot be asked)."""


def server_on(
    tmp_path: Path,
    fake: FakeBinance,
    policy: dict[str, Any],
    *,
    state_url: str | None = None,
    rate_url: str | None = None,
) -> App:
    config = build_config(
        network_flag="testnet",
        base_url_flag=fake.base_url,
        policy_flag=str(write_policy(tmp_path, policy)),
        state_dir_flag=str(tmp_path / "state"),
        state_url_flag=state_url,
        rate_limit_url_flag=rate_url,
        env={"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET},
    )
    return build_app(config)


def orders_sent(fake: FakeBinance) -> list[Any]:
    return [r for r in fake.requests if r.method == "POST" and r.path == "/api/v3/order"]


def assert_store_unavailable(result: Any, store: str, *, secret: str | None = None) -> None:
    assert result.is_error, result
    found = result.structured_content
    assert found["error"] == "store_unavailable", found
    assert found["store"] == store
    assert found["retry_after_s"] > 0
    assert "nothing was sent" in found["reason"]
    assert "guard failed" not in found["reason"] and "inside the server" not in found["reason"]
    if secret is not None:
        assert secret not in found["reason"] and secret not in result.content[0].text


# --------------------------------------------------------------------------- Redis unreachable


async def test_an_unreachable_redis_refuses_as_store_unavailable_naming_it(
    tmp_path: Path, fake: FakeBinance, own_redis: OwnRedis
) -> None:
    fake.set_price("BTCUSDT", "10000")
    app = server_on(tmp_path, fake, GLOBAL_THREE, rate_url=f"redis://:hunter2@127.0.0.1:{own_redis.port}/0")
    try:
        async with Client(app.server) as client:
            placed = await client.call_tool("place_order", LIMIT_BUY)
            assert not placed.is_error, placed
            own_redis.stop()  # Redis goes away
            sent = len(orders_sent(fake))

            refused = await client.call_tool("place_order", LIMIT_BUY)
            assert_store_unavailable(refused, "redis", secret="hunter2")
            assert "Redis cannot be reached" in refused.structured_content["reason"]
            assert len(orders_sent(fake)) == sent  # nothing was sent

            limits = await client.call_tool("get_limits", {})
            assert_store_unavailable(limits, "redis", secret="hunter2")

            price = await client.call_tool("get_price", {"symbol": "BTCUSDT"})  # no limit: unaffected
            assert not price.is_error, price

            own_redis.start()  # and comes back: the calls go through again
            placed = await client.call_tool("place_order", LIMIT_BUY)
            assert not placed.is_error, placed
        records = [r for r in app.guard.audit.query(tool="place_order") if r.decision == "undecided"]
        assert [r.outcome for r in records] == ["refused"]
        assert "Redis cannot be reached" in (records[0].reason or "")
    finally:
        app.close()


# --------------------------------------------------------------------------- PostgreSQL restart


async def test_calls_after_a_postgresql_restart_succeed_each_with_its_audit_record(
    tmp_path: Path, fake: FakeBinance, own_postgres: PostgresServer
) -> None:
    fake.set_price("BTCUSDT", "10000")
    state_url = own_postgres.new_database()
    policy = {
        "version": "1",
        "default": "allow",
        "budgets": {"daily_notional": {"USDT": "1000"}},
        "rules": {"place_order": {"action": "allow", "rate_limit": {"max": 50, "window": 60}}},
    }
    app = server_on(tmp_path, fake, policy, state_url=state_url)
    try:
        async with Client(app.server) as client:
            before = [
                await client.call_tool("get_24hr_ticker", {"symbol": "BTCUSDT"}),
                await client.call_tool("place_order", LIMIT_BUY),
            ]
            assert not any(result.is_error for result in before), before
            pg_ctl(own_postgres, "restart")  # every pooled connection is now dead
            after = [  # the reads, the checks of the pooled stores, and an order (its lock's pool too)
                await client.call_tool("place_order", LIMIT_BUY),
                await client.call_tool("get_24hr_ticker", {"symbol": "BTCUSDT"}),
                await client.call_tool("get_account_info", {}),
                await client.call_tool("get_limits", {}),
                await client.call_tool("get_open_orders", {"symbol": "BTCUSDT"}),
                await client.call_tool("get_order_preview", {"tool": "place_order", "arguments": LIMIT_BUY}),
            ]
            for result in after:
                assert not result.is_error, result.content[0].text
        records = app.guard.audit.query()
        tools = [(r.tool, r.outcome) for r in records if r.decision != "event"]
        assert tools == [
            ("get_24hr_ticker", "ok"),
            ("place_order", "ok"),
            ("place_order", "ok"),
            ("get_24hr_ticker", "ok"),
            ("get_account_info", "ok"),
            ("get_limits", "ok"),
            ("get_open_orders", "ok"),
            ("get_order_preview", "ok"),
        ]
        assert app.guard.services.audit.outage is None
        assert len(orders_sent(fake)) == 2
    finally:
        app.close()


def audit_calls(state_url: str) -> list[dict[str, Any]]:
    """The calls on record, read through `binance-mcp audit --json`."""
    done = subprocess.run(
        [BINANCE_MCP, "audit", "--json", "--state-url", state_url], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


async def test_an_http_replica_serves_its_agent_after_a_postgresql_restart(
    tmp_path: Path, fake: FakeBinance, own_postgres: PostgresServer
) -> None:
    """The issue's reproduction: a `binance-mcp --transport http` process on PostgreSQL, its agent
    known by a token there; PostgreSQL restarts between calls. The token is checked, each call
    answered and recorded, on the first try (no `guard failed`, no audit write lost)."""
    from binance_mcp.stores import PostgresState
    from tests.test_http import connected
    from tests.test_replicas import start_replica

    fake.set_price("BTCUSDT", "10000")
    state_url = own_postgres.new_database()
    with PostgresState(state_url) as state, state.tokens() as store:
        token = store.add("bot")
    policy = write_policy(tmp_path, {"version": "1", "default": "allow"})
    flags = ("--state-url", state_url, "--base-url", fake.base_url, "--policy", str(policy))
    server = start_replica((*flags, "--state-dir", str(tmp_path / "never-used")), tmp_path)
    try:
        assert server.ready.wait(30) and server.url, "".join(server.stderr)  # type: ignore[attr-defined]
        async with connected(server.url, token) as client:
            assert not (await client.call_tool("get_24hr_ticker", {"symbol": "BTCUSDT"})).is_error
        with anyio.fail_after(30):  # its record is written behind the answer: wait for it first
            while not audit_calls(state_url):
                await anyio.sleep(0.1)
        pg_ctl(own_postgres, "restart")
        for tool, arguments in (
            ("get_24hr_ticker", {"symbol": "BTCUSDT"}),
            ("get_price", {"symbol": "BTCUSDT"}),
            ("get_account_info", {}),
        ):
            async with connected(server.url, token) as client:  # a new connection: its token checked again
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result.content[0].text
    finally:
        server.process.terminate()
        server.process.wait(15)
    calls = audit_calls(state_url)
    assert [(c["tool"], c["client"], c["outcome"]) for c in calls] == [
        ("get_24hr_ticker", "bot", "ok"),
        ("get_24hr_ticker", "bot", "ok"),
        ("get_price", "bot", "ok"),
        ("get_account_info", "bot", "ok"),
    ]
    assert not any("audit log write failed" in line for line in server.stderr), "".join(server.stderr)


async def test_an_unreachable_postgresql_refuses_as_store_unavailable_naming_it(
    tmp_path: Path, fake: FakeBinance, own_postgres: PostgresServer
) -> None:
    fake.set_price("BTCUSDT", "10000")
    policy = {
        "version": "1",
        "default": "allow",
        "rules": {"place_order": {"action": "allow", "rate_limit": {"max": 5, "window": 60}}},
    }
    app = server_on(tmp_path, fake, policy, state_url=own_postgres.new_database())
    try:
        async with Client(app.server) as client:
            assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
            app.guard.services.audit.flush()  # its record is written: the log is not out yet
            pg_ctl(own_postgres, "stop")  # PostgreSQL goes away
            try:
                refused = await client.call_tool("place_order", LIMIT_BUY)  # its rate-limit count is there
                assert_store_unavailable(refused, "postgresql")
                assert "PostgreSQL cannot be reached" in refused.structured_content["reason"]
                assert orders_sent(fake) == []
            finally:
                pg_ctl(own_postgres, "start")  # and comes back
            placed = await client.call_tool("place_order", LIMIT_BUY)
            assert not placed.is_error, placed.content[0].text
        assert len(orders_sent(fake)) == 1
        events = [r.tool for r in app.guard.audit.query(decision="event")]
        undecided = app.guard.audit.query(tool="place_order", decision="undecided")
        # the refusal's own record: written once PostgreSQL was back (the rate limit, checked first,
        # waited for its pool meanwhile), or it could not be, and the gap is said
        assert undecided or "audit_gap" in events
    finally:
        app.close()


async def test_calls_after_their_connections_were_cut_succeed(
    tmp_path: Path, fake: FakeBinance, postgres_url: str, own_redis: OwnRedis
) -> None:
    """`pg_terminate_backend` of every connection of the server's database, and `CLIENT KILL` of
    every client of its Redis, between calls: the next calls go through, each with its record."""
    import psycopg
    import redis

    fake.set_price("BTCUSDT", "10000")
    app = server_on(tmp_path, fake, GLOBAL_THREE, state_url=postgres_url, rate_url=own_redis.url)
    database = postgres_url.rsplit("/", 1)[1]
    try:
        async with Client(app.server) as client:
            for _ in range(2):
                assert not (await client.call_tool("get_limits", {})).is_error
                with psycopg.connect(postgres_url, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                        " WHERE datname = %s AND pid != pg_backend_pid()",
                        (database,),
                    )
                redis.Redis.from_url(own_redis.url).client_kill_filter(_type="normal", skipme=True)
            for tool, arguments in (("get_24hr_ticker", {"symbol": "BTCUSDT"}), ("get_limits", {})):
                result = await client.call_tool(tool, arguments)
                assert not result.is_error, result.content[0].text
        calls = [(r.tool, r.outcome) for r in app.guard.audit.query() if r.decision != "event"]
        assert calls == [("get_limits", "ok")] * 2 + [("get_24hr_ticker", "ok"), ("get_limits", "ok")]
    finally:
        app.close()


# --------------------------------------------------------------------------- Redis restart


async def test_a_redis_restart_inside_a_window_hands_out_no_fresh_allowance(
    tmp_path: Path, fake: FakeBinance, own_redis: OwnRedis
) -> None:
    fake.set_price("BTCUSDT", "10000")
    app = server_on(tmp_path, fake, GLOBAL_THREE, rate_url=own_redis.url)
    try:
        async with Client(app.server) as client:
            for _ in range(3):
                placed = await client.call_tool("place_order", LIMIT_BUY)
                assert not placed.is_error, placed
            fourth = await client.call_tool("place_order", LIMIT_BUY)
            assert fourth.structured_content["error"] == "rate_limited"

            own_redis.stop()  # no persistence: every count is gone with it
            own_redis.start()

            limits = await client.call_tool("get_limits", {})
            left = {entry["tool"]: entry["left"] for entry in limits.structured_content["rate_limits"]}
            assert left and set(left.values()) == {0}, left  # place_order's limit, and its tools
            again = [await client.call_tool("place_order", LIMIT_BUY) for _ in range(3)]
            assert [result.structured_content["error"] for result in again] == ["rate_limited"] * 3
            assert all(result.structured_content["retry_after_s"] > 500 for result in again)
        assert len(orders_sent(fake)) == 3
    finally:
        app.close()


async def test_two_servers_racing_after_a_redis_restart_rebuild_once_and_pass_nothing_more(
    tmp_path: Path, fake: FakeBinance, own_redis: OwnRedis, postgres_url: str
) -> None:
    """Two servers on one PostgreSQL and one Redis: two orders through each (a `global` limit of
    4), Redis restarted, then both race three more each: one rebuilds, the other waits for it,
    and not one more order passes."""
    fake.set_price("BTCUSDT", "10000")
    policy = GLOBAL_THREE | {
        "rules": {
            "place_order": {"action": "allow", "rate_limit": {"max": 4, "window": 600, "scope": "global"}}
        }
    }
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    apps = [
        server_on(tmp_path / name, fake, policy, state_url=postgres_url, rate_url=own_redis.url)
        for name in "ab"
    ]
    try:
        async with Client(apps[0].server) as a, Client(apps[1].server) as b:
            for client in (a, b, a, b):
                placed = await client.call_tool("place_order", LIMIT_BUY)
                assert not placed.is_error, placed.content[0].text
            own_redis.stop()
            own_redis.start()
            kinds: list[str] = []

            async def three(client: Client) -> None:
                for _ in range(3):
                    result = await client.call_tool("place_order", LIMIT_BUY)
                    kinds.append(result.structured_content.get("error", "ok") if result.is_error else "ok")

            async with anyio.create_task_group() as group:
                group.start_soon(three, a)
                group.start_soon(three, b)
        assert kinds == ["rate_limited"] * 6, kinds
        assert len(orders_sent(fake)) == 4
    finally:
        for app in apps:
            app.close()


@pytest.mark.parametrize(
    "alices",
    [
        {"action": "deny"},  # her rule sets no limit
        {"action": "allow", "constraints": {"max_notional": "1"}},  # refused: not counted globally
    ],
    ids=["denied", "over_max_notional"],
)
async def test_a_redis_restart_counts_no_agent_in_a_limit_it_was_never_counted_in(
    tmp_path: Path, fake: FakeBinance, own_redis: OwnRedis, alices: dict[str, Any]
) -> None:
    """place_order may be called 3 times a window by everyone together (`global`); alice's calls
    are all refused (denied, or over her `max_notional`). They were never counted in everyone's
    counter, so bob has 2 left after his one order. The rebuild from the audit log (a Redis
    restart, or the first call on an empty Redis) used to count her refused calls there, and bob
    was refused as rate-limited for what alice did."""
    from tests.test_http import connected, running

    fake.set_price("BTCUSDT", "10000")
    policy = GLOBAL_THREE | {"agents": {"alice": {"rules": {"place_order": alices}}}}
    async with running(tmp_path, fake, policy=policy, rate_url=own_redis.url) as server:
        async with connected(server.url, server.tokens["alice"]) as alice:
            denied = [await alice.call_tool("place_order", LIMIT_BUY) for _ in range(5)]
        assert [r.structured_content["error"] for r in denied] == ["policy_denied"] * 5
        async with connected(server.url, server.tokens["bob"]) as bob:
            assert not (await bob.call_tool("place_order", LIMIT_BUY)).is_error
            own_redis.stop()  # no persistence: every count is gone with it
            own_redis.start()
            again = [await bob.call_tool("place_order", LIMIT_BUY) for _ in range(3)]
    kinds = [r.structured_content.get("error", "ok") if r.is_error else "ok" for r in again]
    assert kinds == ["ok", "ok", "rate_limited"], kinds
    assert len(orders_sent(fake)) == 3


# --------------------------------------------------------------------------- doctor


def doctor(tmp_path: Path, fake: FakeBinance, *flags: str, policy: dict[str, Any] | None = None) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    env |= {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}
    policy_file = write_policy(Path(tempfile.mkdtemp(dir=tmp_path)), policy or GLOBAL_THREE)
    before, after = flags[:2], flags[2:]  # the first flag goes before `doctor`, as the server's own
    argv = [
        BINANCE_MCP,
        *before,
        "doctor",
        "--testnet",
        "--base-url",
        fake.base_url,
        "--policy",
        str(policy_file),
    ]
    return subprocess.run(
        [*argv, "--state-dir", str(tmp_path / "state"), *after],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
    )


def test_doctor_fails_an_unreachable_rate_limit_url(tmp_path: Path, fake: FakeBinance) -> None:
    url = f"redis://:hunter2@127.0.0.1:{free_port()}/0"  # nothing listens there
    done = doctor(tmp_path, fake, "--rate-limit-url", url)
    assert done.returncode == 1, done.stdout
    assert "hunter2" not in done.stdout + done.stderr
    assert f"FAIL  rate-limit store: Redis at redis://:***@127.0.0.1:{url.rsplit(':', 1)[1]}" in done.stdout
    assert "FAIL  shared rate limits: rules.place_order.rate_limit (global)" in done.stdout
    assert "no problems found" not in done.stdout


def test_doctor_writes_and_reads_back_on_each_backend_and_cleans_up(
    tmp_path: Path, fake: FakeBinance, own_redis: OwnRedis, postgres_url: str
) -> None:
    import psycopg
    import redis

    done = doctor(tmp_path, fake, "--rate-limit-url", own_redis.url, "--state-url", postgres_url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok    state: PostgreSQL at" in done.stdout and "a row written and read back" in done.stdout
    assert "ok    rate-limit store: Redis at" in done.stdout and "a key written and read back" in done.stdout
    assert (
        "ok    shared rate limits: rules.place_order.rate_limit (global) count calls in Redis" in done.stdout
    )
    assert done.stdout.splitlines()[-1] == "no problems found"
    assert redis.Redis.from_url(own_redis.url).keys("binance-mcp/doctor/*") == []
    with psycopg.connect(postgres_url) as conn:
        left = conn.execute("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'binance_mcp_doctor_%'")
        assert left.fetchone() == (0,)


def test_doctor_says_where_a_policys_shared_limits_are_counted(tmp_path: Path, fake: FakeBinance) -> None:
    done = doctor(tmp_path, fake)
    assert done.returncode == 0, done.stdout
    line = next(line for line in done.stdout.splitlines() if "shared rate limits" in line)
    assert line.startswith(
        "info  shared rate limits: rules.place_order.rate_limit (global) count calls in the state dir"
    )
    assert "replicas on other machines would each allow the whole limit" in line
    assert "--state-url postgresql://… or --rate-limit-url redis://…" in line

    stopped = f"postgresql://nobody:hunter2@127.0.0.1:{free_port()}/none"
    done = doctor(tmp_path, fake, "--state-url", stopped)
    assert done.returncode == 1
    assert "FAIL  state: cannot connect to PostgreSQL" in done.stdout and "hunter2" not in done.stdout
    assert (
        "FAIL  shared rate limits: rules.place_order.rate_limit (global) count calls in PostgreSQL"
        in done.stdout
    )


def test_a_password_given_as_a_url_parameter_or_a_conninfo_is_never_printed(
    tmp_path: Path, fake: FakeBinance
) -> None:
    """libpq takes the password in the URL's query too (`?password=`); a conninfo string (not a
    URL) is refused. Neither message may show the password."""
    port = free_port()  # nothing listens there
    done = doctor(
        tmp_path, fake, "--state-url", f"postgresql://127.0.0.1:{port}/db?user=bob&password=hunter2"
    )
    assert done.returncode == 1, done.stdout
    assert "FAIL  state: cannot connect to PostgreSQL at" in done.stdout
    assert "hunter2" not in done.stdout + done.stderr
    done = doctor(tmp_path, fake, "--state-url", f"host=127.0.0.1 port={port} password=hunter2")
    assert done.returncode == 2 and "is not a postgresql:// URL" in done.stderr
    assert "hunter2" not in done.stdout + done.stderr
    done = doctor(tmp_path, fake, "--rate-limit-url", f"redis://127.0.0.1:{port}/0?password=hunter2")
    assert done.returncode == 1, done.stdout
    assert "hunter2" not in done.stdout + done.stderr


async def test_a_redis_restart_while_counted_calls_are_in_flight_hands_out_no_fresh_allowance(
    tmp_path: Path, fake: FakeBinance, own_redis: OwnRedis
) -> None:
    """Three orders counted against a `global` limit of 3: the first held by the exchange (it holds
    the account lock), the two others waiting for the lock, none of them on record yet as ended.
    Redis restarts meanwhile: the counts rebuilt from the audit log must still count them."""
    import threading

    import redis

    from tests.fake_binance import Hold

    fake.set_price("BTCUSDT", "10000")
    app = server_on(tmp_path, fake, GLOBAL_THREE, rate_url=own_redis.url)
    arrived, released = threading.Event(), threading.Event()
    fake.inject(Hold(arrived, released, at_most=60), method="POST", path="/api/v3/order")
    kinds: list[str] = []

    def counted() -> int:
        client = redis.Redis.from_url(own_redis.url)
        return sum(int(client.llen(key)) for key in client.keys("*global:*:place_order*"))

    async def place(client: Client) -> None:
        result = await client.call_tool("place_order", LIMIT_BUY)
        kinds.append(result.structured_content.get("error", "ok") if result.is_error else "ok")

    try:
        async with Client(app.server) as client, anyio.create_task_group() as group:
            group.start_soon(place, client)
            await anyio.to_thread.run_sync(arrived.wait, 30)  # the first holds the lock
            group.start_soon(place, client)
            group.start_soon(place, client)
            with anyio.fail_after(30):  # both counted, both waiting for the lock
                while await anyio.to_thread.run_sync(counted) < 3:
                    await anyio.sleep(0.05)
            own_redis.stop()  # no persistence: every count is gone with it
            own_redis.start()
            fourth = await client.call_tool("place_order", LIMIT_BUY)  # over the limit, in flight or not
            released.set()
        assert fourth.is_error and fourth.structured_content["error"] == "rate_limited", fourth.content
        assert kinds == ["ok", "ok", "ok"], kinds
        assert len(orders_sent(fake)) == 3
    finally:
        released.set()
        app.close()
