"""`--transport http` checked before anything starts: address, origins, and whether tokens are needed.

README *Streamable HTTP and agents*: when any token exists at start, every request needs one, until the
server stops (even if the last token is revoked meanwhile). With no token at start the server
listens on loopback only and is open to anyone on this machine as the agent `local`; a
non-loopback `--host` with no token refuses to start. The socket is bound here too, so that a
port in use is one line and exit 2, and `--port 0` gets its real port before the app is built.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings

from binance_mcp.http.bounds import HttpBounds
from binance_mcp.http.origins import is_loopback, normalise_origin, transport_security
from binance_mcp.state_dir import StateError, resolve_state_dir
from binance_mcp.stopping import DrainTimes
from binance_mcp.stores.tokens import TokenStore, tokens_path


class HttpSetupError(Exception):
    """A bad `--host`, `--port` or `--allow-origin`, or a port in use; the message is one line."""


@dataclass
class HttpSettings:
    host: str
    port: int
    sock: socket.socket
    security: TransportSecuritySettings
    tokens: TokenStore | None
    """None: no token at start, open to the anonymous loopback agent `local`."""
    tokens_file: Path | str
    """Where the tokens are, for messages: the SQLite file, or the PostgreSQL URL without its password."""
    bounds: HttpBounds = field(default_factory=HttpBounds)
    drain: DrainTimes = field(default_factory=DrainTimes)
    """How long a stopping server waits for its calls (`binance_mcp.stopping`)."""
    state: Any = None
    """The `PostgresState` whose pool the token store uses (closed with these settings), or None."""

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/mcp"

    def close(self) -> None:
        if self.tokens is not None:
            self.tokens.close()
        if self.state is not None:
            self.state.close()
        self.sock.close()


def prepare_http(
    host: str,
    port: int,
    allow_origins: Sequence[str],
    state_dir: Path | None,
    bounds: HttpBounds | None = None,
    *,
    state_url: str | None = None,
    drain: DrainTimes | None = None,
) -> HttpSettings:
    """Check the HTTP options against the token store and bind the socket; `HttpSetupError` if not.

    With `state_url` (`--state-url postgresql://…`) the tokens are those in that database, the
    ones `binance-mcp tokens add NAME --state-url URL` made, shared by every replica."""
    if not 0 <= port <= 65535:
        raise HttpSetupError(f"--port {port}: use 1–65535 (0 picks a free one)")
    host = host.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        origins = [normalise_origin(origin) for origin in allow_origins]
    except ValueError as exc:
        raise HttpSetupError(str(exc)) from None
    shared = None
    try:
        if state_url:
            from binance_mcp.stores import PostgresState
            from binance_mcp.stores.postgres import safe_url

            shared = PostgresState(state_url)
            store = shared.tokens()
            where: Path | str = safe_url(state_url)
        else:
            directory = resolve_state_dir(state_dir)
            store = TokenStore.in_state_dir(directory)
            where = tokens_path(directory)
    except StateError as exc:
        if shared is not None:
            shared.close()
        raise HttpSetupError(str(exc)) from None
    tokens: TokenStore | None = store
    if store.count() == 0:  # decided once: a token added later does not change the mode
        store.close()
        tokens = None
        if shared is not None:
            shared.close()
            shared = None
    if tokens is None and not is_loopback(host):
        if shared is not None:
            shared.close()
        raise HttpSetupError(
            f"--host {host} is not a loopback address and there is no token: anyone who can reach it "
            "could use your keys; add one with `binance-mcp tokens add NAME`, or listen on 127.0.0.1"
        )
    try:
        sock = bind(host, port)
    except HttpSetupError:
        if tokens is not None:
            tokens.close()
        if shared is not None:
            shared.close()
        raise
    security = transport_security(host, sock.getsockname()[1], origins)
    return HttpSettings(
        host=host,
        port=sock.getsockname()[1],
        sock=sock,
        security=security,
        tokens=tokens,
        tokens_file=where,
        bounds=bounds or HttpBounds(),
        drain=drain or DrainTimes(),
        state=shared,
    )


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say so, and without it
    # every answer written in two parts waits ~40 ms for a delayed ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise HttpSetupError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return sock
