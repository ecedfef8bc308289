"""`binance-mcp`: run the server (stdio), or one of the subcommands for people.

Exit status: 0 done, 1 the thing checked is wrong, 2 bad usage or configuration. A bad start-up
setting stops the server before the transport opens, with one line naming it, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from binance_mcp import __version__
from binance_mcp.logs import LEVELS

# Each subcommand is a module of binance_mcp.commands with `add_parser(subparsers)` and `run(args) -> int`.
SUBCOMMANDS = ("policy", "audit", "approvals", "tokens", "doctor", "console")
OPTIONS_WITH_VALUES = (
    "--policy", "--base-url", "--state-dir", "--log-level", "--transport", "--host", "--port", "--allow-origin",
    "--connect-timeout", "--read-timeout",
)  # fmt: skip


def named_subcommand(argv: Sequence[str]) -> str | None:
    """The subcommand the first positional word names, if any (skipping the values of server options)."""
    words = iter(argv)
    for word in words:
        if word in OPTIONS_WITH_VALUES:
            next(words, None)
        elif not word.startswith("-"):
            return word if word in SUBCOMMANDS else None
    return None


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
    command = named_subcommand(words)
    if command is not None:
        subcommands: Sequence[str] = (command,)
    elif any(word in ("-h", "--help") for word in words):
        subcommands = SUBCOMMANDS
    else:
        subcommands = ()
    args = build_parser(subcommands).parse_args(words)
    if getattr(args, "global_state_dir", None) and not getattr(args, "state_dir", None):
        args.state_dir = args.global_state_dir
    if args.command is not None:
        return importlib.import_module(f"binance_mcp.commands.{args.command}").run(args)
    return serve(args)


def serve(args: argparse.Namespace) -> int:
    from binance_mcp.config import ConfigError, build_config
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
        )
    except ConfigError as exc:
        print(f"binance-mcp: {exc}", file=sys.stderr)
        return 2
    if config.watch_policy and config.policy_path is None:
        print("binance-mcp: --watch needs a policy file (--policy or BINANCE_MCP_POLICY)", file=sys.stderr)
        return 2
    http = None
    if args.transport == "http":  # checked and bound before anything starts (binance_mcp.http)
        from binance_mcp.http.settings import HttpSetupError, prepare_http

        try:
            http = prepare_http(args.host, args.port, args.allow_origin, config.state_dir)
        except HttpSetupError as exc:
            print(f"binance-mcp: {exc}", file=sys.stderr)
            return 2
    configure_logging(config.log_level, config.secrets)

    from binance_mcp.server import build_app

    try:
        app = build_app(config)
    except PolicyError as exc:
        for error in exc.errors:
            print(f"binance-mcp: policy: {error}", file=sys.stderr)
        print("binance-mcp: the server does not start on an invalid policy", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"binance-mcp: cannot use the state directory: {exc.strerror or exc}", file=sys.stderr)
        return 2
    try:
        import anyio

        if http is None:
            anyio.run(app.serve_stdio)
        else:
            from binance_mcp.http.serve import serve_http

            anyio.run(serve_http, app, http)
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
