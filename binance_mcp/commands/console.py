"""`binance-mcp console`: the approvals page on loopback, for people who run the server over stdio.

    binance-mcp console [--port P] [--state-dir DIR | --state-url URL] [--policy FILE]

The HTTP transport serves the approvals page at `/approvals` itself; a server run by an MCP client
over stdio has no web server, so this command serves the same page, against the same state (the
state dir, or with `--state-url` / `BINANCE_MCP_STATE_URL` the PostgreSQL database the servers
share: the same approvals, tokens and budgets the server and `binance-mcp approvals` use), on
127.0.0.1 only. It needs a
sign-in with an operator token once one exists (`binance-mcp tokens add NAME --operator`); until
then it is open to this machine's users, as `console:<user>`, like the open loopback `/mcp`.
The policy (for today's budgets) is found as the server finds it: `--policy`, `BINANCE_MCP_POLICY`,
else the bundled default. Exit status: 0 stopped (Ctrl-C or SIGTERM), 2 bad usage, a port in use
or an unusable state dir or policy.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

PROG = "binance-mcp console"
DEFAULT_PORT = 8766
"""One above the HTTP transport's default (8765), so both can run on one machine as they are."""
HOST = "127.0.0.1"

EXIT_OK = 0
EXIT_USAGE = 2


def add_parser(subparsers: Any) -> None:
    """Register `console` on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "console",
        help="the approvals page on loopback, for stdio users",
        description="Serve the approvals page on 127.0.0.1 against the server's state dir.",
    )
    parser.add_argument(
        "--port",
        dest="console_port",
        metavar="P",
        type=int,
        default=DEFAULT_PORT,
        help=f"the port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        default=argparse.SUPPRESS,
        help="the server's state dir (default: $BINANCE_MCP_STATE_DIR, else the platform's user state dir)",
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help="the server's policy, for today's budgets (default: $BINANCE_MCP_POLICY or the bundled default)",
    )
    from binance_mcp.commands.state_url import add_state_url

    add_state_url(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C or SIGTERM; returns the exit status."""
    from binance_mcp.policy.model import PolicyError, bundled_policy_path, load_policy_file
    from binance_mcp.state_dir import StateError, resolve_state_dir

    port = int(getattr(args, "console_port", DEFAULT_PORT))
    if not 0 <= port <= 65535:
        return _error(f"--port {port}: use 1–65535 (0 picks a free one)")
    policy_file = getattr(args, "policy", None) or os.environ.get("BINANCE_MCP_POLICY") or None
    try:
        policy = load_policy_file(Path(policy_file) if policy_file else bundled_policy_path("default"))
    except PolicyError as exc:
        return _error(
            f"policy {exc.source}: {exc.errors[0]}" if exc.errors else f"policy {policy_file} is invalid"
        )
    except OSError as exc:
        return _error(f"--policy {policy_file}: {exc.strerror or exc}")
    from binance_mcp.commands.state_url import state_url_of
    from binance_mcp.config import ConfigError

    try:
        state_url = state_url_of(args)
        state_dir = resolve_state_dir(getattr(args, "state_dir", None))
        shared = _open_shared(state_url) if state_url else None
    except (ConfigError, StateError) as exc:
        return _error(str(exc))
    try:
        sock = _bind(port)
    except OSError as exc:
        if shared is not None:
            shared.close()
        return _error(
            f"cannot listen on {HOST}:{port}: {exc.strerror or exc} (another console or server? pick one with --port)"
        )
    policy_note = (
        policy_file or "the bundled default (give the server's own with --policy FILE for its budgets)"
    )
    try:
        _serve(sock, state_dir, policy, shared, policy_note)
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if shared is not None:
            shared.close()
    return EXIT_OK


class SharedState:
    """The stores the page reads in the servers' PostgreSQL (`--state-url`), opened once."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.approvals = state.approvals()
        self.tokens = state.tokens()
        self.budgets = state.budgets()

    def describe(self) -> str:
        return str(self.state.describe())

    def close(self) -> None:
        for store in (self.approvals, self.tokens, self.budgets):
            store.close()
        self.state.close()


def _open_shared(url: str) -> SharedState:
    from binance_mcp.stores import PostgresState

    state = PostgresState(url)
    try:
        return SharedState(state)
    except BaseException:
        state.close()
        raise


def console_url(port: int = DEFAULT_PORT) -> str:
    """Where `binance-mcp console` serves the page by default (for a stdio server's notifications)."""
    return f"http://{HOST}:{port}/approvals"


def _bind(port: int) -> Any:
    # Bound here, before the web stack is imported: a port in use is one line, at once.
    import socket

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


def console_operator() -> str:
    """Who decides at an open console: `console:<login name>`."""
    import getpass

    try:
        return f"console:{getpass.getuser()}"
    except Exception:  # no login name (a container with an unnamed uid)
        return "console:unknown"


def _serve(sock: Any, state_dir: Path, policy: Any, shared: SharedState | None, policy_note: str) -> None:
    import uvicorn
    from starlette.responses import RedirectResponse
    from starlette.types import Receive, Scope, Send

    from binance_mcp.http.approvals_page import PAGE_PATH, ApprovalsPage, PageSettings
    from binance_mcp.http.origins import transport_security
    from binance_mcp.http.responses import json_response

    port = sock.getsockname()[1]
    page = ApprovalsPage(
        PageSettings(
            state_dir=state_dir,
            anonymous_operator=console_operator(),
            policy=lambda: policy,
            stores=(lambda: shared) if shared is not None else None,
            state_option="--state-url" if shared is not None else "--state-dir",
        ),
        security=transport_security(HOST, port, []),
    )

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = scope["path"]
        if path == PAGE_PATH or path.startswith(PAGE_PATH + "/"):
            await page(scope, receive, send)
        elif path == "/":
            await RedirectResponse(PAGE_PATH, status_code=303)(scope, receive, send)
        else:
            await json_response(404, {"error": "not found"})(scope, receive, send)

    config = uvicorn.Config(
        app,
        lifespan="off",
        ws="none",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Only stop: uvicorn's own handler would raise the signal again once stopped (no exit 0).
            self.should_exit = True

    server = Server(config)
    where = shared.describe() if shared is not None else f"SQLite in {state_dir}"
    print(
        f"binance-mcp console: the approvals page is at http://{HOST}:{port}{PAGE_PATH} "
        f"(state: {where}; policy: {policy_note}); Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        server.run(sockets=[sock])
    finally:
        page.close()


def _error(message: str) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return EXIT_USAGE
