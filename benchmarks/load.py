"""Load: agents × `get_price` calls over streamable HTTP, four servers side by side, one run.

    python benchmarks/load.py [--agents 50] [--calls 200] [--rounds 10] [--rate-limit 100]

Four targets, all running at once on the local test exchange, measured in alternating rounds (the
order rotates each round) so that a noisy machine hits them alike:

- `bare`: a bare MCPServer streamable-HTTP app making the same exchange call
  (benchmarks/bare_http.py): the floor;
- `sqlite`: one `binance-mcp --testnet --transport http` with its state in a state dir;
- `pg+redis`: one process with `--state-url postgresql://…` and `--rate-limit-url redis://…`;
- `2 replicas`: two such processes on the same PostgreSQL + Redis, each agent's calls sent to
  them in turn (a round-robin client).

Each agent has its own bearer token and connection; every call is a 2026-07-28 `tools/call` POST.
Printed per target: calls/s, p50 and p99 per call, errors (goal: 0), the ratio of its calls/s to
the bare app's (median of the rounds' ratios) and the CPU each server process used; then
PostgreSQL + Redis against SQLite per call (latency, calls/s, and CPU per call counting the
PostgreSQL and Redis servers too); then a `global` rate limit (`max` 100 per 60 s) on the two
replicas under the same concurrency: exactly `max` calls may pass across both, not one more. The
benchmark starts its own PostgreSQL and Redis (tests/services.py) and stops them.

The local exchange advertises a request-weight limit of 1,000,000 a minute instead of Binance's
6000, so that the server's own care for Binance's limit does not hide what the server can do. The
client, the servers, PostgreSQL and Redis share the machine: the figures are a floor, the ratios
are what to compare between runs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import httpx2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import percentile  # noqa: E402

from binance_mcp.stores.tokens import TokenStore  # noqa: E402

BINANCE_MCP = str(Path(sys.executable).with_name("binance-mcp"))
KEY, SECRET = "bench-key", "bench-secret"
SERVING = re.compile(r"serving MCP over streamable HTTP at (http://\S+)")
EXCHANGE = """
import threading
from tests.fake_binance import FakeBinance
from tests.fake_binance.data import RATE_LIMITS
RATE_LIMITS[0]["limit"] = 1_000_000  # REQUEST_WEIGHT per minute: see the benchmark's note
fake = FakeBinance(api_key={key!r}, api_secret={secret!r}, port=0).start()
print(fake.base_url, flush=True)
threading.Event().wait()
"""
META = {
    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    "io.modelcontextprotocol/clientInfo": {"name": "load", "version": "0"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def call_body(tool: str, arguments: dict[str, Any], request_id: int) -> dict[str, Any]:
    params = {"name": tool, "arguments": arguments, "_meta": META}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


def headers(token: str, tool: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {token}",
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }


def outcome(answer: httpx2.Response) -> str:
    """`ok`, a refusal kind, or what went wrong with the answer itself."""
    if answer.status_code != 200:
        return f"http {answer.status_code}"
    body = json.loads(answer.text.split("data: ", 1)[1] if answer.text.startswith("event:") else answer.text)
    result = body.get("result")
    if result is None:
        return f"jsonrpc {body.get('error', {}).get('code')}"
    if result.get("isError"):
        return str((result.get("structuredContent") or {}).get("error", "error"))
    return "ok"


class Agent:
    """One agent's connection; with several `mcp_urls` its calls go to each in turn (round robin)."""

    def __init__(self, name: str, token: str, mcp_urls: list[str], exchange_url: str) -> None:
        self.name = name
        self.token = token
        self.mcp_urls = mcp_urls
        self.exchange_url = exchange_url
        self.http = httpx2.AsyncClient(timeout=httpx2.Timeout(60))
        self.request_id = 0

    @property
    def mcp_url(self) -> str:
        return self.mcp_urls[self.request_id % len(self.mcp_urls)]

    async def through_mcp(
        self, tool: str, arguments: dict[str, Any], latencies: list[float], kinds: Counter[str]
    ) -> None:
        self.request_id += 1
        started = time.perf_counter()
        try:
            answer = await self.http.post(
                self.mcp_url,
                json=call_body(tool, arguments, self.request_id),
                headers=headers(self.token, tool),
            )
            kind = outcome(answer)
        except (httpx2.HTTPError, ValueError) as exc:
            kind = type(exc).__name__
        latencies.append((time.perf_counter() - started) * 1000)
        kinds[kind] += 1

    async def direct(self, latencies: list[float], kinds: Counter[str]) -> None:
        started = time.perf_counter()
        try:
            answer = await self.http.get(
                self.exchange_url + "/api/v3/ticker/price", params={"symbol": "BTCUSDT"}
            )
            kind = "ok" if answer.status_code == 200 else f"http {answer.status_code}"
        except httpx2.HTTPError as exc:
            kind = type(exc).__name__
        latencies.append((time.perf_counter() - started) * 1000)
        kinds[kind] += 1


async def side(
    agents: list[Agent], calls: int, mcp: bool, latencies: list[float], kinds: Counter[str]
) -> float:
    """Every agent makes `calls` calls one after the other, all agents at once; returns the wall time (s)."""

    async def one(agent: Agent) -> None:
        for _ in range(calls):
            if mcp:
                await agent.through_mcp("get_price", {"symbol": "BTCUSDT"}, latencies, kinds)
            else:
                await agent.direct(latencies, kinds)

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for agent in agents:
            group.start_soon(one, agent)
    return time.perf_counter() - started


def peak_rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MiB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
    )
    return tuple(int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def start(
    command: list[str], env: dict[str, str], ready: re.Pattern[str], stream: str
) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE if stream == "stdout" else subprocess.DEVNULL,
        stderr=subprocess.PIPE if stream == "stderr" else subprocess.DEVNULL,
        text=True,
        env=env,
        cwd=ROOT,
    )
    pipe = process.stdout if stream == "stdout" else process.stderr
    assert pipe is not None
    found: list[str] = []
    seen = threading.Event()

    def read() -> None:
        for line in pipe:
            match = ready.search(line)
            if match and not found:
                found.append(match.group(1))
                seen.set()
        seen.set()

    threading.Thread(target=read, daemon=True).start()
    if not seen.wait(30) or not found:
        process.kill()
        raise SystemExit(f"{command[0]} did not start")
    return process, found[0]


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far, in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return found


class Services:
    """PostgreSQL (the postmaster and its backends) and Redis: their CPU, read around each round."""

    def __init__(self, postgres_port: int, redis_port: int) -> None:
        self.pids: list[int] = []
        for port in (postgres_port, redis_port):
            listening = subprocess.run(
                ["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=False
            ).stdout
            self.pids += [int(pid) for pid in re.findall(r"pid=(\d+)", listening)]

    def cpu(self) -> float:
        pids = set(self.pids)
        for pid in self.pids:
            pids.update(children_of(pid))
        return sum(cpu_seconds(pid) for pid in pids)


class Target:
    def __init__(self, name: str, agents: list[Agent], pids: list[int]) -> None:
        self.name = name
        self.agents = agents
        self.pids = pids
        self.latencies: list[float] = []
        self.kinds: Counter[str] = Counter()
        self.wall = 0.0
        self.rates: list[float] = []  # calls/s per round
        self.cpu = [0.0] * len(pids)  # CPU seconds per server process, over its rounds
        self.services_cpu = 0.0


async def run(agents_n: int, calls: int, rounds: int, rate_max: int) -> int:
    sys.path.insert(0, str(ROOT))
    from binance_mcp.stores import PostgresState
    from tests.services import postgres_server, redis_server

    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    names = [f"agent-{i:02d}" for i in range(agents_n)]
    processes: list[subprocess.Popen[str]] = []
    with (
        tempfile.TemporaryDirectory() as work,
        postgres_server() as postgres,
        redis_server() as redis,
    ):
        state = Path(work) / "state"
        policy = Path(work) / "policy.json"
        rate_limit = {"max": rate_max, "window": 60, "scope": "global"}
        rules = {"get_24hr_ticker": {"action": "allow", "rate_limit": rate_limit}}
        policy.write_text(json.dumps({"version": "1", "default": "allow", "rules": rules}))
        state.mkdir(mode=0o700)
        with TokenStore.in_state_dir(state) as store:
            sqlite_tokens = {name: store.add(name) for name in names}
        state_urls = {"pg+redis": postgres.new_database(), "2 replicas": postgres.new_database()}
        redis_urls = {"pg+redis": redis.url, "2 replicas": redis.url.rsplit("/", 1)[0] + "/1"}
        pg_tokens: dict[str, dict[str, str]] = {}
        for target, url in state_urls.items():
            with PostgresState(url) as shared, shared.tokens() as store:
                pg_tokens[target] = {name: store.add(name) for name in names}
        script = EXCHANGE.format(key=KEY, secret=SECRET)
        fake, exchange_url = start([sys.executable, "-c", script], env, re.compile(r"(http://\S+)"), "stdout")
        processes.append(fake)
        server_env = env | {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
        base = [
            BINANCE_MCP, "--testnet", "--transport", "http", "--port", "0", "--base-url", exchange_url,
            "--policy", str(policy), "--state-dir", str(state),
            "--market-data-max-age", "0",  # each call its own request, as the bare app's (exchange_requests.py measures sharing)
        ]  # fmt: skip
        commands = {
            "bare": [[sys.executable, str(ROOT / "benchmarks" / "bare_http.py"), exchange_url]],
            "sqlite": [base],
            "pg+redis": [[*base, "--state-url", state_urls["pg+redis"], "--rate-limit-url", redis_urls["pg+redis"]]],
            "2 replicas": [[*base, "--state-url", state_urls["2 replicas"], "--rate-limit-url", redis_urls["2 replicas"]]] * 2,
        }  # fmt: skip
        targets: list[Target] = []
        try:
            for name, argvs in commands.items():
                started = [start(argv, server_env, SERVING, "stderr") for argv in argvs]
                processes += [process for process, _ in started]
                urls = [url for _, url in started]
                tokens = pg_tokens.get(name, sqlite_tokens)
                agents = [Agent(agent, tokens[agent], urls, exchange_url) for agent in names]
                targets.append(Target(name, agents, [process.pid for process, _ in started]))
            services = Services(postgres.port, redis.port)
            # The servers read Binance's limits from exchangeInfo with the first order: one order each.
            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
            for target in targets[1:]:
                first: Counter[str] = Counter()
                for _ in target.pids:  # agent 0's calls go to each replica in turn
                    await target.agents[0].through_mcp("place_order", order, [], first)
                if first["ok"] != len(target.pids):
                    raise SystemExit(f"{target.name}: the first orders failed: {dict(first)}")
            for target in targets:  # warm: connections, threads, caches
                await side(target.agents, 2, True, [], Counter())
            per_round = max(1, calls // rounds)
            for index in range(rounds):
                shift = index % len(targets)
                for target in targets[shift:] + targets[:shift]:
                    before = [cpu_seconds(pid) for pid in target.pids]
                    services_before = services.cpu()
                    wall = await side(target.agents, per_round, True, target.latencies, target.kinds)
                    target.cpu = [
                        c + cpu_seconds(pid) - b
                        for c, pid, b in zip(target.cpu, target.pids, before, strict=True)
                    ]
                    target.services_cpu += services.cpu() - services_before
                    target.wall += wall
                    target.rates.append(agents_n * per_round / wall)
            replicas = targets[-1]
            limited: Counter[str] = Counter()
            async with anyio.create_task_group() as group:
                for agent in replicas.agents:
                    for _ in range(max(1, (rate_max * 5) // agents_n)):
                        group.start_soon(
                            agent.through_mcp, "get_24hr_ticker", {"symbol": "BTCUSDT"}, [], limited
                        )
            for target in targets:
                for agent in target.agents:
                    await agent.http.aclose()
        finally:
            exit_codes = []
            for process in processes[1:]:
                process.send_signal(signal.SIGTERM)
            for process in processes[1:]:
                try:
                    exit_codes.append(process.wait(30))
                except subprocess.TimeoutExpired:
                    process.kill()
                    exit_codes.append(-9)
            processes[0].kill()
            processes[0].wait(10)
        audit = subprocess.run(
            [
                BINANCE_MCP,
                "audit",
                "--json",
                "--tool",
                "get_24hr_ticker",
                "--state-url",
                state_urls["2 replicas"],
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        audited = Counter(json.loads(line)["decision"] for line in audit.stdout.splitlines())

    total = agents_n * per_round * rounds
    bare = targets[0]
    print(f"load: {agents_n} agents × {per_round * rounds} get_price calls per target over HTTP, {rounds} rounds, "
          f"targets alternating; {os.cpu_count()} CPUs shared by the client, every server, PostgreSQL and Redis")  # fmt: skip
    print(
        f"{'target':>12} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'× bare':>7}  server CPU"
    )
    errors = 0
    for target in targets:
        failed = total - target.kinds["ok"]
        errors += failed
        ratio = statistics.median(r / b for r, b in zip(target.rates, bare.rates, strict=True))
        cpu = ", ".join(f"{c:.1f} s ({100 * c / target.wall:.0f}%)" for c in target.cpu)
        print(
            f"{target.name:>12} {total / target.wall:8.0f} {percentile(target.latencies, 50):7.1f} "
            f"{percentile(target.latencies, 99):7.1f} {failed:6d} {ratio:7.3f}  {cpu}"
            + (f"  {dict(target.kinds)}" if failed else "")
        )
    sqlite, pg = targets[1], targets[2]
    sqlite_ms = 1000 * sum(sqlite.cpu) / total
    pg_ms = 1000 * (sum(pg.cpu) + pg.services_cpu) / total
    print(
        f"PostgreSQL + Redis vs SQLite per call: p50 {percentile(pg.latencies, 50) / percentile(sqlite.latencies, 50):.2f}×, "
        f"calls/s {statistics.median(p / s for p, s in zip(pg.rates, sqlite.rates, strict=True)):.2f}×; "
        f"CPU per call {pg_ms:.2f} ms (server {1000 * sum(pg.cpu) / total:.2f} + PostgreSQL/Redis "
        f"{1000 * pg.services_cpu / total:.2f}) vs {sqlite_ms:.2f} ms: {pg_ms / sqlite_ms:.2f}×  (goal ≤ 1.2×)"
    )
    share = [c / replicas.wall for c in replicas.cpu]
    print(
        f"two replicas: CPU {' + '.join(f'{100 * s:.0f}%' for s in share)} of a core each during their rounds, "
        f"PostgreSQL + Redis {100 * replicas.services_cpu / replicas.wall:.0f}%; bound: {os.cpu_count()} cores for the "
        "client, both replicas, PostgreSQL and Redis, so the replicas add capacity only where a core is idle"
    )
    print(f"errors: {errors} (goal: 0)")
    attempts = sum(limited.values())
    print(
        f"rate limit, scope global, on two replicas: {limited['ok']} of {attempts} concurrent calls passed, "
        f"{limited['rate_limited']} rate_limited; audit: {audited.get('allowed', 0)} allowed (goal: exactly {rate_max})"
    )
    ours = exit_codes[1:]  # the bare app (first) is not under test
    print(f"SIGTERM: binance-mcp exit codes {ours} (goal: all 0)")
    ok = errors == 0 and limited["ok"] == rate_max == audited.get("allowed", 0) and set(ours) == {0}
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200, help="calls per agent")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate-limit", type=int, default=100, help="the rate limit's max per 60 s")
    options = parser.parse_args()
    sys.exit(anyio.run(run, options.agents, options.calls, options.rounds, options.rate_limit))
