"""SIGTERM without losing a call: refuse new calls, let the calls in flight finish and be taken, then stop.

Plain uvicorn cannot do this for MCP: a 2025-era call runs in the session manager's task group, not
in the request's task, and an open listening stream (GET) never finishes, so uvicorn's own
graceful shutdown either waits forever or cancels the session manager with calls still running.

So the first SIGTERM (or Ctrl+C) only starts draining:

- a new `tools/call` (any request that may start work, see `methods`) is answered 503 at once,
  with `Retry-After` and `Connection: close`, so the client goes elsewhere;
- everything a client needs to receive a result it is owed keeps being served until exit:
  tools/list (the SDK's client fetches it after a result to check the result against the tool's
  schema when it has not listed tools), ping, initialize, notifications, its answers to the
  server's own questions, the session's GET and DELETE; `/healthz` says "stopping" (503);
- the server waits until no request that can run a call (anything but a GET) is in flight and none
  has ended for `linger_s` (1.5 s: time for the client's tools/list after its last result), or
  until `grace_s` has passed (both `binance_mcp.stopping.DrainTimes`; the grace covers the
  longest call: lock wait, connect and read timeouts, a margin). Only then does uvicorn's shutdown
  run: listening streams are closed, the session manager stops.

The guard writes a call's audit record before its result is sent, so a call that finished has its
record; a call still in flight when the grace ran out (waiting on a human) is cancelled, and the
guard records it as `cut_by_drain` (`Stopping.cut`). A second signal stops waiting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from binance_mcp.http.methods import new_work, read_body
from binance_mcp.http.responses import INTERNAL_ERROR, jsonrpc_error
from binance_mcp.stopping import DEPLOYED, DrainTimes, Stopping

logger = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
MAX_BODY_BYTES = 1024 * 1024
_METHOD_HEADER = b"mcp-method"
_LONG_LIVED = (b"subscriptions/listen",)  # a 2026-era listening stream: runs no call, never ends


class Drain:
    """The draining state and the count of requests in flight, shared by the middleware and the server."""

    def __init__(self, times: DrainTimes = DEPLOYED, stopping: Stopping | None = None) -> None:
        self.grace_s = times.grace_s
        self.stopping = stopping or Stopping()
        self.linger_s = times.linger_s
        self.in_flight = 0
        self.draining = False
        self.deadline: float | None = None
        self.last_ended = float("-inf")

    def begin(self) -> None:
        if not self.draining:
            self.draining = True
            self.stopping.draining = True
            self.deadline = time.monotonic() + self.grace_s

    def started(self) -> None:
        self.in_flight += 1

    def ended(self) -> None:
        self.in_flight -= 1
        self.last_ended = time.monotonic()

    @property
    def finished(self) -> bool:
        """Draining, and nothing in flight nor just ended any more, or the grace period is over."""
        if not self.draining:
            return False
        now = time.monotonic()
        if now >= (self.deadline or 0.0):
            return True
        return self.in_flight == 0 and now - self.last_ended >= self.linger_s


def _long_lived(scope: Scope) -> bool:
    if scope["method"] in ("GET", "HEAD"):  # a 2025-era listening stream, or /healthz
        return True
    return any(key == _METHOD_HEADER and value in _LONG_LIVED for key, value in scope["headers"])


class DrainMiddleware:
    """Outermost: once draining, 503 for a request that may start a call; counts those that may run one."""

    def __init__(self, app: ASGIApp, drain: Drain, *, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.drain = drain
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] == HEALTH_PATH:  # /healthz says "stopping" itself
            await self.app(scope, receive, send)
            return
        if _long_lived(scope):
            await self._quietly_cut(scope, receive, send)
            return
        if self.drain.draining and scope["method"] == "POST":
            body = await read_body(receive, self.max_body_bytes)
            method, request_id = new_work(body)
            if method is not None:
                response = jsonrpc_error(
                    503,
                    "the server is shutting down: it takes no new calls; retry in a moment (on another "
                    "replica, or once it has restarted)",
                    code=INTERNAL_ERROR,
                    headers={"Retry-After": "10", "Connection": "close"},
                    request_id=request_id,
                )
                await response(scope, receive, send)
                return
            receive = body.replay(receive)
        self.drain.started()
        try:
            await self._quietly_cut(scope, receive, send)
        finally:
            self.drain.ended()

    async def _quietly_cut(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The request; once the drain is over, uvicorn cancels what is left, and that is said once
        ("stopping with N requests still in flight"), not as one traceback per request."""
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            if not self.drain.finished:
                raise


class DrainingServer(uvicorn.Server):
    """uvicorn, with a first SIGTERM/SIGINT that drains (see the module's note) and `on_ready` once up."""

    def __init__(self, config: uvicorn.Config, drain: Drain, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self.drain = drain
        self.on_ready = on_ready
        self._announced = False

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self.on_ready()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler: only set flags here. Not calling uvicorn's own, which would also raise
        # the signal again once the server has stopped (and so not exit 0).
        if self.drain.draining:
            self.drain.stopping.cut = self.drain.in_flight > 0
            self.should_exit = True
        else:
            self.drain.begin()

    async def on_tick(self, counter: int) -> bool:
        stop = await super().on_tick(counter)
        if self.drain.draining and not self._announced:
            self._announced = True
            logger.warning(
                "stopping: refusing new calls; %d requests in flight, waiting up to %g s for them",
                self.drain.in_flight,
                self.drain.grace_s,
            )
        if self.drain.finished:
            if self.drain.in_flight:
                self.drain.stopping.cut = True  # the guard records the calls cancelled now as cut
                logger.error(
                    "stopping with %d requests still in flight after %g s",
                    self.drain.in_flight,
                    self.drain.grace_s,
                )
            return True
        return stop
