"""What the audit log records beyond the guarded calls (issue #21 item 1): calls to tools that do
not exist, and nothing from outside can forge a line of the server's log."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp_types import Implementation

from binance_mcp.logs import configure_logging
from binance_mcp.server import App
from binance_mcp.stores.audit import AuditLog, audit_path
from tests.fake_binance import FakeBinance

pytestmark = pytest.mark.anyio


async def test_a_call_to_a_tool_that_does_not_exist_is_recorded(app: App, tmp_path: Path) -> None:
    async with Client(app.server) as client:
        result = await client.call_tool("withdraw_everything", {"address": "x" * 5000})
        assert result.is_error and result.content[0].text == "Unknown tool: withdraw_everything"
        assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
    app.guard.audit  # noqa: B018 - drained
    with AuditLog(audit_path(tmp_path / "state")) as log:
        unknown, price = log.query()
    assert (unknown.tool, unknown.decision, unknown.outcome) == (
        "withdraw_everything",
        "unknown_tool",
        "refused",
    )
    assert unknown.client_name == "mcp" and unknown.identity == "declared"
    assert len(str(unknown.arguments)) < 2_200  # bounded like any call's
    assert price.tool == "get_price"


async def test_a_declared_name_cannot_write_a_log_line_of_its_own(
    app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("DEBUG")
    try:
        forged = "desk\n2026-12-05 10:00:00,000 INFO binance_mcp: approved by anna\u2028"
        async with Client(app.server, client_info=Implementation(name=forged, version="1")) as client:
            await client.call_tool("get_price", {"symbol": "BTCUSDT"})
        app.guard.audit  # noqa: B018 - drained
    finally:
        logging.getLogger().handlers.clear()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "get_price by" in line]
    assert len(lines) == 1 and "desk\\x0a2026-12-05" in lines[0] and "\\u2028" in lines[0]
    assert not any(line.startswith("2026-12-05 10:00:00,000") for line in err.splitlines())


async def test_failed_sign_ins_are_limited_per_address_and_summarised_without_the_token(
    tmp_path: Path, fake: FakeBinance, caplog: pytest.LogCaptureFixture
) -> None:
    """500 wrong tokens from one address: 20 answered 401, the rest 429 with Retry-After; one
    log line, one summary event in the audit log, never the token; a valid token still passes."""
    import httpx2

    from binance_mcp.http.sign_in import MAX_FAILURES
    from binance_mcp.stores.audit import AuditFilter
    from tests.test_http import running

    guesses = [f"guess-{n:04d}-{'x' * 20}" for n in range(60)]
    async with running(tmp_path, fake, agents=("alice",)) as server, httpx2.AsyncClient(timeout=30) as http:
        statuses = []
        for guess in guesses:
            answer = await http.post(server.url, headers={"Authorization": f"Bearer {guess}"}, json={})
            statuses.append(answer.status_code)
        assert statuses[:MAX_FAILURES] == [401] * MAX_FAILURES
        assert set(statuses[MAX_FAILURES:]) == {429}
        assert int(answer.headers["Retry-After"]) >= 1
        ok = await http.post(
            server.url,
            headers={
                "Authorization": f"Bearer {server.tokens['alice']}",
                "Accept": "application/json, text/event-stream",
            },
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
        assert ok.status_code != 429  # another client on the same address is not locked out
    with AuditLog(audit_path(server.app.state_dir)) as log:
        events = [r for r in log.calls(AuditFilter(decisions=("event",))) if r.tool == "sign_in_failures"]
        everything = [r.reason or "" for r in log.calls(AuditFilter(events=True))]
    (event,) = events
    assert "60 failed sign-ins from 127.0.0.1" in (event.reason or "") and "invalid_token 60" in (
        event.reason or ""
    )
    assert not any("guess-" in text for text in everything)
    lines = [r.getMessage() for r in caplog.records if "failed sign-in" in r.getMessage()]
    assert len(lines) == 1 and "guess-" not in lines[0]


async def test_a_signed_read_is_on_record_before_it_leaves(
    app: App, fake: FakeBinance, tmp_path: Path
) -> None:
    """A read the exchange received must not vanish with a process killed while it waited: its
    `pending` record is committed before the request leaves, and completed after (one call)."""
    import threading

    import anyio

    from tests.fake_binance import Hold

    hold = Hold(threading.Event(), threading.Event())
    fake.inject(hold, method="GET", path="/api/v3/account")
    answers: list[Any] = []
    async with Client(app.server) as client:

        async def read() -> None:
            answers.append(await client.call_tool("get_account_info", {}))

        async with anyio.create_task_group() as group:
            group.start_soon(read)
            for _ in range(3000):
                if hold.arrived.is_set():
                    break
                await anyio.sleep(0.01)
            with AuditLog(audit_path(tmp_path / "state")) as log:  # while the exchange holds it
                in_flight = [r.tool for r in log.pending(account=app.guard.services.account)]
            hold.released.set()
    assert in_flight == ["get_account_info"]
    assert not answers[0].is_error
    app.guard.audit  # noqa: B018 - drained
    with AuditLog(audit_path(tmp_path / "state")) as log:
        assert log.pending(account=app.guard.services.account) == []
        assert [(r.tool, r.outcome) for r in log.query()] == [("get_account_info", "ok")]


def test_failed_sign_ins_of_addresses_that_never_return_are_summarised_and_forgotten() -> None:
    """One window was kept per address until the server closed: a sweep of many addresses (an IPv6
    range) grew memory without end, and their summaries waited for the shutdown."""
    from binance_mcp.http.sign_in import FailedSignIns

    now = [0.0]
    summaries: list[str] = []
    failures = FailedSignIns(lambda address, sentence: summaries.append(address), clock=lambda: now[0])
    for address in ("2001:db8::1", "2001:db8::2", "2001:db8::3"):
        failures.failed(address, "invalid_token")
    now[0] = 61.0
    failures.failed("2001:db8::4", "invalid_token")
    assert sorted(summaries) == ["2001:db8::1", "2001:db8::2", "2001:db8::3"]
    assert failures.retry_after("2001:db8::1") is None
    failures.close()
    assert summaries[-1] == "2001:db8::4" and len(summaries) == 4
