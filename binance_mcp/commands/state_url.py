"""`--state-url` for every subcommand: the same PostgreSQL the servers share, or the state dir.

Each subcommand takes `--state-url postgresql://…` (also given before the subcommand, or as
`BINANCE_MCP_STATE_URL`); without it, the state dir as before. A bad URL is one line naming it.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STATE_URL_HELP = (
    "shared state in PostgreSQL, as the servers use it (default: $BINANCE_MCP_STATE_URL, else the state dir)"
)


def add_state_url(parser: argparse.ArgumentParser, *, top_level: bool = False) -> None:
    """Add `--state-url URL`. As a subcommand's option, SUPPRESS keeps one given before the
    subcommand from being overwritten by this parser's default."""
    parser.add_argument(
        "--state-url", metavar="URL", default=None if top_level else argparse.SUPPRESS, help=STATE_URL_HELP
    )


def state_url_of(args: argparse.Namespace) -> str | None:
    """The checked state URL for this command, or None for the state dir. Raises `ConfigError`."""
    from binance_mcp.config import read_environment, service_urls

    flag = getattr(args, "state_url", None) or getattr(args, "global_state_url", None)
    state_url, _ = service_urls(flag, None, {} if flag else read_environment())
    return state_url


_FILES = {
    "audit": "audit.sqlite3",
    "approvals": "approvals.sqlite3",
    "tokens": "tokens.sqlite3",
    "budgets": "budgets.sqlite3",
}


@contextmanager
def state_store(args: argparse.Namespace, kind: str, *, create: bool = False) -> Iterator[tuple[Any, str]]:
    """`(store, where)` for one store (`audit`, `approvals`, `tokens`, `budgets`) as this command's
    flags say: in PostgreSQL with a state URL, else in the state dir. Without `create`, a state dir
    with no such database yet gives `(None, where)` and nothing is created. `where` is for messages.
    Raises `ConfigError` (a bad URL) or `StateError` (unusable state), one line each."""
    from binance_mcp.state_dir import usable_state_dir
    from binance_mcp.stores import PostgresState, SqliteState

    url = state_url_of(args)
    if url is not None:
        with PostgresState(url) as state:
            store = getattr(state, kind)()
            try:
                yield store, state.describe()
            finally:
                store.close()
        return
    state_dir = usable_state_dir(getattr(args, "state_dir", None), create=create)
    if not create and not (state_dir / _FILES[kind]).is_file():
        yield None, str(state_dir)
        return
    store = getattr(SqliteState(state_dir), kind)()
    try:
        yield store, str(state_dir)
    finally:
        store.close()
