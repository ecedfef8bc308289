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
from binance_mcp.http.sign_in import FailedSignIns
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
    """`tokens` None: open (loopback, no token at start), everyone is `local`. Failed sign-ins are
    counted per client address (`sign_in.FailedSignIns`); past the limit they are answered 429,
    while a valid token from the same address still passes (agents behind one address are not
    locked out by another's mistakes)."""

    def __init__(
        self, app: ASGIApp, *, tokens: TokenStore | None, failures: FailedSignIns | None = None
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.failures = failures or FailedSignIns()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.tokens is None:
            agent = LOCAL_AGENT
        else:
            address = client_address(scope)
            token = bearer_token(scope)
            if token is None:
                await self._failed(address, "missing_token", scope, receive, send)
                return
            try:
                holder = self.tokens.holder(token)
            except Exception:  # the store cannot be read: refuse rather than guess
                logger.exception("could not check a bearer token")
                response = jsonrpc_error(503, "the server cannot check tokens right now", code=INTERNAL_ERROR)
                await response(scope, receive, send)
                return
            if holder is None:
                await self._failed(address, "invalid_token", scope, receive, send)
                return
            if holder.is_operator:
                await self._failed(address, "operator_token", scope, receive, send, operator=holder.name)
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

    async def _failed(
        self, address: str, reason: str, scope: Scope, receive: Receive, send: Send, operator: str = ""
    ) -> None:
        """A failed sign-in: counted for `address`; past the limit, 429 until its window ends."""
        wait = self.failures.retry_after(address)
        self.failures.failed(address, reason)
        if wait is not None:
            response = _too_many(wait)
        elif operator:
            response = operator_refused(operator)
        elif reason == "missing_token":
            response = _unauthorized(reason, "this server needs Authorization: Bearer <token>")
        else:
            response = _unauthorized(reason, "unknown or revoked token")
        await response(scope, receive, send)


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


def client_address(scope: Scope) -> str:
    """The peer's address as the server saw it (behind a proxy: the proxy's)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _too_many(wait: float) -> Response:
    return json_response(
        429,
        {
            "error": "too_many_failed_sign_ins",
            "error_description": (
                f"too many failed sign-ins from this address; try again in {wait:.0f} s with a valid token"
            ),
        },
        headers={"Retry-After": str(max(1, round(wait)))},
    )


def _unauthorized(error: str, description: str) -> Response:
    challenge = REALM if error == "missing_token" else f'{REALM}, error="invalid_token"'
    return json_response(
        401,
        {"error": error, "error_description": description},
        headers={"WWW-Authenticate": challenge},
    )
