"""`binance-mcp`: run the server (stdio), or one of the subcommands for people.

Exit status: 0 done, 1 the thing checked is wrong, 2 bad usage or configuration. A bad start-up
setting stops the server before the transport opens, with one line naming it, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from binance_mcp.config import ServerConfig
    from binance_mcp.stopping import DrainTimes

from binance_mcp import __version__
from binance_mcp.logs import LEVELS

# Each subcommand is a module of binance_mcp.commands with `add_parser(subparsers)` and `run(args) -> int`.
SUBCOMMANDS = ("policy", "audit", "approvals", "tokens", "doctor", "console")
OPTIONS_WITH_VALUES = (
    "--policy", "--base-url", "--state-dir", "--log-level", "--transport", "--host", "--port", "--allow-origin",
    "--connect-timeout", "--read-timeout", "--state-url", "--rate-limit-url", "--market-data-max-age",
    "--lock-wait", "--lock-lease", "--drain-grace", "--metrics-port",
)  # fmt: skip


SERVER_FLAGS = (
    "--testnet", "--demo", "--mainnet", "--watch", "--dry-run", "--allow-withdrawal-keys", "--version", "--help",
)  # fmt: skip


def unknown_option(argv: Sequence[str]) -> str | None:
    """`unknown option '--polcy'; did you mean --policy?` for the first option before any command
    word that the server does not take, else None. Without it, argparse would read the option's
    value (`x.json`) as the command and report that instead."""
    import difflib

    known = (*OPTIONS_WITH_VALUES, *SERVER_FLAGS)
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            return None  # a command word: its own parser checks what follows
        if word in ("-h", "--") or not word.startswith("--"):
            continue
        name = word.split("=", 1)[0]
        if name in known or sum(option.startswith(name) for option in known) == 1:
            if _takes_a_value(word):
                next(words, None)
            continue
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"binance-mcp: unknown option {name!r}{hint} (binance-mcp --help lists them)"
    return None


def first_word(argv: Sequence[str]) -> str | None:
    """The first positional word, if any (skipping the values of server options)."""
    words = iter(argv)
    for word in words:
        if _takes_a_value(word):
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def _takes_a_value(word: str) -> bool:
    """An option followed by its value: `--policy`, or a prefix argparse accepts for it (`--pol`)."""
    if word in OPTIONS_WITH_VALUES:
        return True
    if not word.startswith("--") or "=" in word or len(word) < 3:
        return False
    return sum(option.startswith(word) for option in OPTIONS_WITH_VALUES) == 1


def named_subcommand(argv: Sequence[str]) -> str | None:
    """The subcommand the first positional word names, if any."""
    word = first_word(argv)
    return word if word in SUBCOMMANDS else None


def unknown_command_line(word: str) -> str:
    """`unknown command 'polcy'; did you mean policy?` (the server itself takes no positional word)."""
    import difflib

    close = difflib.get_close_matches(word, SUBCOMMANDS, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"binance-mcp: unknown command {word!r}{hint} (commands: {', '.join(SUBCOMMANDS)})"


def build_parser(subcommands: Sequence[str] = SUBCOMMANDS) -> argparse.ArgumentParser:
    """The subcommands' parsers are built only when one is asked for: the server starts without them."""
    parser = argparse.ArgumentParser(
        prog="binance-mcp",
        description="MCP server for Binance Spot with a policy guard built in. "
        "Run it with a network flag; MCP clients talk to it over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"binance-mcp {__version__}")
    network = parser.add_mutually_exclusive_group()
    for name, text in (
        ("testnet", "Binance Spot Testnet (play money)"),
        ("demo", "Binance Spot demo trading"),
        ("mainnet", "the real exchange: real money"),
    ):
        network.add_argument(f"--{name}", dest="network", action="store_const", const=name, help=text)
    parser.add_argument(
        "--policy", metavar="FILE", help="policy file (default: $BINANCE_MCP_POLICY or the bundled default)"
    )
    parser.add_argument("--watch", action="store_true", help="reload the policy file when it changes")
    parser.add_argument("--base-url", metavar="URL", help="REST root override, e.g. http://127.0.0.1:9000")
    parser.add_argument(
        "--dry-run", action="store_true", help="send orders to Binance's test-order endpoint only"
    )
    parser.add_argument(
        "--state-dir",
        dest="global_state_dir",
        metavar="DIR",
        help="audit log and state (default: user state dir)",
    )
    parser.add_argument(
        "--state-url",
        dest="global_state_url",
        metavar="URL",
        help="shared state in PostgreSQL (postgresql://…) instead of the state dir; default $BINANCE_MCP_STATE_URL",
    )
    parser.add_argument(
        "--rate-limit-url",
        metavar="URL",
        help="rate-limit counters every replica shares (redis://…); default $BINANCE_MCP_RATE_LIMIT_URL",
    )
    parser.add_argument(
        "--log-level", default="WARNING", type=str.upper, choices=LEVELS, help="stderr log level"
    )
    parser.add_argument(
        "--allow-withdrawal-keys",
        action="store_true",
        help="on mainnet, accept API keys that can withdraw (refused by default)",
    )
    parser.add_argument(
        "--connect-timeout", type=float, metavar="S", help="seconds to connect to Binance (default 5)"
    )
    parser.add_argument(
        "--read-timeout", type=float, metavar="S", help="seconds to wait for Binance's answer (default 10)"
    )
    parser.add_argument(
        "--market-data-max-age",
        type=float,
        metavar="S",
        help="seconds one price/ticker/book/candles answer serves every agent asking the same "
        "(default 0.5; 0: every call asks Binance)",
    )
    parser.add_argument(
        "--lock-wait",
        type=float,
        metavar="S",
        help="seconds an order waits for the account lock before it is refused as account_busy (default 10)",
    )
    parser.add_argument(
        "--lock-lease",
        type=float,
        metavar="S",
        help="seconds the account lock lasts without renewal: how long a stalled holder blocks it (default 30)",
    )
    parser.add_argument(
        "--drain-grace",
        type=float,
        metavar="S",
        help="on SIGTERM, seconds the calls in flight get to finish before they are cut (default: the "
        "longest call: account-lock wait 10 + connect timeout + read timeout + 5, so 30 with the defaults)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="stdio: also serve Prometheus metrics at http://127.0.0.1:PORT/metrics (over HTTP they are "
        "at /metrics on the server's own port, with a token)",
    )
    transport = parser.add_argument_group("HTTP transport")
    transport.add_argument("--transport", choices=("stdio", "http"), default="stdio", help="default: stdio")
    transport.add_argument("--host", default="127.0.0.1", help="HTTP: address to bind (default 127.0.0.1)")
    transport.add_argument("--port", type=int, default=8765, help="HTTP: port (default 8765)")
    transport.add_argument(
        "--allow-origin", action="append", default=[], metavar="URL", help="HTTP: an extra allowed Origin"
    )
    if subcommands:
        commands = parser.add_subparsers(dest="command", metavar="COMMAND")
        for name in subcommands:
            importlib.import_module(f"binance_mcp.commands.{name}").add_parser(commands)
    else:
        parser.set_defaults(command=None)
        parser.epilog = f"subcommands: {', '.join(SUBCOMMANDS)} (binance-mcp COMMAND --help)"
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    wrong = unknown_option(words)
    if wrong is not None:
        print(wrong, file=sys.stderr)
        return 2
    command = named_subcommand(words)
    stray = first_word(words) if command is None else None
    if stray is not None:
        print(unknown_command_line(stray), file=sys.stderr)
        return 2
    if command is not None:
        subcommands: Sequence[str] = (command,)
    elif any(word in ("-h", "--help") for word in words):
        subcommands = SUBCOMMANDS
    else:
        subcommands = ()
    args = build_parser(subcommands).parse_args(words)
    if getattr(args, "global_state_dir", None) and not getattr(args, "state_dir", None):
        args.state_dir = args.global_state_dir
    if getattr(args, "global_state_url", None) and not getattr(args, "state_url", None):
        args.state_url = args.global_state_url
    if args.command is not None:
        return importlib.import_module(f"binance_mcp.commands.{args.command}").run(args)
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    from binance_mcp.config import ConfigError, build_config
    from binance_mcp.keyfile import ask_on_terminal, readable_by_others
    from binance_mcp.logs import configure_logging
    from binance_mcp.policy.model import PolicyError

    try:
        config = build_config(
            network_flag=args.network,
            base_url_flag=args.base_url,
            policy_flag=args.policy,
            state_dir_flag=args.global_state_dir,
            watch_policy=args.watch,
            dry_run=args.dry_run,
            allow_withdrawal_keys=args.allow_withdrawal_keys,
            log_level=args.log_level,
            connect_timeout_flag=args.connect_timeout,
            read_timeout_flag=args.read_timeout,
            market_data_max_age_flag=args.market_data_max_age,
            lock_wait_flag=args.lock_wait,
            lock_lease_flag=args.lock_lease,
            state_url_flag=args.global_state_url,
            rate_limit_url_flag=args.rate_limit_url,
            ask_passphrase=ask_on_terminal,
        )
    except ConfigError as exc:
        print(f"binance-mcp: {exc}", file=sys.stderr)
        return 2
    private_key = config.credentials.private_key if config.credentials else None
    exposed = readable_by_others(private_key.path) if private_key else None
    if exposed:
        print(f"binance-mcp: warning: {exposed}", file=sys.stderr)
    from binance_mcp.state_dir import StateError, usable_state_dir

    try:
        usable_state_dir(config.state_dir, create=False)
    except StateError as exc:
        print(f"binance-mcp: {exc}", file=sys.stderr)
        return 2
    if config.watch_policy and config.policy_path is None:
        print("binance-mcp: --watch needs a policy file (--policy or BINANCE_MCP_POLICY)", file=sys.stderr)
        return 2
    times = drain_times(args, config)
    if isinstance(times, str):
        print(f"binance-mcp: {times}", file=sys.stderr)
        return 2
    if args.metrics_port is not None and (args.transport == "http" or not 0 <= args.metrics_port <= 65535):
        print(
            "binance-mcp: --metrics-port is for stdio, 0–65535; over HTTP the metrics are at /metrics "
            "on the server's own port",
            file=sys.stderr,
        )
        return 2
    from binance_mcp.metrics import MetricsTokenError, metrics_token

    try:
        scrape_token = metrics_token()
    except MetricsTokenError as exc:
        print(f"binance-mcp: {exc}", file=sys.stderr)
        return 2
    http = None
    if args.transport == "http":  # checked and bound before anything starts (binance_mcp.http)
        from binance_mcp.http.settings import HttpSetupError, prepare_http

        try:
            http = prepare_http(
                args.host,
                args.port,
                args.allow_origin,
                config.state_dir,
                state_url=config.state_url,
                drain=times,
            )
        except HttpSetupError as exc:
            print(f"binance-mcp: {exc}", file=sys.stderr)
            return 2
    configure_logging(config.log_level, config.secrets)

    from binance_mcp.server import build_app

    if http is None:
        from binance_mcp.commands.console import console_url

        page = console_url()
    else:
        from binance_mcp.http.approvals_page import page_url

        page = page_url(http.url)
    try:
        app = build_app(config, approvals_page=page)
    except PolicyError as exc:
        for error in exc.errors:
            print(f"binance-mcp: policy: {error}", file=sys.stderr)
        print("binance-mcp: the server does not start on an invalid policy", file=sys.stderr)
        return 2
    except StateError as exc:
        print(f"binance-mcp: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"binance-mcp: cannot use the state directory: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        from functools import partial

        import anyio

        if http is None:
            anyio.run(
                partial(
                    app.serve_stdio, times=times, metrics_port=args.metrics_port, metrics_token=scrape_token
                )
            )
        else:
            from binance_mcp.http.serve import serve_http

            anyio.run(partial(serve_http, app, http, metrics_token=scrape_token))
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


MAX_DRAIN_GRACE_S = 3600.0


def drain_times(args: argparse.Namespace, config: ServerConfig) -> DrainTimes | str:
    """The drain's times: `--drain-grace`, else a grace that covers the longest call the server
    lets finish (`binance_mcp.stopping.grace_for`); a sentence when the flag is out of bounds."""
    from binance_mcp.stopping import DrainTimes, grace_for

    grace = args.drain_grace
    if grace is None:
        return DrainTimes(
            grace_s=grace_for(
                read_timeout_s=config.read_timeout,
                connect_timeout_s=config.connect_timeout,
                lock_wait_s=config.lock_wait,
            )
        )
    if not 0 < grace <= MAX_DRAIN_GRACE_S:
        return f"--drain-grace: must be a number of seconds above 0 and at most {MAX_DRAIN_GRACE_S:g} (got {grace:g})"
    return DrainTimes(grace_s=grace)


if __name__ == "__main__":
    sys.exit(main())
