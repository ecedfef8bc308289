"""The approvals page as HTML: server-rendered, no script, no build step, readable on a phone.

Every value that reaches the page goes through `html.escape` (`_e`), whoever wrote it: a question
and an order's details are rendered by the server from validated fields, but an agent's name, a
client order id or a symbol started as someone's text. The page refreshes itself (a meta refresh)
while requests wait, so an operator who leaves it open sees new ones come and old ones expire.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import UTC, datetime

from binance_mcp.approval_details import labelled_details
from binance_mcp.budget_summary import BudgetLine
from binance_mcp.stores.approvals import APPROVED, Approval

__all__ = ["REFRESH_S", "message_page", "page", "sign_in_page"]

REFRESH_S = 10
"""While requests wait, the page reloads itself this often."""

_CSS = """
*{box-sizing:border-box}
body{font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:12px;
  max-width:760px;margin-inline:auto;color:#1b1f24;background:#f6f7f9}
h1{font-size:1.3rem;margin:.2rem 0 .6rem}
h2{font-size:1.05rem;margin:1.4rem 0 .5rem;color:#444}
header{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;gap:.5rem}
.who{color:#555;font-size:.9rem}
.card{background:#fff;border:1px solid #d9dde3;border-radius:10px;padding:12px;margin:.6rem 0}
.card.pending{border-left:5px solid #d48806}
.q{font-weight:600;margin:.1rem 0 .5rem;word-break:break-word}
.id{font-family:ui-monospace,monospace;font-size:.85rem;color:#555}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eee;vertical-align:top;word-break:break-word}
th{color:#555;font-weight:500}
.details th{width:40%}
.budgets th,.budgets td{word-break:normal;white-space:nowrap}
.scroll{overflow-x:auto}
.when{color:#555;font-size:.9rem;margin:.4rem 0}
.actions{display:flex;gap:.5rem;margin-top:.6rem}
.actions form{flex:1}
button{width:100%;font-size:1rem;padding:.7rem;border-radius:8px;border:1px solid #888;background:#fff;cursor:pointer}
button.approve{background:#1a7f37;border-color:#1a7f37;color:#fff}
button.deny{background:#cf222e;border-color:#cf222e;color:#fff}
button.link{width:auto;padding:.3rem .6rem;font-size:.85rem}
.note{background:#fff8c5;border:1px solid #d4a72c;border-radius:8px;padding:8px 10px;margin:.6rem 0}
.error{background:#ffebe9;border-color:#cf222e}
.muted{color:#666}
input[type=password]{width:100%;font-size:1rem;padding:.6rem;border:1px solid #888;border-radius:8px}
.status{font-weight:600}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _time(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _span(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"
    if seconds >= 60:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _document(title: str, body: str, *, refresh: bool = False) -> str:
    refresh_tag = f'<meta http-equiv="refresh" content="{REFRESH_S}">' if refresh else ""
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="same-origin">'
        f"{refresh_tag}<title>{_e(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}</body></html>\n"
    )


def _form(action: str, csrf: str, label: str, css: str, *, name: str = "") -> str:
    named = f' name="{_e(name)}"' if name else ""
    return (
        f'<form method="post" action="{_e(action)}">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        f'<button type="submit" class="{_e(css)}"{named}>{_e(label)}</button></form>'
    )


def _details(approval: Approval) -> str:
    rows = labelled_details(approval.details) or [("Tool", approval.tool), ("Network", approval.network)]
    cells = "".join(f"<tr><th>{_e(label)}</th><td>{_e(value)}</td></tr>" for label, value in rows)
    return f'<table class="details">{cells}</table>'


def _pending_card(approval: Approval, now: datetime, base: str, csrf: str) -> str:
    expires = approval.expires_at
    left = f" (in {_span((expires - now).total_seconds())})" if expires else ""
    return (
        f'<section class="card pending" id="{_e(approval.id)}">'
        f'<div class="id">{_e(approval.id)}</div>'
        f'<p class="q">{_e(approval.question)}</p>'
        f"{_details(approval)}"
        f'<p class="when">Asked {_e(_time(approval.created_at))} · expires {_e(_time(expires))}{_e(left)}</p>'
        '<div class="actions">'
        f"{_form(f'{base}/{approval.id}/approve', csrf, 'Approve', 'approve', name='approve')}"
        f"{_form(f'{base}/{approval.id}/deny', csrf, 'Deny', 'deny', name='deny')}"
        "</div></section>"
    )


def _decided_card(approval: Approval, now: datetime, base: str, csrf: str) -> str:
    status = approval.status_at(now)
    if approval.status == "revoked":
        who = f"withdrawn by {approval.revoked_by or 'unknown'} at {_time(approval.revoked_at)}"
    elif approval.decided_at is not None:
        verb = "denied" if approval.status == "denied" else "approved"
        who = f"{verb} by {approval.decided_by or approval.decided_via or 'unknown'} at {_time(approval.decided_at)}"
    else:
        who = f"nobody decided; it expired at {_time(approval.expires_at)}"
    if approval.used_at is not None:
        who += f"; used at {_time(approval.used_at)}"
    withdraw = ""
    if status == APPROVED:
        until = approval.usable_until()
        withdraw = (
            f'<p class="when">Allows the matching call once until {_e(_time(until))}.</p>'
            f'<div class="actions">{_form(f"{base}/{approval.id}/revoke", csrf, "Withdraw approval", "link", name="revoke")}</div>'
        )
    return (
        f'<section class="card" id="{_e(approval.id)}">'
        f'<div class="id">{_e(approval.id)} · <span class="status">{_e(status)}</span></div>'
        f'<p class="q">{_e(approval.question)}</p>'
        f'<p class="when">{_e(who)}</p>{withdraw}</section>'
    )


def _budgets(lines: Sequence[BudgetLine], now: datetime) -> str:
    if not lines:
        return '<p class="muted">The policy sets no daily budget, and nothing was spent today.</p>'
    several_accounts = len({line.account for line in lines if line.account}) > 1
    head = "<tr><th>Network</th><th>Asset</th><th>Limit</th><th>Traded</th><th>Held</th><th>Left</th></tr>"
    rows = []
    for line in lines:
        where = line.network or "any"
        if several_accounts and line.account:
            where += f" (key {line.account.partition(':')[2]})"
        limit = "no limit" if line.limit is None else line.limit
        left = "-" if line.left is None else line.left
        rows.append(
            f"<tr><td>{_e(where)}</td><td>{_e(line.asset)}</td><td>{_e(limit)}</td>"
            f"<td>{_e(line.traded)}</td><td>{_e(line.held)}</td><td>{_e(left)}</td></tr>"
        )
    day = now.astimezone(UTC).strftime("%Y-%m-%d")
    return (
        f'<div class="scroll"><table class="budgets">{head}{"".join(rows)}</table></div>'
        f'<p class="muted">UTC day {_e(day)}.</p>'
    )


def page(
    *,
    operator: str,
    pending: Sequence[Approval],
    decided: Sequence[Approval],
    budgets: Sequence[BudgetLine],
    now: datetime,
    base: str,
    csrf: str,
    notice: str | None = None,
    signed_in: bool = True,
) -> str:
    """The page: requests waiting (with approve and deny), today's budgets, recent decisions."""
    sign_out = _form(f"{base}/sign-out", csrf, "Sign out", "link") if signed_in else ""
    notice_html = f'<p class="note" role="status">{_e(notice)}</p>' if notice else ""
    if pending:
        waiting = "".join(_pending_card(approval, now, base, csrf) for approval in pending)
        refresh_note = f'<p class="muted">This page refreshes every {REFRESH_S} s while requests wait.</p>'
    else:
        waiting = '<p class="muted">Nothing is waiting for approval.</p>'
        refresh_note = ""
    recent = "".join(_decided_card(approval, now, base, csrf) for approval in decided) or (
        '<p class="muted">No decisions yet.</p>'
    )
    body = (
        f'<header><h1>Approvals</h1><div class="who">Signed in as <b>{_e(operator)}</b> {sign_out}</div></header>'
        f"{notice_html}"
        f"<h2>Waiting ({len(pending)})</h2>{waiting}{refresh_note}"
        f"<h2>Today's budgets</h2>{_budgets(budgets, now)}"
        f"<h2>Decided</h2>{recent}"
    )
    return _document(
        f"({len(pending)}) Approvals · binance-mcp" if pending else "Approvals · binance-mcp",
        body,
        refresh=bool(pending),
    )


def sign_in_page(*, base: str, csrf: str, problem: str | None = None) -> str:
    """Sign in with an operator token (made by `binance-mcp tokens add NAME --operator`)."""
    error = f'<p class="note error" role="alert">{_e(problem)}</p>' if problem else ""
    body = (
        "<h1>Approvals · sign in</h1>"
        f"{error}"
        f'<form method="post" action="{_e(base)}/sign-in" class="card">'
        f'<input type="hidden" name="csrf" value="{_e(csrf)}">'
        '<p><label for="token">Operator token</label></p>'
        '<p><input type="password" id="token" name="token" autocomplete="current-password" required></p>'
        '<div class="actions"><button type="submit" class="approve" name="sign-in">Sign in</button></div>'
        "</form>"
        '<p class="muted">An operator token is made with <code>binance-mcp tokens add NAME --operator</code>. '
        "Agent tokens cannot approve.</p>"
    )
    return _document("Sign in · binance-mcp approvals", body)


def message_page(title: str, message: str) -> str:
    """A page that only says something (a refusal, a missing operator token)."""
    return _document(title, f"<h1>{_e(title)}</h1><p class='note'>{_e(message)}</p>")
