"""Complete, or refuse (issue #21 item 1): a full disk stops the answers until the audit log can be
written again, and the gap is recorded. The disk is a real 1 MiB tmpfs, filled for real."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client

from binance_mcp.stores.audit import AuditFilter, AuditLog, audit_path
from tests.conftest import make_app
from tests.fake_binance import FakeBinance
from tests.services import unavailable

pytestmark = pytest.mark.anyio

BUY = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "quantity": "0.001", "price": "30000"}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem of its own at tmp_path/state (as root: mount; elsewhere: skipped)."""
    where = tmp_path / "state"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        unavailable("a small filesystem (mount -t tmpfs needs root)", "— run the tests as root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path) -> Path:
    filler = disk / "filler"
    with contextlib.suppress(OSError), filler.open("wb") as out:
        while True:
            out.write(b"\0" * 4096)
            out.flush()
            os.fsync(out.fileno())
    return filler


def error_of(result) -> str | None:
    return (result.structured_content or {}).get("error") if result.is_error else None


async def test_a_full_disk_refuses_every_call_until_the_log_can_be_written_and_records_the_gap(
    tmp_path: Path, fake: FakeBinance, small_disk: Path
) -> None:
    app = make_app(tmp_path, fake.base_url)
    try:
        async with Client(app.server) as client:
            assert not (await client.call_tool("get_price", {"symbol": "BTCUSDT"})).is_error
            app.guard.audit  # noqa: B018 - drain: the first record is on disk
            filler = fill(small_disk)
            before = len(fake.requests)

            # a call may still be answered while its record, written behind the answer, fails
            # (SQLite may reuse its WAL's space for a while: call until a write fails) …
            for _ in range(200):
                first = await client.call_tool("get_price", {"symbol": "ETHUSDT"})
                if error_of(first) == "store_unavailable":
                    break
                app.guard.services.audit.flush()
            else:
                pytest.fail("200 records were written to a full disk")
            before = len(fake.requests)
            answers = [first]
            answers += [await client.call_tool("get_account_info", {}) for _ in range(3)]
            answers.append(await client.call_tool("place_order", BUY))
            for result in answers:
                assert error_of(result) == "store_unavailable", result
                assert result.structured_content["store"] == "audit log"
                assert "disk is full" in result.structured_content["reason"]
            assert fake.open_orders() == []
            assert len(fake.requests) == before  # nothing reached the exchange

            filler.unlink()
            result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            assert not result.is_error, result
            assert not (await client.call_tool("place_order", BUY)).is_error
    finally:
        app.close()
    with AuditLog(audit_path(small_disk)) as log:
        calls = [r for r in log.calls(AuditFilter(events=True)) if r.tool != "policy_loaded"]
        (gap,) = [r for r in calls if r.tool == "audit_gap"]
        assert gap.decision == "event"
        assert "the disk is full" in (gap.reason or "")
        assert "5 calls refused meanwhile" in (gap.reason or "")
        assert [r.tool for r in calls][-2:] == ["get_price", "place_order"]
        assert log.verify().intact
