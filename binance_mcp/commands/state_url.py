"""`--state-url` for every subcommand: the same PostgreSQL the servers share, or the state dir.

Each subcommand takes `--state-url postgresql://…` (also given before the subcommand, or as
`BINANCE_MCP_STATE_URL`); without it, the state dir as before. A bad URL is one line naming it.
"""

from __future__ import annotations

import argparse

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
