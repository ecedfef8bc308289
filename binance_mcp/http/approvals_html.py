"""The approvals page as HTML: server-rendered, readable on a phone, usable by keyboard and screen reader.

Every value that reaches the page goes through `html.escape` (`_e`), whoever wrote it: a question
and an order's details are rendered by the server from validated fields, but an agent's name, a
client order id or a symbol started as someone's text. The style and the script are files the
page serves itself (`static/page.css`, `static/page.js`), so its CSP allows nothing inline and
nothing from elsewhere. The script keeps the page live (it fetches the page again every few
seconds and patches only the cards that changed, so keyboard focus stays where it is); without
scripts the page works the same with its "Refresh" link.

Each card is a region labelled by its question (a heading); its buttons name the order
("Approve BUY 0.0015 BTCUSDT ≈97.5 USDT"); times read as people say them, with the UTC time on
hover; mainnet cards carry a banner in a colour no testnet card uses, and approving one takes a
second step that repeats the amount.
"""

from __future__ import annotations

import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from binance_mcp.budget_summary import BudgetLine
from binance_mcp.decimals import decimal_text
from binance_mcp.http.approval_card import Card, confirm_words, details_rows, heading_of, seconds_words
from binance_mcp.stores.approvals import REVOKED, USED, Approval
from binance_mcp.timestamps import utc_seconds_text

__all__ = ["POLL_S", "Notice", "confirm_page", "message_page", "page", "sign_in_page"]

POLL_S = 5
"""The page's script fetches the page again this often (unless paused)."""


@dataclass(frozen=True)
class Notice:
    """A message after an action: `ok` (done), `info` (nothing needed doing), `error` (not done)."""

    kind: str
    text: str


_KIND_WORDS = {"ok": "Done:", "info": "Note:", "error": "Not done:", "warn": "Careful:"}


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def human_time(moment: datetime | None, now: datetime) -> str:
    """`<time>` reading "3 minutes ago" / "in 5 seconds", the UTC time on hover."""
    if moment is None:
        return "-"
    delta = int((moment - now).total_seconds())
    words = (
        "just now"
        if abs(delta) < 2
        else f"in {seconds_words(delta)}"
        if delta > 0
        else f"{seconds_words(-delta)} ago"
    )
    return (
        f'<time datetime="{utc_seconds_text(moment)}" title="{_e(_utc(moment))}" data-live>{_e(words)}</time>'
    )


def _document(title: str, body: str, *, base: str, script: bool = False) -> str:
    script_tag = f'<script src="{_e(base)}/page.js" defer></script>' if script else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin">'
        '<meta name="color-scheme" content="light dark">'
        f'<title>{_e(title)}</title><link rel="stylesheet" href="{_e(base)}/page.css">{script_tag}</head>'
        f"<body>{body}</body></html>\n"
    )


def _form(
    action: str, csrf: str, label: str, css: str, *, name: str = "", unseen: str = "", extra: str = ""
) -> str:
    """A one-button form. `unseen` is read after the label by screen readers only (the order a
    button acts on), so the button's name starts with what is on screen."""
    named = f' name="{_e(name)}"' if name else ""
    more = f'<span class="visually-hidden"> {_e(unseen)}</span>' if unseen else ""
    return (
        f'<form method="post" action="{_e(action)}">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">{extra}'
        f'<button type="submit" class="{_e(css)}"{named}>{_e(label)}{more}</button></form>'
    )


def _network_mark(card_network: str, mainnet: bool) -> str:
    if mainnet:
        return '<div class="banner" role="note">MAINNET · real money</div>'
    return f'<span class="net">{_e(card_network.upper())} · not real money</span>'


def _facts(rows: Sequence[tuple[str, str]]) -> str:
    """A definition list; values are already HTML."""
    return '<dl class="facts">' + "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _details(approval: Approval) -> str:
    rows = details_rows(approval.details) or [("Tool", approval.tool), ("Network", approval.network)]
    cells = "".join(f"<tr><th scope=row>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in rows)
    return (
        f'<details><summary>Details <span class="visually-hidden">of {_e(approval.id)}</span></summary>'
        f'<table class="details">{cells}</table><p class="id">{_e(approval.id)}</p></details>'
    )


def _sig(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:16]


def _pending_card(card: Card, now: datetime, base: str, csrf: str) -> str:
    approval = card.approval
    heading_id = f"q-{approval.id}"
    rows: list[tuple[str, str]] = []
    if card.value is not None:
        valued = f" — {_e(card.valued_at)}" if card.valued_at else ""
        rows.append(("Value", f'<span class="value">{_e(card.value)}</span>{valued}'))
    if card.price_now is not None:
        now_text = f"{card.price_now.normalize():f}"
        if card.move:
            now_text += f" ({card.move})"
        rows.append(("Price now", f"<span data-live>{_e(now_text)}</span>"))
    elif approval.details.get("symbol"):
        rows.append(("Price now", "<span data-live>unknown (no market price from here)</span>"))
    if card.limit_distance:
        rows.append(("Limit", f"<span data-live>{_e(card.limit_distance)}</span>"))
    if card.sent_only_while:
        rows.append(("Sent only while", _e(card.sent_only_while)))
    rule = f' <span class="rule">{_e(card.rule)}</span>' if card.rule else ""
    rows.append(("Why a human", f"{_e(card.reason)}{rule}"))
    if card.budget_after:
        css = ' class="over"' if card.over_budget else ""
        rows.append(("Budget after", f"<span{css} data-live>{_e(card.budget_after)}</span>"))
    # a 2026-era call has no MCP session: the guard keys it by agent (`agent:NAME`), nothing more to say
    session = card.session if card.session and not card.session.startswith("agent:") else None
    who = card.agent + (f" · session {session}" if session else "")
    rows.append(("Asked by", f"{_e(who)} · {human_time(approval.created_at, now)}"))
    left = (
        "-"
        if card.seconds_left is None
        else f'<span class="left{" urgent" if card.urgent else ""}" data-live>'
        f"{_e(seconds_words(card.seconds_left))} left</span>"
    )
    rows.append(("Time left", left))
    declined = ""
    if card.declined_before is not None:
        other = card.declined_before
        declined = (
            f'<p class="declined" role="note">The same call was denied by {_e(other.decided_by or "an operator")} '
            f"{human_time(other.decided_at, now)} ({_e(other.id)}).</p>"
        )
    words = card.order_words
    if card.mainnet:
        approve = _form(
            f"{base}/{approval.id}/approve",
            csrf,
            "Approve on MAINNET",
            "approve mainnet",
            name="approve",
            unseen=f"{words} (asks to confirm)",
        )
    else:
        approve = _form(
            f"{base}/{approval.id}/approve", csrf, "Approve", "approve", name="approve", unseen=words
        )
    deny = _form(f"{base}/{approval.id}/deny", csrf, "Deny", "deny", name="deny", unseen=words)
    classes = "card pending" + (" mainnet" if card.mainnet else "") + (" urgent" if card.urgent else "")
    mark = _network_mark(card.network, card.mainnet)
    # which rows the card has is part of its signature: the script copies only the live texts of a
    # card whose signature is unchanged, in order, so a row that comes or goes (the price now and the
    # limit's distance, when the market price could not be read) must replace the whole card
    sig = _sig(
        approval.id,
        approval.status,
        card.declined_before and card.declined_before.id,
        approval.question,
        *(label for label, _ in rows),
    )
    return (
        f'<section class="{classes}" id="{_e(approval.id)}" data-key="{_e(approval.id)}" data-sig="{sig}" '
        f'aria-labelledby="{_e(heading_id)}">'
        f"{mark if card.mainnet else ''}"
        f'<h3 id="{_e(heading_id)}">{_e(card.heading)}</h3>'
        f"{'' if card.mainnet else mark}"
        f"{declined}{_facts(rows)}{_details(approval)}"
        f'<div class="actions">{approve}{deny}</div></section>'
    )


def _ready_card(approval: Approval, now: datetime, base: str, csrf: str) -> str:
    """An approval the agent has not used yet: it lets the identical call through until it expires."""
    heading_id = f"r-{approval.id}"
    until = approval.usable_until()
    left = int((until - now).total_seconds()) if until else 0
    who = approval.decided_by or approval.decided_via or "an operator"
    withdraw = _form(
        f"{base}/{approval.id}/revoke",
        csrf,
        "Withdraw approval",
        "small",
        name="revoke",
        unseen=f"of {heading_of(approval)}",
    )
    sig = _sig(approval.id, approval.status)
    return (
        f'<section class="card ready" id="{_e(approval.id)}" data-key="{_e(approval.id)}" data-sig="{sig}" '
        f'aria-labelledby="{_e(heading_id)}">'
        f'<h3 id="{_e(heading_id)}">{_e(heading_of(approval))}</h3>'
        f"<p>Approved by {_e(who)} {human_time(approval.decided_at, now)}. Nothing is sent until the agent "
        f'calls again: <span class="left{" urgent" if left < 60 else ""}" data-live>expires in '
        f"{_e(seconds_words(max(left, 0)))}</span> ({_e(_utc(until)) if until else '-'}).</p>"
        f'<div class="actions">{withdraw}</div></section>'
    )


def _plain(amount: str) -> str:
    """An exchange's padded amount as people write it: `0.00150000` → `0.0015`; other text as is."""
    try:
        value = Decimal(amount)
    except ArithmeticError:
        return amount
    return decimal_text(value) if value.is_finite() else amount


def _decided_card(approval: Approval, now: datetime) -> str:
    status = approval.status_at(now)
    if approval.status == REVOKED:
        who = f"withdrawn by {_e(approval.revoked_by or 'unknown')} {human_time(approval.revoked_at, now)}"
    elif approval.decided_at is not None:
        verb = "denied" if approval.status == "denied" else "approved"
        who = f"{verb} by {_e(approval.decided_by or approval.decided_via or 'unknown')} {human_time(approval.decided_at, now)}"
    else:
        who = f"nobody decided; it expired {human_time(approval.expires_at, now)}"
    if approval.used_at is not None:
        who += f"; used {human_time(approval.used_at, now)}"
    outcome = ""
    if approval.status == USED:
        found = approval.outcome
        if found:
            parts = []
            if found.get("order_id"):
                parts.append(f"order {found['order_id']}")
            elif found.get("order_list_id"):  # an OCO, OTO or OTOCO: its list, not one leg
                parts.append(f"order list {found['order_list_id']}")
            if found.get("status"):
                parts.append(found["status"])
            if found.get("executed"):
                parts.append(f"filled {_plain(found['executed'])}")
            if found.get("traded"):
                parts.append(f"for {_plain(found['traded'])}")
            if not parts:
                parts.append(found.get("outcome", "done"))
            if found.get("reason"):
                parts.append(found["reason"])
            outcome = f'<p class="outcome">Result: {_e(", ".join(parts))}</p>'
        else:
            outcome = '<p class="outcome muted">Result: not recorded.</p>'
    heading_id = f"d-{approval.id}"
    sig = _sig(approval.id, status, approval.outcome)
    return (
        f'<section class="card" id="{_e(approval.id)}" data-key="{_e(approval.id)}" data-sig="{sig}" '
        f'aria-labelledby="{_e(heading_id)}">'
        f'<h3 id="{_e(heading_id)}">{_e(heading_of(approval))}</h3>'
        f'<p><span class="status">{_e(status)}</span> · {who} <span class="id">{_e(approval.id)}</span></p>'
        f"{outcome}</section>"
    )


def _budgets(lines: Sequence[BudgetLine], now: datetime) -> str:
    if not lines:
        return '<p class="muted">The policy sets no daily budget, and nothing was spent today.</p>'
    several_accounts = len({line.account for line in lines if line.account}) > 1
    head = (
        "<tr><th scope=col>Network</th><th scope=col>Asset</th><th scope=col>Limit</th>"
        "<th scope=col>Traded</th><th scope=col>Held</th><th scope=col>Left</th></tr>"
    )
    rows = []
    for line in lines:
        where = _e((line.network or "any").upper())
        if several_accounts and line.account:
            where += f' <span class="id">key {_e(line.account.partition(":")[2])}</span>'
        limit = "no limit" if line.limit is None else line.limit
        left = "-" if line.left is None else line.left
        rows.append(
            f'<tr><td class="where">{where}</td><td>{_e(line.asset)}</td>'
            f"<td>{_e(limit)}</td>"
            f"<td>{_e(line.traded)}</td><td>{_e(line.held)}</td><td>{_e(left)}</td></tr>"
        )
    day = now.astimezone(UTC).strftime("%Y-%m-%d")
    return (
        f'<div class="scroll" tabindex="0" role="region" aria-label="Budgets table"><table class="budgets">{head}{"".join(rows)}</table></div>'
        f'<p class="muted">UTC day {_e(day)}.</p>'
    )


def _notice(notice: Notice | None) -> str:
    if notice is None:
        return ""
    role = "alert" if notice.kind == "error" else "status"
    word = _KIND_WORDS.get(notice.kind, "")
    return f'<p class="note {_e(notice.kind)}" role="{role}"><b class="kind">{_e(word)}</b> {_e(notice.text)}</p>'


def _region(key: str, title: str, count: int | None, inner: str, *, hidden: bool = False) -> str:
    counted = f" ({count})" if count is not None else ""
    hide = " hidden" if hidden else ""
    return (
        f'<section aria-labelledby="h-{key}" data-region="{key}"{hide}>'
        f'<h2 id="h-{key}" tabindex="-1">{_e(title)}{counted}</h2>'
        f'<div class="list" data-list>{inner}</div></section>'
    )


def page(
    *,
    operator: str,
    cards: Sequence[Card],
    ready: Sequence[Approval],
    decided: Sequence[Approval],
    budgets: Sequence[BudgetLine],
    now: datetime,
    base: str,
    csrf: str,
    notice: Notice | None = None,
    signed_in: bool = True,
    network: str | None = None,
) -> str:
    """The page: approvals waiting for the agent, requests waiting for a human, budgets, decisions."""
    sign_out = _form(f"{base}/sign-out", csrf, "Sign out", "small") if signed_in else ""
    server = ""
    if network:
        server = (
            '<span class="net main">MAINNET server · real money</span>'
            if network == "mainnet"
            else f'<span class="net">{_e(network.upper())} server</span>'
        )
    live = (
        f'<div class="live"><span id="live-status" aria-live="off">Shown {human_time(now, now)}</span>'
        f'<a class="button small" href="{_e(base)}">Refresh</a>'
        '<button type="button" class="small" id="live-control" aria-pressed="false" hidden>Pause updates</button>'
        '<span id="live-announce" class="visually-hidden" aria-live="polite"></span></div>'
    )
    waiting = "".join(_pending_card(card, now, base, csrf) for card in cards) or (
        '<p class="muted" data-key="empty" data-sig="empty">Nothing is waiting for approval.</p>'
    )
    ready_html = "".join(_ready_card(approval, now, base, csrf) for approval in ready)
    recent = "".join(_decided_card(approval, now) for approval in decided) or (
        '<p class="muted" data-key="none" data-sig="none">No decisions yet.</p>'
    )
    body = (
        f'<header class="top"><h1>Approvals {server}</h1>'
        f'<div class="who"><span>Signed in as <b>{_e(operator)}</b></span> {sign_out}</div></header>'
        f"<main>{_notice(notice)}{live}"
        f"{_region('ready', 'Approved — waiting for the agent', len(ready), ready_html, hidden=not ready)}"
        f"{_region('waiting', 'Waiting for you', len(cards), waiting)}"
        f'<section aria-labelledby="h-budgets" data-region="budgets"><h2 id="h-budgets">Today\'s budgets</h2>'
        f'<div data-replace="budgets">{_budgets(budgets, now)}</div></section>'
        f"{_region('decided', 'Decided', None, recent)}"
        "</main>"
    )
    title = f"({len(cards)}) waiting · Approvals · binance-mcp" if cards else "Approvals · binance-mcp"
    return _document(title, body, base=base, script=True)


def confirm_page(*, card: Card, base: str, csrf: str) -> str:
    """The second step before a mainnet approval: the amount, said again, and an explicit yes."""
    approval = card.approval
    amount = confirm_words(approval)
    confirm = _form(
        f"{base}/{approval.id}/approve",
        csrf,
        f"Yes, approve {amount} on MAINNET",
        "approve mainnet",
        name="confirm-approve",
        extra=f'<input type="hidden" name="confirm" value="{_e(amount)}">',
    )
    body = (
        '<main><section class="card pending mainnet" aria-labelledby="confirm-h">'
        '<div class="banner" role="note">MAINNET · real money</div>'
        f'<h1 id="confirm-h">Approve {_e(card.order_words)} with real money?</h1>'
        f"<p>{_e(card.heading)}</p>"
        f'<p class="value">Amount: {_e(amount)} on MAINNET.</p>'
        f"<p>Why a human: {_e(card.reason)} ({_e(card.rule or 'the policy')}).</p>"
        f"<p>Budget after: {_e(card.budget_after or 'not known')}.</p>"
        f'<div class="actions stack">{confirm}'
        f'<a class="button" href="{_e(base)}#{_e(approval.id)}">No, go back (nothing is decided)</a></div>'
        "</section></main>"
    )
    return _document(f"Confirm MAINNET approval · {approval.id}", body, base=base)


def sign_in_page(*, base: str, csrf: str, problem: str | None = None) -> str:
    """Sign in with an operator token (made by `binance-mcp tokens add NAME --operator`)."""
    error = f'<p class="note error" role="alert">{_e(problem)}</p>' if problem else ""
    body = (
        "<main><h1>Approvals · sign in</h1>"
        f"{error}"
        f'<form method="post" action="{_e(base)}/sign-in" class="card">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<p><label for="token">Operator token</label></p>'
        '<p><input type="password" id="token" name="token" autocomplete="current-password" required></p>'
        '<div class="actions"><button type="submit" class="approve" name="sign-in">Sign in</button></div>'
        "</form>"
        '<p class="muted">An operator token is made with <code>binance-mcp tokens add NAME --operator</code>. '
        "Agent tokens cannot approve.</p></main>"
    )
    return _document("Sign in · binance-mcp approvals", body, base=base)


def message_page(title: str, message: str, *, base: str = "/approvals", kind: str = "error") -> str:
    """A page that only says something (a refusal, a missing operator token), with a way back."""
    return _document(
        title,
        f"<main><h1>{_e(title)}</h1>{_notice(Notice(kind, message))}"
        f'<p><a href="{_e(base)}">Back to the approvals page</a></p></main>',
        base=base,
    )
