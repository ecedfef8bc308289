"""Bounds that keep one agent from starving the others on a shared server.

- Request body size: the SDK's own check (413), set from `HttpBounds.max_body_bytes`; no tool takes
  more than a few hundred bytes of arguments.
- Open sessions: at most `max_sessions_per_agent` per agent, and `max_sessions` in all (the
  SDK's own 503). An agent at its cap that opens one more has its least recently used session
  with no call in flight closed to make room (a client that used it gets 404 and opens a new
  one, as the spec says); only when each of its sessions has a call in flight is it refused (429).
  A session ends when its client deletes it or after `session_idle_timeout_s` without a request.
- Calls in flight: at most `max_calls_in_flight_per_agent` requests of one agent being served at
  once (429 with `Retry-After` for one more). A GET (a 2025-era client's listening stream) is not a
  call and is not counted.

Counted here, after authentication, so the counts are per agent whatever the token's sessions.
The bounds on connections before authentication (header and idle timeouts, the cap on open
connections) are in `connections`; their numbers are set here too.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, defaultdict
from collections.abc import Callable
from dataclasses import dataclass

from mcp.server.streamable_http import MCP_SESSION_ID_HEADER
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from binance_mcp.http.auth import AGENT_HEADER
from binance_mcp.http.responses import jsonrpc_error

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class HttpBounds:
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


class AgentBounds:
    """`is_open(session_id)`: the SDK still has that session (it may have expired);
    `close(session_id)`: end it as its idle timeout would, True if it could."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        bounds: HttpBounds,
        is_open: Callable[[str], bool],
        close: Callable[[str], bool] | None = None,
    ) -> None:
        self.app = app
        self.bounds = bounds
        self.is_open = is_open
        self.close = close
        self.in_flight: dict[str, int] = defaultdict(int)
        self.sessions: dict[str, OrderedDict[str, int]] = defaultdict(OrderedDict)
        """Per agent, its open sessions least recently used first, each with its requests in flight."""
        self._opening: dict[str, int] = defaultdict(int)

    def open_sessions(self, agent: str) -> int:
        live = self.sessions[agent]
        for gone in [sid for sid in live if not self.is_open(sid)]:
            del live[gone]
        return len(live)

    def evict_idle(self, agent: str) -> str | None:
        """Close `agent`'s least recently used session with no call in flight; its id, or None."""
        live = self.sessions[agent]
        for session_id, busy in live.items():
            if not busy and self.close is not None and self.close(session_id):
                del live[session_id]
                logger.info("agent %s: closed its least recently used idle session to open another", agent)
                return session_id
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        agent = headers.get(AGENT_HEADER, "")
        session_id = headers.get(MCP_SESSION_ID_HEADER)
        used = self.sessions[agent]
        if session_id is not None and session_id in used:
            used.move_to_end(session_id)  # most recently used last
        if scope["method"] == "GET":  # a listening stream: not a call, never counted
            await self.app(scope, receive, send)
            return
        if self.in_flight[agent] >= self.bounds.max_calls_in_flight_per_agent:
            message = (
                f"agent {agent} already has {self.in_flight[agent]} requests in flight, the most one agent "
                "may have; retry when one has finished"
            )
            await jsonrpc_error(429, message, headers={"Retry-After": "1"})(scope, receive, send)
            return
        opening = opens_a_session(scope["method"], headers)
        if opening:
            cap = self.bounds.max_sessions_per_agent
            if self.open_sessions(agent) + self._opening[agent] >= cap and self.evict_idle(agent) is None:
                message = (
                    f"agent {agent} already has {cap} open sessions, the most one agent may have, and each "
                    "has a call in flight; retry when one has finished, or close one (DELETE)"
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
                opened = Headers(raw=message.get("headers", [])).get(MCP_SESSION_ID_HEADER)
                if opened and message["status"] < 400:
                    used[opened] = 0
            await send(message)

        self.in_flight[agent] += 1
        counted = session_id if session_id in used else None
        if counted is not None:
            used[counted] += 1
        try:
            await self.app(scope, receive, noting_the_session)
        finally:
            self.in_flight[agent] -= 1
            if pending:
                self._opening[agent] -= 1
            if counted is not None and counted in used:
                used[counted] -= 1
            if scope["method"] == "DELETE" and session_id:
                used.pop(session_id, None)
