"""Load: 50 agents × 200 `get_price` calls over streamable HTTP, against the local test exchange.

    python benchmarks/load.py [--agents 50] [--calls 200] [--rounds 10] [--rate-limit 100]

`binance-mcp --testnet --transport http` runs as its own process, each agent with its own bearer
token and connection, every call a 2026-07-28 `tools/call` POST. The calls are made in rounds; in
each round the same agents also fetch the price straight from the exchange, the two sides
alternating, so the figure that is stable on a noisy machine is the median of the paired ratios
(what the MCP hop, with its token check, guard and audit record, costs over the exchange call
itself). Printed: throughput, p50 and p99 per call, errors (goal: 0), the server's peak RSS
(VmHWM), and then a rate limit under the same concurrency (`max` 100 per 60 s, scope global):
every agent tries at once, and exactly `max` calls may pass, not one more.

The local exchange here advertises a request-weight limit of 1,000,000 a minute instead of
Binance's 6000, so that the server's own care for Binance's limit (it would rightly hold calls
back after 3000 prices a minute) does not hide what the server itself can do. The client and the
server share the machine: the figures are a floor, the ratio is what to compare between runs.
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

from common import paired_summary, percentile  # noqa: E402

from binance_mcp.tokens import TokenStore  # noqa: E402

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
    def __init__(self, name: str, token: str, mcp_url: str, exchange_url: str) -> None:
        self.name = name
        self.token = token
        self.mcp_url = mcp_url
        self.exchange_url = exchange_url
        self.http = httpx2.AsyncClient(timeout=httpx2.Timeout(60))
        self.request_id = 0

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


async def run(agents_n: int, calls: int, rounds: int, rate_max: int) -> int:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    with tempfile.TemporaryDirectory() as work:
        state = Path(work) / "state"
        policy = Path(work) / "policy.json"
        rate_limit = {"max": rate_max, "window": 60, "scope": "global"}
        rules = {"get_24hr_ticker": {"action": "allow", "rate_limit": rate_limit}}
        policy.write_text(json.dumps({"version": "1", "default": "allow", "rules": rules}))
        state.mkdir(mode=0o700)
        with TokenStore.in_state_dir(state) as store:
            tokens = {f"agent-{i:02d}": store.add(f"agent-{i:02d}") for i in range(agents_n)}
        script = EXCHANGE.format(key=KEY, secret=SECRET)
        fake, exchange_url = start([sys.executable, "-c", script], env, re.compile(r"(http://\S+)"), "stdout")
        server_cmd = [
            BINANCE_MCP, "--testnet", "--transport", "http", "--port", "0", "--state-dir", str(state),
            "--base-url", exchange_url, "--policy", str(policy),
        ]  # fmt: skip
        server_env = env | {"BINANCE_API_KEY": KEY, "BINANCE_API_SECRET": SECRET}
        server, mcp_url = start(server_cmd, server_env, SERVING, "stderr")
        try:
            idle_rss, _ = peak_rss_mib(server.pid)
            agents = [Agent(name, token, mcp_url, exchange_url) for name, token in tokens.items()]
            # The server reads Binance's limits from exchangeInfo with its first order: one order first.
            order = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
            first: Counter[str] = Counter()
            await agents[0].through_mcp("place_order", order, [], first)
            if first["ok"] != 1:
                raise SystemExit(f"the first order failed: {dict(first)}")
            await side(agents, 2, True, [], Counter())  # warm: connections, threads, caches
            await side(agents, 2, False, [], Counter())
            mcp_ms: list[float] = []
            direct_ms: list[float] = []
            mcp_round: list[float] = []
            direct_round: list[float] = []
            kinds: Counter[str] = Counter()
            direct_kinds: Counter[str] = Counter()
            mcp_wall = 0.0
            per_round = calls // rounds
            for index in range(rounds):
                order = [True, False] if index % 2 == 0 else [False, True]
                for mcp in order:
                    sink: list[float] = []
                    wall = await side(agents, per_round, mcp, sink, kinds if mcp else direct_kinds)
                    if mcp:
                        mcp_ms += sink
                        mcp_round.append(statistics.median(sink))
                        mcp_wall += wall
                    else:
                        direct_ms += sink
                        direct_round.append(statistics.median(sink))
            _, peak_rss = peak_rss_mib(server.pid)

            limited: Counter[str] = Counter()
            async with anyio.create_task_group() as group:
                for agent in agents:
                    for _ in range(max(1, (rate_max * 5) // agents_n)):
                        group.start_soon(
                            agent.through_mcp, "get_24hr_ticker", {"symbol": "BTCUSDT"}, [], limited
                        )
            for agent in agents:
                await agent.http.aclose()
        finally:
            server.send_signal(signal.SIGTERM)
            exit_code = server.wait(30)
            fake.kill()
            fake.wait(10)
        audit = subprocess.run(
            [BINANCE_MCP, "audit", "--json", "--tool", "get_24hr_ticker", "--state-dir", str(state)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        audited = Counter(json.loads(line)["decision"] for line in audit.stdout.splitlines())

    total = agents_n * per_round * rounds
    errors = total - kinds["ok"]
    print(
        f"load: {agents_n} agents × {per_round * rounds} get_price calls over HTTP (2026-07-28 POSTs), {rounds} rounds"
    )
    print(
        paired_summary("binance-mcp over HTTP, per call", mcp_round, "straight to the exchange", direct_round)
    )
    print(f"{'throughput':>28}: {total / mcp_wall:8.0f} calls/s  ({total} calls in {mcp_wall:.1f} s)")
    print(
        f"{'latency per call':>28}: p50 {percentile(mcp_ms, 50):.1f} ms, p99 {percentile(mcp_ms, 99):.1f} ms"
    )
    print(f"{'errors':>28}: {errors}  {dict(kinds)}  (goal: 0)")
    print(f"{'server RSS':>28}: {idle_rss:.0f} MiB idle, peak {peak_rss:.0f} MiB (VmHWM)")
    attempts = sum(limited.values())
    print(
        f"{'rate limit, scope global':>28}: {limited['ok']} of {attempts} concurrent calls passed, "
        f"{limited['rate_limited']} rate_limited; audit: {audited.get('allowed', 0)} allowed  "
        f"(goal: exactly {rate_max})"
    )
    print(f"{'SIGTERM':>28}: exit {exit_code} (goal: 0)")
    ok = errors == 0 and limited["ok"] == rate_max == audited.get("allowed", 0) and exit_code == 0
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--calls", type=int, default=200, help="calls per agent")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate-limit", type=int, default=100, help="the rate limit's max per 60 s")
    options = parser.parse_args()
    sys.exit(anyio.run(run, options.agents, options.calls, options.rounds, options.rate_limit))
