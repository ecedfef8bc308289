"""Two replicas on one PostgreSQL + Redis: every account-wide check holds exactly across both.

Two `binance-mcp --testnet --transport http` subprocesses share a real PostgreSQL (`--state-url`)
and a real Redis (`--rate-limit-url`), both started by tests/services.py, and trade on one test
exchange (tests/fake_binance, in this process). Agents connect to both with `mcp.Client` over
streamable HTTP; their calls are released together (anyio tasks waiting on one event), so the
two processes really race. Each check must hold exactly, not roughly: a daily budget, an approval
given once at the CLI against the URL, a reused client order id, `max_open_orders`, a `global`
rate limit, a revoked token; and crash recovery by the surviving replica completes the order of a
SIGKILLed one, but never touches the record of a live neighbour's order in flight.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from binance_mcp.stores import PostgresState
from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import Delay, FakeBinance
from tests.test_cli import run_cli
from tests.test_http import INITIALIZE, MCP_HEADERS, connected
from tests.test_http_process import SERVING, Server, server_env

PRICE = "10000"
MARKET_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}  # 10 USDT
RESTING_BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "9000"}
AGENTS = ("bot-0", "bot-1", "bot-2", "bot-3")


@dataclass
class Replicas:
    servers: list[Server]
    state_url: str
    tokens: dict[str, str]
    fake: FakeBinance

    def url(self, index: int) -> str:
        return self.servers[index % len(self.servers)].url

    def audit(self) -> list[dict[str, Any]]:
        done = run_cli("audit", "--json", "--state-url", self.state_url)
        assert done.returncode == 0, done.stderr
        return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.fixture(scope="module")
def exchange() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake:
        fake.set_price("BTCUSDT", PRICE)
        fake.set_balance("USDT", "1000000")
        fake.set_balance("BTC", "100")
        yield fake


def start_replica(flags: tuple[str, ...], cwd: Path) -> Server:
    """`binance-mcp --testnet --transport http` on a free port, not yet waited for."""
    process = subprocess.Popen(
        [BINANCE_MCP, "--testnet", "--transport", "http", "--port", "0", *flags],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(),
        cwd=cwd,
    )
    server = Server(process=process, url="")
    ready = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            server.stderr.append(line)
            if (match := SERVING.search(line)) and not server.url:
                server.url = match.group(1)
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    server.ready = ready  # type: ignore[attr-defined]
    return server


class Launcher:
    """Starts pairs of replicas on fresh databases of one PostgreSQL and a clean Redis database;
    kills what it started when closed."""

    def __init__(self, directory: Path, fake: FakeBinance, postgres: Any, redis: Any) -> None:
        self.directory, self.fake, self.postgres, self.redis = directory, fake, postgres, redis
        self.started: list[Server] = []

    def __call__(
        self, policy: dict[str, Any], agents: tuple[str, ...] = AGENTS, redis_db: int = 7
    ) -> Replicas:
        import redis as redis_client

        state_url = self.postgres.new_database()
        rate_url = self.redis.url.rsplit("/", 1)[0] + f"/{redis_db}"  # this module's own Redis database
        redis_client.Redis.from_url(rate_url).flushdb()
        with PostgresState(state_url) as state, state.tokens() as store:
            tokens = {name: store.add(name) for name in agents}
        policy_file = str(write_policy(self.directory, policy))
        flags = ("--state-url", state_url, "--rate-limit-url", rate_url, "--base-url", self.fake.base_url)
        flags += ("--state-dir", str(self.directory / "never-used"), "--policy", policy_file)
        servers = [start_replica(flags, self.directory) for _ in range(2)]
        self.started.extend(servers)
        for server in servers:
            if not server.ready.wait(30) or not server.url:  # type: ignore[attr-defined]
                raise AssertionError("a replica did not start:\n" + "".join(server.stderr))
        return Replicas(servers, state_url, tokens, self.fake)

    def close(self) -> None:
        for server in self.started:
            if server.process.poll() is None:
                server.process.kill()
                server.process.wait(10)


SHARED_POLICY = {
    "version": "1",
    "default": "allow",
    # the budget binds BTC-quoted orders only (BNBBTC), so the other checks' USDT orders leave it be
    "budgets": {"daily_notional": {"BTC": "0.045"}},
    "rules": {
        "place_order": {"action": "allow", "constraints": {"max_open_orders": 3}},
        "get_price": {"action": "allow", "rate_limit": {"max": 5, "window": 600, "scope": "global"}},
    },
    "agents": {"asker": {"rules": {"place_order": {"action": "require_approval"}}}},
}
# a LIMIT at the price: a bound of exactly 0.009 BTC (a MARKET order is an estimate, + the allowance)
BUDGET_BUY = {"symbol": "BNBBTC", "side": "BUY", "type": "LIMIT", "quantity": "1", "price": "0.009"}  # 5 fit


@pytest.fixture(autouse=True)
def fresh_weight_minute(exchange: FakeBinance) -> None:
    """Each check starts in a new request-weight minute: together the checks on one pair send more
    than Binance's 6000 weight a minute (every order counts the account's open orders, weight 80,
    for max_open_orders, the asker's too since agent rules layer over the top-level rules)."""
    exchange.rate_limiter.new_minute()


@pytest.fixture(scope="module")
def pair(
    tmp_path_factory: pytest.TempPathFactory, exchange: FakeBinance, postgres: Any, redis: Any
) -> Iterator[Replicas]:
    """One pair of replicas for the checks that do not disturb each other: each works on its own
    symbol, order type, tool or agent (see SHARED_POLICY)."""
    launcher = Launcher(tmp_path_factory.mktemp("pair"), exchange, postgres, redis)
    try:
        yield launcher(SHARED_POLICY, agents=(*AGENTS, "asker", "doomed", "bystander"))
    finally:
        launcher.close()


@pytest.fixture
def replicas(tmp_path: Path, exchange: FakeBinance, postgres: Any, redis: Any) -> Iterator[Launcher]:
    """A pair of its own for a test that kills a replica."""
    launcher = Launcher(tmp_path, exchange, postgres, redis)
    try:
        yield launcher
    finally:
        launcher.close()


def kind_of(result: Any) -> str:
    """`ok`, or the refusal's rule (or error kind) from the structured result."""
    if not result.is_error:
        return "ok"
    content = result.structured_content or {}
    return str(content.get("rule") or content.get("error") or result.content)


async def released_together(
    cluster: Replicas, calls: list[tuple[str, int, str, dict[str, Any]]]
) -> list[tuple[str, int, str]]:
    """Each call is (agent, replica index, tool, arguments); every agent connects to the replicas
    it uses first, then all calls start on one event. Returns (agent, replica, outcome) per call."""
    go = anyio.Event()
    outcomes: list[tuple[str, int, str]] = []
    sessions: dict[tuple[str, int], Any] = {}
    async with AsyncExitStack() as stack:
        for agent, index, _, _ in calls:
            if (agent, index) not in sessions:
                session = connected(cluster.url(index), cluster.tokens[agent])
                sessions[agent, index] = await stack.enter_async_context(session)
                await sessions[agent, index].list_tools()

        async def one(agent: str, index: int, tool: str, arguments: dict[str, Any]) -> None:
            await go.wait()
            result = await sessions[agent, index].call_tool(tool, arguments)
            outcomes.append((agent, index, kind_of(result)))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for call in calls:
                    group.start_soon(one, *call)
                await anyio.sleep(0.05)
                go.set()
    return outcomes


def spread(tool: str, arguments: dict[str, Any], each: int, agents: tuple[str, ...] = AGENTS) -> list[Any]:
    """`each` calls per agent, agent i on replica i % 2."""
    return [(agent, i % 2, tool, arguments) for i, agent in enumerate(agents) for _ in range(each)]


def tally(outcomes: list[tuple[str, int, str]]) -> dict[str, Counter[str]]:
    return {
        f"replica {index}": Counter(kind for _, i, kind in outcomes if i == index) for index in (0, 1)
    } | {"all": Counter(kind for *_, kind in outcomes)}


def orders_with(fake: FakeBinance, **fields: Any) -> list[Any]:
    return [o for o in fake.orders if all(getattr(o, k) == v for k, v in fields.items())]


def test_a_daily_budget_holds_exactly_across_both_replicas(pair: Replicas) -> None:
    outcomes = anyio.run(released_together, pair, spread("place_order", BUDGET_BUY, 3))
    figures = tally(outcomes)
    placed = orders_with(pair.fake, symbol="BNBBTC")
    print(
        f"budget 0.045 BTC, 12 orders of 0.009 BTC released together: {figures}; at the exchange: {len(placed)}"
    )
    assert figures["all"] == Counter({"ok": 5, "budgets.daily_notional.BTC": 7})
    assert len(placed) == 5


def test_an_approval_given_once_at_the_cli_lets_exactly_one_call_through(pair: Replicas) -> None:
    order = {"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.01"}

    async def ask() -> Any:
        async with connected(pair.url(0), pair.tokens["asker"]) as asker:
            return (await asker.call_tool("place_order", order)).structured_content

    asked = anyio.run(ask)
    assert asked["error"] == "approval_required", asked
    approved = run_cli("approvals", "approve", asked["approval_id"], "--state-url", pair.state_url)
    assert approved.returncode == 0, approved.stderr
    same_call = [("asker", i % 2, "place_order", order) for i in range(8)]
    outcomes = anyio.run(released_together, pair, same_call)
    figures = tally(outcomes)
    placed = orders_with(pair.fake, symbol="ETHUSDT")
    print(f"one approval, the identical call 4× on each replica at once: {figures}; orders: {len(placed)}")
    assert figures["all"] == Counter({"ok": 1, "agents.asker.rules.place_order": 7})  # approval_required
    assert len(placed) == 1


def test_either_replicas_approvals_page_shows_what_the_other_asked(pair: Replicas) -> None:
    """The page reads the shared database: an operator made at the CLI against the URL signs in on
    replica 1 and sees the request replica 0 made."""
    order = {"symbol": "ETHUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.01"}

    async def ask() -> Any:
        async with connected(pair.url(0), pair.tokens["asker"]) as asker:
            return (await asker.call_tool("place_order", order)).structured_content

    asked = anyio.run(ask)
    added = run_cli("tokens", "add", "anna", "--operator", "--state-url", pair.state_url)
    assert added.returncode == 0, added.stderr
    page = pair.url(1).removesuffix("/mcp") + "/approvals"
    answer = httpx2.get(page, headers={"authorization": f"Bearer {added.stdout.splitlines()[-1]}"})
    print(f"replica 1's approvals page for an operator made at the CLI: {answer.status_code}")
    assert answer.status_code == 200 and asked["approval_id"] in answer.text


def test_a_reused_client_order_id_places_exactly_one_order(pair: Replicas) -> None:
    same_id = MARKET_BUY | {"client_order_id": "replica-race-1"}
    outcomes = anyio.run(released_together, pair, spread("place_order", same_id, 2))
    figures = tally(outcomes)
    with_id = orders_with(pair.fake, client_order_id="replica-race-1")
    print(
        f"one client order id, 8 calls over both replicas at once: {figures}; orders with it: {len(with_id)}"
    )
    assert figures["all"] == Counter({"ok": 1, "invalid_arguments": 7})  # the rest: the id was used
    assert len(with_id) == 1


async def cancel_all_through(cluster: Replicas, symbol: str) -> None:
    async with connected(cluster.url(0), cluster.tokens[AGENTS[0]]) as session:
        result = await session.call_tool("cancel_all_orders", {"symbol": symbol})
    assert not result.is_error, result.content[0].text


def test_max_open_orders_is_never_exceeded(pair: Replicas) -> None:
    assert pair.fake.open_orders() == []
    try:
        outcomes = anyio.run(released_together, pair, spread("place_order", RESTING_BUY, 3))
        still_open = pair.fake.open_orders()
    finally:  # the other checks on this pair start with none open; cancelled through a replica, so
        # that both replicas' shared open-order counts are let go (an order cancelled outside the
        # server, on Binance's site, is seen once the count's 2 s have passed)
        anyio.run(cancel_all_through, pair, "BTCUSDT")
    figures = tally(outcomes)
    print(f"max_open_orders 3, 12 resting orders at once: {figures}; open at the exchange: {len(still_open)}")
    assert len(still_open) == 3
    assert figures["all"] == Counter({"ok": 3, "rules.place_order.constraints.max_open_orders": 9})


def test_a_global_rate_limit_passes_exactly_max_calls(pair: Replicas) -> None:
    outcomes = anyio.run(released_together, pair, spread("get_price", {"symbol": "BTCUSDT"}, 4))
    figures = tally(outcomes)
    print(f"global rate limit 5 per 600 s, 16 calls over both replicas at once: {figures}")
    assert figures["all"] == Counter({"ok": 5, "rules.get_price.rate_limit": 11})


def test_a_revoked_token_is_refused_by_both_replicas_at_once(pair: Replicas) -> None:
    async def knock(token: str) -> list[int]:
        codes: list[int] = []
        async with httpx2.AsyncClient(headers={"authorization": f"Bearer {token}"}) as http:

            async def one(index: int) -> None:
                answer = await http.post(pair.url(index), json=INITIALIZE, headers=MCP_HEADERS)
                codes.append(answer.status_code)

            async with anyio.create_task_group() as group:
                for index in (0, 1, 0, 1):
                    group.start_soon(one, index)
        return sorted(codes)

    before = anyio.run(knock, pair.tokens["doomed"])
    revoked = run_cli("tokens", "revoke", "doomed", "--state-url", pair.state_url)
    assert revoked.returncode == 0, revoked.stderr
    after = anyio.run(knock, pair.tokens["doomed"])
    other = anyio.run(knock, pair.tokens["bystander"])
    print(f"token before revoke: {before}, right after: {after}; another agent's token: {other}")
    assert before == [200] * 4 and after == [401] * 4 and other == [200] * 4


def record_of(cluster: Replicas, client_order_id: str) -> dict[str, Any]:
    [record] = [r for r in cluster.audit() if r.get("client_order_id") == client_order_id]
    return record


async def wait_until_the_exchange_holds_it(fake: FakeBinance, seen: dict[str, Any] | None = None) -> None:
    """Until the exchange holds the call (a call that ended first fails here, saying how)."""
    with anyio.fail_after(10):
        while fake.faults.pending():
            assert seen is None or "a" not in seen, f"A's order ended before it reached the exchange: {seen}"
            await anyio.sleep(0.01)


def test_recovery_never_touches_a_live_neighbours_order_in_flight(pair: Replicas) -> None:
    cluster = pair
    cluster.tokens["bot"] = cluster.tokens["bot-0"]
    a, b = cluster.servers
    seen: dict[str, Any] = {}

    async def live_neighbour() -> None:
        # A's order is held 4 s by the exchange; meanwhile B is asked for an order, whose crash
        # recovery runs first, under the account lock A holds. Looked at after 1.5 s: the margin is
        # for a loaded machine.
        cluster.fake.inject(Delay(4), method="POST", path="/api/v3/order")
        async with (
            connected(a.url, cluster.tokens["bot"]) as on_a,
            connected(b.url, cluster.tokens["bot"]) as on_b,
            anyio.create_task_group() as group,
        ):

            async def slow() -> None:
                result = await on_a.call_tool("place_order", MARKET_BUY | {"client_order_id": "slow-a"})
                seen["a"] = kind_of(result)
                seen["a text"] = result.content[0].text

            async def quick() -> None:
                result = await on_b.call_tool("place_order", MARKET_BUY | {"client_order_id": "quick-b"})
                seen["b"] = kind_of(result)

            group.start_soon(slow)
            await wait_until_the_exchange_holds_it(cluster.fake, seen)
            group.start_soon(quick)
            await anyio.sleep(1.5)
            seen["b done while a in flight"] = "b" in seen  # looked at first: reading A's record takes time
            seen["a while b"] = await anyio.to_thread.run_sync(record_of, cluster, "slow-a")
        seen["a after"] = record_of(cluster, "slow-a")

    anyio.run(live_neighbour)
    print(
        f"live owner: A's record 1.5 s into B's call: {seen['a while b']['outcome']} (B finished by then: "
        f"{seen['b done while a in flight']}); after: {seen['a after']['outcome']}; A's call {seen['a']}, B's {seen['b']}"
    )
    assert seen["a while b"]["outcome"] == "pending" and not seen["b done while a in flight"]
    assert seen["b"] == "ok" and seen["a"] == "ok"
    [slow_order] = [o for o in cluster.fake.orders if o.client_order_id == "slow-a"]
    assert seen["a after"]["outcome"] == "ok" and seen["a after"]["order_id"] == slow_order.order_id
    assert "completed audit record" not in "".join(b.stderr)  # B's recovery took nothing over


def test_a_replica_completes_the_order_of_a_neighbour_killed_mid_order(replicas: Launcher) -> None:
    cluster = replicas({"version": "1", "default": "allow"}, agents=("bot",), redis_db=8)
    a, b = cluster.servers
    seen: dict[str, Any] = {}

    async def b_has_traded() -> str:  # a replica that has been up a while: its first recovery is done
        async with connected(b.url, cluster.tokens["bot"]) as on_b:
            return kind_of(await on_b.call_tool("place_order", MARKET_BUY | {"client_order_id": "first-b"}))

    assert anyio.run(b_has_traded) == "ok"

    async def killed_mid_order() -> None:
        cluster.fake.inject(Delay(1.5), method="POST", path="/api/v3/order")

        async def doomed() -> None:
            try:
                async with connected(a.url, cluster.tokens["bot"]) as on_a:
                    await on_a.call_tool("place_order", MARKET_BUY | {"client_order_id": "killed-a"})
            except Exception as exc:  # the server died under the call
                seen["doomed"] = type(exc).__name__

        async with anyio.create_task_group() as group:
            group.start_soon(doomed)
            await wait_until_the_exchange_holds_it(cluster.fake)
            a.process.send_signal(signal.SIGKILL)
            await anyio.to_thread.run_sync(a.process.wait, 10)
            seen["right after kill"] = await anyio.to_thread.run_sync(record_of, cluster, "killed-a")
            with anyio.fail_after(10):  # the exchange finishes the order it was holding
                while not any(o.client_order_id == "killed-a" for o in cluster.fake.orders):
                    await anyio.sleep(0.05)
        async with connected(b.url, cluster.tokens["bot"]) as on_b:
            result = await on_b.call_tool("place_order", MARKET_BUY | {"client_order_id": "next-b"})
            seen["b next"] = kind_of(result)
        seen["killed after"] = record_of(cluster, "killed-a")

    anyio.run(killed_mid_order)
    [placed] = [o for o in cluster.fake.orders if o.client_order_id == "killed-a"]
    print(
        f"A SIGKILLed mid-order: record right after {seen['right after kill']['outcome']}; "
        f"after B's next order {seen['killed after']['outcome']} order_id {seen['killed after'].get('order_id')} "
        f"(exchange: {placed.order_id})"
    )
    assert seen["right after kill"]["outcome"] == "pending"
    assert seen["b next"] == "ok"
    assert seen["killed after"]["outcome"] == "ok" and seen["killed after"]["order_id"] == placed.order_id
    assert sum(o.client_order_id == "killed-a" for o in cluster.fake.orders) == 1
