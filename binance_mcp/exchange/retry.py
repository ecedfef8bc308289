"""When a request to Binance is tried again, and how long the server waits in between.

Reads are retried with tenacity on what passes: connection errors, timeouts, 5xx, 429 (after its
`Retry-After`) and a 418 whose ban ends within the wait allowed. Exponential backoff with jitter,
bounded both in attempts and in total time. Other 4xx are the request's own fault and are never
retried. Orders and cancels are never retried by this module at all: after an ambiguous failure
they are looked up (`order_kinds.OrderKind.look_up`, with `lookup_retrying`), never resent.

tenacity is imported on the first request, not at start-up (the server must start fast).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from binance_mcp.exchange.errors import (
    BinanceRejected,
    ExchangeFailure,
    ExchangePaused,
    ExchangeUnavailable,
    LimitReached,
    MissingCredentials,
)

if TYPE_CHECKING:
    from tenacity import AsyncRetrying, RetryCallState

logger = logging.getLogger(__name__)


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


def _log(state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    sleep = state.next_action.sleep if state.next_action is not None else 0.0
    logger.info("attempt %d failed (%s); retrying in %.2f s", state.attempt_number, _describe(exc), sleep)


def read_retrying(policy: RetryPolicy) -> AsyncRetrying:
    """A read: `await read_retrying(policy)(fn, *args)` tries it again while it fails transiently,
    within the policy's bounds in attempts and in time; the last failure is raised as it came."""
    from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, stop_before_delay

    return AsyncRetrying(
        stop=stop_after_attempt(policy.attempts) | stop_before_delay(policy.total),
        wait=lambda state: pause_after(
            policy, state.outcome.exception() if state.outcome else None, state.attempt_number
        ),
        retry=retry_if_exception(lambda exc: is_transient(exc, policy)),
        sleep=anyio.sleep,
        before_sleep=_log,
        reraise=True,
    )


def lookup_retrying(policy: RetryPolicy, tries: int, settled: Callable[[Any], bool]) -> AsyncRetrying:
    """Lookups of an order after an ambiguous failure: `await lookup_retrying(...)(fetch)` tries
    `fetch` up to `tries` times, with the policy's lookup backoff, while it fails (the order not
    visible yet, or the lookup itself failing), finds nothing (None) or finds it not `settled`. A ban, a limit reached
    here or missing keys are raised at once: they will not pass within a lookup's wait. Once the
    tries are used up it returns None (the caller keeps what each try saw)."""
    from tenacity import AsyncRetrying, retry_if_exception, retry_if_result, stop_after_attempt

    def passing(exc: BaseException) -> bool:
        return isinstance(exc, ExchangeFailure) and not isinstance(
            exc, ExchangePaused | LimitReached | MissingCredentials
        )

    return AsyncRetrying(
        stop=stop_after_attempt(tries),
        wait=lambda state: policy.lookup_backoff(state.attempt_number),
        retry=retry_if_exception(passing)
        | retry_if_result(lambda found: found is None or not settled(found)),
        sleep=anyio.sleep,
        retry_error_callback=lambda state: None,
    )
