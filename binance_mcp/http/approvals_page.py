"""The approvals page at `/approvals`: where an operator approves or denies calls waiting for a human.

Served by the HTTP transport next to `/mcp`, and by `binance-mcp console` on loopback for stdio
users, against the same state dir as the server (the same approvals database the CLI uses).

Who may use it:

- An operator signs in once with an operator token (`binance-mcp tokens add NAME --operator`);
  the page then keeps a session in an HttpOnly, SameSite=Strict cookie. An agent's token is
  refused (agents cannot approve), and so is an unknown or revoked one. Revoking the operator's
  token ends the session at once (every request checks the token again).
- While no operator token exists, a server that needs no sign-in (`anonymous_operator`: the
  HTTP transport open to loopback, like `/mcp`, or the console) lets the local user in under that
  name; a server whose `/mcp` needs tokens shows only how to make an operator token.
- Every POST carries a CSRF token (per session; before sign-in a double-submit cookie), and the
  `Host` and `Origin` headers are checked as on `/mcp` (`origins.OriginCheck`): a page elsewhere
  can neither read this one nor submit its forms.

Each decision records who made it (`decided_by`: the operator's name) and how (`decided_via`:
`page`); the audit's `approved_by` comes from there. The anonymous name (`loopback:anonymous`,
`console:<user>`) has a colon, which no token name can have: the audit tells it from an agent.

The page reads the server's own stores (`PageSettings.stores`: approvals, tokens and budgets on
whichever backend, PostgreSQL included), and the market price now through the server's exchange
client (`PageSettings.price_now`, at most one read per symbol every few seconds). Its style and
script are its own files (`/approvals/page.css`, `/approvals/page.js`); the CSP allows only them.
A mainnet approval takes a second step that repeats the amount (`confirm`).
"""

from __future__ import annotations

import hmac
import importlib.resources
import logging
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio.to_thread
from mcp.server.transport_security import TransportSecuritySettings
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.types import Receive, Scope, Send

from binance_mcp.account import network_of
from binance_mcp.budget_summary import budget_lines
from binance_mcp.http.approval_card import card_for, money
from binance_mcp.http.approvals_html import Notice, confirm_page, message_page, page, sign_in_page
from binance_mcp.http.origins import OriginCheck
from binance_mcp.stores.approvals import (
    APPROVED,
    DENIED,
    PENDING,
    ApprovalAlreadyDecided,
    ApprovalError,
    ApprovalStore,
    open_approval_store,
)
from binance_mcp.stores.tokens import OPERATOR, TokenStore

if TYPE_CHECKING:
    from binance_mcp.policy.model import Policy

__all__ = ["LOOPBACK_OPERATOR", "PAGE_PATH", "ApprovalsPage", "PageSettings", "page_url"]

logger = logging.getLogger(__name__)

PAGE_PATH = "/approvals"
SESSION_LIFETIME_S = 12 * 3600
MAX_SESSIONS = 1000
MAX_FORM_BYTES = 8192
RECENT_DECISIONS = 20
PRE_SESSION_COOKIE = "bmcp_signin_csrf"
PRICE_FRESH_S = 5.0
"""A symbol's market price is read at most once this often for the page (cards of one symbol share it)."""
PRICE_TIMEOUT_S = 3.0
LOOPBACK_OPERATOR = "loopback:anonymous"
"""Who decides on an HTTP server open to loopback while no operator token exists. The colon makes
it a name no agent (token names are letters, digits, `-` and `_`) can have."""
STATIC = {"page.js": "text/javascript; charset=utf-8", "page.css": "text/css; charset=utf-8"}

_SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # no-referrer would make a browser send `Origin: null` on POST
}


def page_url(mcp_url: str) -> str:
    """The page's address next to an HTTP server's MCP endpoint: `http://h:p/mcp` → `http://h:p/approvals`."""
    return mcp_url.removesuffix("/").removesuffix("/mcp") + PAGE_PATH


@dataclass
class PageSettings:
    """What the page reads and who may use it without signing in."""

    state_dir: Path
    anonymous_operator: str | None = None
    """The name decisions are recorded under when no operator token exists and no sign-in is
    needed (`local` for the HTTP transport open to loopback, `console:<user>` for the console);
    None: a sign-in is always needed."""
    policy: Callable[[], Policy | None] = lambda: None
    """The policy in force (its daily budgets are shown), or None when unknown."""
    here: str | None = None
    """(network, REST root) of the server showing the page: its budgets are shown even before
    anything was spent."""
    stores: Callable[[], Any] | None = None
    """The server's own `binance_mcp.stores.Stores` (its approvals, tokens and budgets on whichever
    backend: with `--state-url` that is PostgreSQL, shared by every replica), or the console's from
    its shared-state options; None: the page opens its own in `state_dir`."""
    price_now: Callable[[str], Awaitable[Decimal | None]] | None = None
    """The market price of a symbol now (the server's exchange client); None: not shown."""
    state_option: str = "--state-dir"
    """How the page's own hints name the server's state (`--state-dir DIR` or `--state-url URL`)."""


@dataclass
class _Session:
    operator: str
    token: str | None  # the operator token signed in with, checked again on every request
    csrf: str
    expires: float
    notice: Notice | None = None


@dataclass
class _Sessions:
    """Signed-in sessions in this process's memory (a restart signs everyone out)."""

    items: OrderedDict[str, _Session] = field(default_factory=OrderedDict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new(self, operator: str, token: str | None) -> tuple[str, _Session]:
        session_id = secrets.token_urlsafe(32)
        session = _Session(operator, token, secrets.token_urlsafe(32), time.monotonic() + SESSION_LIFETIME_S)
        with self.lock:
            self.items[session_id] = session
            while len(self.items) > MAX_SESSIONS:
                self.items.popitem(last=False)
        return session_id, session

    def get(self, session_id: str | None) -> _Session | None:
        if not session_id:
            return None
        with self.lock:
            session = self.items.get(session_id)
            if session is not None and session.expires < time.monotonic():
                del self.items[session_id]
                return None
            return session

    def drop(self, session_id: str | None) -> None:
        with self.lock:
            self.items.pop(session_id or "", None)


class ApprovalsPage:
    """The ASGI app for `/approvals` and below; `security` None skips the Host/Origin check (tests)."""

    def __init__(self, settings: PageSettings, *, security: TransportSecuritySettings | None) -> None:
        self.settings = settings
        self.sessions = _Sessions()
        self._store: ApprovalStore | None = None
        self._tokens: TokenStore | None = None
        self._open_lock = threading.Lock()
        self._prices: dict[str, tuple[float, Decimal | None]] = {}
        self.app: Any = OriginCheck(self._serve, security) if security is not None else self._serve

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    def close(self) -> None:
        with self._open_lock:
            if self._store is not None:
                self._store.close()
                self._store = None
            if self._tokens is not None:
                self._tokens.close()
                self._tokens = None

    # -- the stores, opened on first use -----------------------------------------------------------

    def _approvals(self) -> ApprovalStore:
        if self.settings.stores is not None:
            return self.settings.stores().approvals
        with self._open_lock:
            if self._store is None:
                self._store = open_approval_store(self.settings.state_dir)
            return self._store

    def _token_store(self) -> TokenStore:
        if self.settings.stores is not None:
            return self.settings.stores().tokens
        with self._open_lock:
            if self._tokens is None:
                self._tokens = TokenStore.in_state_dir(self.settings.state_dir)
            return self._tokens

    def _budget_source(self) -> Any:
        if self.settings.stores is not None:
            return self.settings.stores().budgets
        return self.settings.state_dir

    async def _price(self, symbol: str) -> Decimal | None:
        if self.settings.price_now is None or not symbol:
            return None
        seen = self._prices.get(symbol)
        if seen is not None and time.monotonic() - seen[0] < PRICE_FRESH_S:
            return seen[1]
        price: Decimal | None = None
        try:
            with anyio.fail_after(PRICE_TIMEOUT_S):
                price = await self.settings.price_now(symbol)
        except Exception:  # the card says the price is unknown; deciding does not depend on it
            logger.info("no market price for %s on the approvals page", symbol, exc_info=True)
        self._prices[symbol] = (time.monotonic(), price)
        if len(self._prices) > 256:
            self._prices.pop(next(iter(self._prices)))
        return price

    # -- dispatch ----------------------------------------------------------------------------------

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except Exception:  # never a traceback in a browser
            logger.exception("the approvals page failed")
            response = _html(
                500,
                message_page("Something went wrong", "The page could not be shown; see the server's log."),
            )
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = request.url.path.rstrip("/") or "/"
        method = request.method
        name = path.removeprefix(PAGE_PATH + "/")
        if name in STATIC and method in ("GET", "HEAD"):
            return _static(name)
        if path == PAGE_PATH:
            if method not in ("GET", "HEAD"):
                return _html(405, message_page("Not allowed", "Use GET for this page."), Allow="GET")
            return await self._view(request)
        if method != "POST":
            return _html(405, message_page("Not allowed", "Use the page's buttons."), Allow="POST")
        if path == f"{PAGE_PATH}/sign-in":
            return await self._sign_in(request)
        form = await _form(request)
        if form is None:
            return _html(413, message_page("Too large", "That form was larger than this page ever sends."))
        session_id = request.cookies.get(_cookie_name(request))
        session = await self._session(session_id)
        if session is None:
            return _html(
                401,
                message_page(
                    "Signed out",
                    "Nothing was done: your session ended (the server restarted, or the operator token was "
                    "revoked). Sign in again on the approvals page and decide there.",
                ),
            )
        if not hmac.compare_digest(form.get("csrf", ""), session.csrf):
            return _html(
                403,
                message_page(
                    "Refused",
                    "The form's CSRF token is missing or wrong, so nothing was done. Reload the page and try again.",
                ),
            )
        if path == f"{PAGE_PATH}/sign-out":
            self.sessions.drop(session_id)
            response = _redirect()
            response.delete_cookie(_cookie_name(request), path=PAGE_PATH)
            return response
        parts = path.removeprefix(f"{PAGE_PATH}/").split("/")
        if len(parts) == 2 and parts[1] in ("approve", "deny", "revoke"):
            if parts[1] == "approve":
                second_step = await self._mainnet_second_step(parts[0], form, session)
                if second_step is not None:
                    return second_step
            session.notice = await self._decide(parts[0], parts[1], session.operator)
            return _redirect(parts[0])
        return _html(404, message_page("Not found", "There is nothing here."))

    # -- who is asking -----------------------------------------------------------------------------

    async def _session(self, session_id: str | None) -> _Session | None:
        session = self.sessions.get(session_id)
        if session is None:
            return None
        if session.token is None:  # anonymous: only while no operator token exists
            if await self._operators() > 0:
                self.sessions.drop(session_id)
                return None
            return session
        operator = await anyio.to_thread.run_sync(self._token_store().operator_for, session.token)
        if operator is None:  # the token was revoked
            self.sessions.drop(session_id)
            return None
        return session

    async def _operators(self) -> int:
        return await anyio.to_thread.run_sync(lambda: self._token_store().count(OPERATOR))

    async def _view(self, request: Request) -> Response:
        session_id = request.cookies.get(_cookie_name(request))
        session = await self._session(session_id)
        bearer = _bearer(request)
        if session is not None and (bearer is None or bearer == session.token):
            return await self._render(request, session)
        if bearer is not None:
            holder = await anyio.to_thread.run_sync(self._token_store().holder, bearer)
            if holder is None:
                return _html(401, message_page("Not signed in", "Unknown or revoked token."))
            if not holder.is_operator:
                return _html(403, message_page("Refused", _AGENT_REFUSED))
            session_id, session = self.sessions.new(holder.name, bearer)
            return await self._render(request, session, set_cookie=session_id)
        if session is not None:
            return await self._render(request, session)
        if await self._operators() > 0:
            return self._sign_in_form(request, status=401)
        if self.settings.anonymous_operator is not None:
            session_id, session = self.sessions.new(self.settings.anonymous_operator, None)
            return await self._render(request, session, set_cookie=session_id)
        return _html(
            403,
            message_page(
                "No operator yet",
                "This server needs a sign-in and no operator token exists. Make one in a terminal with "
                f"`binance-mcp tokens add NAME --operator` (with the server's {self.settings.state_option}), "
                "then reload this page.",
            ),
        )

    async def _sign_in(self, request: Request) -> Response:
        form = await _form(request)
        if form is None:
            return _html(413, message_page("Too large", "That form was larger than this page ever sends."))
        expected = request.cookies.get(PRE_SESSION_COOKIE, "")
        if not expected or not hmac.compare_digest(form.get("csrf", ""), expected):
            return self._sign_in_form(
                request,
                status=403,
                problem="The form's CSRF token is missing or wrong: nothing was done. Try again.",
            )
        token = form.get("token", "").strip()
        holder = await anyio.to_thread.run_sync(self._token_store().holder, token) if token else None
        if holder is None:
            return self._sign_in_form(request, status=401, problem="Unknown or revoked token.")
        if holder.kind != OPERATOR:
            return self._sign_in_form(request, status=403, problem=_AGENT_REFUSED)
        session_id, _ = self.sessions.new(holder.name, token)
        response = _redirect()
        _set_session_cookie(response, request, session_id)
        response.delete_cookie(PRE_SESSION_COOKIE, path=PAGE_PATH)
        logger.info("operator %s signed in to the approvals page", holder.name)
        return response

    def _sign_in_form(self, request: Request, *, status: int, problem: str | None = None) -> Response:
        csrf = secrets.token_urlsafe(32)
        response = _html(status, sign_in_page(base=PAGE_PATH, csrf=csrf, problem=problem))
        response.set_cookie(
            PRE_SESSION_COOKIE,
            csrf,
            max_age=3600,
            path=PAGE_PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    # -- showing and deciding ----------------------------------------------------------------------

    async def _render(
        self, request: Request, session: _Session, *, set_cookie: str | None = None
    ) -> Response:
        now = datetime.now(UTC)
        store = self._approvals()
        everything = await anyio.to_thread.run_sync(lambda: store.list(include_decided=True, now=now))
        pending = [a for a in everything if a.status_at(now) == PENDING]
        ready = [a for a in everything if a.status_at(now) == APPROVED]
        ready.sort(key=lambda a: a.usable_until() or now)
        since = now - timedelta(days=1)
        decided = [
            a
            for a in everything
            if a.status_at(now) not in (PENDING, APPROVED) and (a.decided_at or a.created_at) >= since
        ]
        decided.sort(key=lambda a: a.revoked_at or a.used_at or a.decided_at or a.created_at, reverse=True)
        budgets = await self._budget_lines(pending, now)
        symbols = {a.details.get("symbol", "") for a in pending}
        prices = {symbol: await self._price(symbol) for symbol in sorted(symbols) if symbol}
        denied = [a for a in decided if a.status == DENIED]
        cards = [
            card_for(
                approval,
                now,
                price_now=prices.get(approval.details.get("symbol", "")),
                budgets=budgets,
                history=denied,
            )
            for approval in pending
        ]
        notice, session.notice = session.notice, None
        body = page(
            operator=session.operator,
            cards=cards,
            ready=ready,
            decided=decided[:RECENT_DECISIONS],
            budgets=budgets,
            now=now,
            base=PAGE_PATH,
            csrf=session.csrf,
            notice=notice,
            signed_in=session.token is not None,
            network=network_of(self.settings.here) if self.settings.here else None,
        )
        response = _html(200, body)
        if set_cookie is not None:
            _set_session_cookie(response, request, set_cookie)
        return response

    async def _budget_lines(self, pending: list[Any], now: datetime) -> list[Any]:
        policy = self.settings.policy()
        limits = dict(policy.budgets.daily_notional) if policy is not None and policy.budgets else {}
        source = self._budget_source()
        elsewhere = stated_budgets(pending)
        return await anyio.to_thread.run_sync(
            lambda: budget_lines(source, limits, here=self.settings.here, now=now, elsewhere=elsewhere)
        )

    async def _mainnet_second_step(
        self, approval_id: str, form: dict[str, str], session: _Session
    ) -> Response | None:
        """A pending mainnet request is approved only with `confirm` repeating its amount; without
        it, the page that asks for that second step (None: go ahead and decide)."""
        store = self._approvals()
        approval = await anyio.to_thread.run_sync(store.get, approval_id)
        if approval is None or approval.status != PENDING or approval.network.lower() != "mainnet":
            return None
        if hmac.compare_digest(form.get("confirm", "").encode(), (money(approval) or approval.id).encode()):
            return None
        now = datetime.now(UTC)
        card = card_for(
            approval,
            now,
            price_now=await self._price(approval.details.get("symbol", "")),
            budgets=await self._budget_lines([approval], now),
        )
        return _html(200, confirm_page(card=card, base=PAGE_PATH, csrf=session.csrf))

    async def _decide(self, approval_id: str, verb: str, operator: str) -> Notice:
        store = self._approvals()

        def decide() -> Notice:
            if verb == "approve":
                approval = store.approve(approval_id, via="page", by=operator)
                return Notice(
                    "ok",
                    f"Approved {approval.id}. Nothing is sent until the agent calls again with the same "
                    "arguments within the approval's time (see \u201cApproved \u2014 waiting for the agent\u201d); "
                    "withdraw it there until then.",
                )
            approval = store.deny(approval_id, via="page", by=operator)
            if approval.status == "revoked":
                return Notice("ok", f"Withdrew the approval {approval.id}: it will not allow a call.")
            return Notice(
                "ok",
                f"Denied {approval.id}: the call will not run, and the same call asked again gets this answer.",
            )

        try:
            notice = await anyio.to_thread.run_sync(decide)
        except ApprovalAlreadyDecided as exc:
            current = await anyio.to_thread.run_sync(store.get, approval_id)
            wanted = {"approve": ("approved", "used"), "deny": ("denied",), "revoke": ("revoked",)}[verb]
            if current is not None and current.status in wanted:  # a second click of the same button
                return Notice("info", f"Already done: {exc}. Nothing more was needed.")
            return Notice("error", f"Nothing was done: {exc}.")
        except ApprovalError as exc:
            return Notice("error", f"Nothing was done: {exc}.")
        logger.info("operator %s: %s %s on the approvals page", operator, verb, approval_id)
        return notice


def stated_budgets(pending: list[Any]) -> dict[tuple[str, str], Decimal]:
    """(account, asset) → the daily limit each waiting request's own server stated (`daily_budget`)."""
    found: dict[tuple[str, str], Decimal] = {}
    for approval in pending:
        amount, _, asset = approval.details.get("daily_budget", "").partition(" ")
        if approval.account and asset:
            try:
                found[(approval.account, asset)] = Decimal(amount)
            except ArithmeticError:
                continue
    return found


_AGENT_REFUSED = (
    "This is an agent's token: agents cannot approve anything. Sign in with an operator token "
    "(binance-mcp tokens add NAME --operator)."
)


def _cookie_name(request: Request) -> str:
    # Cookies do not tell ports apart: a console and a server on one host keep separate sessions.
    return f"bmcp_approvals_{request.url.port or 0}"


def _set_session_cookie(response: Response, request: Request, session_id: str) -> None:
    response.set_cookie(
        _cookie_name(request),
        session_id,
        max_age=SESSION_LIFETIME_S,
        path=PAGE_PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _form(request: Request) -> dict[str, str] | None:
    """The urlencoded form, first value of each field; None when larger than the page ever sends."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {key: values[0] for key, values in fields.items()}


def _redirect(anchor: str | None = None) -> Response:
    where = PAGE_PATH if anchor is None else f"{PAGE_PATH}#{anchor}"
    return RedirectResponse(where, status_code=303, headers=_SECURITY_HEADERS)


def _static(name: str) -> Response:
    """The page's own style and script, from the package (`binance_mcp/http/static`)."""
    body = importlib.resources.files("binance_mcp.http").joinpath("static", name).read_bytes()
    headers = {**_SECURITY_HEADERS, "Cache-Control": "no-cache"}
    return Response(body, status_code=200, media_type=STATIC[name], headers=headers)


def _html(status: int, text: str, **headers: str) -> Response:
    return HTMLResponse(text, status_code=status, headers={**_SECURITY_HEADERS, **headers})
