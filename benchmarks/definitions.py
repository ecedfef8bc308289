"""Tool-definition sizes: what every MCP client puts into the model's context on every turn.

    python benchmarks/definitions.py [--before main] [--no-before]

Spawns `binance-mcp --testnet` over stdio, asks tools/list through `mcp.Client`, and measures the
result as the client receives it: its JSON, compact (`binance_mcp.tools.catalog.sizes`), all
tools (`full`, output schemas included) and the model-facing part (name, title, description,
input schema, annotations), per tool and in total. `--before REF` (default `main`) measures that
git revision in the same run, from a temporary worktree of it, side by side. The peer's figures
(AnalyticAce binance-mcp-server 1.2.7, 15 tools) were measured on 2026-12-05 the same way and are
quoted, not measured (this machine has no internet).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from binance_mcp.tools.catalog import BUDGET, lean, sizes
from binance_mcp.tools.inputs import ClientOrderId, SymbolInput
from binance_mcp.tools.order_list_inputs import ListLegInput

ROOT = Path(__file__).resolve().parent.parent
PEER = {"name": "AnalyticAce binance-mcp-server 1.2.7", "date": "2026-12-05", "tools": 15,
        "full": 8_009, "model_facing": 7_019}  # fmt: skip


async def listed(source: Path) -> dict[str, Any]:
    """tools/list of the server whose package is at `source`, spawned over stdio."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(source),
    }
    with tempfile.TemporaryDirectory() as state:
        params = StdioServerParameters(
            command=sys.executable,
            args=["-m", "binance_mcp", "--testnet", "--state-dir", state],
            env=env,
            cwd=state,  # not the checkout: its package is the one PYTHONPATH names
        )
        async with Client(stdio_client(params), mode="legacy") as client:
            result = await client.list_tools()
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


def worktree_of(ref: str, into: Path) -> Path | None:
    done = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(into), ref],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        print(f"(no before: git worktree add {ref} failed: {done.stderr.strip()})")
        return None
    return into


def report(after: dict[str, Any], before: dict[str, Any] | None) -> None:
    names = list(after["tools"]) + [
        name for name in (before or {}).get("tools", {}) if name not in after["tools"]
    ]
    if before is not None:
        print(f"{'tool':<20} {'model-facing':>22} {'full':>22}")
        print(f"{'':<20} {'before':>10} {'after':>11} {'before':>10} {'after':>11}")
    else:
        print(f"{'tool':<20} {'model-facing':>12} {'full':>10}")
    for name in names:
        now = after["tools"].get(name, {"model_facing": 0, "full": 0})
        if before is not None:
            then = before["tools"].get(name, {"model_facing": 0, "full": 0})
            print(
                f"{name:<20} {then['model_facing']:>10,} {now['model_facing']:>11,} {then['full']:>10,} {now['full']:>11,}"
            )
        else:
            print(f"{name:<20} {now['model_facing']:>12,} {now['full']:>10,}")
    print()
    rows = [("model-facing", "model_facing"), ("tools/list (full)", "full")]
    head = f"{'total, bytes':<20} {'budget':>8}"
    head += f" {'before':>9}" if before is not None else ""
    head += f" {'after':>9} {'peer':>7}" + (" before/peer" if before is not None else "") + " after/peer"
    print(head)
    for label, key in rows:
        line = f"{label:<20} {BUDGET[key]:>8,}"
        line += f" {before[key]:>9,}" if before is not None else ""
        line += f" {after[key]:>9,} {PEER[key]:>7,}"
        line += f" {before[key] / PEER[key]:>11.2f}×" if before is not None else ""
        line += f" {after[key] / PEER[key]:>9.2f}×"
        print(line)
    count = (
        f"{len(before['tools'])} → {len(after['tools'])}" if before is not None else str(len(after["tools"]))
    )
    per_tool = after["model_facing"] / len(after["tools"])
    print(
        f"tools: {count}; model-facing per tool {per_tool:,.0f} bytes (peer {PEER['model_facing'] / PEER['tools']:,.0f})"
    )
    print(f"peer: {PEER['name']}, {PEER['tools']} tools, measured {PEER['date']} (quoted, not measured here)")


class OcoByName(SymbolInput):
    take_profit: ListLegInput
    stop_loss: ListLegInput
    list_client_order_id: ClientOrderId | None = None


class OtoByName(SymbolInput):
    working: ListLegInput
    pending: ListLegInput
    list_client_order_id: ClientOrderId | None = None


class OtocoByName(SymbolInput):
    working: ListLegInput
    take_profit: ListLegInput
    stop_loss: ListLegInput
    list_client_order_id: ClientOrderId | None = None


def per_kind(after: dict[str, Any], listed: dict[str, Any]) -> None:
    """place_order_list as it is (one tool, `legs`) against one tool per kind with its legs by name:
    the input schemas as they would be published (self-contained: each named leg inlines the leg)."""
    one = next(tool for tool in listed["tools"] if tool["name"] == "place_order_list")
    mine = len(json.dumps(one["inputSchema"], separators=(",", ":")))
    kinds = {m.__name__: len(json.dumps(lean(m.model_json_schema()), separators=(",", ":")))
             for m in (OcoByName, OtoByName, OtocoByName)}  # fmt: skip
    extra = sum(kinds.values()) - mine
    print(
        f"place_order_list input schema: one tool with legs {mine:,} bytes; one tool per kind, legs by name "
        f"{sum(kinds.values()):,} ({', '.join(f'{k} {v:,}' for k, v in kinds.items())}): model-facing "
        f"{after['model_facing'] + extra:,} before their descriptions (budget {BUDGET['model_facing']:,})"
    )


async def main(before_ref: str | None) -> None:
    current = await listed(ROOT)
    after = sizes(current)
    before = None
    if before_ref is not None:
        with tempfile.TemporaryDirectory() as scratch:
            tree = worktree_of(before_ref, Path(scratch) / "before")
            if tree is not None:
                try:
                    before = sizes(await listed(tree))
                finally:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
                    )
    print(
        f"tool definitions, tools/list through mcp.Client over stdio (before: {before_ref or 'not measured'})"
    )
    report(after, before)
    per_kind(after, current)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", default="main", help="git revision measured beside this tree (default main)"
    )
    parser.add_argument("--no-before", action="store_true", help="measure this tree only")
    options = parser.parse_args()
    anyio.run(main, None if options.no_before else options.before)
