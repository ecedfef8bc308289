"""`binance-mcp approvals` as a person runs it: a subprocess, against a state dir the server wrote."""

from __future__ import annotations

import getpass
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from binance_mcp.account import AccountKey
from binance_mcp.stores.approvals import canonical_arguments, open_approval_store

ROOT = Path(__file__).resolve().parent.parent
KEY = canonical_arguments({"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01"}, drop_client_order_id=True)
CALL = {
    "tool": "place_order",
    "account": str(AccountKey.of("testnet", "key-a")),
    "agent": "bob",
    "arguments_key": KEY,
}
QUESTION = "BUY 0.01 BTCUSDT LIMIT at 65000 (≈650 USDT) on TESTNET — approve?"


def approvals(*args: str, env: dict[str, str] | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}
    return subprocess.run(
        [sys.executable, "-m", "binance_mcp.cli", "approvals", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=base | (env or {}),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def request(state_dir: Path, **changes: object) -> str:
    state_dir.mkdir(exist_ok=True)
    with open_approval_store(state_dir) as store:
        return store.request(**(CALL | changes), question=QUESTION, ttl_s=600).id  # type: ignore[arg-type]


def test_no_approvals_yet_creates_nothing(tmp_path: Path) -> None:
    state_dir = tmp_path / "state"
    done = approvals("--state-dir", str(state_dir))
    assert (done.returncode, done.stdout, done.stderr) == (0, f"no approvals yet in {state_dir}\n", "")
    assert not state_dir.exists()
    listed = approvals("list", "--json", env={"BINANCE_MCP_STATE_DIR": str(state_dir)})
    assert (listed.returncode, listed.stdout) == (0, "")  # stdout stays JSON lines; the note is on stderr
    assert f"no approvals yet in {state_dir}" in listed.stderr


def test_list_shows_what_a_human_needs_to_decide(tmp_path: Path) -> None:
    first = request(tmp_path)
    second = request(tmp_path, tool="cancel_order", agent=None)
    done = approvals("list", "--state-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == [
        "ID",
        "AGE",
        "EXPIRES",
        "STATUS",
        "TOOL",
        "NETWORK",
        "AGENT",
        "CLIENT-ORDER-ID",
        "NOTIONAL",
        "BY",
        "QUESTION",
    ]
    assert len(rows) == 2
    age = re.compile(r"[0-9]{1,2}s")  # asked a moment ago (seconds, however slow this machine is today)
    assert age.fullmatch(rows[0].split()[1]) and age.fullmatch(rows[1].split()[1])
    assert rows[0].split()[2:7] == ["59m", "pending", "place_order", "testnet", "bob"]
    assert rows[0].split()[0] == first and rows[0].endswith(QUESTION)
    assert rows[1].split()[2:7] == ["59m", "pending", "cancel_order", "testnet", "-"]
    assert rows[1].split()[0] == second


def test_list_json_is_one_object_a_line(tmp_path: Path) -> None:
    approval_id = request(tmp_path)
    done = approvals("--json", env={"BINANCE_MCP_STATE_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    record = json.loads(line)
    assert record["id"] == approval_id
    assert (record["status"], record["tool"], record["agent"], record["question"]) == (
        "pending",
        "place_order",
        "bob",
        QUESTION,
    )


def test_approve_then_the_matching_call_is_allowed_once(tmp_path: Path) -> None:
    approval_id = request(tmp_path)
    done = approvals("approve", approval_id.lower(), "--state-dir", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"approved {approval_id.lower()} (place_order on testnet for agent bob) as cli:{getpass.getuser()}: {QUESTION}",
        "the next matching call within its approval_ttl (600 s now) runs, once; "
        f"`binance-mcp approvals revoke {approval_id}` withdraws it until then",
    ]
    with open_approval_store(tmp_path) as store:
        assert store.take(**CALL) is not None
        assert store.take(**CALL) is None
    listed = approvals("list", "--decided", "--state-dir", str(tmp_path))
    assert f"{approval_id}  " in listed.stdout and " used " in listed.stdout
    assert approvals("list", "--state-dir", str(tmp_path)).stdout.startswith("no approvals waiting in")


def test_deny_and_the_call_never_runs(tmp_path: Path) -> None:
    approval_id = request(tmp_path)
    done = approvals("--state-dir", str(tmp_path), "deny", approval_id)  # option before the verb too
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"denied {approval_id} (place_order on testnet for agent bob)")
    with open_approval_store(tmp_path) as store:
        assert store.take(**CALL) is None


def test_a_top_level_state_dir_works_too(tmp_path: Path) -> None:
    approval_id = request(tmp_path)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "binance_mcp.cli",
            "--state-dir",
            str(tmp_path),
            "approvals",
            "approve",
            approval_id,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr


def test_unknown_and_already_decided_ids_exit_1_with_one_line(tmp_path: Path) -> None:
    missing = approvals("approve", "apr-AAAA-BBBB", "--state-dir", str(tmp_path / "none"))
    assert missing.returncode == 1 and missing.stdout == ""
    (line,) = missing.stderr.strip().splitlines()
    assert line.startswith(
        f"binance-mcp approvals: error: no approval apr-AAAA-BBBB in {tmp_path / 'none'}; "
    )
    assert "--state-dir" in line and line.endswith("(there are no approvals in this one yet)")
    assert not (tmp_path / "none").exists()

    approval_id = request(tmp_path)
    unknown = approvals("deny", "apr-AAAA-BBBB", "--state-dir", str(tmp_path))
    assert unknown.returncode == 1
    (line,) = unknown.stderr.strip().splitlines()
    assert line.startswith(f"binance-mcp approvals: error: no approval apr-AAAA-BBBB in {tmp_path}; ")
    assert "may keep its state in another dir" in line and "--state-dir DIR" in line

    assert approvals("approve", approval_id, "--state-dir", str(tmp_path)).returncode == 0
    twice = approvals("approve", approval_id, "--state-dir", str(tmp_path))
    assert twice.returncode == 1
    (line,) = twice.stderr.strip().splitlines()
    assert line.startswith(f"binance-mcp approvals: error: {approval_id} was already approved at ")


def test_an_expired_request_cannot_be_approved(tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as store:
        old = store.request(**CALL, question=QUESTION, now=datetime.now(UTC) - timedelta(days=2))
    done = approvals("approve", old.id, "--state-dir", str(tmp_path))
    assert done.returncode == 1
    assert "can no longer be decided" in done.stderr


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    done = approvals("approve", "--state-dir", str(tmp_path))
    assert done.returncode == 2
    assert "ID" in done.stderr
