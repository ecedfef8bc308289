"""`binance-mcp doctor` against a local Binance-compatible exchange: what it checks and says.

The scenarios DESIGN and the issue name (a working testnet setup, withdrawal-enabled keys on
mainnet, a skewed clock, an unreachable URL, bad configuration) run the command as a subprocess;
the variations of each check run `doctor.main` in-process, which is the same code without the
interpreter's start-up, to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from binance_mcp.account import AccountKey
from binance_mcp.commands import doctor
from binance_mcp.stores.budgets import open_budget_store
from binance_mcp.tools.names import TOOL_NAMES
from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance
from tests.keys import KEY_TYPES, key_secrets

KEYS = {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}
STATUS_LINE = re.compile(r"^(ok|FAIL|warn|skip|info) {2,3}[^:]+: .+$")


def run_doctor(*args: str, env: dict[str, str] | None = None, cwd: Path) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    return subprocess.run(
        [sys.executable, "-m", "binance_mcp.cli", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=base | (env or {}),
        cwd=cwd,  # a directory without a .env file
        stdin=subprocess.DEVNULL,
    )


def lines(text: str) -> dict[str, str]:
    """`what` → the whole line, for every status line."""
    found = {}
    for line in text.splitlines():
        if STATUS_LINE.match(line):
            found[line[6:].split(":", 1)[0]] = line
    return found


def assert_no_secret(*texts: str) -> None:
    """No API key, HMAC secret or private key (whole or any line of it) of any key type in `texts`."""
    for text in texts:
        for key_type in KEY_TYPES:
            for secret in key_secrets(key_type):
                assert secret not in text, key_type


# --------------------------------------------------------------------------- as a subprocess


def test_a_working_testnet_setup_passes_without_printing_a_secret(tmp_path: Path, fake: FakeBinance) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(
        json.dumps(
            {
                "version": "1",
                "hide": ["cancel_all_orders"],
                "rules": {
                    "get_*": {"action": "allow"},
                    "place_order": {
                        "action": "allow",
                        "rate_limit": {"max": 10, "window": 60},
                        "approve_above_notional": "50",
                    },
                    "cancel_order": {"action": "deny"},
                },
                "budgets": {"daily_notional": {"USDT": "500"}},
            }
        )
    )
    state = tmp_path / "state"
    state.mkdir()
    with open_budget_store(state) as budgets:
        budgets.reserve(account=str(AccountKey.of("testnet", API_KEY)), asset="USDT", amount=Decimal("120"), limit=Decimal("500"))  # fmt: skip
    env = KEYS | {"BINANCE_MCP_POLICY": str(policy), "BINANCE_MCP_STATE_DIR": str(state)}
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == ""
    assert_no_secret(done.stdout, done.stderr)
    out = done.stdout.splitlines()
    assert all(STATUS_LINE.match(line) for line in out[:-1]), out
    assert out[-1] == "no problems found"
    found = lines(done.stdout)
    assert found["network"] == f"info  network: testnet at {fake.base_url}"
    assert found["policy"] == f"ok    policy: {policy} is valid (default deny)"
    assert re.fullmatch(rf"ok    base URL: {re.escape(fake.base_url)} answers \(GET /api/v3/time in \d+ ms\)", found["base URL"])  # fmt: skip
    assert re.fullmatch(r"ok    clock: this machine is (in step with|\d+ ms (behind|ahead of)) the server's time \(±\d+ ms\)", found["clock"])  # fmt: skip
    assert (
        found["API keys"]
        == "ok    API keys: accepted (GET /api/v3/account signed with the HMAC key; account type SPOT, can trade: yes)"
    )
    assert found["key permissions"].startswith("skip  key permissions: checked on mainnet only")
    assert found["tools"] == f"info  tools: {len(TOOL_NAMES) - 1} of {len(TOOL_NAMES)} visible on testnet"
    assert found["allowed"] == (
        "info  allowed: get_price, get_orderbook, get_klines, get_24hr_ticker, get_symbol_info, get_limits, "
        "get_account_info, get_open_orders, get_order_history, get_order_lists, get_order, get_my_trades, get_order_preview"
    )
    assert found["need approval"] == "info  need approval: place_order (above 50)"
    assert found["denied"] == "info  denied: cancel_order, place_order_list, cancel_order_list, amend_order"
    assert found["hidden"] == "info  hidden: cancel_all_orders"
    assert found["rate limits"] == "info  rate limits: place_order 10 per 60 s per agent"
    assert found["budgets"] == "info  budgets: on testnet: 500 USDT per UTC day (120 spent today)"
    assert found["state dir"].startswith(f"ok    state dir: {state} is writable (budgets.sqlite3)")


def test_withdrawal_enabled_keys_fail_on_mainnet(tmp_path: Path, fake: FakeBinance) -> None:
    fake.withdraw_enabled = True
    done = run_doctor("--mainnet", "--base-url", fake.base_url, env=KEYS, cwd=tmp_path)
    assert done.returncode == 1
    assert_no_secret(done.stdout, done.stderr)
    found = lines(done.stdout)
    assert found["withdrawals"] == (
        "FAIL  withdrawals: these API keys can withdraw funds; binance-mcp refuses withdrawal-enabled keys "
        "on mainnet so that no agent can ever move money off the exchange. Create a key without withdrawals, "
        "or start with --allow-withdrawal-keys"
    )
    assert found["IP restriction"].startswith("warn  IP restriction: off")
    assert found["spot trading"] == "ok    spot trading: enabled on these keys"
    assert done.stdout.splitlines()[-1] == "1 check failed: withdrawals (1 warning)"


def test_a_skewed_clock_fails_saying_by_how_much_and_which_way(tmp_path: Path, fake: FakeBinance) -> None:
    fake.server_time_offset_ms = 5000
    done = run_doctor("--testnet", "--base-url", fake.base_url, env=KEYS, cwd=tmp_path)
    assert done.returncode == 1
    clock = lines(done.stdout)["clock"]
    match = re.match(r"FAIL  clock: this machine is (\d+) ms behind the server's time, over 1000 ms: ", clock)
    assert match is not None, clock
    assert 4900 <= int(match.group(1)) <= 5100
    assert "sync the clock" in clock
    # The keys are still checked, with the server's time: the doctor reports on them, not the clock again.
    assert lines(done.stdout)["API keys"].startswith("ok    API keys: accepted (")
    assert "checked with the clock corrected" in lines(done.stdout)["API keys"]


def test_an_unreachable_base_url_fails(tmp_path: Path) -> None:
    done = run_doctor("--testnet", "--base-url", "http://127.0.0.1:9", env=KEYS, cwd=tmp_path)
    assert done.returncode == 1
    assert_no_secret(done.stdout, done.stderr)
    found = lines(done.stdout)
    assert found["base URL"].startswith(
        "FAIL  base URL: could not connect to Binance at http://127.0.0.1:9: connection refused — check that "
        "http://127.0.0.1:9 is right and running: drop --base-url"
    )
    for what in ("clock", "API keys", "key permissions"):
        assert found[what].startswith(f"skip  {what}: not checked: the base URL did not answer")
    assert done.stdout.splitlines()[-1] == "1 check failed: base URL"


def test_bad_configuration_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = run_doctor(env=KEYS, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (2, "")
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("binance-mcp doctor: no Binance network chosen")
    only_key = run_doctor("--testnet", env={"BINANCE_API_KEY": API_KEY}, cwd=tmp_path)
    assert only_key.returncode == 2
    assert_no_secret(only_key.stdout, only_key.stderr)


# --------------------------------------------------------------------------- in-process variations


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("BINANCE"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("BINANCE_MCP_STATE_DIR", str(tmp_path / "state"))
    return tmp_path


def doctor_here(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, str], str]:
    status = doctor.main(list(argv))
    out, err = capsys.readouterr()
    assert_no_secret(out, err)
    return status, lines(out), out


def test_allow_withdrawal_keys_turns_the_failure_into_a_warning(
    clean_env: Path, fake: FakeBinance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    fake.withdraw_enabled = True
    status, found, out = doctor_here(
        capsys, "--mainnet", "--base-url", fake.base_url, "--allow-withdrawal-keys"
    )
    assert status == 0, out
    assert found["withdrawals"].startswith(
        "warn  withdrawals: ENABLED on these keys, accepted because of --allow"
    )
    assert out.splitlines()[-1] == "no problems found (2 warnings)"


def test_keys_without_withdrawals_and_with_an_ip_restriction_pass_on_mainnet(
    clean_env: Path, fake: FakeBinance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    fake.ip_restrict = True
    status, found, out = doctor_here(capsys, "--mainnet", "--base-url", fake.base_url)
    assert status == 0, out
    assert found["withdrawals"] == "ok    withdrawals: disabled on these keys"
    assert found["IP restriction"].startswith("ok    IP restriction: on")
    assert found["spot trading"] == "ok    spot trading: enabled on these keys"
    assert out.splitlines()[-1] == "no problems found"


def test_spot_trading_off_fails_only_when_the_policy_allows_trading(
    clean_env: Path, fake: FakeBinance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    fake.trading_enabled = False
    fake.ip_restrict = True
    status, found, _ = doctor_here(capsys, "--mainnet", "--base-url", fake.base_url)  # the default policy
    assert status == 1
    assert found["spot trading"] == (
        "FAIL  spot trading: disabled on these keys, but the policy allows place_order, cancel_order, "
        "cancel_all_orders, place_order_list, cancel_order_list, amend_order on mainnet: enable Spot & Margin "
        "Trading for the key, or deny those tools"
    )
    assert found["API keys"].startswith(
        "FAIL  API keys: accepted (GET /api/v3/account signed with the HMAC key; account type SPOT, can trade: no), but the policy"
    )

    read_only = str(Path(doctor.__file__).parent.parent / "policies" / "read-only.json")
    status, found, out = doctor_here(capsys, "--mainnet", "--base-url", fake.base_url, "--policy", read_only)
    assert status == 0, out
    assert found["spot trading"] == (
        "ok    spot trading: disabled on these keys, and the policy allows no trading tool on mainnet"
    )


def test_no_keys_is_a_skip_not_a_failure(
    clean_env: Path, fake: FakeBinance, capsys: pytest.CaptureFixture[str]
) -> None:
    status, found, out = doctor_here(capsys, "--testnet", "--base-url", fake.base_url)
    assert status == 0, out
    assert found["API keys"].startswith("skip  API keys: none set (BINANCE_API_KEY and BINANCE_API_SECRET")
    assert found["key permissions"] == "skip  key permissions: not checked: no API keys"
    assert found["state dir"].endswith("does not exist yet; the server creates it on start")
    assert not (clean_env / "state").exists()  # looking creates nothing


def test_keys_binance_refuses_fail(
    clean_env: Path, fake: FakeBinance, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", API_KEY)
    monkeypatch.setenv("BINANCE_API_SECRET", API_SECRET[::-1])
    status, found, _ = doctor_here(capsys, "--mainnet", "--base-url", fake.base_url)
    assert status == 1
    assert found["API keys"].startswith("FAIL  API keys: Binance refused them: Binance error -1022")
    assert found["key permissions"] == "skip  key permissions: not checked: the API keys did not work"


def test_a_clock_ahead_of_the_server(
    clean_env: Path, fake: FakeBinance, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.server_time_offset_ms = -3000
    status, found, _ = doctor_here(capsys, "--testnet", "--base-url", fake.base_url)
    assert status == 1
    assert re.match(
        r"FAIL  clock: this machine is \d{4} ms ahead of the server's time, over 1000 ms", found["clock"]
    )


def test_an_invalid_policy_fails(
    clean_env: Path, fake: FakeBinance, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = clean_env / "bad.json"
    bad.write_text(
        '{"version": "1", "rules": {"place_order": {"action": "allow", "constraints": {"max_notional": "x"}}}}'
    )
    status, found, _ = doctor_here(capsys, "--testnet", "--base-url", fake.base_url, "--policy", str(bad))
    assert status == 1
    assert found["policy"] == (
        f"FAIL  policy: {bad} is invalid: rules.place_order.constraints.max_notional: not a decimal"
    )
    assert "tools" not in found  # no summary of a policy the server would not start with


def test_network_url_and_keys_come_from_a_dot_env_file(
    clean_env: Path, fake: FakeBinance, capsys: pytest.CaptureFixture[str]
) -> None:
    (clean_env / ".env").write_text(
        f"BINANCE_NETWORK=testnet\nBINANCE_BASE_URL={fake.base_url}\n"
        f"BINANCE_API_KEY={API_KEY}\nBINANCE_API_SECRET={API_SECRET}\n"
    )
    status, found, out = doctor_here(capsys)
    assert status == 0, out
    assert found["network"] == f"info  network: testnet at {fake.base_url}"
    assert (
        found["API keys"]
        == "ok    API keys: accepted (GET /api/v3/account signed with the HMAC key; account type SPOT, can trade: yes)"
    )
