"""MCP over stdin/stdout that finishes the calls in flight before it exits, on EOF and on SIGTERM.

The SDK's own stdio loop cancels every handler the moment stdin closes, and a SIGTERM kills the
process outright: an order the exchange has accepted then never reaches the client. This module
serves the same MCPServer over the SDK's `stdio_server` (which keeps stdout for the protocol), with
a relay on each side that knows which requests are still unanswered:

- **EOF** (the client closed stdin): the server is told only once every request it was given has
  been answered, or `grace_s` has passed (`binance_mcp.stopping`: it covers the longest call, lock
  wait and exchange timeouts included); then it stops as before.
- **SIGTERM / SIGINT**: draining begins. A new `tools/call` (any request that may start work) is
  answered at once with a JSON-RPC error saying the server is shutting down; what a client needs to
  receive a result it is owed keeps being served (tools/list, which the SDK's client asks after a
  result when it has not listed tools; ping, initialize, notifications, its answers to the
  server's own questions). The server stops once nothing is unanswered and nothing has come or
  gone for `linger_s` (1.5 s), or when `grace_s` has passed. A second signal stops at once.

The guard writes a call's audit record before its result is sent, so a finished call is audited;
a call still unanswered when the grace ran out (one waiting on a human) is cancelled, and the
guard records it as `cut_by_drain` (`Stopping.cut`).
Stdin is read in a daemon thread from a private copy of fd 0 (fd 0 itself points at the null
device while serving, as the SDK does), so that the process can stop while the client still holds
stdin open.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import threading
import time
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.lowlevel
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.server.mcpserver import MCPServer
from mcp.server.stdio import stdio_server
from mcp.shared.dispatcher import coerce_request_id
from mcp.shared.message import SessionMessage
from mcp_types import (
    INTERNAL_ERROR,
    ErrorData,
    JSONRPCError,
    JSONRPCNotification,
    JSONRPCRequest,
    JSONRPCResponse,
)

from binance_mcp.http.methods import RUNS_NOTHING
from binance_mcp.sdk import lowlevel_server
from binance_mcp.stopping import DEPLOYED, DrainTimes, Stopping

logger = logging.getLogger(__name__)

TICK_S = 0.05
SHUTTING_DOWN = (
    "the server is shutting down: it takes no new calls; retry once it has restarted (your client "
    "restarts it when you reconnect)"
)


class StdioDrain:
    """Which requests are unanswered, and whether the server may stop now."""

    def __init__(self, times: DrainTimes = DEPLOYED, stopping: Stopping | None = None) -> None:
        self.grace_s = times.grace_s
        self.stopping = stopping or Stopping()
        self.linger_s = times.linger_s
        self.unanswered: set[object] = set()
        self.draining = False
        self.eof = False
        self.deadline = math.inf
        self.last_seen = float("-inf")
        self._reported = False

    def begin(self, why: str) -> None:
        if self.draining:
            return
        self.draining = True
        self.stopping.draining = True
        self.deadline = time.monotonic() + self.grace_s
        if self.unanswered or why != "stdin closed":
            logger.warning(
                "stopping (%s): %d calls in flight, waiting up to %g s for them",
                why,
                len(self.unanswered),
                self.grace_s,
            )

    def asked(self, request_id: object) -> None:
        self.unanswered.add(coerce_request_id(request_id))  # type: ignore[arg-type]
        self.last_seen = time.monotonic()

    def answered(self, request_id: object) -> None:
        self.unanswered.discard(coerce_request_id(request_id))  # type: ignore[arg-type]
        self.last_seen = time.monotonic()

    def heard(self) -> None:
        self.last_seen = time.monotonic()

    @property
    def finished(self) -> bool:
        if not self.draining:
            return False
        now = time.monotonic()
        if now >= self.deadline:
            if self.unanswered and not self._reported:
                self._reported = True
                self.stopping.cut = True  # the guard records the calls cancelled now as cut
                logger.error(
                    "stopping with %d calls still in flight after %g s", len(self.unanswered), self.grace_s
                )
            return True
        if self.unanswered:
            return False
        return self.eof or now - self.last_seen >= self.linger_s


class StdinLines:
    """Lines of stdin, read by a daemon thread from a private copy of fd 0; `stop()` ends them early."""

    def __init__(self, send: MemoryObjectSendStream[str], receive: MemoryObjectReceiveStream[str]) -> None:
        self._send = send
        self._receive = receive
        self._scope: anyio.CancelScope | None = None
        self._stopped = False
        self._restore: int | None = None

    @classmethod
    def open(cls) -> StdinLines:
        send, receive = anyio.create_memory_object_stream[str](16)
        lines = cls(send, receive)
        fd = lines._claim_stdin()
        token = anyio.lowlevel.current_token()
        threading.Thread(target=lines._read, args=(fd, token), name="stdin reader", daemon=True).start()
        return lines

    def _claim_stdin(self) -> int:
        """A private copy of fd 0 to read; fd 0 itself points at the null device until `close()`."""
        try:
            private = os.dup(0)
        except OSError:
            return 0
        with contextlib.suppress(OSError):
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.close(null)
            self._restore = private
        return private

    def _read(self, fd: int, token: Any) -> None:
        try:
            with os.fdopen(fd, "rb", closefd=False) as stream:
                for raw in stream:
                    line = raw.decode("utf-8", errors="replace")
                    anyio.from_thread.run(self._send.send, line, token=token)
            anyio.from_thread.run_sync(self._send.close, token=token)
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, RuntimeError, OSError, ValueError):
            pass  # stopped, or the event loop is gone: nothing is waiting for these lines

    def stop(self) -> None:
        self._stopped = True
        if self._scope is not None:
            self._scope.cancel()

    def close(self) -> None:
        self.stop()
        self._receive.close()
        if self._restore is not None:
            with contextlib.suppress(OSError):
                os.dup2(self._restore, 0)
            self._restore = None

    def __aiter__(self) -> StdinLines:
        return self

    async def __anext__(self) -> str:
        if self._stopped:
            raise StopAsyncIteration
        with anyio.CancelScope() as scope:
            self._scope = scope
            try:
                return await self._receive.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise StopAsyncIteration from None
            finally:
                self._scope = None
        raise StopAsyncIteration  # stop() cancelled the wait


def _starts_work(message: Any) -> bool:
    return isinstance(message, JSONRPCRequest) and message.method not in RUNS_NOTHING


def _refusal(request: JSONRPCRequest) -> SessionMessage:
    error = ErrorData(code=INTERNAL_ERROR, message=SHUTTING_DOWN)
    return SessionMessage(JSONRPCError(jsonrpc="2.0", id=request.id, error=error))


async def _inbound(
    client: MemoryObjectReceiveStream[SessionMessage | Exception],
    server: MemoryObjectSendStream[SessionMessage | Exception],
    replies: MemoryObjectSendStream[SessionMessage],
    drain: StdioDrain,
) -> None:
    """Client → server: note each request; while draining, refuse new work; on EOF, wait, then close."""
    async with server:
        async for item in client:
            drain.heard()
            message = item.message if isinstance(item, SessionMessage) else None
            if drain.draining and _starts_work(message):
                assert isinstance(message, JSONRPCRequest)
                await replies.send(_refusal(message))
                continue
            if isinstance(message, JSONRPCRequest):
                drain.asked(message.id)
            elif isinstance(message, JSONRPCNotification) and message.method == "notifications/cancelled":
                cancelled = (message.params or {}).get("requestId")
                drain.answered(cancelled)  # the server never answers a request its client cancelled
            await server.send(item)
        drain.eof = True
        drain.begin("stdin closed")
        while not drain.finished:
            await anyio.sleep(TICK_S)


async def _outbound(
    server: MemoryObjectReceiveStream[SessionMessage],
    client: MemoryObjectSendStream[SessionMessage],
    drain: StdioDrain,
) -> None:
    """Server → client: each answer, once handed on, settles its request."""
    async for item in server:
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await client.send(item)
        if isinstance(item.message, JSONRPCResponse | JSONRPCError) and item.message.id is not None:
            drain.answered(item.message.id)


async def _signals(drain: StdioDrain, lines: StdinLines, group: anyio.abc.TaskGroup) -> None:
    """The first SIGTERM/SIGINT drains; the second stops at once."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as received:
        seen = 0
        async for signum in received:
            seen += 1
            name = signal.Signals(signum).name
            if seen > 1:
                logger.warning("second %s: stopping now", name)
                drain.stopping.cut = bool(drain.unanswered)
                group.cancel_scope.cancel()
                return
            drain.begin(name)
            group.start_soon(_stop_reading_when_finished, drain, lines)


async def _stop_reading_when_finished(drain: StdioDrain, lines: StdinLines) -> None:
    while not drain.finished:
        await anyio.sleep(TICK_S)
    lines.stop()


async def serve_stdio(
    server: MCPServer, *, times: DrainTimes = DEPLOYED, stopping: Stopping | None = None
) -> None:
    """Serve `server` over stdin/stdout until EOF or SIGTERM, finishing the calls in flight first;
    `stopping` is told when the drain begins and whether it cut calls."""
    lowlevel = lowlevel_server(server)  # what MCPServer.run_stdio_async serves too
    drain = StdioDrain(times, stopping)
    lines = StdinLines.open()
    try:
        async with stdio_server(stdin=lines) as (client_in, client_out):  # type: ignore[arg-type]
            to_server, server_in = anyio.create_memory_object_stream[SessionMessage | Exception](0)
            server_out, from_server = anyio.create_memory_object_stream[SessionMessage](0)
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(_signals, drain, lines, group)
                    group.start_soon(_inbound, client_in, to_server, client_out, drain)
                    async with anyio.create_task_group() as serving:
                        serving.start_soon(_outbound, from_server, client_out, drain)
                        await lowlevel.run(server_in, server_out, lowlevel.create_initialization_options())
                    group.cancel_scope.cancel()  # the server has stopped and its last answer is out
            finally:
                lines.stop()  # so that the SDK's stdin reader ends too
                await client_out.aclose()
    except* (BrokenPipeError, ConnectionResetError):
        logger.warning("the client closed stdout before the last answer was written")
    finally:
        lines.close()


__all__ = ["StdioDrain", "serve_stdio"]
