"""What one card on the approvals page says, worked out before any HTML: the facts a person needs
to decide in thirty seconds, in the order they read them.

The question (as a heading), the money (the value, the price it was valued at, the price now and
the move since; for a limit, its distance from the market), the network (mainnet marked, with a
second step to approve), why a human is asked (the rule and its threshold), the budget left after
this order, who asked (agent and session), the time left (urgent when little is), and a recent
denial of the same call. Everything comes from the request's stored details (rendered by the server
from the validated call), the budget lines and the market price read now; nothing is computed in
the browser.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

from binance_mcp.budget_summary import BudgetLine
from binance_mcp.decimals import decimal_text
from binance_mcp.stores.approvals import DENIED, Approval

__all__ = [
    "URGENT_S",
    "Card",
    "card_for",
    "confirm_words",
    "heading_of",
    "money",
    "order_words",
    "seconds_words",
]

URGENT_S = 120
"""A request with less than this many seconds left is shown as urgent."""

MAINNET = "mainnet"


@dataclass(frozen=True)
class Card:
    approval: Approval
    heading: str
    """The question without its "— approve?": `BUY 0.0015 BTCUSDT MARKET (≈97.5 USDT) on TESTNET`."""
    sent_only_while: str | None
    """The guard's condition on the approved call, said after the order in the question:
    `its value moves at most 1 % against you (from the market price 65000)`."""
    order_words: str
    """What the buttons name: `BUY 0.0015 BTCUSDT ≈97.5 USDT`."""
    network: str
    mainnet: bool
    value: str | None
    """`≈97.50 USDT`, None when the call has no value (a cancel)."""
    valued_at: str | None
    """How it was valued, with the price then: `the market price 65000`."""
    price_then: Decimal | None
    price_now: Decimal | None
    move: str | None
    """`+2.31 % since asked (65000 → 66500)`; None when either price is unknown."""
    limit_distance: str | None
    """For a limit: `the limit 60000 is 7.69 % below the market`."""
    reason: str
    """`orders above 80 USDT need a human`."""
    rule: str | None
    """The policy entry that asks: `rules.place_order.approve_above_notional`."""
    budget_after: str | None
    over_budget: bool
    agent: str
    session: str | None
    seconds_left: int | None
    urgent: bool
    declined_before: Approval | None
    """A denial of this same call in the last day: the operator sees it was asked before."""


def card_for(
    approval: Approval,
    now: datetime,
    *,
    price_now: Decimal | None,
    budgets: Sequence[BudgetLine],
    history: Iterable[Approval] = (),
) -> Card:
    details = approval.details
    network = (details.get("network") or approval.network or "").lower()
    value, asset = _amount(details.get("notional"))
    price_then = _decimal(details.get("market_price"))
    move = None
    if price_then and price_now is not None:
        change = (price_now - price_then) / price_then * 100
        move = (
            f"{_signed(change)} % since asked ({decimal_text(price_then)} → {decimal_text(price_now)})"
            if price_now != price_then
            else "unchanged since asked"
        )
    limit_distance = None
    limit = _decimal(details.get("price"))
    if limit is not None and price_now:
        gap = (limit - price_now) / price_now * 100
        where = "above" if gap > 0 else "below" if gap < 0 else "at"
        limit_distance = (
            f"the limit {decimal_text(limit)} is {decimal_text(abs(gap).quantize(Decimal('0.01')))} % {where} the market"
            if where != "at"
            else f"the limit {decimal_text(limit)} is at the market"
        )
    budget_after, over = _budget_after(approval, value, asset, budgets)
    expires = approval.expires_at
    seconds_left = None if expires is None else max(0, int((expires - now).total_seconds()))
    rule = details.get("rule")
    threshold = details.get("threshold")
    if threshold == "every call":
        reason = "every call needs a human"
    elif threshold:
        reason = f"orders {threshold} need a human"
    else:
        reason = "the policy asks a human for this call"
    declined = [
        other
        for other in history
        if other.status == DENIED
        and other.id != approval.id
        and (other.tool, other.account, other.agent, other.arguments_key)
        == (approval.tool, approval.account, approval.agent, approval.arguments_key)
    ]
    declined.sort(key=lambda other: other.decided_at or other.created_at, reverse=True)
    return Card(
        approval=approval,
        heading=heading_of(approval),
        sent_only_while=sent_only_while(approval),
        order_words=order_words(approval),
        network=network or "unknown network",
        mainnet=network == MAINNET,
        value=None if value is None else f"≈{decimal_text(value)} {asset}".strip(),
        valued_at=details.get("valued_by"),
        price_then=price_then,
        price_now=price_now,
        move=move,
        limit_distance=limit_distance,
        reason=reason,
        rule=rule,
        budget_after=budget_after,
        over_budget=over,
        agent=details.get("agent") or approval.agent or "(stdio client)",
        session=details.get("session"),
        seconds_left=seconds_left,
        urgent=seconds_left is not None and seconds_left < URGENT_S,
        declined_before=declined[0] if declined else None,
    )


_VALUED_AT = " — valued at the market price "
_SENT_ONLY = "; sent only while "


def heading_of(approval: Approval) -> str:
    """The question's order, without its "— approve?" and without the valuation the guard says
    after it (the card shows that as its own rows)."""
    return approval.question.removesuffix(" — approve?").partition(_VALUED_AT)[0]


def sent_only_while(approval: Approval) -> str | None:
    """The question's condition on sending the approved call, with the price it is measured from."""
    _, found, tail = approval.question.removesuffix(" — approve?").partition(_VALUED_AT)
    price, sent, condition = tail.partition(_SENT_ONLY)
    if not found or not sent:
        return None
    return f"{condition} (from the market price {price})"


def order_words(approval: Approval) -> str:
    """The order as a button names it: `BUY 0.0015 BTCUSDT ≈97.5 USDT`, or the tool and its id."""
    details = approval.details
    words = [details.get(key, "") for key in ("side", "quantity", "symbol")]
    if details.get("quote_quantity"):
        words.append(f"for {details['quote_quantity']}")
    if not any(words[:2]) and not details.get("quote_quantity"):  # no order to name: a cancel, a query
        words = [approval.tool.replace("_", " ")]
        if details.get("order_id"):
            words.append(f"order {details['order_id']}")
        if details.get("symbol"):
            words.append(details["symbol"])
    value, asset = _amount(details.get("notional"))
    if value is not None:
        words.append(f"≈{decimal_text(value)} {asset}".strip())
    return " ".join(word for word in words if word)


def money(approval: Approval) -> str:
    """The amount of a request (`97.50 USDT`), "" when none."""
    return approval.details.get("notional", "")


def confirm_words(approval: Approval) -> str:
    """What a mainnet approval's second step repeats and must get back: the amount (`97.50 USDT`),
    or the order's words when the call has no amount (a cancel)."""
    return money(approval) or order_words(approval)


def seconds_words(seconds: int) -> str:
    """A span in words that cannot be misread: `5 seconds`, `1 minute 5 seconds`, `59 minutes`."""
    if seconds >= 3600:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours} h {minutes} min"
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    if seconds >= 60:
        return f"1 minute {seconds - 60} seconds"
    return "1 second" if seconds == 1 else f"{seconds} seconds"


def _budget_after(
    approval: Approval, value: Decimal | None, asset: str, budgets: Sequence[BudgetLine]
) -> tuple[str | None, bool]:
    if value is None or not asset:
        return None, False
    lines = [
        line
        for line in budgets
        if line.asset == asset and line.limit is not None and (line.account or "") in (approval.account, "")
    ]
    if not lines:
        return f"no daily budget for {asset}", False
    line = lines[0]
    assert line.limit is not None
    after = line.limit - line.spent - value
    if after < 0:
        return (
            f"over today's budget by {decimal_text(-after)} {asset} (limit {decimal_text(line.limit)}): it will be refused",
            True,
        )
    return f"{decimal_text(after)} of {decimal_text(line.limit)} {asset} left today after this order", False


def _amount(text: str | None) -> tuple[Decimal | None, str]:
    if not text:
        return None, ""
    number, _, asset = text.partition(" ")
    return _decimal(number), asset.strip()


def _decimal(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    return value if value.is_finite() else None


def _signed(change: Decimal) -> str:
    rounded = change.quantize(Decimal("0.01"))
    return f"+{decimal_text(rounded)}" if rounded > 0 else decimal_text(rounded)


def details_rows(details: Mapping[str, str]) -> list[tuple[str, str]]:
    """Every stored detail, labelled, for the folded "Details" part of a card."""
    from binance_mcp.approval_details import labelled_details

    return labelled_details(details)
