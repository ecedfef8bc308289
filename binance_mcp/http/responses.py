"""The few answers this package gives on its own, before a request reaches the SDK.

On `/mcp` a refusal is a JSON-RPC error with no id, the shape the SDK's own transport errors take,
so an MCP client shows the message; the HTTP status says what kind of refusal it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from mcp_types import INTERNAL_ERROR, INVALID_REQUEST
from starlette.responses import Response

__all__ = ["INTERNAL_ERROR", "INVALID_REQUEST", "json_response", "jsonrpc_error"]


def jsonrpc_error(
    status: int,
    message: str,
    *,
    code: int = INVALID_REQUEST,
    headers: Mapping[str, str] | None = None,
    request_id: object = None,
) -> Response:
    body = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return json_response(status, body, headers=headers)


def json_response(status: int, body: object, *, headers: Mapping[str, str] | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
        headers=dict(headers or {}),
    )
