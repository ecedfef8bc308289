"""Who is calling: the bearer token's agent, checked on every request to `/mcp`.

When any token existed at start, a request needs `Authorization: Bearer <token>` for a token the
store knows right now (a revoke from the CLI ends it at once); anything else is 401 with
`WWW-Authenticate: Bearer` and nothing runs. An operator's token (`tokens add NAME --operator`)
is refused with 403: operators approve on the approvals page and call no tool, so that an agent
handed an operator's token still cannot both ask and approve. With no token at start every caller
is the anonymous loopback agent `local`.

The agent this middleware settled on travels with the request as the `x-binance-mcp-agent` header
(any copy the client sent is dropped first), so that the guard's `agent_resolver`, which sees only
the headers, reads the very decision made here rather than checking the token a second time. The
agent is also handed to the SDK as the authenticated principal, so a session is bound to the agent
that opened it: another agent presenting its `Mcp-Session-Id` is told the session does not exist.
"""

from __future__ import annotations

import logging

from mcp.server.auth.middleware.auth_context import auth_context_var
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from binance_mcp.guard.caller import AGENT_HEADER
from binance_mcp.http.responses import INTERNAL_ERROR, json_response, jsonrpc_error
from binance_mcp.stores.tokens import LOCAL_AGENT, TokenStore

logger = logging.getLogger(__name__)

_AGENT_HEADER_RAW = AGENT_HEADER.encode("latin-1")
REALM = 'Bearer realm="binance-mcp"'


def bearer_token(scope: Scope) -> str | None:
    for key, value in scope["headers"]:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() != "bearer":
                return None
            return token.strip() or None
    return None


class BearerAuth:
    """`tokens` None: open (loopback, no token at start), everyone is `local`."""

    def __init__(self, app: ASGIApp, *, tokens: TokenStore | None) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.tokens is None:
            agent = LOCAL_AGENT
        else:
            token = bearer_token(scope)
            if token is None:
                await _unauthorized("missing_token", "this server needs Authorization: Bearer <token>")(
                    scope, receive, send
                )
                return
            try:
                holder = self.tokens.holder(token)
            except Exception:  # the store cannot be read: refuse rather than guess
                logger.exception("could not check a bearer token")
                response = jsonrpc_error(503, "the server cannot check tokens right now", code=INTERNAL_ERROR)
                await response(scope, receive, send)
                return
            if holder is None:
                await _unauthorized("invalid_token", "unknown or revoked token")(scope, receive, send)
                return
            if holder.is_operator:
                await operator_refused(holder.name)(scope, receive, send)
                return
            agent = holder.name
        headers = [(k, v) for k, v in scope["headers"] if k != _AGENT_HEADER_RAW]
        headers.append((_AGENT_HEADER_RAW, agent.encode("latin-1")))
        user = AuthenticatedUser(AccessToken(token="", client_id=agent, scopes=[]))
        scope = {**scope, "headers": headers, "user": user, "auth": AuthCredentials([])}
        reset = auth_context_var.set(user)
        try:
            await self.app(scope, receive, send)
        finally:
            auth_context_var.reset(reset)


def operator_refused(name: str) -> Response:
    """403 for an operator's token on `/mcp`: operators approve, they do not call tools."""
    return json_response(
        403,
        {
            "error": "operator_token",
            "error_description": (
                f"this is the operator token of {name}: operators approve calls on the approvals page "
                "and cannot call tools; give the agent its own token (binance-mcp tokens add NAME)"
            ),
        },
    )


def _unauthorized(error: str, description: str) -> Response:
    challenge = REALM if error == "missing_token" else f'{REALM}, error="invalid_token"'
    return json_response(
        401,
        {"error": error, "error_description": description},
        headers={"WWW-Authenticate": challenge},
    )
