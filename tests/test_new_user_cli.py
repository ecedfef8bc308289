"""What a new user tripped on (issue #9 item 5), each through the `binance-mcp` entry point as a
subprocess: the path users take."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client

from binance_mcp.account import AccountKey
from binance_mcp.bundled_policies import BUNDLED_DIR, PURPOSES
from binance_mcp.stores.approvals import canonical_arguments, open_approval_store
from binance_mcp.tools.names import TOOL_NAMES
from tests.command import BINANCE_MCP
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance
from tests.test_cli import run_cli

FIX = "pass --state-dir a directory you can write (or set BINANCE_MCP_STATE_DIR)"


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.fixture(params=["file", "under-a-file"])
def bad_state_dir(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """(a --state-dir that cannot be used, the sentence every command says about it)."""
    regular = tmp_path / "notes.txt"
    regular.write_text("a file, not a directory")
    if request.param == "file":
        return str(regular), f"state dir {regular} is a file, not a directory: {FIX}"
    under = regular / "state"
    return str(under), f"state dir {under} cannot be made: {regular} is a file, not a directory: {FIX}"


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_the_server_refuses_a_bad_state_dir_in_one_line(
    tmp_path: Path, bad_state_dir: tuple[str, str], transport: str
) -> None:
    state_dir, sentence = bad_state_dir
    done = run_cli(
        "--testnet", "--transport", transport, "--port", "0", "--state-dir", state_dir, cwd=tmp_path
    )
    assert done.returncode == 2 and done.stdout == ""
    assert one_line(done.stderr) == f"binance-mcp: {sentence}"


@pytest.mark.parametrize(
    ("command", "prog"),
    [
        (["audit"], "audit"),
        (["audit", "--json"], "audit"),
        (["approvals", "list"], "approvals"),
        (["approvals", "approve", "apr-AAAA-BBBB"], "approvals"),
        (["tokens", "list"], "tokens"),
        (["tokens", "add", "bob"], "tokens"),
        (["tokens", "revoke", "bob"], "tokens"),
    ],
)
def test_every_command_reports_a_bad_state_dir_the_same_way(
    tmp_path: Path, bad_state_dir: tuple[str, str], command: list[str], prog: str
) -> None:
    state_dir, sentence = bad_state_dir
    done = run_cli(*command, "--state-dir", state_dir, cwd=tmp_path)
    assert done.returncode == 2 and done.stdout == ""
    assert one_line(done.stderr) == f"binance-mcp {prog}: error: {sentence}"


def test_doctor_fails_the_state_dir_with_the_same_sentence(
    tmp_path: Path, bad_state_dir: tuple[str, str], fake: FakeBinance
) -> None:
    state_dir, sentence = bad_state_dir
    done = run_cli("doctor", "--testnet", "--base-url", fake.base_url, "--state-dir", state_dir, cwd=tmp_path)
    assert done.returncode == 1
    assert f"FAIL  state dir: {sentence}" in done.stdout.splitlines()


def test_the_state_dir_from_the_environment_is_checked_too(tmp_path: Path) -> None:
    regular = tmp_path / "f"
    regular.write_text("")
    done = run_cli("--testnet", env={"BINANCE_MCP_STATE_DIR": str(regular)}, cwd=tmp_path)
    assert done.returncode == 2
    assert one_line(done.stderr) == f"binance-mcp: state dir {regular} is a file, not a directory: {FIX}"


@pytest.mark.anyio
@pytest.mark.parametrize("name", ["read-only", "read-only.json"])
async def test_a_bundled_policy_by_name(tmp_path: Path, fake: FakeBinance, name: str) -> None:
    params = StdioServerParameters(
        command=BINANCE_MCP,
        args=["--testnet", "--base-url", fake.base_url, "--policy", name, "--state-dir", str(tmp_path / "s")],
        env={"PATH": os.environ.get("PATH", "")},
        cwd=str(tmp_path),
    )
    async with Client(stdio_client(params), mode="legacy") as client:
        tools = {tool.name for tool in (await client.list_tools()).tools}
    hidden = {
        "place_order",
        "place_order_list",
        "amend_order",
        "cancel_order",
        "cancel_all_orders",
        "cancel_order_list",
    }
    assert "get_price" in tools and tools.isdisjoint(hidden) and len(tools) == len(TOOL_NAMES) - len(hidden)


def test_a_missing_policy_file_says_where_the_bundled_ones_are(tmp_path: Path) -> None:
    done = run_cli("--testnet", "--policy", "read-olny", cwd=tmp_path)
    assert done.returncode == 2
    line = one_line(done.stderr)
    assert line.startswith(
        "binance-mcp: --policy: no policy file at read-olny; did you mean --policy read-only? "
        "the bundled policies (default, "
    )
    assert f"are in {BUNDLED_DIR}" in line and "`binance-mcp policy list`" in line


def test_policy_list_names_each_bundled_policy_and_what_it_is_for(tmp_path: Path) -> None:
    done = run_cli("policy", "list", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = done.stdout.splitlines()
    for name, purpose in PURPOSES.items():
        assert any(row.startswith(name + " ") and row.endswith(purpose) for row in rows), name
    assert "denies" not in PURPOSES["read-only"]
    assert "every tool is refused" in PURPOSES["policylayer-recommended"]
    assert rows[-1].startswith(f"in {BUNDLED_DIR}")
    assert sorted(p.stem for p in BUNDLED_DIR.glob("*.json") if p.name != "policy.schema.json") == sorted(
        PURPOSES
    )


def test_policy_check_on_the_policies_dir_skips_the_schema(tmp_path: Path) -> None:
    files = sorted(str(path) for path in BUNDLED_DIR.glob("*.json"))
    done = run_cli("policy", "check", *files, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{BUNDLED_DIR / 'policy.schema.json'}: skipped — the policy files' JSON Schema, not a policy" in (
        done.stdout.splitlines()
    )
    assert sum(": valid — " in line for line in done.stdout.splitlines()) == len(files) - 1


def test_policy_explain_takes_a_bundled_name(tmp_path: Path) -> None:
    done = run_cli("policy", "explain", "testnet-trader", "--agent", "bob", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("testnet-trader on testnet for agent bob: default deny")


@pytest.mark.parametrize(
    ("word", "hint"), [("polcy", "; did you mean policy?"), ("audti", "; did you mean audit?"), ("zzz", "")]
)
def test_a_typoed_subcommand_is_an_unknown_command(tmp_path: Path, word: str, hint: str) -> None:
    done = run_cli("--state-dir", str(tmp_path), word, "check", cwd=tmp_path)
    assert done.returncode == 2
    assert one_line(done.stderr) == (
        f"binance-mcp: unknown command {word!r}{hint} (commands: policy, audit, approvals, tokens, doctor, console)"
    )


CALL = {
    "tool": "place_order",
    "account": str(AccountKey.of("testnet", "key-a")),
    "agent": None,
    "arguments_key": canonical_arguments({"symbol": "BTCUSDT", "side": "BUY"}, drop_client_order_id=True),
}


def _request(state_dir: Path) -> str:
    state_dir.mkdir(exist_ok=True)
    with open_approval_store(state_dir) as store:
        return store.request(**CALL, question="BUY — approve?", ttl_s=600).id  # type: ignore[arg-type]


def test_approvals_echo_the_id_as_typed(tmp_path: Path) -> None:
    stored = _request(tmp_path)
    typed = stored.replace("0", "O").lower() if "0" in stored else stored.lower()
    done = run_cli("approvals", "approve", typed, "--state-dir", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(f"approved {typed} (place_order on testnet)")
    again = run_cli("approvals", "approve", typed, "--state-dir", str(tmp_path), cwd=tmp_path)
    assert again.returncode == 1
    assert one_line(again.stderr).startswith(
        f"binance-mcp approvals: error: {typed} was already approved at "
    )


def test_already_used_gives_the_time_of_use_not_of_approval(tmp_path: Path) -> None:
    approval_id = _request(tmp_path)
    assert run_cli("approvals", "approve", approval_id, "--state-dir", str(tmp_path)).returncode == 0
    used_at = datetime.now(UTC) + timedelta(minutes=3)  # the matching call, three minutes later
    with open_approval_store(tmp_path) as store:
        assert store.take(**CALL, now=used_at) is not None  # type: ignore[arg-type]
    done = run_cli("approvals", "deny", approval_id, "--state-dir", str(tmp_path))
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith(f"binance-mcp approvals: error: {approval_id} was already used at ")
    assert used_at.strftime("%Y-%m-%dT%H:%M:%S") in line


@pytest.mark.anyio
async def test_debug_logs_each_exchange_request_with_weight_and_time(
    tmp_path: Path, fake: FakeBinance
) -> None:
    errlog = tmp_path / "stderr.txt"
    params = StdioServerParameters(
        command=BINANCE_MCP,
        args=[
            "--testnet",
            "--base-url",
            fake.base_url,
            "--log-level",
            "DEBUG",
            "--state-dir",
            str(tmp_path / "s"),
        ],
        env={
            "BINANCE_API_KEY": API_KEY,
            "BINANCE_API_SECRET": API_SECRET,
            "PATH": os.environ.get("PATH", ""),
        },
        cwd=str(tmp_path),
    )
    with errlog.open("w") as sink:
        async with Client(stdio_client(params, errlog=sink), mode="legacy") as client:
            await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            await client.call_tool("get_account_info", {})
    text = errlog.read_text()
    assert API_KEY not in text and API_SECRET not in text
    lines = [line for line in text.splitlines() if "binance_mcp.exchange.client: exchange " in line]
    assert any("get_symbol_ticker {'symbol': 'BTCUSDT'} weight 2: ok in " in line for line in lines), text
    assert any("get_account " in line and " weight 20: ok in " in line for line in lines), text
