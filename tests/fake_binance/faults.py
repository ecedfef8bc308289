"""Fault injection: the fault kinds and the thread-safe plan that decides which request gets which fault.

Queued faults (`inject`) are matched first, in FIFO order, on method and path (fnmatch patterns, None = any);
then seeded random faults hit a `rate` fraction of the matching requests (reproducible for one request order).
"""

from __future__ import annotations

import fnmatch
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    """Answer with this HTTP status and Binance error body without executing the request.

    `code=None` sends a non-JSON HTML page instead (like a WAF 403 or a proxy error).
    """

    http_status: int
    code: int | None
    msg: str = ""
    retry_after: int | None = None


@dataclass(frozen=True)
class Delay:
    """Sleep `seconds`, then process the request normally."""

    seconds: float


@dataclass(frozen=True)
class Drop:
    """Close the connection without any response and without executing the request."""


@dataclass(frozen=True)
class ExecuteThenFail:
    """Execute the request (an order IS placed or cancelled), then answer with this error, or drop.

    http_status None drops the connection after executing. With http_status set and code None, the body is
    -1007 "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
    """

    http_status: int | None = None
    code: int | None = None
    msg: str | None = None


@dataclass(frozen=True)
class Hold:
    """Keep the request until the test releases it, then process it normally: a request that is
    in flight (not yet executed) for as long as a test needs, without a timed guess. `arrived` is
    set when the request comes in. With `reply_released`, the request is executed when released
    and its reply kept until `reply_released` is set too (an order on the book whose sender has
    not heard back). A hold never outlasts `at_most` seconds (a failed test's guard)."""

    arrived: threading.Event
    released: threading.Event
    reply_released: threading.Event | None = None
    at_most: float = 30.0
    then: Status | None = None
    """Once released, answer with this error instead (not executed): a request that fails only
    after others have come to wait for it."""


Fault = Status | Delay | Drop | ExecuteThenFail | Hold


@dataclass
class _Queued:
    fault: Fault
    method: str | None
    path: str | None
    remaining: int


def _matches(pattern: str | None, value: str) -> bool:
    return pattern is None or fnmatch.fnmatchcase(value, pattern)


class FaultPlan:
    """The faults waiting to be applied; `pick` is called once per incoming request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[_Queued] = []
        self._rng: random.Random | None = None
        self._rate = 0.0
        self._kinds: tuple[Fault, ...] = ()
        self._paths: tuple[str, ...] | None = None
        self._methods: tuple[str, ...] | None = None

    def inject(
        self, fault: Fault, method: str | None = None, path: str | None = None, times: int = 1
    ) -> None:
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            self._queue.append(_Queued(fault, method.upper() if method else None, path, times))

    def random_faults(
        self,
        seed: int,
        rate: float,
        kinds: Sequence[Fault],
        paths: Sequence[str] | None = None,
        methods: Sequence[str] | None = None,
    ) -> None:
        if not 0 <= rate <= 1 or not kinds:
            raise ValueError("rate must be in [0, 1] and kinds non-empty")
        with self._lock:
            self._rng = random.Random(seed)
            self._rate = rate
            self._kinds = tuple(kinds)
            self._paths = tuple(paths) if paths is not None else None
            self._methods = tuple(m.upper() for m in methods) if methods is not None else None

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._rng = None

    def pending(self) -> int:
        """Number of queued (not random) fault applications left."""
        with self._lock:
            return sum(q.remaining for q in self._queue)

    def pick(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for queued in self._queue:
                if _matches(queued.method, method) and _matches(queued.path, path):
                    queued.remaining -= 1
                    if queued.remaining == 0:
                        self._queue.remove(queued)
                    return queued.fault
            if self._rng is None:
                return None
            if self._methods is not None and method not in self._methods:
                return None
            if self._paths is not None and not any(_matches(p, path) for p in self._paths):
                return None
            if self._rng.random() < self._rate:
                return self._rng.choice(self._kinds)
            return None
