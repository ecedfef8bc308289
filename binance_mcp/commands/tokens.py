"""`binance-mcp tokens add | list | revoke`: the HTTP transport's bearer tokens, one per agent.

    binance-mcp tokens add NAME [--operator] [--state-dir DIR]  # the token, once, alone on stdout's last line
    binance-mcp tokens list [--json] [--state-dir DIR] # names, kinds and creation times, never tokens
    binance-mcp tokens revoke NAME [--state-dir DIR]   # ends it at once, running server included

An agent's token calls tools; an operator's (`--operator`) signs a human in to the approvals page
and calls no tool. Only a hash is kept (`binance_mcp.stores.tokens`). Exit status: 0 done, 1 the name already has a token
(add) or has none (revoke), 2 bad usage or an unusable state dir. `list` only reads: a missing state
dir or database is reported, never created.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from typing import Any

from binance_mcp.commands.state_url import add_state_url, state_store
from binance_mcp.config import ConfigError
from binance_mcp.state_dir import StateError
from binance_mcp.stores.tokens import TokenError, check_name

PROG = "binance-mcp tokens"
EXIT_OK = 0
EXIT_WRONG = 1
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Register `tokens` and its subcommands on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "tokens",
        help="bearer tokens for the HTTP transport (one per agent)",
        description="Bearer tokens for `--transport http`: one per agent, only a hash is stored.",
    )
    _state_dir_option(parser)
    commands = parser.add_subparsers(dest="tokens_command", metavar="{add,list,revoke}", required=True)
    add = commands.add_parser(
        "add", help="make a token for an agent", description="Make a token for agent NAME; it is shown once."
    )
    add.add_argument("name", metavar="NAME", help="the agent or operator: 1–64 of A-Z a-z 0-9 _ -")
    add.add_argument(
        "--operator",
        action="store_true",
        help="a token for a human who approves on the approvals page (it cannot call tools)",
    )
    listing = commands.add_parser(
        "list", help="agents with a token", description="Agents with a token and when it was made."
    )
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    revoke = commands.add_parser(
        "revoke", help="end an agent's token", description="End agent NAME's token, at once."
    )
    revoke.add_argument("name", metavar="NAME", help="the agent")
    for sub in (add, listing, revoke):
        _state_dir_option(sub)
    parser.set_defaults(func=run)


def _state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        # SUPPRESS: a `--state-dir` given before the subcommand is not overwritten by a default here.
        default=argparse.SUPPRESS,
        help="the state dir (default: $BINANCE_MCP_STATE_DIR, else the platform's user state dir)",
    )
    add_state_url(parser)


def run(args: argparse.Namespace) -> int:
    try:
        if args.tokens_command == "add":
            return _add(args)
        if args.tokens_command == "list":
            return _list(args)
        return _revoke(args)
    except TokenError as exc:
        _error(str(exc))
        return EXIT_WRONG
    except (StateError, ConfigError, sqlite3.Error) as exc:
        _error(str(exc))
        return EXIT_USAGE


def _add(args: argparse.Namespace) -> int:
    try:
        name = check_name(args.name)
    except ValueError as exc:
        _error(str(exc))
        return EXIT_USAGE
    operator = bool(getattr(args, "operator", False))
    with state_store(args, "tokens", create=True) as (store, where):
        token = store.add(name, operator=operator)
        kept = where if store.path is None else str(store.path)
    kind = "operator" if operator else "agent"
    print(f"token for {kind} {name} (shown once; only its hash is kept in {kept}):")
    print(token)
    return EXIT_OK


def _list(args: argparse.Namespace) -> int:
    with state_store(args, "tokens") as (store, state_dir):
        if store is None:
            print(f"no tokens yet in {state_dir}", file=sys.stderr if args.json else sys.stdout)
            return EXIT_OK
        tokens = store.list()
    if args.json:
        for info in tokens:
            print(json.dumps({"name": info.name, "kind": info.kind, "created": info.created}))
    elif tokens:
        width = max(len("NAME"), *(len(info.name) for info in tokens))
        print(f"{'NAME'.ljust(width)}  {'KIND'.ljust(8)}  CREATED")
        for info in tokens:
            print(f"{info.name.ljust(width)}  {info.kind.ljust(8)}  {info.created}")
    else:
        print(f"no tokens in {state_dir}")
    return EXIT_OK


def _revoke(args: argparse.Namespace) -> int:
    with state_store(args, "tokens") as (store, state_dir):
        if store is None:
            raise TokenError(f"no token for {args.name!r} (no tokens in {state_dir})")
        kind = next((info.kind for info in store.list() if info.name == args.name), "agent")
        store.revoke(args.name)
    print(f"revoked the token of {kind} {args.name}")
    return EXIT_OK


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
