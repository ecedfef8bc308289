"""Run the HTTP transport under uvicorn until SIGTERM, then drain (see `draining`).

Connections are bounded before authentication by uvicorn's h11 protocol with a header timeout
and a cap on open connections (see `connections`).

The policy watcher (`--watch`) runs beside it, as over stdio. uvicorn is told nothing about
logging (our stderr handler, with secrets scrubbed, stays in charge) and keeps no access log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

import anyio
import uvicorn

from binance_mcp.http.app import build_http_app, sign_in_failures
from binance_mcp.http.approvals_page import page_url
from binance_mcp.http.connections import (
    MAX_INCOMPLETE_REQUEST_BYTES,
    CappedListener,
    ConnectionBounds,
    accept_batch,
    default_max_connections,
    protocol_for,
)
from binance_mcp.http.draining import Drain, DrainingServer
from binance_mcp.http.origins import is_loopback
from binance_mcp.http.settings import HttpSettings
from binance_mcp.server import App
from binance_mcp.stores.lease import keep_leases

logger = logging.getLogger(__name__)


def announce(settings: HttpSettings) -> None:
    """Lines on stderr once the server is up: who may use it, where it is, its approvals page and
    where its shared state lives."""
    if settings.tokens is None:
        print(
            f"binance-mcp: warning: no token in {settings.tokens_file}, so anyone on this machine can use this "
            "server (as agent 'local'); `binance-mcp tokens add NAME` and a restart make it require one",
            file=sys.stderr,
        )
    else:
        print("binance-mcp: every request needs Authorization: Bearer <token>", file=sys.stderr)
        if not is_loopback(settings.host):
            print(
                f"binance-mcp: warning: plain HTTP on {settings.host}: tokens and calls travel unencrypted; "
                "put a TLS-terminating proxy in front when the network is not yours",
                file=sys.stderr,
            )
    print(f"binance-mcp: serving MCP over streamable HTTP at {settings.url}", file=sys.stderr)
    print(f"binance-mcp: state: {state_backend(settings)}", file=sys.stderr)
    print(
        f"binance-mcp: operators approve and deny on the approvals page at {page_url(settings.url)}",
        file=sys.stderr,
        flush=True,
    )


def state_backend(settings: HttpSettings) -> str:
    """`SQLite in DIR` or `PostgreSQL at URL` (its password left out): where this server keeps state."""
    where = settings.tokens_file
    if isinstance(where, str):
        return f"PostgreSQL at {where}"
    return f"SQLite in {where.parent}"


def warn_about_agent_names(app: App, settings: HttpSettings) -> None:
    """A policy agent that matches no token but one differing only in case: said once, at start."""
    from binance_mcp.policy.agent_names import case_mismatches

    if settings.tokens is None or not app.guard.engine.agent_names:
        return
    names = [token.name for token in settings.tokens.list()]
    for warning in case_mismatches(app.guard.engine.agent_names, names):
        logger.warning(warning)
        print(f"binance-mcp: warning: {warning}", file=sys.stderr)


class HttpService:
    """One server: `run()` until SIGTERM/SIGINT (or `stop()`, the same thing), then drain and return."""

    def __init__(
        self,
        app: App,
        settings: HttpSettings,
        *,
        on_ready: Callable[[], None] | None = None,
        metrics_token: str | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.drain = Drain(settings.drain, app.guard.stopping)
        warn_about_agent_names(app, settings)
        self.failures = sign_in_failures(app)
        asgi = build_http_app(
            app,
            security=settings.security,
            tokens=settings.tokens,
            bounds=settings.bounds,
            drain=self.drain,
            state=state_backend(settings),
            failures=self.failures,
            metrics_token=metrics_token,
        )
        bounds = settings.bounds
        self.bounds = ConnectionBounds(
            header_timeout_s=bounds.header_timeout_s,
            max_connections=bounds.max_connections or default_max_connections(),
        )
        config = uvicorn.Config(
            asgi,
            http=protocol_for(self.bounds),  # h11 with the bounds, whatever else is installed
            loop="asyncio",  # whose accept calls `CappedListener.accept`
            backlog=accept_batch(self.bounds),
            timeout_keep_alive=bounds.idle_timeout_s,
            h11_max_incomplete_event_size=MAX_INCOMPLETE_REQUEST_BYTES,
            lifespan="on",
            ws="none",
            log_config=None,
            access_log=False,
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=settings.drain.close_s,
        )
        self.ready = anyio.Event()

        def ready() -> None:
            (on_ready or (lambda: announce(settings)))()
            self.ready.set()

        self.server = DrainingServer(config, self.drain, on_ready=ready)

    @property
    def url(self) -> str:
        return self.settings.url

    def stop(self) -> None:
        """Begin draining, as SIGTERM does."""
        self.drain.begin()

    async def run(self) -> None:
        try:
            async with anyio.create_task_group() as group:
                if self.app.watcher is not None:
                    group.start_soon(self.app.watcher.run)
                group.start_soon(keep_leases, self.app.guard)
                await self.server.serve(sockets=[CappedListener.adopt(self.settings.sock, self.bounds)])
                await self.app.guard.services.notices.flush()  # grouped approval requests not yet posted
                group.cancel_scope.cancel()
        finally:
            self.failures.close()  # the summaries of sign-ins failed in the last window
            self.settings.close()


async def serve_http(app: App, settings: HttpSettings, *, metrics_token: str | None = None) -> None:
    """`binance-mcp --transport http`: serve until SIGTERM, drain, return (the CLI then exits 0).
    `metrics_token` (`BINANCE_MCP_METRICS_TOKEN`) is what a scrape of /metrics presents."""
    await HttpService(app, settings, metrics_token=metrics_token).run()
