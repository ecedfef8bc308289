"""Telling a human that a call waits for approval: a JSON POST to the policy's `approvals.notify` URL.

A human away from the terminal has no other way to learn that an order waits. The POST carries a
Slack-compatible `text` (so an incoming-webhook URL works as it is), the structured request, a
link to the approvals page and the command that approves it at a terminal. It is retried with
backoff on a network failure, a 5xx or a 429, a bounded number of times, each attempt with a
timeout. A notification is only news: it never blocks, allows or delays the call. `announce_pending`
starts it as a background task and returns at once; a failure is logged, with the URL's scheme and
host only (a webhook URL's path is a secret: whoever has it can post to the channel).

Requests that come fast are grouped (`Notices`): at most one post per `approvals.notify_every`
seconds (default 10) per receiver and agent; the first request of a quiet spell is posted at once,
the ones that start waiting in the next seconds go out together in one post that lists them all
(`text` names each; `approvals` carries every request). So an agent that opens many requests in a
burst makes a few posts, not one per request. Counted in this process (each replica groups its own).
When the server stops, the requests still waiting for their group post are posted at once
(`Notices.flush`): a request that started waiting is never left unannounced because the process
ended before its group's time came.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx2

from binance_mcp import __version__

if TYPE_CHECKING:
    from binance_mcp.stores.approvals import Approval

__all__ = [
    "RETRY_DELAYS_S",
    "Notices",
    "announce_pending",
    "group_payload",
    "notification_payload",
    "notify_pending",
    "shown_url",
]

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
    body = notification_payload(approval, page_url, command)
    return await _post(url, body, approval.id, delays=delays, attempt_timeout_s=attempt_timeout_s)


async def _post(
    url: str,
    payload: dict[str, Any],
    what: str,
    *,
    delays: Sequence[float] = RETRY_DELAYS_S,
    attempt_timeout_s: float = ATTEMPT_TIMEOUT_S,
) -> bool:
    body = json.dumps(payload, ensure_ascii=False).encode()
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
        what,
        problem,
        attempts,
        "" if attempts == 1 else "s",
    )
    return False


def group_payload(approvals: Sequence[tuple[Approval, str | None]], page_url: str | None) -> dict[str, Any]:
    """One post for several requests that started waiting close together: `text` lists each (its
    question, id and the command that approves it), `approvals` carries every request."""
    if len(approvals) == 1:
        return notification_payload(approvals[0][0], page_url, approvals[0][1])
    agents = sorted({approval.agent for approval, _ in approvals if approval.agent})
    who = f" for agent {', '.join(agents)}" if agents else ""
    lines = [f"{len(approvals)} approvals needed{who}:"]
    for approval, command in approvals:
        question = approval.question.removesuffix(" — approve?")
        lines.append(f"• {question} ({approval.id})" + (f": {command}" if command else ""))
    if page_url:
        lines.append(f"Decide on the approvals page: {page_url}")
    return {
        "text": _slack_escape("\n".join(lines)),
        "approvals": [approval.to_dict() for approval, _ in approvals],
        "page_url": page_url,
        "approve_commands": [command for _, command in approvals],
        "source": f"binance-mcp {__version__}",
    }


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

    return _in_background(
        loop,
        notify_pending(url, approval, page_url, command=command, delays=delays),
        url,
        approval.id,
        deadline_s,
    )


def _in_background(
    loop: asyncio.AbstractEventLoop,
    sending: Coroutine[Any, Any, bool],
    url: str,
    what: str,
    deadline_s: float,
) -> asyncio.Task[bool]:
    async def bounded() -> bool:
        try:
            return await asyncio.wait_for(sending, deadline_s)
        except TimeoutError:
            logger.warning(
                "gave up notifying %s that %s waits for approval after %g s", shown_url(url), what, deadline_s
            )
            return False

    task = loop.create_task(bounded(), name=f"notify {what}")
    _BACKGROUND.add(task)
    task.add_done_callback(_BACKGROUND.discard)
    return task


class Notices:
    """Grouped notifications: at most one post per `every_s` per (URL, agent), in this process.
    The first request after a quiet spell is posted at once; those that follow within `every_s`
    wait for one post that lists them all, sent `every_s` after the last post."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str | None], float] = {}
        self._waiting: dict[tuple[str, str | None], list[tuple[Approval, str | None]]] = {}
        self._pages: dict[tuple[str, str | None], str | None] = {}

    def announce(
        self,
        url: str | None,
        approval: Approval,
        page_url: str | None,
        *,
        command: str | None = None,
        every_s: float = 0,
        deadline_s: float = DEADLINE_S,
    ) -> asyncio.Task[bool] | None:
        """Announce a request that just started waiting, now or in the next group post (the
        task that posts it, None when there is no URL, no loop, or it joined a group already
        on its way)."""
        if not url:
            return None
        if every_s <= 0:
            return announce_pending(url, approval, page_url, command=command, deadline_s=deadline_s)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return None
        key = (url, approval.agent)
        now = time.monotonic()
        last = self._last.get(key)
        waiting = self._waiting.get(key)
        if waiting is not None:  # a group post is on its way: this request joins it
            waiting.append((approval, command))
            return None
        if last is None or now - last >= every_s:
            self._last[key] = now
            return announce_pending(url, approval, page_url, command=command, deadline_s=deadline_s)
        self._waiting[key] = [(approval, command)]
        self._pages[key] = page_url
        return _in_background(
            loop,
            self._post_group(key, page_url, last + every_s - now),
            url,
            f"{approval.id} and others",
            deadline_s + every_s,
        )

    async def _post_group(self, key: tuple[str, str | None], page_url: str | None, after_s: float) -> bool:
        try:
            await asyncio.sleep(max(0.0, after_s))
        finally:  # even if cancelled: later requests must not join a group nobody posts
            group = self._waiting.pop(key, [])
            self._pages.pop(key, None)
            self._last[key] = time.monotonic()
        if not group:
            return True  # posted already (`flush`)
        return await _post(key[0], group_payload(group, page_url), ", ".join(a.id for a, _ in group))

    async def flush(self, attempt_timeout_s: float = ATTEMPT_TIMEOUT_S) -> None:
        """The server is stopping: post every group still waiting for its time, now (one attempt
        each, all at once, `attempt_timeout_s` at most); the requests stay pending either way."""
        groups = [(key, self._waiting.pop(key), self._pages.pop(key, None)) for key in list(self._waiting)]
        if not groups:
            return
        sends = [
            _post(
                url,
                group_payload(group, page_url),
                ", ".join(approval.id for approval, _ in group),
                delays=(),
                attempt_timeout_s=attempt_timeout_s,
            )
            for (url, _agent), group, page_url in groups
        ]
        await asyncio.gather(*sends)
