"""What the audit log's hash chain costs replicas: two writer processes on one PostgreSQL
database (and, beside it, on one SQLite file), each appending records as fast as it can, with the
chain (`AuditLog.append`: the head row read and updated under the chain's advisory lock, one
transaction per record) against the single unchained INSERT the log did before. Alternating pairs,
medians and the median of the paired ratios (records per second).

    python benchmarks/audit_chain.py [--pairs 9] [--records 300]

Starts its own PostgreSQL (tests/services.py) and stops it.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import paired_summary


def _record() -> object:
    from binance_mcp.stores.audit import AuditRecord

    return AuditRecord(
        network="testnet",
        base_url="http://127.0.0.1:1",
        tool="get_price",
        arguments={"symbol": "BTCUSDT"},
        decision="allowed",
        outcome="ok",
        client="bench",
        account="testnet:bench",
    )


def _writer(where: str, chained: bool, records: int, go: object, done: object) -> None:
    from binance_mcp.stores.audit import _CONTENT, AuditLog

    if where.startswith("postgresql://"):
        from binance_mcp.stores import PostgresState

        log = PostgresState(where).audit()
    else:
        log = AuditLog(Path(where))
    log._key = b"k" * 32  # a key of the benchmark's own: the user's audit key is never touched
    record = _record()
    row = (*log._row(record), None)
    plain = f"INSERT INTO audit ({', '.join(_CONTENT)}) VALUES ({', '.join('?' * len(_CONTENT))})"
    go.wait()  # type: ignore[attr-defined]
    started = time.perf_counter()
    for _ in range(records):
        if chained:
            log.append(record)
        else:
            log._db.statement(plain, row, durable=False)
    done.put(time.perf_counter() - started)  # type: ignore[attr-defined]


def rate(where: str, chained: bool, records: int, writers: int = 2) -> float:
    """Records per second written by `writers` processes at once."""
    go, done = multiprocessing.Event(), multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_writer, args=(where, chained, records, go, done))
        for _ in range(writers)
    ]
    for process in processes:
        process.start()
    time.sleep(1.0)  # connected and migrated
    go.set()
    slowest = max(done.get(timeout=120) for _ in processes)
    for process in processes:
        process.join()
    return writers * records / slowest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=9)
    parser.add_argument("--records", type=int, default=300)
    args = parser.parse_args()
    from tests.services import postgres_server

    with postgres_server() as postgres, tempfile.TemporaryDirectory() as tmp:
        for name, where in (
            ("PostgreSQL", postgres.new_database()),
            ("SQLite", str(Path(tmp) / "audit.sqlite3")),
        ):
            rate(where, True, 5)  # create the schema once, outside the measurement
            chained, plain = [], []
            for _ in range(args.pairs):
                plain.append(rate(where, False, args.records))
                chained.append(rate(where, True, args.records))
            print(
                f"{name}: two writer processes, {args.records} records each, {args.pairs} alternating pairs"
            )
            print(
                paired_summary(
                    "chained (records/s)", chained, "unchained INSERT (records/s)", plain, unit="/s"
                )
            )


if __name__ == "__main__":
    main()
