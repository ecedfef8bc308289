"""`binance-mcp audit`: the calls in the audit log, oldest first, and the log's own checks.

    binance-mcp audit [FILTERS] [--json | --csv] [--limit N]   the calls, as a table, JSON Lines or CSV
    binance-mcp audit follow ID                                 one call and everything about its order
    binance-mcp audit verify [--anchor SEQ:HASH] [--archives DIR]   the chain: edits, deletions, truncation
    binance-mcp audit archive --before WHEN [--to DIR]          retention: old records to compressed files

FILTERS: `--since`/`--until WHEN` (ISO 8601, a time without a zone is UTC, or a duration back from
now: `30m`, `1h`, `2d`, `1w`, `1h30m`), `--tool`, `--decision`, `--outcome`, `--client` (each
repeatable or comma-separated: any of them), `--identity token|declared|anonymous`,
`--order-id`, `--client-order-id`, `--approved-by`. Output is streamed: constant memory however
long the log. Bad input: one line on stderr, exit 2. It only reads: a missing state dir or database
is reported, never created.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sqlite3
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from binance_mcp.commands.state_url import add_state_url, state_url_of
from binance_mcp.commands.table import ascii_only, safe, shorten
from binance_mcp.config import ConfigError
from binance_mcp.state_dir import StateError, usable_state_dir
from binance_mcp.stores.audit import (
    DECISIONS,
    OUTCOMES,
    AuditFilter,
    AuditLog,
    AuditRecord,
    audit_path,
    canonical_json,
)
from binance_mcp.stores.audit_chain import parse_anchor
from binance_mcp.stores.audit_key import AuditKeyError

PROG = "binance-mcp audit"

_DURATION_PART = re.compile(r"(\d+)([smhdw])")
_DURATION = re.compile(r"(?:\d+[smhdw])+")
_MAX_PROBLEMS = 50
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

# (column, header, width); the last column is not padded. Fixed widths: the table streams.
_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("id", "ID", 7),
    ("time", "TIME", 24),
    ("client", "CLIENT", 20),
    ("identity", "KNOWN BY", 9),
    ("tool", "TOOL", 18),
    ("decision", "DECISION", 17),
    ("outcome", "OUTCOME", 8),
    ("approved_by", "APPROVED BY", 14),
    ("order", "ORDER", 36),
    ("order_id", "ORDER ID", 12),
    ("client_order_id", "CLIENT ORDER ID", 24),
    ("reason", "REASON", 0),
)
_CSV_FIELDS = (
    "id",
    "seq",
    "time",
    "client",
    "identity",
    "session",
    "network",
    "base_url",
    "account",
    "tool",
    "decision",
    "outcome",
    "approved_via",
    "approved_by",
    "rule",
    "reason",
    "order_id",
    "client_order_id",
    "latency_ms",
    "arguments",
)
_ESSENTIALS = ("side", "quantity", "quote_quantity", "symbol", "type", "price", "stop_price")
IDENTITIES = ("token", "declared", "anonymous")


class UsageError(Exception):
    """Bad input on the command line; the message is the one line shown."""


def add_parser(subparsers: Any) -> None:
    """Register `audit` on the top-level parser's subparsers (`parser.add_subparsers()`)."""
    parser = subparsers.add_parser(
        "audit",
        help="show tool calls and the guard's decisions; follow an order; verify the log",
        description="Show the audit log (every tool call and the guard's decision, oldest first), "
        "follow one call's order (`audit follow ID`), or verify the log's chain (`audit verify`).",
    )
    _add_arguments(parser, top_level=False)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser, *, top_level: bool) -> None:
    parser.add_argument(
        "action",
        nargs="*",
        metavar="verify | follow ID",
        help="`verify`: check the chain; `follow ID`: one call (by record id) and all about its order",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="JSON Lines: one object a line")
    output.add_argument("--csv", action="store_true", help="CSV with a header row")
    parser.add_argument("--tool", metavar="T", action="append", help="only calls of these tools")
    parser.add_argument(
        "--decision", metavar="D", action="append", help=f"only these decisions: {', '.join(DECISIONS)}"
    )  # validated in run(), for a one-line error
    parser.add_argument(
        "--outcome", metavar="O", action="append", help=f"only these outcomes: {', '.join(OUTCOMES)}"
    )
    parser.add_argument(
        "--client", "--agent", metavar="NAME", action="append", help="only calls by these agents or clients"
    )
    parser.add_argument(
        "--identity", metavar="HOW", help="only callers known this way: " + ", ".join(IDENTITIES)
    )
    parser.add_argument(
        "--since",
        metavar="WHEN",
        help="only records at or after WHEN: ISO 8601 (no zone means UTC) or a duration (30m, 1h, 2d, 1w)",
    )
    parser.add_argument("--until", metavar="WHEN", help="only records before WHEN (as --since)")
    parser.add_argument("--order-id", metavar="N", help="only calls about this exchange order id")
    parser.add_argument("--client-order-id", metavar="ID", help="only calls about this client order id")
    parser.add_argument("--approved-by", metavar="WHO", help="only calls this operator approved")
    parser.add_argument(
        "--events",
        action="store_true",
        help="also the log's events: operators' decisions, policy loads, gaps (--decision event: only them)",
    )
    parser.add_argument("--limit", metavar="N", help="keep only the newest N records (N ≥ 1)")
    parser.add_argument("--anchor", metavar="SEQ:HASH", help="with verify: a head the server logged earlier")
    parser.add_argument("--archives", metavar="DIR", help="with verify: also the archive files in DIR")
    parser.add_argument(
        "--before", metavar="WHEN", help="with archive: records older than WHEN (90d, or a time)"
    )
    parser.add_argument(
        "--to", metavar="DIR", help="with archive: where the files go (default: STATE_DIR/audit-archive)"
    )
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


def _choices(values: list[str] | None, allowed: tuple[str, ...], flag: str) -> tuple[str, ...]:
    """Repeated and comma-separated values, each checked against `allowed` when given."""
    chosen = tuple(v.strip() for value in values or () for v in value.split(",") if v.strip())
    for value in chosen:
        if allowed and value not in allowed:
            raise UsageError(f"{flag} {value!r} is not one of: {', '.join(allowed)}")
    return chosen


def _whole(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    if not value.strip().isdigit():
        raise UsageError(f"{flag} {value!r} is not a whole number")
    return int(value)


def audit_filter(args: argparse.Namespace) -> AuditFilter:
    """The filters on the command line, checked (`UsageError` names the bad one)."""
    if args.identity is not None and args.identity not in IDENTITIES:
        raise UsageError(f"--identity {args.identity!r} is not one of: {', '.join(IDENTITIES)}")
    return AuditFilter(
        tools=_choices(args.tool, (), "--tool"),
        decisions=_choices(args.decision, DECISIONS, "--decision"),
        outcomes=_choices(args.outcome, OUTCOMES, "--outcome"),
        clients=_choices(args.client, (), "--client"),
        identity=args.identity,
        since=None if args.since is None else parse_since(args.since),
        until=None if args.until is None else parse_since(args.until),
        order_id=_whole(args.order_id, "--order-id"),
        client_order_id=args.client_order_id,
        approved_by=args.approved_by,
        events=bool(getattr(args, "events", False)),
    )


def run(args: argparse.Namespace) -> int:
    """Print what `args` asks for. 0 done (also with no log yet), 1 `verify` found the log
    changed, 2 bad input or state."""
    try:
        return _run(args)
    except (UsageError, StateError, ConfigError, AuditKeyError) as exc:
        _error(str(exc))
        return 2
    except sqlite3.Error as exc:
        _error(f"cannot read the audit log: {exc}")
        return 2
    except BrokenPipeError:  # `binance-mcp audit | head`
        _silence_stdout()
        return 0


@contextmanager
def _opened(args: argparse.Namespace) -> Iterator[tuple[AuditLog | None, str]]:
    """The audit log the arguments name (None when there is none yet), and where it is."""
    state_url = state_url_of(args)
    if state_url is not None:
        from binance_mcp.stores import PostgresState

        with PostgresState(state_url) as state:
            yield state.audit(), state.describe()
        return
    state_dir = usable_state_dir(getattr(args, "state_dir", None), create=False)
    path = audit_path(state_dir)
    if not path.is_file():
        yield None, str(state_dir)
        return
    with AuditLog(path) as log:
        yield log, str(state_dir)


def _run(args: argparse.Namespace) -> int:
    action = list(args.action or [])
    if action and action[0] == "verify" and len(action) == 1:
        anchor = None
        if args.anchor is not None:
            try:
                anchor = parse_anchor(args.anchor)
            except ValueError as exc:
                raise UsageError(f"--anchor: {exc}") from None
        return _verify(args, anchor)
    if action and action[0] == "archive" and len(action) == 1:
        return _archive(args)
    if action and action[0] == "follow":
        if len(action) != 2 or not action[1].isdigit():
            raise UsageError(
                "follow takes one record id (the ID column of `binance-mcp audit`): audit follow 42"
            )
        return _follow(args, int(action[1]))
    if action:
        raise UsageError(
            f"unknown action {' '.join(action)!r}: use `audit`, `audit verify` or `audit follow ID`"
        )
    found = audit_filter(args)
    limit = None if args.limit is None else _parse_limit(args.limit)
    with _opened(args) as (log, where):
        if log is None:
            # With --json or --csv, stdout stays valid (empty); the note goes to stderr.
            print(
                f"no audit records yet in {where}", file=sys.stderr if args.json or args.csv else sys.stdout
            )
            return 0
        shown = _write(log.calls(found, newest=limit), args)
    if not shown and not (args.json or args.csv):
        print(
            "no audit records match these filters"
            if found != AuditFilter()
            else f"no audit records yet in {where}"
        )
    sys.stdout.flush()
    return 0


def _write(records: Iterable[AuditRecord], args: argparse.Namespace) -> int:
    """Stream `records` to stdout in the chosen format; returns how many."""
    shown = 0
    if args.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(_CSV_FIELDS)
        for record in records:
            writer.writerow(_csv_row(record))
            shown += 1
        return shown
    for record in records:
        if args.json:
            print(_json_line(record))
        else:
            if shown == 0:
                print(_table_line([header for _, header, _ in _COLUMNS]))
            print(_table_line([_cell(record, column) for column, _, _ in _COLUMNS]))
        shown += 1
    return shown


def _verify(args: argparse.Namespace, anchor: tuple[int, str] | None) -> int:
    with _opened(args) as (log, where):
        if log is None:
            if anchor is not None and anchor[0] > 0:
                print("audit log CHANGED: 1 problem(s) in 0 records")
                print(
                    f"  the anchor names record {anchor[0]}, but there is no audit log in {where}: it was deleted"
                )
                return 1
            print(f"no audit records yet in {where}: nothing to verify")
            return 0
        report = log.verify(anchor)
        checkpoint = log.checkpoint()
    problems = list(report.problems)
    archived = ""
    if args.archives is not None:
        from binance_mcp.stores.audit_archive import verify_archives
        from binance_mcp.stores.audit_key import audit_key

        files, end = verify_archives(Path(args.archives), audit_key(create=False))
        problems = [*files.problems, *problems]
        if end != checkpoint:
            problems.append(
                f"the archives in {args.archives} end at record {end[0]}, but the log continues from record "
                f"{checkpoint[0]}: an archive is missing, or belongs to another log"
            )
        archived = f", and {files.records} archived records (1 to {end[0]}) in {args.archives}"
    elif checkpoint[0]:
        archived = f" (records 1 to {checkpoint[0]} are archived: add --archives DIR to verify them too)"
    if not problems:
        print(
            f"audit log intact: {report.records} records, {checkpoint[0] + 1} to {report.head_seq}, every hash "
            f"matches{archived}"
        )
        print(f"head (keep it elsewhere; verify --anchor checks it later): {report.anchor}")
        return 0
    print(f"audit log CHANGED: {len(problems)} problem(s) in {report.records} records")
    for problem in problems[:_MAX_PROBLEMS]:
        print(f"  {problem}")
    if len(problems) > _MAX_PROBLEMS:
        print(f"  … and {len(problems) - _MAX_PROBLEMS} more")
    return 1


def _archive(args: argparse.Namespace) -> int:
    from binance_mcp.stores.audit_archive import archive

    if args.before is None:
        raise UsageError(
            "archive needs --before WHEN (e.g. --before 90d): records older than that are archived"
        )
    before = parse_since(args.before)
    with _opened(args) as (log, where):
        if log is None:
            print(f"no audit records yet in {where}: nothing to archive")
            return 0
        directory = Path(args.to) if args.to else _default_archive_dir(args, where)
        done = archive(log, before, directory)
    if done.path is None:
        print(
            f"nothing to archive: no record older than {before.isoformat()} (or the oldest is still in flight)"
        )
    else:
        print(f"archived records {done.first} to {done.last} ({done.records}) to {done.path}")
    return 0


def _default_archive_dir(args: argparse.Namespace, where: str) -> Path:
    if state_url_of(args) is not None:
        raise UsageError("with --state-url, say where the archive goes: --to DIR")
    return Path(where) / "audit-archive"


def _follow(args: argparse.Namespace, record_id: int) -> int:
    with _opened(args) as (log, where):
        if log is None:
            raise UsageError(f"no audit records yet in {where}")
        call = next(iter(log.calls(AuditFilter(ids=(record_id,)))), None)
        if call is None:
            raise UsageError(
                f"no call with record id {record_id} in {where} (the ID column of `binance-mcp audit`)"
            )
        related: dict[int, AuditRecord] = {int(call.id or 0): call}
        if call.order_id is not None:
            related.update((int(r.id or 0), r) for r in log.calls(AuditFilter(order_id=call.order_id)))
        if call.client_order_id:
            related.update(
                (int(r.id or 0), r) for r in log.calls(AuditFilter(client_order_id=call.client_order_id))
            )
        records = sorted(related.values(), key=lambda r: (r.time, r.id or 0))
        if args.json or args.csv:
            _write(records, args)
            return 0
        print(f"call {record_id}: {call.tool} by {_name(call)} ({call.identity}) at {call.time}")
        for record in records:
            marker = "▶" if record.id == call.id else " "
            print(f"{marker} {record.id}  {record.time}  {record.tool}  {record.decision} → {record.outcome}")
            details = [
                f"order: {_order_text(record.arguments)}" if _order_text(record.arguments) else "",
                f"approved by {safe(record.approved_by)} via {record.approved_via}"
                if record.approved_by
                else "",
                f"order id {record.order_id}" if record.order_id is not None else "",
                f"client order id {safe(record.client_order_id)}" if record.client_order_id else "",
                f"rule {safe(record.rule)}" if record.rule else "",
                _result_text(record.result) if record.result else "",
                safe(record.reason) if record.reason else "",
            ]
            for detail in filter(None, details):
                print(f"      {detail}")
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
    # json escapes C0 controls itself; safe() escapes DEL, C1, format characters and the line
    # separators U+2028/U+2029 as \uXXXX: every line splits the same way for every reader.
    return safe(json.dumps(record.to_dict(), ensure_ascii=False))


def _result_text(result: dict[str, Any]) -> str:
    """What an order came to, in a line: `status FILLED, executed 0.001, quote 65.3, 2 fills (…)`."""
    words = [f"status {result['status']}"] if result.get("status") else []
    if result.get("executed_quantity"):
        words.append(f"executed {result['executed_quantity']}")
    if result.get("cumulative_quote_quantity"):
        words.append(f"quote {result['cumulative_quote_quantity']}")
    fills = result.get("fills") or []
    if fills:
        shown = ", ".join(f"{f.get('quantity')} @ {f.get('price')}" for f in fills[:5] if isinstance(f, dict))
        words.append(f"{len(fills)} fill{'s' if len(fills) != 1 else ''} ({shown})")
    if result.get("recovered"):
        words.append("completed by crash recovery" if len(result) == 1 else "recovered after a lost answer")
    legs = result.get("orders") or []
    if legs:
        words.append(
            f"{len(legs)} legs: "
            + "; ".join(
                f"{leg.get('order_id')} {leg.get('side', '')} {leg.get('type', '')} {leg.get('status', '')}".strip()
                for leg in legs
                if isinstance(leg, dict)
            )
        )
    return safe("result: " + ", ".join(words)) if words else ""


def _csv_row(record: AuditRecord) -> list[str]:
    data = record.to_dict()
    data["arguments"] = canonical_json(record.arguments)
    return [safe("" if data.get(name) is None else str(data[name])) for name in _CSV_FIELDS]


def _name(record: AuditRecord) -> str:
    """The caller's name as shown: look-alike letters escaped, so `bоb` (Cyrillic о) is not `bob`."""
    return ascii_only(record.client_name) or "-"


def _order_text(arguments: dict[str, Any]) -> str:
    """An order's essentials from its arguments: `BUY 0.01 BTCUSDT LIMIT @65000`."""
    words = [str(arguments[k]) for k in _ESSENTIALS[:5] if isinstance(arguments.get(k), str | int | float)]
    if "quote_quantity" in arguments and "quantity" not in arguments:
        words = [w if w != str(arguments["quote_quantity"]) else f"{w} (quote)" for w in words]
    if isinstance(arguments.get("price"), str | int | float):
        words.append(f"@{arguments['price']}")
    if isinstance(arguments.get("stop_price"), str | int | float):
        words.append(f"stop {arguments['stop_price']}")
    if not words and isinstance(arguments.get("order_id"), int | str):
        words.append(f"order {arguments['order_id']}")
    return safe(" ".join(words))


def _cell(record: AuditRecord, column: str) -> str:
    if column == "client":
        value: Any = _name(record)
    elif column == "identity":
        value = record.identity
    elif column == "approved_by":
        value = ascii_only(record.approved_by) if record.approved_by else None
    elif column == "order":
        value = _order_text(record.arguments)
    else:
        value = getattr(record, column)
    return safe(str(value)) if value not in (None, "") else "-"


def _table_line(cells: list[str]) -> str:
    """One row: each cell cut or padded to its column's width, two spaces apart."""
    parts = [
        shorten(cell, width).ljust(width) if width else cell
        for cell, (_, _, width) in zip(cells, _COLUMNS, strict=True)
    ]
    return "  ".join(parts).rstrip()


def format_table(records: list[AuditRecord]) -> str:
    """The records as a table, one line each (the header first)."""
    header = _table_line([header for _, header, _ in _COLUMNS])
    return "\n".join([header, *(_table_line([_cell(r, c) for c, _, _ in _COLUMNS]) for r in records)])


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
