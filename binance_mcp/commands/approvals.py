"""`binance-mcp approvals`: the human's side of out-of-band approval, from another terminal.

    binance-mcp approvals [list] [--decided] [--json] [--state-dir DIR]
    binance-mcp approvals approve ID [--state-dir DIR]
    binance-mcp approvals deny ID [--state-dir DIR]
    binance-mcp approvals revoke ID [--state-dir DIR]

A call that needs approval and may not ask in the client is refused with an approval id; the
person at this terminal (an operator, recorded as `cli:<user>`) reads the order (rendered by the
server from the validated call, never written by the model: client order id, agent, notional,
when the request expires), and approves or denies it. An approval lets one matching call through
within the `approval_ttl` in force when it is used; `revoke` (or `deny`) withdraws it until then.
This command and the approvals page are the only things that approve: nothing the model sends can.
An unknown id names the state dir looked in: the server may keep its state in another one.
Exit status: 0 done, 1 an unknown or already decided id, 2 bad usage or state.
`list` only reads: it creates no state dir and no database.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sqlite3
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from binance_mcp.commands.state_url import add_state_url, state_store
from binance_mcp.commands.table import aligned, safe, shorten
from binance_mcp.config import ConfigError
from binance_mcp.state_dir import StateError
from binance_mcp.stores.approvals import (
    APPROVED,
    PENDING,
    Approval,
    ApprovalError,
    UnknownApproval,
)

PROG = "binance-mcp approvals"

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

_STATE_DIR_HELP = "the state dir (default: $BINANCE_MCP_STATE_DIR, else the platform's user state dir)"

# (header, widest it may get); the last column (the question) is not cut.
_COLUMNS: tuple[tuple[str, int], ...] = (
    ("ID", 13),
    ("AGE", 5),
    ("EXPIRES", 7),
    ("STATUS", 8),
    ("TOOL", 17),
    ("NETWORK", 7),
    ("AGENT", 20),
    ("CLIENT-ORDER-ID", 36),
    ("NOTIONAL", 24),
    ("BY", 24),
    ("QUESTION", 0),
)


def add_parser(subparsers: Any) -> None:
    """Register `approvals` on the top-level parser's subparsers (`parser.add_subparsers()`)."""
    parser = subparsers.add_parser(
        "approvals",
        help="list, approve or deny calls waiting for a human",
        description="List, approve or deny calls waiting for a human's approval.",
    )
    _add_arguments(parser)
    parser.set_defaults(func=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    # Every option defaults to SUPPRESS: the same option given at another level (a top-level
    # --state-dir, `approvals --json list`) is not overwritten by a lower parser's default.
    def state_dir(target: argparse.ArgumentParser) -> None:
        target.add_argument("--state-dir", metavar="DIR", default=argparse.SUPPRESS, help=_STATE_DIR_HELP)
        add_state_url(target)

    def listing(target: argparse.ArgumentParser) -> None:
        target.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="one JSON object a line"
        )
        target.add_argument(
            "--decided",
            action="store_true",
            default=argparse.SUPPRESS,
            help="also approved, denied, used and expired approvals (kept a week)",
        )

    state_dir(parser)
    listing(parser)
    commands = parser.add_subparsers(dest="approvals_command", metavar="{list,approve,deny,revoke}")
    shown = commands.add_parser(
        "list",
        help="approvals waiting for a human (the default)",
        description="Approvals waiting for a human.",
    )
    listing(shown)
    state_dir(shown)
    for verb, text in (
        ("approve", "allow the next matching call, once, within the approval_ttl in force then"),
        ("deny", "refuse it: the approval never allows a call (withdraws it if approved, not yet used)"),
        ("revoke", "withdraw an approval not yet used (or deny a request still waiting)"),
    ):
        sub = commands.add_parser(verb, help=text, description=f"{verb.capitalize()} an approval: {text}.")
        sub.add_argument("id", metavar="ID", help="the approval id, e.g. apr-7KQ2-XM9D")
        state_dir(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """`binance-mcp approvals` on its own: `argv` is what follows the subcommand name."""
    parser = argparse.ArgumentParser(
        prog=PROG, description="List, approve or deny calls waiting for a human."
    )
    _add_arguments(parser)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help (0) or bad usage (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    return run(args)


def run(args: argparse.Namespace) -> int:
    """Run a parsed `approvals` command; returns the exit status."""
    try:
        command = getattr(args, "approvals_command", None) or "list"
        if command == "list":
            return _list(args)
        return _decide(args, command)
    except (StateError, ConfigError) as exc:
        _error(str(exc))
        return EXIT_USAGE
    except sqlite3.Error as exc:
        _error(f"cannot read the approvals: {exc}")
        return EXIT_USAGE
    except BrokenPipeError:  # `binance-mcp approvals | head`
        return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    as_json = bool(getattr(args, "json", False))
    now = datetime.now(UTC)
    with state_store(args, "approvals") as (store, state_dir):
        if store is None:
            print(f"no approvals yet in {state_dir}", file=sys.stderr if as_json else sys.stdout)
            return EXIT_OK
        approvals = store.list(include_decided=bool(getattr(args, "decided", False)), now=now)
    if as_json:
        for approval in approvals:
            print(safe(json.dumps(approval.to_dict(now), ensure_ascii=False)))
    elif approvals:
        print(format_table(approvals, now))
    else:
        print(f"no approvals waiting in {state_dir}")
    sys.stdout.flush()
    return EXIT_OK


def cli_operator() -> str:
    """Who decides at this terminal: `cli:<login name>`."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name (a container with an unnamed uid)
        user = "unknown"
    return f"cli:{user}"


def unknown_id_message(approval_id: str, state_dir: object) -> str:
    """An id this state does not know: say where we looked, and that the server may look elsewhere."""
    return (
        f"no approval {approval_id.strip()} in {state_dir}; the server that asked may keep its state "
        "in another dir: run the command its refusal gave, or add --state-dir DIR "
        "(the server's --state-dir or BINANCE_MCP_STATE_DIR)"
    )


def _decide(args: argparse.Namespace, command: str) -> int:
    by = cli_operator()
    with state_store(args, "approvals") as (store, state_dir):
        if store is None:
            _error(unknown_id_message(args.id, state_dir) + " (there are no approvals in this one yet)")
            return EXIT_REFUSED
        try:
            if command == "approve":
                approval = store.approve(args.id, via="cli", by=by)
            elif command == "revoke":
                approval = store.revoke(args.id, via="cli", by=by)
            else:
                approval = store.deny(args.id, via="cli", by=by)
        except UnknownApproval:
            _error(unknown_id_message(args.id, state_dir))
            return EXIT_REFUSED
        except ApprovalError as exc:
            _error(str(exc))
            return EXIT_REFUSED
    where = f"{approval.tool} on {approval.network}" + (
        f" for agent {approval.agent}" if approval.agent else ""
    )
    typed = safe(args.id.strip())  # as typed: the store reads an O as a 0, the person need not know
    if approval.client_order_id:
        where += f", client order id {approval.client_order_id}"
    question = safe(approval.question)
    if approval.status == APPROVED:
        print(
            f"approved {typed} ({where}) as {by}: {question}\n"
            f"the next matching call within its approval_ttl ({approval.ttl_s} s now) runs, once; "
            f"`binance-mcp approvals revoke {approval.id}` withdraws it until then"
        )
    elif approval.status == "revoked":
        print(f"withdrew the approval {typed} ({where}): {question}; it will not allow a call")
    else:
        print(f"denied {typed} ({where}): {question}")
    return EXIT_OK


# --- output --------------------------------------------------------------------------------------


def age_text(seconds: float) -> str:
    """A short age: `45s`, `12m`, `3h`, `2d`."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def expires_text(approval: Approval, now: datetime) -> str:
    """How long until a waiting request expires, or an approval stops being usable; `-` otherwise."""
    status = approval.status_at(now)
    if status == PENDING and approval.expires_at is not None:
        return age_text((approval.expires_at - now).total_seconds())
    until = approval.usable_until()
    if status == APPROVED and until is not None:
        return age_text((until - now).total_seconds())
    return "-"


def format_table(approvals: Sequence[Approval], now: datetime) -> str:
    """The approvals as an aligned table, oldest first."""
    rows = [
        [
            approval.id,
            age_text((now - approval.created_at).total_seconds()),
            expires_text(approval, now),
            approval.status_at(now),
            approval.tool,
            approval.network,
            approval.agent or "-",
            approval.client_order_id or "-",
            approval.notional or "-",
            approval.revoked_by or approval.decided_by or "-",
            approval.question,
        ]
        for approval in approvals
    ]
    rows = [[shorten(safe(cell), cap) for cell, (_, cap) in zip(row, _COLUMNS, strict=True)] for row in rows]
    headers = [header for header, _ in _COLUMNS]
    return aligned(headers, rows)


def _error(message: str) -> None:
    print(f"{PROG}: error: {safe(message)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
