"""UTC timestamps as this server writes and compares them: one format, one function each.

The audit log, crash recovery (which compares a record's time with the process's start), the
leases, the tokens, the approvals and the budgets all speak ISO 8601 in UTC with a `Z`; comparing two of these strings
is comparing two instants only because they are always written the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime


def utc_now_text() -> str:
    """Now, to the millisecond: `2026-11-29T21:36:48.123Z` (the audit log's `time`)."""
    return utc_text(datetime.now(UTC))


def utc_text(moment: datetime) -> str:
    """An instant to the millisecond, in UTC, with a `Z`. A naive datetime is taken to be UTC already."""
    return _in_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_seconds_text(moment: datetime) -> str:
    """An instant to the second, for people: `2026-11-30T00:00:00Z` (when a budget resets)."""
    return _in_utc(moment).isoformat(timespec="seconds").replace("+00:00", "Z")


def _in_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
