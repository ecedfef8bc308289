"""Prometheus metrics of one server: `/metrics` over HTTP, or `--metrics-port` beside stdio.

What is reported (README *Metrics* names each one): calls and refusals by tool and kind, store
failures, the exchange's request weight used and left, calls waiting for the account lock,
approval requests pending, and the drain's state. Values are read when scraped from what the
server keeps anyway (`guard.counts.CallCounts`, the exchange client's usage tracker, the dispatch
lock, the stopping state), into a registry of this server's own, so several servers in one process
never share a metric. `prometheus_client` is imported on the first scrape, never at start-up.

No label carries an agent's name, a token, an argument or an address. Over HTTP a scrape needs
`Authorization: Bearer <BINANCE_MCP_METRICS_TOKEN>` when the server has tokens (an agent's or an
operator's token is not accepted: neither belongs in a monitoring system's configuration); with
no token at all (a loopback server open to this machine) it is open like the rest.
"""

from __future__ import annotations

import hmac
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send

    from binance_mcp.guard import Guard

__all__ = ["METRICS_PATH", "METRICS_TOKEN_ENV", "ServerMetrics", "metrics_token", "serve_metrics"]

logger = logging.getLogger(__name__)

METRICS_PATH = "/metrics"
METRICS_TOKEN_ENV = "BINANCE_MCP_METRICS_TOKEN"
MIN_TOKEN_CHARS = 16
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_REQUEST_HEAD = 8192
READ_TIMEOUT_S = 5.0


class MetricsTokenError(ValueError):
    """`BINANCE_MCP_METRICS_TOKEN` is set but too short to be a secret."""


def metrics_token(env: Mapping[str, str] = os.environ) -> str | None:
    """The scrape token from the process environment, None when unset; too short raises."""
    token = env.get(METRICS_TOKEN_ENV, "").strip()
    if not token:
        return None
    if len(token) < MIN_TOKEN_CHARS:
        raise MetricsTokenError(f"{METRICS_TOKEN_ENV} must be at least {MIN_TOKEN_CHARS} characters")
    return token


def authorized(authorization: str | None, token: str | None, *, open_without: bool) -> bool:
    """A scrape may read the metrics: it presents the metrics token, or none is needed here."""
    if token is None:
        return open_without
    scheme, _, given = (authorization or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


class ServerMetrics:
    """The metrics of one server (its guard), in a registry of its own."""

    def __init__(self, guard: Guard) -> None:
        self.guard = guard
        self._registry: Any = None
        self._snapshot: dict[str, Any] = {}

    async def render(self) -> bytes:
        """The metrics in Prometheus' text format, read now."""
        self._snapshot = {"approvals_pending": await self._approvals_pending()}
        if self._registry is None:
            from prometheus_client import CollectorRegistry

            self._registry = CollectorRegistry(auto_describe=False)
            self._registry.register(_Collector(self))
        from prometheus_client import generate_latest

        return bytes(generate_latest(self._registry))

    async def _approvals_pending(self) -> int | None:
        """Operator approval requests of this account waiting for a human; None if the store is out."""
        services = self.guard.services
        account = services.account

        def count() -> int:
            return sum(1 for approval in services.approvals.store.list() if approval.account == account)

        try:
            return await anyio.to_thread.run_sync(count)
        except Exception as exc:  # the store's failure is a metric, not a failed scrape
            logger.warning("metrics: could not count the pending approvals (%s)", type(exc).__name__)
            return None

    def families(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        services = self.guard.services
        counts = services.counts
        calls = CounterMetricFamily(
            "binance_mcp_calls",
            "Tool calls ended, by tool, audit decision and outcome",
            labels=["tool", "decision", "outcome"],
        )
        for (tool, decision, outcome), value in sorted(counts.calls.items()):
            calls.add_metric([tool, decision, outcome], value)
        yield calls
        refusals = CounterMetricFamily(
            "binance_mcp_refusals",
            "Tool calls answered with an error, by tool and kind",
            labels=["tool", "kind"],
        )
        for (tool, kind), value in sorted(counts.refusals.items()):
            refusals.add_metric([tool, kind], value)
        yield refusals
        failures = CounterMetricFamily(
            "binance_mcp_store_failures",
            "Calls refused because a store could not be used, by store",
            labels=["store"],
        )
        for store, value in sorted(counts.store_failures.items()):
            failures.add_metric([store], value)
        yield failures
        yield GaugeMetricFamily(
            "binance_mcp_audit_log_writable",
            "1 while the audit log can be written, 0 while every call is refused for want of it",
            value=0 if services.audit.outage is not None else 1,
        )
        pending = self._snapshot.get("approvals_pending")
        yield GaugeMetricFamily(
            "binance_mcp_state_store_up",
            "1 if the state store answered this scrape, 0 if not",
            value=int(pending is not None),
        )
        if pending is not None:
            yield GaugeMetricFamily(
                "binance_mcp_approvals_pending",
                "Operator approval requests of this account waiting for a human",
                value=pending,
            )
        yield GaugeMetricFamily(
            "binance_mcp_lock_waiting",
            "Calls of this process waiting for the account lock",
            value=services.lock.waiting,
        )
        yield from self._weight()
        stopping = self.guard.stopping
        yield GaugeMetricFamily(
            "binance_mcp_draining",
            "1 once the server is stopping: it takes no new call",
            value=int(stopping.draining),
        )
        yield GaugeMetricFamily(
            "binance_mcp_drain_cut",
            "1 if the drain's grace ran out with calls still in flight",
            value=int(stopping.cut),
        )

    def _weight(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from binance_mcp.exchange.clock import server_now_ms
        from binance_mcp.exchange.usage import REQUEST_WEIGHT

        exchange = self.guard.services.exchange
        tracker = exchange.limits
        now_ms = server_now_ms(exchange.timestamp_offset_ms)
        used = GaugeMetricFamily(
            "binance_mcp_exchange_weight_used",
            "Request weight used in Binance's current window (per IP: shared with anything else on it)",
            labels=["window"],
        )
        left = GaugeMetricFamily(
            "binance_mcp_exchange_weight_left",
            "Request weight left in Binance's current window",
            labels=["window"],
        )
        for limit in tracker.limits:
            if limit.kind != REQUEST_WEIGHT:
                continue
            window = limit.header.rsplit("-", 1)[1]  # 1m
            spent = tracker.used(limit, now_ms)
            used.add_metric([window], spent)
            left.add_metric([window], max(0, limit.limit - spent))
        yield used
        yield left


class _Collector:
    def __init__(self, metrics: ServerMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Any]:
        return self._metrics.families()


class MetricsEndpoint:
    """ASGI: `GET /metrics` for the HTTP transport (the router sends only that path here)."""

    def __init__(self, metrics: ServerMetrics, *, token: str | None, open_without: bool) -> None:
        self.metrics = metrics
        self.token = token
        self.open_without = open_without

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from binance_mcp.http.responses import json_response

        if scope["method"] not in ("GET", "HEAD"):
            await json_response(405, {"error": "method not allowed"}, headers={"Allow": "GET"})(
                scope, receive, send
            )
            return
        authorization = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        if not authorized(authorization, self.token, open_without=self.open_without):
            await json_response(401, unauthorized(self.token), headers={"WWW-Authenticate": "Bearer"})(
                scope, receive, send
            )
            return
        body = await self.metrics.render()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if scope["method"] == "HEAD" else body})


def unauthorized(token: str | None) -> dict[str, str]:
    if token is None:
        return {
            "error": "metrics_token",
            "error_description": f"set {METRICS_TOKEN_ENV} on the server to scrape /metrics with it as the "
            "bearer token (agents' and operators' tokens are not accepted here)",
        }
    return {
        "error": "invalid_token",
        "error_description": "/metrics needs Authorization: Bearer <metrics token>",
    }


async def serve_metrics(
    guard: Guard,
    port: int,
    token: str | None = None,
    *,
    task_status: anyio.abc.TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """stdio's `--metrics-port`: GET /metrics on 127.0.0.1:PORT until cancelled; says where on
    stderr. Open to this machine, unless `token` (`BINANCE_MCP_METRICS_TOKEN`) is set."""
    metrics = ServerMetrics(guard)
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    from binance_mcp.http.origins import own_hosts

    hosts = frozenset(
        own_hosts("127.0.0.1", bound)
    )  # the names of this port, as the HTTP transport checks them
    print(f"binance-mcp: metrics at http://127.0.0.1:{bound}{METRICS_PATH}", file=sys.stderr, flush=True)
    task_status.started(bound)

    async def answer(stream: anyio.abc.SocketStream) -> None:
        async with stream:
            try:
                with anyio.fail_after(READ_TIMEOUT_S):
                    head = await read_head(stream)
                status, body, content_type = await respond(head, metrics, token, hosts)
                await stream.send(
                    f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                    "Connection: close\r\n\r\n".encode()
                    + body
                )
            except (TimeoutError, anyio.EndOfStream, anyio.BrokenResourceError, OSError, ValueError):
                return

    async with listener:
        await listener.serve(answer)


async def read_head(stream: anyio.abc.SocketStream) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        head += await stream.receive()
        if len(head) > MAX_REQUEST_HEAD:
            raise ValueError("request head too large")
    return head


async def respond(
    head: bytes, metrics: ServerMetrics, token: str | None, hosts: frozenset[str]
) -> tuple[str, bytes, str]:
    """The answer to one request on the metrics port (whose own `Host` names are `hosts`): status
    line, body and its type."""
    lines = head.decode("latin-1").split("\r\n")
    method, path, *_ = ([*lines[0].split(" "), "", ""])[:3]
    headers = {
        k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
    }
    if headers.get("host", "").lower() not in hosts:  # a page's DNS rebinding names its own host
        return (
            "421 Misdirected Request",
            b"the metrics port answers only to 127.0.0.1 or localhost\n",
            "text/plain",
        )
    if path.split("?", 1)[0] != METRICS_PATH:
        return "404 Not Found", b"not found: the metrics are at /metrics\n", "text/plain"
    if method != "GET":
        return "405 Method Not Allowed", b"only GET\n", "text/plain"
    if not authorized(headers.get("authorization"), token, open_without=True):
        return "401 Unauthorized", b"/metrics needs Authorization: Bearer <metrics token>\n", "text/plain"
    return "200 OK", await metrics.render(), CONTENT_TYPE
