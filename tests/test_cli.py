"""The `binance-mcp` command as a user runs it: a subprocess, over stdio, with real flags."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from binance_mcp.tools.names import TOOL_NAMES
from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    return subprocess.run(
        [BINANCE_MCP, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=base | (env or {}),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_without_a_network_it_exits_2_saying_how_to_choose(tmp_path: Path) -> None:
    done = run_cli(cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "--testnet" in lines[0] and "--mainnet" in lines[0] and "BINANCE_NETWORK" in lines[0]


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        (["--testnet", "--base-url", "ftp://x"], {}, "--base-url: 'ftp://x' is not an http(s) URL"),
        ([], {"BINANCE_NETWORK": "moonnet"}, "BINANCE_NETWORK: unknown network 'moonnet'"),
        (["--testnet"], {"BINANCE_API_KEY": "only-a-key"}, "BINANCE_API_SECRET is not set"),
        (["--testnet", "--policy", "/nonexistent/policy.json"], {}, "--policy: no policy file at"),
        (
            ["--testnet"],
            {"BINANCE_BASE_URL": "https://api.binance.com"},
            "is the real exchange: use --mainnet",
        ),
    ],
)
def test_bad_configuration_is_one_line_and_exit_2(
    tmp_path: Path, args: list[str], env: dict, words: str
) -> None:
    done = run_cli(*args, env=env, cwd=tmp_path)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr and "only-a-key" not in done.stderr


def test_an_invalid_policy_stops_the_server_with_every_error(tmp_path: Path) -> None:
    policy = tmp_path / "bad.json"
    policy.write_text(
        json.dumps({"version": "1", "default": "maybe", "rules": {"cancel_ordr": {"action": "deny"}}})
    )
    done = run_cli("--testnet", "--policy", str(policy), "--state-dir", str(tmp_path / "s"), cwd=tmp_path)
    assert done.returncode == 2
    assert "default" in done.stderr and "did you mean cancel_order?" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_dotenv_file_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BINANCE_NETWORK=moonnet\n")
    done = run_cli(cwd=tmp_path)
    assert done.returncode == 2 and "BINANCE_NETWORK: unknown network 'moonnet'" in done.stderr


@pytest.mark.anyio
async def test_over_stdio_a_client_lists_and_calls_the_tools(tmp_path: Path, fake: FakeBinance) -> None:
    fake.set_price("ETHUSDT", "3333.33")
    params = StdioServerParameters(
        command=BINANCE_MCP,
        args=["--testnet", "--base-url", fake.base_url, "--state-dir", str(tmp_path / "state")],
        env={
            "BINANCE_API_KEY": API_KEY,
            "BINANCE_API_SECRET": API_SECRET,
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(tmp_path),
    )
    async with Client(stdio_client(params), mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
        assert len(tools) == len(TOOL_NAMES)
        price = await client.call_tool("get_price", {"symbol": "ethusdt"})
        assert price.structured_content["symbol"] == "ETHUSDT"
        assert price.structured_content["price"] == "3333.33000000"
        account = await client.call_tool("get_account_info", {})
        assert not account.is_error and account.structured_content["balances"]
        # the bundled default policy asks a human before any order: refused, nothing sent
        order = await client.call_tool(
            "place_order", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
        )
        assert order.is_error and order.structured_content["error"] == "approval_required"
        assert order.structured_content["rule"] == "rules.place_order"
    assert not [r for r in fake.requests if r.path == "/api/v3/order"]
    audit = run_cli("audit", "--json", "--state-dir", str(tmp_path / "state"))
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert [r["tool"] for r in records] == ["get_price", "get_account_info", "place_order"]
    # the MCP client's name from its clientInfo, marked as its own word (not proven, unlike a token)
    assert {(r["client"], r["identity"]) for r in records} == {("mcp", "declared")}
    assert API_KEY not in audit.stdout and API_SECRET not in audit.stdout
