"""Who calls: the one value the server needs for every request, tools/list included (so it is
light to import, apart from the values a tool call becomes in `call.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass

AGENT_HEADER = "x-binance-mcp-agent"
"""The header the HTTP transport's bearer check sets to the agent it settled on (a client's own
header of that name is dropped first), for the guard to read."""


@dataclass(frozen=True)
class Caller:
    """Who calls. `agent` is the HTTP token's name (`local` for the anonymous loopback caller,
    None over stdio); `client` is what the audit log shows; `authenticated` says whether the name
    was proven (a bearer token) or only declared (a stdio client's `clientInfo.name`)."""

    agent: str | None
    session: str
    client: str
    transport: str  # "stdio" | "http"
    authenticated: bool = False


CURRENT_CALLER: ContextVar[Caller | None] = ContextVar("binance_mcp_caller", default=None)
"""The caller of the request being served: set once per request by the server's middleware, read
by the guard and by handlers the SDK gives no context (a static resource)."""


def agent_from_headers(headers: Mapping[str, str]) -> str | None:
    """The guard's agent resolver: the agent the HTTP bearer check settled on for this request."""
    return headers.get(AGENT_HEADER)
