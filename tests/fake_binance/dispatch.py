"""Request processing independent of HTTP: routing, the signed-request checks (§3.5 order), parameter checks,
calling the handler, and the weight / order-count headers."""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import signing
from .errors import (
    BAD_SIGNATURE,
    DUPLICATE_PARAM,
    EXEC_UNKNOWN_MSG,
    KEY_FORMAT,
    KEY_REJECTED,
    ApiError,
    error,
    mandatory,
)
from .faults import ExecuteThenFail, Status
from .params import Params
from .ratelimit import RateLimited
from .recorder import RecordedRequest
from .routes import ROUTES, Route

if TYPE_CHECKING:
    from .fake import FakeBinance


@dataclass
class Incoming:
    method: str
    path: str
    raw_query: str
    raw_body: str
    query_pairs: list[tuple[str, str]]
    body_pairs: list[tuple[str, str]]
    api_key: str | None
    accept: str = ""

    def merged(self) -> dict[str, str]:
        """Body params overridden by query params (the query string wins, §2)."""
        return dict(self.body_pairs) | dict(self.query_pairs)


@dataclass
class Reply:
    status: int
    body: Any = None  # JSON-serialisable; None means an empty body
    headers: dict[str, str] = field(default_factory=dict)
    html: str | None = None


def error_reply(err: ApiError) -> Reply:
    reply = Reply(err.http_status, err.body())
    if isinstance(err, RateLimited):
        reply.headers["Retry-After"] = str(err.retry_after)
    return reply


def _not_found(req: Incoming) -> Reply:
    if "text/html" in req.accept:
        return Reply(404, html="<html><body><h2>404 Not found</h2></body></html>")
    return Reply(404)


def dispatch(fake: FakeBinance, req: Incoming, rec: RecordedRequest) -> Reply:
    """Process one request fully (it may change exchange state) and return the reply to send."""
    now = fake.server_time()
    route = ROUTES.get((req.method, req.path))
    if route is None:
        reply, weight = _not_found(req), 0
    else:
        p = Params(req.merged(), fake.exchange.symbols)
        weight = route.weight_for(p)
        try:
            reply = Reply(200, _run(fake, route, req, p, rec, now))
            if route.free_on_success:
                weight = 0
            if route.new_order:
                count_10s, count_1d = fake.rate_limiter.add_order(now, route.order_count)
                reply.headers["X-MBX-ORDER-COUNT-10S"] = str(count_10s)
                reply.headers["X-MBX-ORDER-COUNT-1D"] = str(count_1d)
        except ApiError as err:
            reply = error_reply(err)
        except Exception:  # a bug in the fake: answer like Binance's internal error, but show the traceback
            traceback.print_exc(file=sys.stderr)
            reply = Reply(
                500, {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            )
    reply.headers["X-MBX-USED-WEIGHT-1M"] = str(fake.rate_limiter.add_weight(now, weight))
    return reply


def _run(fake: FakeBinance, route: Route, req: Incoming, p: Params, rec: RecordedRequest, now: int) -> Any:
    fake.rate_limiter.check_weight(now)
    for pairs in (req.query_pairs, req.body_pairs):
        if len({k for k, _ in pairs}) != len(pairs):
            raise error(DUPLICATE_PARAM)
    if route.signed:
        _authenticate(fake, route, req, p, rec, now)
    sent = set(p.values)
    unread = sent - route.allowed()
    if unread:
        raise ApiError(
            400,
            -1104,
            f"Not all sent parameters were read; read '{len(sent) - len(unread)}' parameter(s) "
            f"but was sent '{len(sent)}'.",
        )
    if route.new_order:
        fake.rate_limiter.check_orders(now)
    return route.handler(fake, p)


def _authenticate(
    fake: FakeBinance, route: Route, req: Incoming, p: Params, rec: RecordedRequest, now: int
) -> None:
    """signature present → key present/known → timestamp/recvWindow → signature valid → permission."""
    key = fake.keys.get(req.api_key) if req.api_key else None
    known_key = key is not None
    if key is not None and p.has("signature"):
        rec.signature_ok = signing.signature_matches(key, req.raw_query, req.raw_body)
        rec.key_type = key.key_type
    if not p.has("signature"):
        raise mandatory("signature")
    if not req.api_key:
        raise error(KEY_FORMAT)
    if not known_key:
        raise error(KEY_REJECTED)
    signing.check_timing(p.opt("timestamp"), p.opt("recvWindow"), now)
    if not rec.signature_ok:
        raise error(BAD_SIGNATURE)
    if route.trade and not fake.trading_enabled:
        raise error(KEY_REJECTED)


def fault_reply(
    fake: FakeBinance, fault: Status | ExecuteThenFail, req: Incoming, executed: Reply | None
) -> Reply:
    """The error reply a Status / ExecuteThenFail fault sends instead of the real one."""
    if isinstance(fault, Status):
        route = ROUTES.get((req.method, req.path))
        weight = route.weight_for(Params(req.merged(), fake.exchange.symbols)) if route else 0
        used = fake.rate_limiter.add_weight(fake.server_time(), weight)
        if fault.code is None:
            reply = Reply(
                fault.http_status, html=f"<html><body><h1>{fault.http_status} ERROR</h1></body></html>"
            )
        else:
            reply = Reply(fault.http_status, {"code": fault.code, "msg": fault.msg})
        reply.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        if fault.retry_after is not None:
            reply.headers["Retry-After"] = str(fault.retry_after)
        return reply
    assert fault.http_status is not None and executed is not None
    code = fault.code if fault.code is not None else -1007
    msg = fault.msg if fault.msg is not None else EXEC_UNKNOWN_MSG
    return Reply(
        fault.http_status,
        {"code": code, "msg": msg},
        {"X-MBX-USED-WEIGHT-1M": executed.headers["X-MBX-USED-WEIGHT-1M"]},
    )
