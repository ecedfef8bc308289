"""`binance-mcp console` as a stdio user runs it (issue 10): a subprocess serving the approvals page on
loopback against the server's state dir; decisions land where the server's `take` finds them."""

from __future__ import annotations

import getpass
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from binance_mcp.account import AccountKey
from binance_mcp.stores.approvals import open_approval_store
from binance_mcp.stores.tokens import TokenStore
from tests.command import BINANCE_MCP

SERVING = re.compile(r"the approvals page is at (http://127\.0\.0\.1:\d+/approvals)")
CALL = {
    "tool": "place_order",
    "account": str(AccountKey.of("testnet", "key-a")),
    "agent": None,
    "arguments_key": '{"symbol":"BTCUSDT"}',
}


def env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("BINANCE")}


@contextmanager
def console(*args: str) -> Iterator[str]:
    process = subprocess.Popen(
        [BINANCE_MCP, "console", "--port", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        found = SERVING.search(line)
        assert found, line
        yield found.group(1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0


def csrf_of(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)  # type: ignore[union-attr]


def test_the_console_serves_the_page_on_loopback_against_the_state_dir(tmp_path: Path) -> None:
    with open_approval_store(tmp_path) as store:
        asked = store.request(
            **CALL, question="BUY 0.01 BTCUSDT LIMIT at 65000 (≈650 USDT) on TESTNET — approve?"
        )
    with console("--state-dir", str(tmp_path)) as url, httpx2.Client() as http:
        assert url.startswith("http://127.0.0.1:")
        shown = http.get(url)
        assert shown.status_code == 200 and asked.id in shown.text
        assert f"Signed in as <b>console:{getpass.getuser()}</b>" in shown.text
        assert http.post(f"{url}/{asked.id}/approve", data={"csrf": "wrong"}).status_code == 403
        done = http.post(f"{url}/{asked.id}/approve", data={"csrf": csrf_of(shown.text)})
        assert done.status_code == 303
        with open_approval_store(tmp_path) as store:
            taken = store.take(**CALL)
        assert taken is not None and (taken.decided_by, taken.decided_via) == (
            f"console:{getpass.getuser()}",
            "page",
        )
        # once an operator token exists, the console too needs a sign-in
        with TokenStore.in_state_dir(tmp_path) as tokens:
            tokens.add("anna", operator=True)
        assert http.get(url).status_code == 401
        assert http.get(url.removesuffix("/approvals") + "/").status_code == 303
        foreign = http.get(url, headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403


def test_a_port_in_use_or_a_bad_policy_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = subprocess.run(
            [BINANCE_MCP, "console", "--port", str(port), "--state-dir", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=30,
            env=env(),
        )
    assert busy.returncode == 2
    (line,) = busy.stderr.splitlines()
    assert line.startswith(f"binance-mcp console: error: cannot listen on 127.0.0.1:{port}")
    bad = tmp_path / "policy.json"
    bad.write_text('{"version": "1", "approvals": {"via": ["email"]}}')
    refused = subprocess.run(
        [BINANCE_MCP, "console", "--policy", str(bad), "--state-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
        env=env(),
    )
    assert refused.returncode == 2 and len(refused.stderr.splitlines()) == 1
    assert "approvals.via" in refused.stderr and "Traceback" not in refused.stderr


def test_a_relative_state_dir_serves_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """#21's "found on the way": `--state-dir` given relative, the page answered 500 (the budgets
    file's URI was made from the relative path)."""
    from binance_mcp.stores.budgets import open_budget_store

    (tmp_path / "relative").mkdir(mode=0o700)
    open_budget_store(tmp_path / "relative").close()  # budgets.sqlite3 exists: the page reads it
    monkeypatch.chdir(tmp_path)
    with console("--state-dir", "relative") as url, httpx2.Client() as http:
        assert http.get(url).status_code == 200
