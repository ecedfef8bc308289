"""A new operator's first hour (issue #17): what the commands say when something is mistyped, missing
or refused, run as a person runs them (the CLI as a subprocess, a real PostgreSQL)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from binance_mcp.stores import PostgresState
from tests.fake_binance import FakeBinance
from tests.test_cli import run_cli
from tests.test_http import connected, running
from tests.test_http_process import serving

pytestmark = pytest.mark.anyio

ORDER = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0015"}
POLICY = {
    "version": "1",
    "default": "allow",
    "rules": {"place_order": {"action": "allow", "approve_above_notional": "80"}},
}


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--testnet", "--polcy", "x.json"), "unknown option '--polcy'; did you mean --policy?"),
        (
            ("--testnet", "--bsae-url", "http://127.0.0.1:9"),
            "unknown option '--bsae-url'; did you mean --base-url?",
        ),
    ],
)
def test_a_mistyped_flag_is_named_with_the_nearest_one(
    tmp_path: Path, args: tuple[str, ...], said: str
) -> None:
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and "unknown command" not in done.stderr
    assert said in done.stderr


def test_a_bundled_policys_name_mistyped_gets_a_did_you_mean(tmp_path: Path) -> None:
    done = run_cli("--testnet", "--policy", "testnet_trader", cwd=tmp_path)
    assert done.returncode == 2 and "did you mean --policy testnet-trader?" in done.stderr


def test_policy_mistakes_are_named_with_the_likely_cause(tmp_path: Path) -> None:
    comma = tmp_path / "comma.json"
    comma.write_text('{"version": "1", "default": "deny",}')
    action = tmp_path / "action.json"
    action.write_text(json.dumps({"version": "1", "rules": {"get_price": {"action": "alow"}}}))
    assert (
        "trailing comma"
        in run_cli("policy", "check", str(comma), cwd=tmp_path).stdout
        + run_cli("policy", "check", str(comma), cwd=tmp_path).stderr
    )
    said = run_cli("policy", "check", str(action), cwd=tmp_path)
    assert 'is "alow"' in said.stdout + said.stderr and "did you mean allow?" in said.stdout + said.stderr
    everything_denied = run_cli("policy", "check", "policylayer-recommended", cwd=tmp_path)
    assert everything_denied.returncode == 0
    assert "it denies every tool" in everything_denied.stdout
    assert "denies every tool" not in run_cli("policy", "check", "testnet-trader", cwd=tmp_path).stdout


def test_postgresql_and_doctor_failures_say_what_to_do_next(tmp_path: Path, postgres_url: str) -> None:
    missing = re.sub(r"/[^/]+$", "/nosuchdb", postgres_url)
    done = run_cli("approvals", "--state-url", missing, "list", cwd=tmp_path)
    assert done.returncode == 2 and 'database "nosuchdb" does not exist' in done.stderr
    assert "create it first" in done.stderr
    doctor = run_cli(
        "doctor",
        "--testnet",
        "--base-url",
        "http://127.0.0.1:9",
        cwd=tmp_path,
        env={"BINANCE_MCP_STATE_DIR": str(tmp_path / "s")},
    )
    line = next(line for line in doctor.stdout.splitlines() if "base URL" in line)
    assert line.startswith("FAIL") and "refused" in line and "drop --base-url" in line


def test_a_password_hint_follows_a_missing_password() -> None:
    from binance_mcp.stores.postgres import connect_hint

    hint = connect_hint("connection failed: fe_sendauth: no password supplied")
    assert "PGPASSWORD" in hint and "~/.pgpass" in hint and "postgresql://USER:PASSWORD@HOST/DB" in hint


def test_the_console_takes_the_servers_state_url(tmp_path: Path, postgres_url: str) -> None:
    import httpx2

    from tests.test_console import console

    with PostgresState(postgres_url) as state, state.approvals() as store:
        asked = store.request(
            tool="place_order",
            account="testnet:0123456789abcdef",
            agent="research-bot",
            arguments_key="{}",
            question="BUY 0.0015 BTCUSDT MARKET (≈97.5 USDT) on TESTNET — approve?",
        )
    with console("--state-url", postgres_url, "--state-dir", str(tmp_path)) as url, httpx2.Client() as http:
        assert asked.id in http.get(url).text  # the queue the server asked in, not the default state dir's


def test_a_stdio_servers_refusal_names_the_console_with_its_state_url(
    tmp_path: Path, postgres_url: str
) -> None:
    from binance_mcp.commands.console import console_url
    from binance_mcp.config import build_config
    from binance_mcp.guard.approve import on_the_page
    from binance_mcp.server import build_app
    from tests.conftest import write_policy

    config = build_config(
        network_flag="testnet",
        policy_flag=str(write_policy(tmp_path, POLICY)),
        state_url_flag=postgres_url,
        env={},
    )
    app = build_app(config, approvals_page=console_url())
    try:
        said = on_the_page(app.guard.services, "stdio", "apr-AAAA-BBBB")
    finally:
        app.close()
    assert "`binance-mcp console --state-url postgresql://" in said
    assert "http://127.0.0.1:8766/approvals#apr-AAAA-BBBB" in said


async def test_approvals_list_json_shows_the_servers_base_url(tmp_path: Path, fake: FakeBinance) -> None:
    async with running(tmp_path, fake, policy=POLICY, agents=("bot",)) as server:
        async with connected(server.url, server.tokens["bot"]) as client:
            asked = await client.call_tool("place_order", ORDER)
        assert asked.structured_content["error"] == "approval_required"
        listed = run_cli(
            "approvals", "--state-dir", str(server.app.state_dir), "list", "--json", cwd=tmp_path
        )
    found = [json.loads(line) for line in listed.stdout.splitlines()]  # one JSON object per line
    assert [entry["base_url"] for entry in found] == [fake.base_url]


def test_tokens_revoke_names_an_operator_as_an_operator(tmp_path: Path) -> None:
    state = ["--state-dir", str(tmp_path)]
    assert run_cli("tokens", *state, "add", "anna", "--operator", cwd=tmp_path).returncode == 0
    done = run_cli("tokens", *state, "revoke", "anna", cwd=tmp_path)
    assert done.stdout.strip() == "revoked the token of operator anna"


def test_start_up_says_where_the_page_is_and_which_state(tmp_path: Path, fake: FakeBinance) -> None:
    with serving("--base-url", fake.base_url, "--state-dir", str(tmp_path / "s"), cwd=tmp_path) as server:
        page = server.url.removesuffix("/mcp") + "/approvals"
        deadline = time.monotonic() + 10
        while not any(page in line for line in server.stderr) and time.monotonic() < deadline:
            time.sleep(0.05)
        text = "".join(server.stderr)
        server.stop()
    assert f"approvals page at {page}" in text
    assert f"state: SQLite in {tmp_path / 's'}" in text
