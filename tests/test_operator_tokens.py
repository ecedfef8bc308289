"""Operators are not agents (issue 10): `tokens add NAME --operator`, and `/mcp` refuses an
operator's token with 403 and a sentence, over real HTTP."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from binance_mcp.stores.tokens import TOKENS_DB_NAME, TokenStore
from tests.command import BINANCE_MCP
from tests.fake_binance import FakeBinance
from tests.test_http import INITIALIZE, MCP_HEADERS, connected, http_client, running


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([BINANCE_MCP, *args], capture_output=True, text=True, timeout=60)


def test_tokens_add_operator_and_list_shows_the_kind(tmp_path: Path) -> None:
    made = cli("tokens", "add", "anna", "--operator", "--state-dir", str(tmp_path))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("token for operator anna (shown once;")
    token = made.stdout.splitlines()[-1]
    assert cli("tokens", "add", "bot", "--state-dir", str(tmp_path)).returncode == 0
    clash = cli("tokens", "add", "anna", "--state-dir", str(tmp_path))
    assert clash.returncode == 1 and "'anna' already has a token" in clash.stderr
    rows = [
        json.loads(line)
        for line in cli("tokens", "list", "--json", "--state-dir", str(tmp_path)).stdout.splitlines()
    ]
    assert [(row["name"], row["kind"]) for row in rows] == [("anna", "operator"), ("bot", "agent")]
    table = cli("tokens", "list", "--state-dir", str(tmp_path)).stdout
    assert token not in table and "operator" in table
    with TokenStore.in_state_dir(tmp_path) as store:
        assert store.operator_for(token) == "anna"
        assert store.agent_for(token) is None  # an operator's token is nobody's agent token
        assert store.holder(token).kind == "operator"  # type: ignore[union-attr]
        assert store.count("operator") == 1 and store.count("agent") == 1 and store.count() == 2


def test_a_version_1_token_store_keeps_its_tokens_as_agent_tokens(tmp_path: Path) -> None:
    with TokenStore.in_state_dir(tmp_path) as store:
        token = store.add("old-bot")
    conn = sqlite3.connect(tmp_path / TOKENS_DB_NAME)
    conn.executescript(
        "CREATE TABLE t AS SELECT name, token_sha256, created FROM tokens; DROP TABLE tokens;"
        "CREATE TABLE tokens (name TEXT PRIMARY KEY, token_sha256 TEXT NOT NULL UNIQUE, created TEXT NOT NULL);"
        "INSERT INTO tokens SELECT * FROM t; DROP TABLE t; PRAGMA user_version = 1;"
    )
    conn.close()
    with TokenStore.in_state_dir(tmp_path) as store:
        assert store.agent_for(token) == "old-bot"
        assert [info.kind for info in store.list()] == ["agent"]


@pytest.mark.anyio
async def test_an_operator_token_cannot_call_tools(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, agents=("bot",)) as server:
        with TokenStore.in_state_dir(server.app.state_dir) as store:
            operator = store.add("anna", operator=True)
        async with http_client(operator) as http:
            answer = await http.post(server.url, json=INITIALIZE, headers=MCP_HEADERS)
        assert answer.status_code == 403
        body = answer.json()
        assert body["error"] == "operator_token"
        assert body["error_description"].startswith(
            "this is the operator token of anna: operators approve calls on the approvals page and cannot call tools"
        )
        assert operator not in answer.text
        # the agent's own token still works
        async with connected(server.url, server.tokens["bot"]) as client:
            result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            assert not result.is_error
        assert all(record.client != "anna" for record in server.audit())
