"""When a request to Binance is tried again, and how long the server waits in between.

Reads are retried with tenacity on what passes: connection errors, timeouts, 5xx, 429 (after its
`Retry-After`) and a 418 whose ban ends within the wait allowed. Exponential backoff with jitter,
bounded both in attempts and in total time. Other 4xx are the request's own fault and are never
retried. Orders and cancels are never retried by this module at all: after an ambiguous failure
they are looked up (`ExchangeClient.find_order`), never resent.

tenacity is imported on the first retry, not at start-up (the server must start fast).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from binance_mcp.exchange.errors import BinanceRejected, ExchangeFailure, ExchangePaused, ExchangeUnavailable

if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """The bounds of every retry and wait. Defaults suit Binance; tests shrink them."""

    attempts: int = 4  # a read is tried at most this often
    first_wait: float = 0.1  # backoff before the 2nd attempt; doubles each time, plus jitter
    longest_wait: float = 2.0  # no single backoff is longer
    total: float = 15.0  # no retry starts later than this after the first attempt
    lookups: int = 4  # after an ambiguous order or cancel: lookups by client order id
    first_lookup_wait: float = 0.5  # before the 2nd lookup; doubles each time (0.5, 1, 2 s)
    max_pause: float = 10.0  # longest wait for a Retry-After, a short ban or a rate-limit window

    def backoff(self, attempt: int) -> float:
        """The wait after the `attempt`-th try of a read (1-based)."""
        return _jittered(min(self.longest_wait, self.first_wait * 2 ** (attempt - 1)))

    def lookup_backoff(self, attempt: int) -> float:
        """The wait after the `attempt`-th lookup of an order (1-based)."""
        return _jittered(self.first_lookup_wait * 2 ** (attempt - 1))


def _jittered(seconds: float) -> float:
    """Exponential backoff with jitter: between half and all of `seconds`, so that clients spread out."""
    return seconds * (0.5 + random.random() / 2)


def is_transient(exc: BaseException, policy: RetryPolicy) -> bool:
    """Would the same read succeed if tried again a little later?"""
    if isinstance(exc, ExchangeUnavailable):
        return True
    if isinstance(exc, ExchangePaused):
        return exc.from_response and exc.seconds_left() <= policy.max_pause
    if isinstance(exc, BinanceRejected):
        return exc.status is None or exc.status >= 500 or exc.status == 429
    return False  # a limit reached here, missing keys, anything else: the same read would fail again


def pause_after(policy: RetryPolicy, exc: BaseException | None, attempt: int) -> float:
    """The wait after the `attempt`-th try failed with `exc`: a Retry-After or a ban's rest if
    longer than the backoff."""
    backoff = policy.backoff(attempt)
    if isinstance(exc, ExchangePaused):
        return max(exc.seconds_left(), backoff)
    if isinstance(exc, ExchangeFailure) and exc.retry_after is not None:
        return max(exc.retry_after, backoff)
    return backoff


def _describe(exc: BaseException | None) -> str:
    return exc.summary() if isinstance(exc, ExchangeFailure) else repr(exc)


def _log(state: RetryCallState, done: int) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    sleep = state.next_action.sleep if state.next_action is not None else 0.0
    logger.info(
        "attempt %d failed (%s); retrying in %.2f s", state.attempt_number + done, _describe(exc), sleep
    )


def read_retrying(policy: RetryPolicy, *, done: int = 0, elapsed: float = 0.0) -> AsyncRetrying:
    """A tenacity controller for a read: `await read_retrying(policy)(fn, *args)`.

    `done` attempts already failed in `elapsed` seconds count against the policy's bounds.
    """
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay

    return AsyncRetrying(
        stop=stop_after_attempt(policy.attempts - done) | stop_before_delay(policy.total - elapsed),
        wait=lambda state: pause_after(
            policy, state.outcome.exception() if state.outcome else None, state.attempt_number + done
        ),
        retry=retry_if_exception(lambda exc: is_transient(exc, policy)),
        sleep=anyio.sleep,
        before_sleep=lambda state: _log(state, done),
        reraise=True,
    )


async def read_with_retries(policy: RetryPolicy, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """`await fn(*args)`, retried within the policy's bounds when it fails transiently.

    The first attempt runs bare: most reads succeed, and building a tenacity controller for each
    would cost more than the rest of this layer. After a transient failure tenacity runs the
    remaining attempts, with the first one counted in both bounds.
    """
    started = time.monotonic()
    try:
        return await fn(*args)
    except Exception as exc:
        if policy.attempts < 2 or not is_transient(exc, policy):
            raise
        first = exc
    wait = pause_after(policy, first, 1)
    if time.monotonic() - started + wait >= policy.total:
        raise first
    logger.info("attempt 1 failed (%s); retrying in %.2f s", _describe(first), wait)
    await anyio.sleep(wait)
    retrying = read_retrying(policy, done=1, elapsed=time.monotonic() - started)
    return await retrying(fn, *args)
