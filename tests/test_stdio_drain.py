"""Over stdio, an order in flight when the client closes stdin or the server gets SIGTERM still answers.

`binance-mcp` runs as the subprocess an MCP client starts. On SIGTERM the SDK's own `mcp.Client`
(which has NOT listed tools, so it asks tools/list after the result) gets its order id, and a new
call is refused; on EOF the answer to the call in flight is still written before the process exits.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any, TextIO

import anyio
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import Delay, FakeBinance
from tests.test_cli import run_cli
from tests.test_http import LIMIT_BUY
from tests.test_http_process import server_env

ALLOW_ALL = {"version": "1", "default": "allow"}


def server_args(tmp_path: Path, fake: FakeBinance) -> list[str]:
    policy = str(write_policy(tmp_path, ALLOW_ALL))
    return [
        "--testnet",
        "--base-url",
        fake.base_url,
        "--policy",
        policy,
        "--state-dir",
        str(tmp_path / "state"),
    ]


def audited(tmp_path: Path) -> list[tuple[str, str]]:
    done = run_cli("audit", "--json", "--state-dir", str(tmp_path / "state"))
    return [(r["tool"], r["outcome"]) for r in map(json.loads, done.stdout.splitlines())]


def child_running(command: str) -> int:
    """The pid of this process's child running `command` (the server the stdio client started)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == os.getpid() and any(command.encode() in arg for arg in argv):
            return int(entry.name)
    raise AssertionError(f"no child runs {command}")


@pytest.mark.parametrize("mode", ["legacy", "auto"])
def test_sigterm_over_stdio_the_unlisted_client_gets_its_order_id_and_new_calls_are_refused(
    tmp_path: Path, mode: str
) -> None:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake:
        parameters = StdioServerParameters(
            command=BINANCE_MCP, args=server_args(tmp_path, fake), env=server_env(), cwd=str(tmp_path)
        )
        with (tmp_path / "stderr.txt").open("w+") as errlog:
            outcome = anyio.run(order_through_a_sigterm, parameters, fake, mode, errlog)
            errlog.seek(0)
            stderr = errlog.read()
        orders = fake.orders
    assert outcome["error"] is None, outcome["error"]
    [order] = orders
    assert outcome["result"]["order_id"] == order.order_id
    assert "shutting down" in outcome["refused"]
    assert "stopping (SIGTERM)" in stderr and "Traceback" not in stderr
    assert audited(tmp_path) == [("place_order", "ok")]


async def order_through_a_sigterm(
    parameters: StdioServerParameters, fake: FakeBinance, mode: str, errlog: TextIO
) -> dict[str, Any]:
    outcome: dict[str, Any] = {"error": None, "refused": ""}
    fake.inject(Delay(2), method="POST", path="/api/v3/order")
    transport = stdio_client(parameters, errlog=errlog)
    async with Client(transport, mode=mode) as client, anyio.create_task_group() as group:
        pid = child_running(BINANCE_MCP)

        async def place() -> None:
            try:
                outcome["result"] = (await client.call_tool("place_order", LIMIT_BUY)).structured_content
            except Exception as exc:  # killed outright, the client only sees the pipe close
                outcome["error"] = f"{type(exc).__name__}: {exc}"

        group.start_soon(place)
        with anyio.fail_after(10):
            while fake.faults.pending():  # until the exchange holds the order
                await anyio.sleep(0.01)
        os.kill(pid, signal.SIGTERM)
        await anyio.sleep(0.3)
        try:
            await client.call_tool("get_price", {"symbol": "BTCUSDT"})
        except Exception as exc:
            outcome["refused"] = str(exc)
        with anyio.fail_after(20):  # it stops on its own, though the client still holds stdin open
            while state_of(pid) not in ("Z", None):
                await anyio.sleep(0.05)
    return outcome


def state_of(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def test_eof_over_stdio_still_writes_the_answer_to_the_order_in_flight(tmp_path: Path) -> None:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake:
        fake.inject(Delay(2), method="POST", path="/api/v3/order")
        process = subprocess.Popen(
            [BINANCE_MCP, *server_args(tmp_path, fake)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=server_env(),
            cwd=tmp_path,
        )
        assert process.stdin is not None
        for message in (
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18",
                    "capabilities": {},
                    "clientInfo": {"name": "t", "version": "0"},
                },
            },
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "tools/call",
                "params": {"name": "place_order", "arguments": LIMIT_BUY},
            },
        ):
            process.stdin.write(json.dumps(message).encode() + b"\n")
        process.stdin.flush()
        for _ in range(1000):  # until the exchange holds the order
            if not fake.faults.pending():
                break
            time.sleep(0.01)
        out, err = process.communicate(timeout=30)  # closes stdin: EOF while the order is in flight
        [order] = fake.orders
    answers = {m["id"]: m for m in map(json.loads, out.decode().splitlines()) if "id" in m}
    assert "result" in answers[2], answers[2]
    assert answers[2]["result"]["structuredContent"]["order_id"] == order.order_id
    assert process.returncode == 0 and b"Traceback" not in err
    assert audited(tmp_path) == [("place_order", "ok")]
