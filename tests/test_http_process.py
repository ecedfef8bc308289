"""`binance-mcp --transport http` as a user runs it: a subprocess, real flags, real signals.

The new user's path from the issue: `tokens add`, start over HTTP, connect an MCP client by URL
with the token, see one agent's rule refuse what another may do; then SIGTERM during a call, which
finishes, is audited, and the server exits 0.
"""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET, write_policy
from tests.fake_binance import Delay, FakeBinance
from tests.test_cli import run_cli
from tests.test_http import INITIALIZE, LIMIT_BUY, MCP_HEADERS, connected

GET_PRICE = {
    "jsonrpc": "2.0",
    "id": 2,
    "method": "tools/call",
    "params": {"name": "get_price", "arguments": {"symbol": "BTCUSDT"}},
}
SERVING = re.compile(r"serving MCP over streamable HTTP at (http://\S+)")


@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    stderr: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 20) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)


def server_env() -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    return base | {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}


@contextmanager
def serving(*args: str, cwd: Path, max_files: int | None = None) -> Iterator[Server]:
    """`binance-mcp --transport http` on a free port; `max_files` lowers its descriptor limit."""

    def limit_files() -> None:
        if max_files is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (max_files, max_files))

    process = subprocess.Popen(
        [BINANCE_MCP, "--testnet", "--transport", "http", "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=server_env(),
        cwd=cwd,
        preexec_fn=limit_files,
    )
    lines: list[str] = []
    found = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if SERVING.search(line):
                found.set()
        found.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not found.wait(20) or not any(SERVING.search(line) for line in lines):
            raise AssertionError("the server did not start:\n" + "".join(lines))
        url = next(m.group(1) for line in lines if (m := SERVING.search(line)))
        yield Server(process=process, url=url, stderr=lines)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def test_a_non_loopback_host_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    done = run_cli(
        "--testnet",
        "--transport",
        "http",
        "--host",
        "0.0.0.0",
        "--state-dir",
        str(tmp_path / "s"),
        cwd=tmp_path,
    )
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.strip().splitlines()
    assert "0.0.0.0" in line and "tokens add" in line


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--allow-origin", "not-a-url"], "--allow-origin 'not-a-url'"),
        (["--allow-origin", "https://app.example/path"], "scheme://host[:port]"),
        (["--port", "70000"], "--port 70000"),
    ],
)
def test_bad_http_options_are_one_line_and_exit_2(tmp_path: Path, flags: list[str], words: str) -> None:
    done = run_cli(
        "--testnet", "--transport", "http", "--state-dir", str(tmp_path / "s"), *flags, cwd=tmp_path
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert words in line


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = run_cli(
            "--testnet", "--transport", "http", "--port", port, "--state-dir", str(tmp_path), cwd=tmp_path
        )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line


def test_without_a_token_it_warns_that_anyone_on_this_machine_can_use_it(tmp_path: Path) -> None:
    with serving("--state-dir", str(tmp_path / "state"), cwd=tmp_path) as server:
        answer = httpx2.get(server.url.removesuffix("/mcp") + "/healthz")
        assert answer.json()["status"] == "ok"
        assert server.stop() == 0
    text = "".join(server.stderr)
    assert "anyone on this machine can use this server" in text and "Traceback" not in text
    assert server.url.startswith("http://127.0.0.1:")


def test_with_a_token_it_may_listen_beyond_loopback_and_says_calls_travel_in_clear(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    token = run_cli("tokens", "add", "alice", "--state-dir", state).stdout.splitlines()[-1]
    with serving("--host", "0.0.0.0", "--state-dir", state, cwd=tmp_path) as server:
        local = server.url.replace("0.0.0.0", "127.0.0.1")
        with httpx2.Client() as http:
            assert http.post(local, json=INITIALIZE, headers=MCP_HEADERS).status_code == 401
            answer = http.post(
                local, json=INITIALIZE, headers=MCP_HEADERS | {"authorization": f"Bearer {token}"}
            )
            assert answer.status_code == 200
        assert server.stop() == 0
    text = "".join(server.stderr)
    assert "needs Authorization: Bearer" in text and "plain HTTP on 0.0.0.0" in text


def test_a_new_user_adds_tokens_connects_by_url_and_sigterm_loses_no_call(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    tokens = {
        name: run_cli("tokens", "add", name, "--state-dir", state).stdout.splitlines()[-1]
        for name in ("alice", "research-bot")
    }
    policy = {
        "version": "1",
        "default": "allow",
        "agents": {"research-bot": {"rules": {"place_order": {"action": "deny", "reason": "research only"}}}},
    }
    policy_file = str(write_policy(tmp_path, policy))
    with (
        FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake,
        serving(
            "--state-dir", state, "--base-url", fake.base_url, "--policy", policy_file, cwd=tmp_path
        ) as server,
    ):
        outcome = anyio.run(use_it, server, fake, tokens)
        assert (
            outcome["placed"] is False and outcome["refused_rule"] == "agents.research-bot.rules.place_order"
        )
        assert outcome["during_stop"] == 503
        in_flight = outcome["in_flight"]
        assert (in_flight["symbol"], in_flight["price"]) == ("BTCUSDT", "65000.00000000")
        assert server.process.wait(20) == 0
    text = "".join(server.stderr)
    assert "Traceback" not in text and "stopping: refusing new calls; 1 requests in flight" in text
    audit = run_cli("audit", "--json", "--state-dir", state)
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [(r["client"], r["tool"], r["decision"], r["outcome"]) for r in records] == [
        ("alice", "place_order", "allowed", "ok"),
        ("research-bot", "place_order", "denied", "refused"),
        ("alice", "get_price", "allowed", "ok"),
    ]


async def use_it(server: Server, fake: FakeBinance, tokens: dict[str, str]) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    async with connected(server.url, tokens["alice"], mode="legacy") as alice:
        outcome["placed"] = (await alice.call_tool("place_order", LIMIT_BUY)).is_error
    async with connected(server.url, tokens["research-bot"]) as bot:
        refused = await bot.call_tool("place_order", LIMIT_BUY)
        outcome["refused_rule"] = refused.structured_content["rule"]
    fake.set_price("BTCUSDT", "65000")
    fake.inject(Delay(2), path="/api/v3/ticker/price")
    async with connected(server.url, tokens["alice"]) as alice, anyio.create_task_group() as group:
        await alice.list_tools()  # the client checks a result against the tool's schema, asked once

        async def call() -> None:
            # fresh: the order's own price read may still be shared (--market-data-max-age)
            result = await alice.call_tool("get_price", {"symbol": "BTCUSDT", "fresh": True})
            outcome["in_flight"] = result.structured_content

        group.start_soon(call)
        with anyio.fail_after(5):
            while fake.faults.pending():  # until the exchange holds the call
                await anyio.sleep(0.01)
        server.process.send_signal(signal.SIGTERM)
        await anyio.sleep(0.3)
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {tokens['alice']}"}) as http:
            answer = await http.post(server.url, json=GET_PRICE, headers=MCP_HEADERS)
            outcome["during_stop"] = answer.status_code
    return outcome
