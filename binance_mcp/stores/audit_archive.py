"""Retention: the audit log's oldest records moved to compressed files that keep their chain.

`archive(log, before, directory)` writes every record older than `before` (the chain's oldest,
up to the first one still in flight) to `audit-<first>-<last>.jsonl.gz` — a header line, then
each record with every stored column, its `seq` and its hash —, makes it durable, and only then
notes a checkpoint (the last archived record's seq and hash, the file's SHA-256) and deletes the
records. The chain is not broken: `verify` starts at the checkpoint, and `verify_archives` walks
the files from the first record, so one verification spans archives and database. The client
order ids of archived calls stay refused for reuse (`audit_archived_ids`).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from binance_mcp.stores.audit import _CONTENT, AuditLog
from binance_mcp.stores.audit_chain import GENESIS, ChainReport, walk

__all__ = ["Archived", "archive", "verify_archives"]

FORMAT = 1


@dataclass(frozen=True)
class Archived:
    """What `archive` did: the file (None when nothing was old enough) and the records it holds."""

    path: Path | None
    first: int
    last: int
    records: int


def archive(log: AuditLog, before: datetime, directory: Path) -> Archived:
    start, previous = log.checkpoint()
    through = log.archivable_through(before)
    if through <= start:
        return Archived(None, start + 1, start, 0)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"audit-{start + 1:012d}-{through:012d}.jsonl.gz"
    partial = path.with_name(path.name + ".partial")
    last_hash, count = previous, 0
    with open(partial, "wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as out:
            header = {"archive": FORMAT, "from_seq": start + 1, "to_seq": through, "previous_hash": previous}
            out.write((json.dumps(header) + "\n").encode())
            for record in log.raw_records(start, through):
                out.write((json.dumps(record, ensure_ascii=False, default=str) + "\n").encode())
                last_hash, count = str(record["hash"]), count + 1
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(partial, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    log.drop_archived(through, last_hash, path.name, digest)
    return Archived(path, start + 1, through, count)


def verify_archives(directory: Path, key: bytes) -> tuple[ChainReport, tuple[int, str]]:
    """Walk every archive in `directory` from the first record: each file's chain, and each file
    continuing the one before. Returns the report and where the archives end (seq, hash), which
    the database's checkpoint must equal."""
    files = sorted(directory.glob("audit-*.jsonl.gz"))
    report = ChainReport()
    end = (0, GENESIS)
    for path in files:
        try:
            with gzip.open(path, "rt", encoding="utf-8") as lines:
                header = json.loads(next(lines))
                if (header.get("from_seq"), header.get("previous_hash")) != (end[0] + 1, end[1]):
                    report.problems.append(
                        f"{path.name} starts at record {header.get('from_seq')}, but the archives before it end at "
                        f"record {end[0]}: an archive is missing or was changed"
                    )
                rows = (_row(json.loads(line)) for line in lines)
                part = walk(
                    key, rows, head=None, start=(int(header["from_seq"]) - 1, str(header["previous_hash"]))
                )
        except (OSError, EOFError, StopIteration, ValueError, KeyError, TypeError, AttributeError) as exc:
            report.problems.append(
                f"{path.name} cannot be read ({exc.__class__.__name__}): it was damaged or changed"
            )
            continue
        report.records += part.records
        report.problems += [f"{path.name}: {problem}" for problem in part.problems]
        end = (part.head_seq, part.head_hash)
    report.head_seq, report.head_hash = end
    return report, end


def _row(record: dict[str, Any]) -> tuple[int, int | None, str | None, tuple[Any, ...]]:
    return int(record["id"]), record.get("seq"), record.get("hash"), tuple(record.get(c) for c in _CONTENT)
