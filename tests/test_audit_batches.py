"""The audit writer commits the records queued together in one transaction, and loses none for it.

A busy server queues records faster than one commit each can take them; the writer then takes
every record waiting and commits them at once. What must not change: every record is written, in
the order it was queued, on an unbroken chain; a record the log refuses (outside its vocabulary)
is lost alone and counted, and the records queued with it are still written.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import anyio
import pytest
from mcp import Client

from binance_mcp.guard.audit_writer import AuditWriter
from binance_mcp.server import App
from binance_mcp.stores.audit import AuditLog, AuditRecord

AUDIT_KEY = b"k" * 32


def record(index: int) -> AuditRecord:
    return AuditRecord(
        network="testnet",
        base_url="http://127.0.0.1",
        tool="get_price",
        arguments={"n": index},
        decision="allowed",
        outcome="ok",
    )


def test_records_queued_together_are_all_written_in_order_and_a_refused_one_is_lost_alone(
    tmp_path: Path,
) -> None:
    store = AuditLog(tmp_path / "audit.sqlite3", key=AUDIT_KEY)
    writer = AuditWriter(lambda: store)
    release = threading.Event()
    first = record(0)

    def held_up() -> AuditRecord:  # keeps the writer busy while the others queue behind it
        assert release.wait(10)
        return first

    writer.write_made(held_up)
    for index in range(1, 40):
        refused = index == 17
        writer.write(dataclasses.replace(record(index), decision="bogus") if refused else record(index))
    release.set()
    writer.flush()
    written = [r.arguments["n"] for r in store.query()]
    outage = writer.outage
    report = store.verify()
    writer.close()
    assert written == [n for n in range(40) if n != 17]
    assert outage is not None and outage.lost == 1
    assert report.records == 39 and not report.problems


@pytest.mark.anyio
async def test_concurrent_calls_leave_every_record_on_an_unbroken_chain(app: App) -> None:
    async with Client(app.server) as client:

        async def price() -> None:
            result = await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            assert not result.is_error, result.content[0].text

        async with anyio.create_task_group() as group:
            for _ in range(60):
                group.start_soon(price)
    store = app.audit  # flushed
    calls = [r for r in store.query(tool="get_price")]
    sent = [r for r in store.query(decision="exchange")]
    report = store.verify()
    assert len(calls) == 60 and len(sent) >= 60
    assert not report.problems and report.records == report.head_seq
