"""The ASGI app: the SDK's streamable HTTP app at `/mcp`, `/healthz`, and the layers around them.

    DrainMiddleware                  503 for a new call once SIGTERM came; counts requests in flight
      /healthz                       200 {"status": "ok", "version": ...}, no token needed
      /metrics: OriginCheck          Prometheus' text format; needs the metrics token (`binance_mcp.metrics`)
      /approvals: OriginCheck        the operators' page (`approvals_page`): sign in with an operator token
      /mcp: OriginCheck              421 wrong Host, 403 wrong Origin
              BearerAuth             401 missing, unknown or revoked token; names the agent
                AgentBounds          429 too many calls in flight; at its session cap an agent's LRU idle session closes
                  the SDK's app      413 body too large; MCP itself
      anything else                  404

The guard learns the agent through its `agent_resolver` hook, set here: the same tools, guard,
audit log and state as over stdio, with the agent as the audit record's client, its own policy
rules and hidden tools, and its own rate-limit keys.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal

from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from binance_mcp import __version__
from binance_mcp.http.approvals_page import LOOPBACK_OPERATOR, PAGE_PATH, ApprovalsPage, PageSettings
from binance_mcp.http.auth import BearerAuth
from binance_mcp.http.bounds import AgentBounds, HttpBounds
from binance_mcp.http.draining import HEALTH_PATH, Drain, DrainMiddleware
from binance_mcp.http.origins import OriginCheck
from binance_mcp.http.responses import json_response
from binance_mcp.http.sign_in import FailedSignIns
from binance_mcp.metrics import METRICS_PATH, MetricsEndpoint, ServerMetrics
from binance_mcp.sdk import end_http_session, open_http_sessions
from binance_mcp.server import App
from binance_mcp.stores.tokens import TokenStore

MCP_PATH = "/mcp"


class Router:
    """`/mcp` through its layers, `/healthz`, 404 otherwise; lifespan events go to the SDK's app."""

    def __init__(
        self,
        *,
        mcp: ASGIApp,
        sdk: ASGIApp,
        drain: Drain,
        page: ASGIApp | None = None,
        state: str | None = None,
        metrics: ASGIApp | None = None,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.mcp = mcp
        self.sdk = sdk
        self.drain = drain
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.sdk(scope, receive, send)  # starts and stops the SDK's session manager
        elif scope["type"] != "http":
            return
        elif scope["path"] == MCP_PATH:
            await self.mcp(scope, receive, send)
        elif scope["path"] == HEALTH_PATH:
            await self.health(scope, receive, send)
        elif self.metrics is not None and scope["path"] == METRICS_PATH:
            await self.metrics(scope, receive, send)
        elif self.page is not None and (
            scope["path"] == PAGE_PATH or scope["path"].startswith(PAGE_PATH + "/")
        ):
            await self.page(scope, receive, send)
        else:
            await json_response(404, {"error": "not found"})(scope, receive, send)

    async def health(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] not in ("GET", "HEAD"):
            await json_response(405, {"error": "method not allowed"}, headers={"Allow": "GET"})(
                scope, receive, send
            )
            return
        stopping = self.drain.draining
        body = {"status": "stopping" if stopping else "ok", "version": __version__}
        if self.state is not None:  # the backend's kind only: no host or user name without a token
            body["state"] = self.state.split()[0].lower()
        await json_response(503 if stopping else 200, body)(scope, receive, send)


def market_price(app: App) -> Callable[[str], Awaitable[Decimal | None]]:
    """The price of a symbol now, read through the server's own exchange client (public, weight 2)."""

    async def price(symbol: str) -> Decimal | None:
        found = await app.guard.services.exchange.get_price(symbol)
        return Decimal(str(found["price"])) if found.get("price") is not None else None

    return price


def sign_in_failures(app: App) -> FailedSignIns:
    """Failed sign-ins on `app`'s HTTP endpoint, summarised into its audit log."""
    return FailedSignIns(
        lambda address, sentence: app.guard.services.audit.event("sign_in_failures", sentence)
    )


def build_http_app(
    app: App,
    *,
    security: TransportSecuritySettings,
    tokens: TokenStore | None,
    bounds: HttpBounds | None = None,
    drain: Drain | None = None,
    state: str | None = None,
    failures: FailedSignIns | None = None,
    metrics_token: str | None = None,
) -> DrainMiddleware:
    """The whole ASGI app for `app`; `tokens` None serves everyone as the anonymous agent `local`.
    `state` says where the shared state lives (`SQLite in DIR`, `PostgreSQL at URL`), for /healthz.
    `failures` counts failed sign-ins (default: counted into `app`'s audit log). `/metrics` needs
    `metrics_token` when there are tokens; with none at all it is as open as everything else."""
    bounds = bounds or HttpBounds()
    drain = drain or Drain()
    sdk = app.server.streamable_http_app(
        streamable_http_path=MCP_PATH,
        transport_security=security,
        max_request_body_size=bounds.max_body_bytes,
        session_idle_timeout=bounds.session_idle_timeout_s,
        max_sessions=bounds.max_sessions,
    )
    manager = app.server.session_manager

    def is_open(session_id: str) -> bool:
        # mcp 2.3 keeps its open sessions here; sessions that expire leave it on their own.
        sessions = open_http_sessions(manager)
        return session_id in sessions if sessions is not None else True

    def close(session_id: str) -> bool:
        return end_http_session(manager, session_id)

    agent_bounds = AgentBounds(sdk, bounds=bounds, is_open=is_open, close=close)
    failures = failures or sign_in_failures(app)
    mcp = OriginCheck(BearerAuth(agent_bounds, tokens=tokens, failures=failures), security)
    page = ApprovalsPage(
        PageSettings(
            state_dir=app.state_dir,
            # open to loopback without a sign-in only when /mcp is (no token at start), until an operator token exists
            anonymous_operator=LOOPBACK_OPERATOR if tokens is None else None,
            policy=lambda: app.guard.engine.policy,
            here=app.guard.services.account,
            stores=app.guard.services.stores.get,  # the server's own: PostgreSQL with --state-url
            price_now=market_price(app),
            state_option="--state-url" if state and state.startswith("PostgreSQL") else "--state-dir",
        ),
        security=security,
    )
    metrics = OriginCheck(  # a rebound DNS name cannot read them from a page either
        MetricsEndpoint(ServerMetrics(app.guard), token=metrics_token, open_without=tokens is None), security
    )
    router = Router(mcp=mcp, sdk=sdk, drain=drain, page=page, state=state, metrics=metrics)
    return DrainMiddleware(router, drain, max_body_bytes=bounds.max_body_bytes)
