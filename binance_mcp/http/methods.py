"""What a POST to `/mcp` asks for: the JSON-RPC methods in its body, read before the SDK sees it.

Draining needs to tell a new `tools/call` (refused) from the requests a client needs to receive a
result it is owed (tools/list, ping, initialize, notifications, its answers to the server's own
questions), which keep being served. A 2026-era client names the method in the `Mcp-Method` header
(the SDK refuses a body that disagrees), a 2025-era one only in the body, so the body is read,
kept, and handed on unchanged to the app behind.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from starlette.types import Message, Receive

RUNS_NOTHING = frozenset(
    {
        "initialize",
        "server/discover",
        "ping",
        "tools/list",
        "resources/list",
        "resources/templates/list",
        "prompts/list",
        "logging/setLevel",
    }
)
"""Requests that only describe the server: answered while draining, so a client can take its result."""


@dataclass(frozen=True)
class Body:
    """A request body read whole (`complete` False: it was larger than the limit, cut short)."""

    data: bytes
    complete: bool

    def replay(self, receive: Receive) -> Receive:
        """A `receive` that gives this body first, then whatever `receive` gives (a disconnect)."""
        sent = False

        async def replaying() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": self.data, "more_body": not self.complete}
            return await receive()

        return replaying


async def read_body(receive: Receive, limit: int) -> Body:
    """Read the body up to `limit` bytes (one byte more marks it as too large)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            return Body(b"".join(chunks), complete=True)
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return Body(b"".join(chunks), complete=True)
        if size > limit:
            return Body(b"".join(chunks), complete=False)


def new_work(body: Body) -> tuple[str | None, object]:
    """The first request in `body` that could start work (a call), and its id; None if there is none.

    A body that cannot be read as JSON-RPC starts nothing: the SDK answers it with its own error.
    A body too large to read whole is treated as work (it cannot be told apart).
    """
    if not body.complete:
        return "?", None
    try:
        parsed = json.loads(body.data)
    except ValueError:
        return None, None
    for message in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(message, dict):
            continue
        method = message.get("method")
        if not isinstance(method, str) or "id" not in message:  # a response or a notification
            continue
        if method not in RUNS_NOTHING:
            return method, message.get("id")
    return None, None
