"""Telling a human that a call waits for approval: a JSON POST to the policy's `approvals.notify` URL.

A human away from the terminal has no other way to learn that an order waits. The POST carries a
Slack-compatible `text` (so an incoming-webhook URL works as it is), the structured request, a
link to the approvals page and the command that approves it at a terminal. It is retried with
backoff on a network failure, a 5xx or a 429, a bounded number of times, each attempt with a
timeout. A notification is only news: it never blocks, allows or delays the call. `announce_pending`
starts it as a background task and returns at once; a failure is logged, with the URL's scheme and
host only (a webhook URL's path is a secret: whoever has it can post to the channel).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx2

from binance_mcp import __version__

if TYPE_CHECKING:
    from binance_mcp.stores.approvals import Approval

__all__ = ["RETRY_DELAYS_S", "announce_pending", "notification_payload", "notify_pending", "shown_url"]

logger = logging.getLogger(__name__)

RETRY_DELAYS_S: tuple[float, ...] = (0.5, 1.0, 2.0)
"""Waits between attempts: four attempts in all, at most 3.5 s of waiting."""
ATTEMPT_TIMEOUT_S = 5.0
"""One attempt: connect, send and read the answer within this."""
DEADLINE_S = 30.0
"""The whole notification, retries included, in the background."""

_BACKGROUND: set[asyncio.Task[bool]] = set()  # strong references: the loop keeps only weak ones


def shown_url(url: str) -> str:
    """A URL as it may appear in a log: scheme and host, the path (a webhook's secret) left out."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}/…"


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn reads <…> as links and mentions; & < > must be escaped (api.slack.com/reference/surfaces/formatting)
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def notification_payload(
    approval: Approval, page_url: str | None, command: str | None = None
) -> dict[str, Any]:
    """The JSON body: `text` for Slack and chat webhooks, then the request itself for programs."""
    question = approval.question.removesuffix(" — approve?")
    who = f" for agent {approval.agent}" if approval.agent else ""
    expires = approval.expires_at.strftime("%H:%M UTC") if approval.expires_at else "in an hour"
    lines = [f"Approval needed{who}: {question} ({approval.id}, expires {expires})."]
    link = f"{page_url}#{approval.id}" if page_url else None  # the request's own card on the page
    if link:
        lines.append(f"Decide on the approvals page: {link}")
    if command:
        lines.append(f"Or at a terminal: {command}")
    return {
        "text": _slack_escape("\n".join(lines)),
        "approval": approval.to_dict(),
        "page_url": link,
        "approve_command": command,
        "source": f"binance-mcp {__version__}",
    }


async def notify_pending(
    url: str,
    approval: Approval,
    page_url: str | None,
    *,
    command: str | None = None,
    delays: Sequence[float] = RETRY_DELAYS_S,
    attempt_timeout_s: float = ATTEMPT_TIMEOUT_S,
) -> bool:
    """POST the request to `url`, retrying after each of `delays` on a network error, a 5xx or a
    429. True once an attempt gets a 2xx; False when every attempt failed or the receiver refused
    it (another 4xx: retrying would not help). Never raises: a failure is logged and that is all."""
    body = json.dumps(notification_payload(approval, page_url, command), ensure_ascii=False).encode()
    headers = {"content-type": "application/json", "user-agent": f"binance-mcp/{__version__}"}
    problem = "no attempt was made"
    attempts = len(delays) + 1
    try:
        async with httpx2.AsyncClient(timeout=attempt_timeout_s, follow_redirects=False) as client:
            for attempt in range(attempts):
                if attempt:
                    await asyncio.sleep(delays[attempt - 1])
                try:
                    answer = await client.post(url, content=body, headers=headers)
                except httpx2.HTTPError as exc:
                    problem = type(exc).__name__
                    continue
                if 200 <= answer.status_code < 300:
                    return True
                problem = f"HTTP {answer.status_code}"
                if answer.status_code != 429 and answer.status_code < 500:
                    attempts = attempt + 1
                    break
    except Exception as exc:  # a notification must never break the server
        problem = type(exc).__name__
    logger.warning(
        "could not notify %s that %s waits for approval (%s after %d attempt%s); "
        "the request stays pending for a human to see with `binance-mcp approvals`",
        shown_url(url),
        approval.id,
        problem,
        attempts,
        "" if attempts == 1 else "s",
    )
    return False


def announce_pending(
    url: str | None,
    approval: Approval,
    page_url: str | None,
    *,
    command: str | None = None,
    deadline_s: float = DEADLINE_S,
    delays: Sequence[float] = RETRY_DELAYS_S,
) -> asyncio.Task[bool] | None:
    """Start `notify_pending` in the background and return at once (None when there is no URL or
    no running event loop). The task gives up after `deadline_s`, logging it; it holds nothing the
    call waits for. Call it when a request has just become pending (`Approval.fresh`)."""
    if not url:
        return None
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None

    async def bounded() -> bool:
        try:
            return await asyncio.wait_for(
                notify_pending(url, approval, page_url, command=command, delays=delays), deadline_s
            )
        except TimeoutError:
            logger.warning(
                "gave up notifying %s that %s waits for approval after %g s",
                shown_url(url),
                approval.id,
                deadline_s,
            )
            return False

    task = loop.create_task(bounded(), name=f"notify {approval.id}")
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task
