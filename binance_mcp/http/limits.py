"""Bounds that keep one agent from starving the others on a shared server.

- Request body size: the SDK's own check (413), set from `Limits.max_body_bytes`; no tool takes
  more than a few hundred bytes of arguments.
- Open sessions: at most `max_sessions_per_agent` per agent (429 for one more), and
  `max_sessions` in all (the SDK's own 503). A session ends when its client deletes it or after
  `session_idle_timeout_s` without a request.
- Calls in flight: at most `max_calls_in_flight_per_agent` requests of one agent being served at
  once (429 with `Retry-After` for one more). A GET (a 2025-era client's listening stream) is not a
  call and is not counted.

Counted here, after authentication, so the counts are per agent whatever the token's sessions.
The bounds on connections before authentication (header and idle timeouts, the cap on open
connections) are in `connections`; their numbers are set here too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from binance_mcp.http.auth import AGENT_HEADER
from binance_mcp.http.responses import jsonrpc_error


@dataclass(frozen=True)
class Limits:
    """The bounds; the defaults leave room for any real agent and none for one that runs away."""

    max_body_bytes: int = 1024 * 1024
    max_sessions: int = 1000
    max_sessions_per_agent: int = 32
    max_calls_in_flight_per_agent: int = 16
    session_idle_timeout_s: float = 600.0
    header_timeout_s: float = 5.0
    idle_timeout_s: int = 5
    max_connections: int | None = None
    """None: half the process's descriptor limit, at most 10,000 (see `connections`)."""


def opens_a_session(method: str, headers: Headers) -> bool:
    """A POST without a session id in the 2025 era: an `initialize` that may open a session."""
    if method != "POST" or headers.get(MCP_SESSION_ID_HEADER):
        return False
    version = headers.get(MCP_PROTOCOL_VERSION_HEADER)
    return version is None or version in HANDSHAKE_PROTOCOL_VERSIONS


class AgentLimits:
    """`is_open(session_id)` says whether the SDK still has that session (it may have expired)."""

    def __init__(self, app: ASGIApp, *, limits: Limits, is_open: Callable[[str], bool]) -> None:
        self.app = app
        self.limits = limits
        self.is_open = is_open
        self.in_flight: dict[str, int] = defaultdict(int)
        self.sessions: dict[str, set[str]] = defaultdict(set)
        self._opening: dict[str, int] = defaultdict(int)

    def open_sessions(self, agent: str) -> int:
        live = self.sessions[agent]
        live.intersection_update({sid for sid in live if self.is_open(sid)})
        return len(live)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "GET":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        agent = headers.get(AGENT_HEADER, "")
        if self.in_flight[agent] >= self.limits.max_calls_in_flight_per_agent:
            message = (
                f"agent {agent} already has {self.in_flight[agent]} requests in flight, the most one agent "
                "may have; retry when one has finished"
            )
            await jsonrpc_error(429, message, headers={"Retry-After": "1"})(scope, receive, send)
            return
        opening = opens_a_session(scope["method"], headers)
        if opening:
            if self.open_sessions(agent) + self._opening[agent] >= self.limits.max_sessions_per_agent:
                message = (
                    f"agent {agent} already has {self.limits.max_sessions_per_agent} open sessions, the most "
                    "one agent may have; close one (DELETE) or let one expire"
                )
                await jsonrpc_error(429, message, headers={"Retry-After": "5"})(scope, receive, send)
                return
            self._opening[agent] += 1

        pending = opening  # counted in `_opening` until the answer says whether a session opened

        async def noting_the_session(message: Message) -> None:
            nonlocal pending
            if pending and message["type"] == "http.response.start":
                pending = False
                self._opening[agent] -= 1
                session_id = Headers(raw=message.get("headers", [])).get(MCP_SESSION_ID_HEADER)
                if session_id and message["status"] < 400:
                    self.sessions[agent].add(session_id)
            await send(message)

        self.in_flight[agent] += 1
        try:
            await self.app(scope, receive, noting_the_session)
        finally:
            self.in_flight[agent] -= 1
            if pending:
                self._opening[agent] -= 1
            if scope["method"] == "DELETE" and headers.get(MCP_SESSION_ID_HEADER):
                self.sessions[agent].discard(headers[MCP_SESSION_ID_HEADER])
