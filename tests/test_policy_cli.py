"""`binance-mcp policy check | explain | schema`, through argparse in-process and as a subprocess."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from binance_mcp.commands import policy as policy_command
from binance_mcp.policy.model import BUNDLED_POLICIES, bundled_policy_path, policy_json_schema
from binance_mcp.tools.names import TOOL_NAMES

ROOT = Path(__file__).resolve().parent.parent
ENTRY = "import sys; from binance_mcp.commands.policy import main; sys.exit(main(sys.argv[1:]))"


def run_in_process(*argv: str) -> int:
    """Parse like the main CLI will: a top-level parser with `policy` registered by add_parser."""
    parser = argparse.ArgumentParser(prog="binance-mcp")
    add_parser = policy_command.add_parser
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["policy", *argv])
    assert args.handler is policy_command.run
    return policy_command.run(args)


def run_subprocess(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRY, *argv], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


@pytest.fixture
def bad_policy(tmp_path: Path) -> Path:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "version": "1",
                "default": "maybe",
                "rules": {
                    "cancel_ordr": {"action": "deny"},
                    "place_order": {"action": "allow", "rate_limit": {"max": 0, "window": 60}},
                },
            }
        )
    )
    return path


# --------------------------------------------------------------------------- in-process


def test_check_a_valid_policy_prints_a_one_line_summary(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(bundled_policy_path("default"))
    assert run_in_process("check", path) == 0
    out, err = capsys.readouterr()
    assert out == (
        f"{path}: valid — default deny, {len(TOOL_NAMES)} tools visible, 6 need approval, 0 rate-limited\n"
    )
    assert err == ""


def test_check_summaries_of_the_other_bundled_policies(capsys: pytest.CaptureFixture[str]) -> None:
    paths = [str(bundled_policy_path(name)) for name in BUNDLED_POLICIES]
    assert run_in_process("check", *paths) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(paths)
    summaries = dict(line.split(": valid — ") for line in lines)
    assert summaries[str(bundled_policy_path("read-only"))] == (
        f"default deny, {len(TOOL_NAMES) - 6} tools visible, 0 need approval, 0 rate-limited"
    )
    assert summaries[str(bundled_policy_path("testnet-trader"))] == (
        f"default deny, {len(TOOL_NAMES)} tools visible, 2 need approval, 5 rate-limited "
        "(rules.cancel_*.rate_limit is one limit for 3 tools)"
    )
    assert summaries[str(bundled_policy_path("policylayer-recommended"))] == (
        f"default deny, {len(TOOL_NAMES) - 1} tools visible, 0 need approval, 0 rate-limited; "
        "it denies every tool: an agent sees them but every call is refused (add rules to allow some)"
    )


def test_check_an_invalid_policy_prints_every_error_with_the_file_and_exits_1(
    bad_policy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_in_process("check", str(bad_policy)) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines() == [
        f'{bad_policy}: default: is "maybe": must be "allow" or "deny"',
        f"{bad_policy}: rules.cancel_ordr: unknown tool; did you mean cancel_order?",
        f"{bad_policy}: rules.place_order.rate_limit.max: must be at least 1",
    ]


def test_check_goes_on_after_an_invalid_file(bad_policy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = str(bundled_policy_path("read-only"))
    assert run_in_process("check", str(bad_policy), good) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"{good}: valid — ")
    assert err.count(str(bad_policy)) == 3


def test_check_notes_the_agents_a_policy_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "agents.json"
    path.write_text(json.dumps({"version": "1", "agents": {"research-bot": {"hide": ["place_order"]}}}))
    assert run_in_process("check", str(path)) == 0
    assert capsys.readouterr().out.rstrip().endswith("; agents: research-bot")


def test_explain_prints_an_aligned_table(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(bundled_policy_path("testnet-trader"))
    assert run_in_process("explain", path) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == f"{path} on testnet: default deny"
    start = lines.index(next(line for line in lines if line.startswith("TOOL")))
    header, rows = lines[start], lines[start + 1 : start + 1 + len(TOOL_NAMES)]
    assert [row.split()[0] for row in rows] == list(TOOL_NAMES)
    for column in ("RISK", "VISIBLE", "DECISION", "RULE", "RATE LIMIT", "APPROVAL", "DRY RUN", "NETWORKS"):
        start = header.index(column)
        assert all(row[start - 2 : start] == "  " and row[start] != " " for row in rows), column
    place = next(row for row in rows if row.startswith("place_order"))
    assert "rules.place_order" in place and "10 per 60s per agent" in place and "above 200" in place
    assert "place_order constraints (rules.place_order.constraints): symbols BTCUSDT, ETHUSDT" in out
    assert "budget (budgets.daily_notional.USDT): 5000 USDT" in out


def test_explain_on_another_network_shows_network_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_in_process("explain", str(bundled_policy_path("testnet-trader")), "--network", "mainnet") == 0
    place = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("place_order"))
    assert "deny" in place and "rules.place_order.networks" in place
    assert "place_order may run only on testnet, not on mainnet" in place


def test_explain_for_an_agent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "agents.json"
    path.write_text(
        json.dumps(
            {
                "version": "1",
                "rules": {"*": {"action": "allow"}},
                "agents": {
                    "bob": {
                        "hide": ["cancel_*"],
                        "rules": {"place_order": {"action": "deny", "reason": "research only"}},
                    }
                },
            }
        )
    )
    assert run_in_process("explain", str(path), "--agent", "bob") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{path} on testnet for agent bob: default deny"
    place = next(line for line in out.splitlines() if line.startswith("place_order"))
    assert "agents.bob.rules.place_order" in place and "research only" in place
    cancel = next(line for line in out.splitlines() if line.startswith("cancel_order"))
    assert "hidden" in cancel and "agents.bob.hide" in cancel


def test_explain_hidden_tools(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_in_process("explain", str(bundled_policy_path("policylayer-recommended"))) == 0
    lines = capsys.readouterr().out.splitlines()
    cancel = next(line for line in lines if line.startswith("cancel_order"))
    assert cancel.split()[2:5] == ["hidden", "deny", "hide"]
    price = next(line for line in lines if line.startswith("get_price"))
    assert price.split()[2:5] == ["yes", "deny", "default"]


def test_schema_prints_the_committed_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_in_process("schema") == 0
    out = capsys.readouterr().out
    assert json.loads(out) == policy_json_schema()
    assert out == (ROOT / "binance_mcp" / "policies" / "policy.schema.json").read_text()


def test_main_takes_the_arguments_after_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert policy_command.main(["check", str(bundled_policy_path("default"))]) == 0
    assert policy_command.main(["explain"]) == 2  # FILE missing: argparse's usage error
    assert "usage:" in capsys.readouterr().err


# --------------------------------------------------------------------------- as a subprocess


def test_subprocess_check_every_bundled_policy() -> None:
    result = run_subprocess("check", *(f"policies/{name}.json" for name in BUNDLED_POLICIES))
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.splitlines()[0] == (
        f"policies/default.json: valid — default deny, {len(TOOL_NAMES)} tools visible, 6 need approval, 0 rate-limited"
    )


def test_subprocess_check_an_invalid_policy(bad_policy: Path) -> None:
    result = run_subprocess("check", str(bad_policy))
    assert result.returncode == 1
    assert result.stdout == ""
    assert (
        f"{bad_policy}: rules.cancel_ordr: unknown tool; did you mean cancel_order?"
        in result.stderr.splitlines()
    )
    assert "Traceback" not in result.stderr


def test_subprocess_a_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "version": "1",\n  "default": deny\n}\n')
    result = run_subprocess("check", str(path))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{path}: line 3, column 14: not valid JSON")


def test_subprocess_a_missing_file_is_bad_usage_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    for command in ("check", "explain"):
        result = run_subprocess(command, str(missing))
        assert result.returncode == 2
        assert result.stderr.startswith(
            f"binance-mcp policy: {missing}: no such file; the bundled policies ("
        )
        assert len(result.stderr.splitlines()) == 1
        assert result.stdout == ""


def test_subprocess_a_directory_is_bad_usage(tmp_path: Path) -> None:
    result = run_subprocess("check", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr == f"binance-mcp policy: {tmp_path}: is a directory, not a policy file\n"


def test_subprocess_bad_usage_exits_2() -> None:
    assert run_subprocess().returncode == 2
    assert run_subprocess("frobnicate").returncode == 2
    result = run_subprocess("explain", "policies/default.json", "--network", "moon")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def test_subprocess_explain_and_schema() -> None:
    explained = run_subprocess("explain", "policies/read-only.json", "--network", "demo")
    assert explained.returncode == 0
    assert explained.stdout.splitlines()[0] == "policies/read-only.json on demo: default deny"
    schema = run_subprocess("schema")
    assert schema.returncode == 0
    assert json.loads(schema.stdout)["title"] == "binance-mcp policy"


def test_subprocess_explain_refuses_an_invalid_policy(bad_policy: Path) -> None:
    result = run_subprocess("explain", str(bad_policy))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f'{bad_policy}: default: is "maybe": must be "allow" or "deny"' in result.stderr.splitlines()


def test_through_the_binance_mcp_command_line(bad_policy: Path) -> None:
    pytest.importorskip("binance_mcp.cli")
    command = [sys.executable, "-m", "binance_mcp.cli", "policy"]
    done = subprocess.run(
        [*command, "check", "policies/testnet-trader.json", str(bad_policy)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout.startswith(
        f"policies/testnet-trader.json: valid — default deny, {len(TOOL_NAMES)} tools visible"
    )
    assert f"{bad_policy}: rules.cancel_ordr: unknown tool; did you mean cancel_order?" in done.stderr
