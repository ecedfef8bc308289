"""What the audit log records beyond the guarded calls (issue #21 item 1): calls to tools that do
not exist, and nothing from outside can forge a line of the server's log."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from mcp import Client
from mcp_types import Implementation

from binance_mcp.logs import configure_logging
from binance_mcp.server import App
from binance_mcp.stores.audit import AuditLog, audit_path

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
