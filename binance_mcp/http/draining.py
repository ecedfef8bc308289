"""SIGTERM without losing a call: stop taking requests, let the calls in flight finish, then stop.

Plain uvicorn cannot do this for MCP: a 2025-era call runs in the session manager's task group, not
in the request's task, and an open listening stream (GET) never finishes, so uvicorn's own
graceful shutdown either waits forever or cancels the session manager with calls still running.

So the first SIGTERM (or Ctrl+C) only starts draining: every new request is answered 503 at once,
and the server waits until no request that can run a call (anything but a GET) is in flight, or
until `grace_s` (10 s) has passed. Only then does uvicorn's shutdown run: listening streams are
closed, the session manager stops. The guard writes a call's audit record before its result is
sent, so a call that finished has its record. A second signal stops waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from binance_mcp.http.responses import INTERNAL_ERROR, jsonrpc_error

logger = logging.getLogger(__name__)

GRACE_S = 10.0
HEALTH_PATH = "/healthz"


class Drain:
    """The draining state and the count of requests in flight, shared by the middleware and the server."""

    def __init__(self, grace_s: float = GRACE_S) -> None:
        self.grace_s = grace_s
        self.in_flight = 0
        self.draining = False
        self.deadline: float | None = None

    def begin(self) -> None:
        if not self.draining:
            self.draining = True
            self.deadline = time.monotonic() + self.grace_s

    @property
    def finished(self) -> bool:
        """Draining, and nothing is in flight any more or the grace period is over."""
        if not self.draining:
            return False
        return self.in_flight == 0 or time.monotonic() >= (self.deadline or 0.0)


class DrainMiddleware:
    """Outermost: 503 for every request once draining; counts the requests that may run a call."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.drain.draining and scope["path"] != HEALTH_PATH:  # /healthz says "stopping" itself
            response = jsonrpc_error(
                503,
                "the server is shutting down",
                code=INTERNAL_ERROR,
                headers={"Retry-After": "10", "Connection": "close"},
            )
            await response(scope, receive, send)
            return
        if scope["method"] == "GET":  # a listening stream or /healthz: runs no call
            await self.app(scope, receive, send)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1


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
            self.should_exit = True
        else:
            self.drain.begin()

    async def on_tick(self, counter: int) -> bool:
        stop = await super().on_tick(counter)
        if self.drain.draining and not self._announced:
            self._announced = True
            logger.warning(
                "stopping: refusing new requests; %d in flight, waiting up to %g s for them",
                self.drain.in_flight,
                self.drain.grace_s,
            )
        if self.drain.finished:
            if self.drain.in_flight:
                logger.error(
                    "stopping with %d requests still in flight after %g s",
                    self.drain.in_flight,
                    self.drain.grace_s,
                )
            return True
        return stop
