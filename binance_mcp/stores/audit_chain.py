"""The audit log's chain: each record's hash covers its content and the hash of the record before.

A record is numbered by `seq` (1, 2, 3, … with no gap, given under the write lock from the one
`audit_head` row) and carries `hash = HMAC-SHA256(key, previous hash + content)`, keyed with the
audit key kept outside the state (`binance_mcp.stores.audit_key`). `verify` walks the records in
`seq` order and names the first place where the chain breaks:

- a record whose content was edited (its hash no longer matches);
- a record deleted (a gap in `seq`), or records reordered (the hash chain breaks where they moved);
- records cut from the end: the head row still names the last record, unless whoever cut them
  also rewrote the head; an anchor (`SEQ:HASH`, logged by the server and printed by `verify`),
  kept elsewhere, catches that too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["GENESIS", "ChainReport", "link", "walk"]

GENESIS = ""
"""The hash before the first record."""


def link(key: bytes, previous: str, seq: int, content: Sequence[Any]) -> str:
    """The hash of record `seq` with `content` (its stored columns, in a fixed order)."""
    text = json.dumps([seq, *content], ensure_ascii=False, separators=(",", ":"), default=str)
    return hmac.new(key, f"{previous}\n{text}".encode(), hashlib.sha256).hexdigest()


@dataclass
class ChainReport:
    """What `walk` found: how many records it checked, the last link, and each break, in words."""

    records: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        return f"{self.head_seq}:{self.head_hash}"

    @property
    def intact(self) -> bool:
        return not self.problems


def parse_anchor(text: str) -> tuple[int, str]:
    """`SEQ:HASH` → (seq, hash); raises ValueError with the expected form."""
    seq, sep, digest = text.strip().partition(":")
    if not sep or not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"anchor {text!r} is not SEQ:HASH (a record number, a colon, 64 hex digits)")
    return int(seq), digest


def walk(
    key: bytes,
    rows: Iterable[tuple[int, int | None, str | None, Sequence[Any]]],
    *,
    head: tuple[int, str] | None,
    anchor: tuple[int, str] | None = None,
    start: tuple[int, str] = (0, GENESIS),
) -> ChainReport:
    """Check `rows` — (id, seq, hash, content) in `seq` order — against `key`, the head row and an
    optional anchor, starting after `start` (the last archived record's seq and hash: 0 and the
    genesis when nothing was archived). Reports at most one problem per break, naming record
    numbers and ids."""
    report = ChainReport(head_seq=start[0], head_hash=start[1])
    expected_seq, previous = start[0] + 1, start[1]
    anchored = anchor is None
    for row_id, seq, digest, content in rows:
        if seq is None:
            report.problems.append(
                f"record id {row_id} has no place in the chain (written outside binance-mcp?)"
            )
            continue
        report.records += 1
        broken = False
        if seq > expected_seq:
            missing = f"{expected_seq}" if seq == expected_seq + 1 else f"{expected_seq}–{seq - 1}"
            report.problems.append(f"record {missing} missing before record {seq} (id {row_id}): deleted")
            broken = True
        elif seq < expected_seq:
            report.problems.append(
                f"record {seq} (id {row_id}) appears again or out of order after {expected_seq - 1}"
            )
            broken = True
        if not broken and digest != link(key, previous, seq, content):
            report.problems.append(
                f"record {seq} (id {row_id}) does not match its hash: it was changed"
                + (" (or it was not written with this audit key)" if report.records == 1 else "")
            )
        if anchor is not None and seq == anchor[0]:
            anchored = True
            if digest != anchor[1]:
                report.problems.append(
                    f"record {seq} (id {row_id}) is not the record the anchor names: rewritten"
                )
        previous = digest or GENESIS
        expected_seq = max(expected_seq, seq + 1)
        report.head_seq, report.head_hash = seq, previous
    if head is not None and (head[0], head[1]) != (report.head_seq, report.head_hash):
        if head[0] > report.head_seq:
            report.problems.append(
                f"the log ends at record {report.head_seq}, but its head says {head[0]}: records after "
                f"{report.head_seq} were removed (truncated)"
            )
        else:
            report.problems.append(
                f"the head says record {head[0]} but the log ends at record {report.head_seq}: the head was changed"
            )
    if not anchored and anchor is not None and anchor[0] <= start[0]:
        anchored = True  # the anchor names an archived record: the archives' own check covers it
    if not anchored:
        report.problems.append(
            f"the anchor names record {anchor[0] if anchor else 0}, but the log ends at record {report.head_seq}:"
            " records were removed (truncated), the head rewritten to hide it"
        )
    return report
