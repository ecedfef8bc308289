"""Exactly once when the store or the lock's holder fails in the middle of a call (issue #16).

Real processes throughout: `binance-mcp --transport http` subprocesses on a real PostgreSQL (or a
state dir), agents over streamable HTTP with `mcp.Client`, the test exchange over HTTP holding a
request in flight (`Hold`) for as long as a test needs. What each test reproduces:

- PostgreSQL stopped while a MARKET order is in flight, or the lock holder's database sessions
  ended (`pg_terminate_backend`): the order fills; the agent gets FILLED (not `policy_denied`
  because letting go of the lock failed), the pending audit record is completed and the budget's
  reservation settled once the database is back, and nothing is sent twice.
- A holder paused (SIGSTOP) past its lease: the other replica's order goes once the lease runs out
  (it is not blocked for the whole pause); the paused one's request, released by the exchange after
  its recvWindow (which ends with the lease), is refused by Binance, and its resend is refused by
  the fence: after SIGCONT nothing is placed twice. The same with SQLite: two stdio servers on one
  state dir, and two processes holding the lease directly.
- A call that waits longer than `--lock-wait` is refused `account_busy`, naming the holder.
- A token revoked while its calls wait for the lock, or after its call took the lock (while it is
  decided again): none of them is sent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest

from binance_mcp.stores import PostgresState
from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import FakeBinance, Hold
from tests.test_cli import run_cli
from tests.test_four_processes import server as stdio_server
from tests.test_http import connected
from tests.test_http_process import Server
from tests.test_replicas import start_replica

PRICE = "10000"
MARKET_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}  # 10 USDT
POLICY = {"version": "1", "default": "allow", "budgets": {"daily_notional": {"USDT": "1000"}}}


@pytest.fixture(scope="module")
def exchange() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake:
        fake.set_price("BTCUSDT", PRICE)
        fake.set_balance("USDT", "1000000")
        fake.set_balance("BTC", "100")
        yield fake


@pytest.fixture(scope="module")
def own_postgres() -> Iterator[Any]:
    """A PostgreSQL of this module's own: one test stops and starts it."""
    from tests.services import postgres_server

    with postgres_server() as server:
        yield server


class Servers:
    """Servers on one state (a PostgreSQL URL or a state dir); killed when the test ends."""

    def __init__(self, directory: Path, fake: FakeBinance) -> None:
        self.directory, self.fake = directory, fake
        self.started: list[Server] = []
        self.state: tuple[str, ...] = ()
        self.tokens: dict[str, str] = {}

    def on_postgres(self, url: str, agents: tuple[str, ...]) -> None:
        self.state = ("--state-url", url, "--state-dir", str(self.directory / "never-used"))
        with PostgresState(url) as state, state.tokens() as store:
            self.tokens = {name: store.add(name) for name in agents}

    def on_state_dir(self, agents: tuple[str, ...]) -> None:
        from binance_mcp.stores.tokens import TokenStore

        state_dir = self.directory / "state"
        state_dir.mkdir()
        self.state = ("--state-dir", str(state_dir))
        with TokenStore.in_state_dir(state_dir) as store:
            self.tokens = {name: store.add(name) for name in agents}

    def start(self, *flags: str, policy: dict[str, Any] = POLICY) -> Server:
        policy_file = str(write_policy(self.directory, policy))
        server = start_replica(
            (*self.state, "--base-url", self.fake.base_url, "--policy", policy_file, *flags), self.directory
        )
        self.started.append(server)
        if not server.ready.wait(30) or not server.url:  # type: ignore[attr-defined]
            raise AssertionError("a server did not start:\n" + "".join(server.stderr))
        return server

    def audit(self) -> list[dict[str, Any]]:
        done = run_cli("audit", "--json", *self.state)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]

    def close(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGCONT)
                server.process.kill()
                server.process.wait(10)


@pytest.fixture
def servers(tmp_path: Path, exchange: FakeBinance) -> Iterator[Servers]:
    exchange.faults.clear()
    exchange.rate_limiter.new_minute()
    launched = Servers(tmp_path, exchange)
    try:
        yield launched
    finally:
        launched.close()
        exchange.faults.clear()


def content(result: Any) -> dict[str, Any]:
    return dict(result.structured_content or {})


def placed(fake: FakeBinance, client_order_id: str) -> int:
    return sum(order.client_order_id == client_order_id for order in fake.orders)


def reservations(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute("SELECT state FROM reservations ORDER BY created_at")]


def call_record(cluster: Servers, client_order_id: str) -> dict[str, Any]:
    [record] = [r for r in cluster.audit() if r.get("client_order_id") == client_order_id]
    return record


async def eventually(check: Any, seconds: float) -> Any:
    """`check()` (run in a thread) until it returns something true, for at most `seconds`."""
    with anyio.fail_after(seconds):
        while True:
            found = await anyio.to_thread.run_sync(check)
            if found:
                return found
            await anyio.sleep(0.5)


@asynccontextmanager
async def two_agents(url_a: str, token_a: str, url_b: str, token_b: str) -> AsyncIterator[tuple[Any, Any]]:
    """Two agents' sessions over HTTP, each with the tools listed (the client reads their output
    schemas before anything is disturbed)."""
    async with connected(url_a, token_a) as a, connected(url_b, token_b) as b:
        await a.list_tools()
        await b.list_tools()
        yield a, b


async def order_while(
    cluster: Servers, server: Server, client_order_id: str, in_flight: Any, read_record: bool = True
) -> tuple[Any, dict[str, Any] | None]:
    """Place a MARKET order on `server` whose request the exchange holds while `in_flight()` runs
    (in a thread); returns the agent's result and the audit record of the call as it ended."""
    arrived, released = threading.Event(), threading.Event()
    cluster.fake.inject(Hold(arrived, released, at_most=60), method="POST", path="/api/v3/order")
    result: dict[str, Any] = {}
    async with connected(server.url, cluster.tokens["bot"]) as agent, anyio.create_task_group() as group:
        await agent.list_tools()  # the client's output schemas, read before the store is disturbed

        async def place() -> None:
            result["r"] = await agent.call_tool(
                "place_order", MARKET_BUY | {"client_order_id": client_order_id}
            )

        group.start_soon(place)
        await anyio.to_thread.run_sync(arrived.wait, 30)
        await anyio.to_thread.run_sync(in_flight)
        released.set()
    return result["r"], call_record(cluster, client_order_id) if read_record else None


def assert_filled_once_and_repaired(cluster: Servers, result: Any, client_order_id: str, url: str) -> None:
    answer = content(result)
    assert not result.is_error, answer
    assert answer["status"] == "FILLED" and placed(cluster.fake, client_order_id) == 1

    def completed() -> dict[str, Any] | None:
        record = call_record(cluster, client_order_id)
        return record if record["outcome"] != "pending" and "reserved" not in reservations(url) else None

    record = anyio.run(eventually, completed, 60)  # the background repair runs every 10 s
    [order] = [o for o in cluster.fake.orders if o.client_order_id == client_order_id]
    assert record["outcome"] == "ok" and record["order_id"] == order.order_id
    assert reservations(url) == ["kept"]
    assert placed(cluster.fake, client_order_id) == 1


def test_the_lock_holders_sessions_ended_mid_order_the_agent_gets_filled(
    servers: Servers, postgres: Any
) -> None:
    url = postgres.new_database()
    servers.on_postgres(url, ("bot",))
    server = servers.start()

    def end_every_session() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )

    result, _ = anyio.run(order_while, servers, server, "ended-1", end_every_session)
    print(f"sessions ended mid-order: the agent got {result.content[0].text[:120]}")
    assert_filled_once_and_repaired(servers, result, "ended-1", url)


def test_postgres_down_while_an_order_is_in_flight_the_agent_gets_filled(
    servers: Servers, own_postgres: Any
) -> None:
    url = own_postgres.new_database()
    servers.on_postgres(url, ("bot",))
    server = servers.start()
    try:  # the exchange answers (FILLED) while PostgreSQL is down; it starts again only after
        result, _ = anyio.run(order_while, servers, server, "down-1", own_postgres.stop, False)
        owed = anyio.run(eventually, lambda: "outcome of audit record" in "".join(server.stderr), 60)
    finally:
        own_postgres.start()
    assert owed  # the call's outcome could not be written while the database was down
    print(f"PostgreSQL down mid-order: the agent got {result.content[0].text[:120]}")
    assert_filled_once_and_repaired(servers, result, "down-1", url)


def test_a_paused_holder_loses_the_lock_and_its_late_send_is_refused(servers: Servers, postgres: Any) -> None:
    url = postgres.new_database()
    servers.on_postgres(url, ("bot",))
    lease = ("--lock-lease", "2", "--lock-wait", "20")
    a, b = servers.start(*lease), servers.start(*lease)
    arrived, released = threading.Event(), threading.Event()
    servers.fake.inject(Hold(arrived, released, at_most=60), method="POST", path="/api/v3/order")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with (
            two_agents(a.url, servers.tokens["bot"], b.url, servers.tokens["bot"]) as (on_a, on_b),
            anyio.create_task_group() as group,
        ):

            async def stalled() -> None:
                seen["a"] = await on_a.call_tool("place_order", MARKET_BUY | {"client_order_id": "stalled-a"})

            group.start_soon(stalled)
            await anyio.to_thread.run_sync(arrived.wait, 30)  # A holds the lock, its order on the wire
            paused_at = time.monotonic()
            a.process.send_signal(signal.SIGSTOP)
            with anyio.fail_after(30):  # not for the whole pause: once A's 2 s lease has run out
                seen["b"] = await on_b.call_tool("place_order", MARKET_BUY | {"client_order_id": "next-b"})
            # A's request reaches the exchange now, later than its recvWindow (the lease) allows
            await anyio.sleep(max(0.0, paused_at + 3 - time.monotonic()))
            released.set()
            await anyio.sleep(0.5)
            a.process.send_signal(signal.SIGCONT)

    anyio.run(scenario)
    answer_a, answer_b = content(seen["a"]), content(seen["b"])
    print(
        f"A paused past its lease: B got {seen['b'].content[0].text[:90]}; A got {seen['a'].content[0].text}"
    )
    assert not seen["b"].is_error and answer_b["status"] == "FILLED"
    assert (
        seen["a"].is_error
        and answer_a["error"] == "account_busy"
        and "nothing was sent" in answer_a["reason"]
    )
    assert placed(servers.fake, "stalled-a") == 0 and placed(servers.fake, "next-b") == 1
    [late] = [r for r in servers.fake.requests if r.params.get("newClientOrderId") == "stalled-a"]
    assert isinstance(late.response, dict) and late.response.get("code") == -1021  # Binance refused it
    assert int(late.params["recvWindow"]) <= 2000  # it lived no longer than A's lease
    record = call_record(servers, "stalled-a")
    assert record["outcome"] == "refused" and record["decision"] == "allowed"


_SQLITE_HOLDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import anyio
    from binance_mcp.stores.account_lease import LeaseLost, open_sqlite_leases

    async def main() -> None:
        lock = open_sqlite_leases(Path(sys.argv[1]), lease_s=1.0)
        async with lock.held("testnet:abc") as lease:
            print("held", lease.generation, flush=True)
            sys.stdin.readline()  # paused meanwhile; told to go on after SIGCONT
            try:
                await lock.fence(lease)
            except LeaseLost as lost:
                print("fenced out:", lost.holder, flush=True)
            else:
                print("still held", flush=True)

    anyio.run(main)
    """
)


def test_sqlite_a_paused_holder_loses_the_lock_and_the_fence_refuses_it(tmp_path: Path) -> None:
    from binance_mcp.stores.account_lease import open_sqlite_leases

    holder = subprocess.Popen(
        [sys.executable, "-c", _SQLITE_HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        first = holder.stdout.readline().split()
        assert first[0] == "held", holder.stderr.read() if holder.stderr else ""
        holder.send_signal(signal.SIGSTOP)
        lock = open_sqlite_leases(tmp_path, lease_s=1.0)

        async def take() -> int:
            with anyio.fail_after(20):  # once the paused holder's 1 s lease has run out
                async with lock.held("testnet:abc", wait_s=15) as lease:
                    return lease.generation

        generation = anyio.run(take)
        holder.send_signal(signal.SIGCONT)
        holder.stdin.write("go\n")
        holder.stdin.flush()
        said = holder.stdout.readline().strip()
        print(
            f"SQLite: paused holder had generation {first[1]}; the next took {generation}; the first then: {said}"
        )
        assert generation > int(first[1])
        assert said.startswith("fenced out")
        lock.close()
    finally:
        holder.send_signal(signal.SIGCONT)
        holder.kill()
        holder.wait(10)


def test_a_busy_account_is_refused_after_the_lock_wait_naming_the_holder(servers: Servers) -> None:
    servers.on_state_dir(("bot",))
    server = servers.start("--lock-wait", "1")
    arrived, released = threading.Event(), threading.Event()
    servers.fake.inject(Hold(arrived, released, at_most=60), method="POST", path="/api/v3/order")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with connected(server.url, servers.tokens["bot"]) as agent, anyio.create_task_group() as group:
            await agent.list_tools()

            async def first() -> None:
                seen["first"] = await agent.call_tool(
                    "place_order", MARKET_BUY | {"client_order_id": "first"}
                )

            group.start_soon(first)
            await anyio.to_thread.run_sync(arrived.wait, 30)
            seen["second"] = await agent.call_tool("place_order", MARKET_BUY | {"client_order_id": "second"})
            released.set()

    anyio.run(scenario)
    busy = content(seen["second"])
    print(f"busy: {seen['second'].content[0].text}")
    assert not seen["first"].is_error
    assert busy["error"] == "account_busy" and busy["retry_after_s"] >= 1
    assert str(server.process.pid) in busy["holder"] and "nothing was sent" in busy["reason"].lower()
    assert placed(servers.fake, "second") == 0 and placed(servers.fake, "first") == 1


def test_a_token_revoked_while_its_calls_wait_for_the_lock_sends_nothing(servers: Servers) -> None:
    servers.on_state_dir(("bot", "bot2"))
    server = servers.start()
    arrived, released = threading.Event(), threading.Event()
    servers.fake.inject(Hold(arrived, released, at_most=60), method="POST", path="/api/v3/order")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with (
            two_agents(server.url, servers.tokens["bot"], server.url, servers.tokens["bot2"]) as (bot, bot2),
            anyio.create_task_group() as group,
        ):

            async def holder() -> None:
                seen["bot"] = await bot.call_tool("place_order", MARKET_BUY | {"client_order_id": "holder"})

            async def queued(n: int) -> None:
                arguments = MARKET_BUY | {"client_order_id": f"bot2-{n}"}
                seen[f"bot2-{n}"] = await bot2.call_tool("place_order", arguments)

            group.start_soon(holder)
            await anyio.to_thread.run_sync(arrived.wait, 30)
            for n in range(3):
                group.start_soon(queued, n)
            await anyio.sleep(1)  # screened, and waiting for the lock bot holds
            revoked = await anyio.to_thread.run_sync(
                lambda: run_cli("tokens", "revoke", "bot2", *servers.state)
            )
            assert revoked.returncode == 0, revoked.stderr
            released.set()

    anyio.run(scenario)
    print({name: result.content[0].text[:100] for name, result in seen.items()})
    assert not seen["bot"].is_error
    for n in range(3):
        refusal = content(seen[f"bot2-{n}"])
        assert refusal["error"] == "policy_denied" and "revoked" in refusal["reason"]
        assert placed(servers.fake, f"bot2-{n}") == 0


def while_the_second_call_decides_again(
    servers: Servers, server: Server, second_id: str, meanwhile: Callable[[], None]
) -> dict[str, Any]:
    """bot's order is held by the exchange; bot2's, screened meanwhile, waits for the lock, then
    holds it and decides again, its price read held by the exchange while `meanwhile()` runs (in a
    thread). Returns both results ("bot", "bot2")."""
    order_in, order_go = threading.Event(), threading.Event()
    price_in, price_go = threading.Event(), threading.Event()
    servers.fake.inject(Hold(order_in, order_go, at_most=60), method="POST", path="/api/v3/order")
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with (
            two_agents(server.url, servers.tokens["bot"], server.url, servers.tokens["bot2"]) as (bot, bot2),
            anyio.create_task_group() as group,
        ):

            async def first() -> None:
                arguments = MARKET_BUY | {"client_order_id": f"first-{second_id}"}
                seen["bot"] = await bot.call_tool("place_order", arguments)

            async def late() -> None:  # screened while bot's order is in flight: decided again
                seen["bot2"] = await bot2.call_tool(
                    "place_order", MARKET_BUY | {"client_order_id": second_id}
                )

            group.start_soon(first)
            await anyio.to_thread.run_sync(order_in.wait, 30)
            group.start_soon(late)
            await anyio.sleep(1)  # screened, and waiting for the lock
            servers.fake.inject(
                Hold(price_in, price_go, at_most=60), method="GET", path="/api/v3/ticker/price"
            )
            order_go.set()
            assert await anyio.to_thread.run_sync(price_in.wait, 30)  # bot2 holds the lock, deciding again
            await anyio.to_thread.run_sync(meanwhile)
            price_go.set()

    anyio.run(scenario)
    return seen


def test_a_token_revoked_after_its_call_took_the_lock_sends_nothing(servers: Servers) -> None:
    """The token is looked up again at the send itself, not only when the lock is taken: bot2's
    call holds the lock and is deciding again (the price it reads is held by the exchange) when
    its token is revoked."""
    servers.on_state_dir(("bot", "bot2"))
    server = servers.start()

    def revoke() -> None:
        revoked = run_cli("tokens", "revoke", "bot2", *servers.state)
        assert revoked.returncode == 0, revoked.stderr

    seen = while_the_second_call_decides_again(servers, server, "bot2-late", revoke)
    print(f"revoked under the lock: {seen['bot2'].content[0].text}")
    refusal = content(seen["bot2"])
    assert not seen["bot"].is_error
    assert refusal["error"] == "policy_denied" and "revoked" in refusal["reason"]
    assert placed(servers.fake, "bot2-late") == 0


def stdio_pids(directory: Path) -> list[int]:
    """The `binance-mcp` stdio processes serving `directory`'s state, oldest first."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"binance-mcp" in arg for arg in argv[:2]) and str(directory / "state").encode() in argv:
            found.append(int(entry.name))
    return sorted(found)


def test_sqlite_stdio_a_paused_server_loses_the_lock_and_its_late_send_is_refused(
    tmp_path: Path, exchange: FakeBinance
) -> None:
    from mcp import Client
    from mcp.client.stdio import stdio_client

    exchange.faults.clear()
    exchange.rate_limiter.new_minute()
    params = stdio_server(tmp_path, exchange, POLICY, "--lock-lease", "2", "--lock-wait", "20")
    arrived, released = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with (
            Client(stdio_client(params), mode="legacy") as on_a,
            anyio.create_task_group() as group,
        ):
            await on_a.call_tool("get_limits", {})  # A is up, its stores open
            [a_pid] = stdio_pids(tmp_path)
            async with Client(stdio_client(params), mode="legacy") as on_b:
                await on_b.call_tool("get_limits", {})
                exchange.inject(Hold(arrived, released, at_most=60), method="POST", path="/api/v3/order")

                async def stalled() -> None:
                    seen["a"] = await on_a.call_tool(
                        "place_order", MARKET_BUY | {"client_order_id": "sq-stalled"}
                    )

                group.start_soon(stalled)
                await anyio.to_thread.run_sync(arrived.wait, 30)
                paused_at = time.monotonic()
                os.kill(a_pid, signal.SIGSTOP)
                try:
                    with anyio.fail_after(30):
                        seen["b"] = await on_b.call_tool(
                            "place_order", MARKET_BUY | {"client_order_id": "sq-next"}
                        )
                    await anyio.sleep(max(0.0, paused_at + 3 - time.monotonic()))
                    released.set()
                    await anyio.sleep(0.5)
                finally:
                    os.kill(a_pid, signal.SIGCONT)

    try:
        anyio.run(scenario)
    finally:
        released.set()
        exchange.faults.clear()
    answer_a = content(seen["a"])
    print(
        f"SQLite stdio, A paused past its lease: B {seen['b'].content[0].text[:60]}; A {seen['a'].content[0].text}"
    )
    assert not seen["b"].is_error and content(seen["b"])["status"] == "FILLED"
    assert seen["a"].is_error and answer_a["error"] == "account_busy"
    assert placed(exchange, "sq-stalled") == 0 and placed(exchange, "sq-next") == 1


def test_a_send_window_ends_with_the_lease_even_when_this_clock_runs_ahead_of_binances(
    servers: Servers,
) -> None:
    """Binance takes a timestamp up to 1 s ahead of its own clock (rest-api.md, "Timing security")
    without -1021, so a server whose clock runs ahead never resyncs; its request is then accepted
    for up to 1 s longer than its recvWindow says. That must still end before the lease does."""
    import sqlite3

    servers.on_state_dir(("bot",))
    server = servers.start()  # the default 30 s lease: no renewal while the order is held
    arrived, released = threading.Event(), threading.Event()
    servers.fake.inject(Hold(arrived, released, at_most=60), method="POST", path="/api/v3/order")
    ahead_ms = 900  # this machine's clock ahead of Binance's, within Binance's tolerance
    servers.fake.server_time_offset_ms = -ahead_ms
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        async with connected(server.url, servers.tokens["bot"]) as agent, anyio.create_task_group() as group:
            await agent.list_tools()

            async def place() -> None:
                seen["r"] = await agent.call_tool("place_order", MARKET_BUY | {"client_order_id": "ahead-1"})

            group.start_soon(place)
            await anyio.to_thread.run_sync(arrived.wait, 30)
            with sqlite3.connect(Path(servers.state[1]) / "locks.sqlite3") as conn:
                [(expires_at,)] = conn.execute("SELECT expires_at FROM account_leases").fetchall()
            seen["lease_ends_ms"] = expires_at * 1000
            released.set()

    try:
        anyio.run(scenario)
    finally:
        servers.fake.server_time_offset_ms = 0
    [sent] = [r for r in servers.fake.requests if r.params.get("newClientOrderId") == "ahead-1"]
    assert not seen["r"].is_error and content(seen["r"])["status"] == "FILLED"
    # the last moment Binance accepts it, on this machine's clock: its timestamp (this clock) plus
    # its recvWindow on Binance's clock, which runs `ahead_ms` behind
    accepted_until_ms = int(sent.params["timestamp"]) + int(sent.params["recvWindow"]) + ahead_ms
    assert accepted_until_ms <= seen["lease_ends_ms"], (
        accepted_until_ms - seen["lease_ends_ms"],
        sent.params,
    )


def test_a_token_store_that_fails_at_the_send_sends_nothing_and_says_so(servers: Servers) -> None:
    """The token is looked up again right before the send; when that look-up fails (the store is
    broken, not merely the token revoked), nothing is sent and the agent is told exactly that: not
    "the outcome is unknown", and the budget's reservation is given back."""
    import sqlite3

    servers.on_state_dir(("bot", "bot2"))
    server = servers.start()
    state_dir = Path(servers.state[1])

    def break_the_token_store() -> None:
        with sqlite3.connect(state_dir / "tokens.sqlite3") as conn:
            conn.execute("DROP TABLE tokens")

    seen = while_the_second_call_decides_again(servers, server, "bot2-broken", break_the_token_store)
    print(f"token store broken under the lock: {seen['bot2'].content[0].text}")
    refusal = content(seen["bot2"])
    assert not seen["bot"].is_error
    assert placed(servers.fake, "bot2-broken") == 0
    assert seen["bot2"].is_error and "nothing was sent" in refusal["reason"], refusal
    assert "unknown" not in refusal["reason"], refusal
    record = call_record(servers, "bot2-broken")
    assert record["outcome"] != "unknown", record
    with sqlite3.connect(state_dir / "budgets.sqlite3") as conn:
        states = [row[0] for row in conn.execute("SELECT state FROM reservations ORDER BY created_at")]
    assert states == ["kept", "released"], states
