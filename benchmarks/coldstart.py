"""Cold start: spawn → initialize → tools/list, binance-mcp against a bare MCPServer.

    python benchmarks/coldstart.py [--pairs 11]

An MCP client spawns the server and asks tools/list at once, so this is the delay a user feels
each time their client starts. The two sides alternate in one run; the figure that counts is the
median of the paired ratios (goal: ≤ 1.05).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import paired_summary

from binance_mcp.tools.names import TOOL_NAMES

HERE = Path(__file__).resolve().parent
BINANCE_MCP = str(Path(sys.executable).with_name("binance-mcp"))


async def spawn_and_list(params: StdioServerParameters, expected_tools: int) -> float:
    started = time.perf_counter()
    async with Client(stdio_client(params), mode="legacy") as client:
        tools = (await client.list_tools()).tools
        elapsed = (time.perf_counter() - started) * 1000
    if len(tools) != expected_tools:
        raise SystemExit(f"expected {expected_tools} tools, got {len(tools)}")
    return elapsed


async def main(pairs: int) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    with tempfile.TemporaryDirectory() as state:
        ours = StdioServerParameters(command=BINANCE_MCP, args=["--testnet", "--state-dir", state], env=env)
        bare = StdioServerParameters(command=sys.executable, args=[str(HERE / "bare_server.py")], env=env)
        await spawn_and_list(ours, len(TOOL_NAMES))  # warm the file cache for both before measuring
        await spawn_and_list(bare, 1)
        ours_ms: list[float] = []
        bare_ms: list[float] = []
        for index in range(pairs):
            order = [(ours, len(TOOL_NAMES), ours_ms), (bare, 1, bare_ms)]
            for params, count, sink in order if index % 2 == 0 else reversed(order):
                sink.append(await spawn_and_list(params, count))
    print(f"cold start, spawn → initialize → tools/list, {pairs} alternating pairs")
    print(paired_summary("binance-mcp --testnet", ours_ms, "bare MCPServer (1 tool)", bare_ms))
    print("goal: ratio ≤ 1.05")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=11)
    anyio.run(main, parser.parse_args().pairs)
