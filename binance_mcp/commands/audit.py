"""`binance-mcp audit`: the audit log as a table, or one JSON object a line; oldest first.

    binance-mcp audit [--json] [--tool T] [--decision D] [--since WHEN] [--limit N] [--state-dir DIR]

`WHEN` is ISO 8601 (a time without a zone is UTC) or a duration back from now (`30m`, `1h`,
`2d`, `1w`, `1h30m`); `--limit N` keeps the newest N. Bad input: one line on stderr, exit 2.
It only reads: a missing state dir or database is reported, never created.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from binance_mcp.commands.state_url import add_state_url, state_url_of
from binance_mcp.commands.table import aligned, safe, shorten
from binance_mcp.config import ConfigError
from binance_mcp.state_dir import StateError, usable_state_dir
from binance_mcp.stores.audit import DECISIONS, AuditLog, AuditRecord, audit_path, canonical_json

PROG = "binance-mcp audit"

_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_WORD = re.compile(r"[\w.:/+@-]+")  # shown bare in the table's arguments column
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# (column, header, widest it may get); the last column is not padded.
_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("time", "TIME", 24),
    ("client", "CLIENT", 20),
    ("network", "NETWORK", 10),
    ("tool", "TOOL", 20),
    ("decision", "DECISION", 17),
    ("outcome", "OUTCOME", 8),
    ("rule", "RULE", 36),
    ("reason", "REASON", 48),
    ("arguments", "ARGUMENTS", 60),
)


class UsageError(Exception):
    """Bad input on the command line; the message is the one line shown."""


def add_parser(subparsers: Any) -> None:
    """Register `audit` on the top-level parser's subparsers (`parser.add_subparsers()`)."""
    parser = subparsers.add_parser(
        "audit",
        help="show tool calls and the guard's decisions, oldest first",
        description="Show the audit log: every tool call and the guard's decision, oldest first.",
    )
    _add_arguments(parser, top_level=False)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object a line instead of a table")
    parser.add_argument("--tool", metavar="T", help="only calls of this tool")
    parser.add_argument(
        "--decision", metavar="D", help=f"only this decision: {', '.join(DECISIONS)}"
    )  # validated in run(), for a one-line error
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="only records at or after WHEN: ISO 8601 (no zone means UTC) or a duration (30m, 1h, 2d, 1w)",
    )
    parser.add_argument("--limit", metavar="N", help="keep only the newest N records (N ≥ 1)")
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        # As a subcommand, SUPPRESS keeps a top-level `--state-dir` (given before `audit`) from
        # being overwritten by this parser's default.
        default=None if top_level else argparse.SUPPRESS,
        help="the state dir (default: $BINANCE_MCP_STATE_DIR, else the platform's user state dir)",
    )
    add_state_url(parser, top_level=top_level)


def parse_since(value: str, *, now: datetime | None = None) -> datetime:
    """`value` as an aware UTC datetime: ISO 8601 (naive means UTC) or a duration before `now`
    (`30m`, `1h`, `2d`, `1w`, combined as `1h30m`; units s, m, h, d, w). Raises `UsageError`."""
    text = value.strip()
    if _DURATION.fullmatch(text):
        seconds = sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(text))
        try:
            return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        except OverflowError:
            raise UsageError(f"--since {value!r}: that duration reaches before year 1") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--since {value!r} is neither an ISO 8601 time (2026-11-25T14:30:00Z)"
            " nor a duration like 30m, 1h, 2d, 1w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _parse_limit(value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        raise UsageError(f"--limit {value!r} is not a whole number") from None
    if limit < 1:
        raise UsageError(f"--limit {value!r} must be 1 or more")
    return limit


def _parse_decision(value: str) -> str:
    if value not in DECISIONS:
        raise UsageError(f"--decision {value!r} is not one of: {', '.join(DECISIONS)}")
    return value


def run(args: argparse.Namespace) -> int:
    """Print the records `args` asks for. 0 done (also with no log yet), 2 bad input or state."""
    try:
        return _run(args)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except (StateError, ConfigError) as exc:
        _error(str(exc))
        return 2
    except sqlite3.Error as exc:
        _error(f"cannot read the audit log: {exc}")
        return 2
    except BrokenPipeError:  # `binance-mcp audit | head`
        _silence_stdout()
        return 0


def _run(args: argparse.Namespace) -> int:
    decision = None if args.decision is None else _parse_decision(args.decision)
    since = None if args.since is None else parse_since(args.since)
    limit = None if args.limit is None else _parse_limit(args.limit)
    state_url = state_url_of(args)
    if state_url is not None:
        from binance_mcp.stores import PostgresState

        with PostgresState(state_url) as state:
            where = state.describe()
            records = state.audit().query(tool=args.tool, decision=decision, since=since, limit=limit)
    else:
        state_dir = usable_state_dir(getattr(args, "state_dir", None), create=False)
        where = str(state_dir)
        path = audit_path(state_dir)
        if not path.is_file():
            # With --json, stdout stays valid JSON lines (empty); the note goes to stderr.
            print(f"no audit records yet in {state_dir}", file=sys.stderr if args.json else sys.stdout)
            return 0
        with AuditLog(path) as log:
            records = log.query(tool=args.tool, decision=decision, since=since, limit=limit)
    if args.json:
        for record in records:
            print(_json_line(record))
    elif records:
        print(format_table(records))
    elif args.tool or decision or since:
        print("no audit records match these filters")
    else:
        print(f"no audit records yet in {where}")
    sys.stdout.flush()
    return 0


def main(argv: list[str]) -> int:
    """`binance-mcp audit` on its own: `argv` is what follows the subcommand name."""
    parser = argparse.ArgumentParser(prog=PROG, description="Show the audit log, oldest first.")
    _add_arguments(parser, top_level=True)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse's own usage errors (exit 2) and --help (exit 0)
        return exc.code if isinstance(exc.code, int) else 2
    return run(args)


# --- output --------------------------------------------------------------------------------------


def _json_line(record: AuditRecord) -> str:
    # json escapes C0 controls itself; _safe catches DEL, C1 and format characters as \uXXXX.
    return safe(json.dumps(record.to_dict(), ensure_ascii=False))


def _arguments_text(arguments: dict[str, Any]) -> str:
    """`key=value` pairs (keys sorted); a value that is not a plain word is shown as JSON."""
    parts = []
    for key, value in sorted(arguments.items()):
        shown = value if isinstance(value, str) and _WORD.fullmatch(value) else canonical_json(value)
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def _cell(record: AuditRecord, column: str) -> str:
    value: Any = _arguments_text(record.arguments) if column == "arguments" else getattr(record, column)
    return safe(str(value)) if value not in (None, "") else "-"


def format_table(records: list[AuditRecord]) -> str:
    """The records as an aligned table, one line each, long cells shortened with `…`."""
    rows = [[shorten(_cell(r, col), cap) for col, _, cap in _COLUMNS] for r in records]
    headers = [header for _, header, _ in _COLUMNS]
    return aligned(headers, rows)


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    finally:
        os.close(devnull)
