"""One exchange read for many callers: concurrent identical reads share one request (single-flight),
and its answer serves the callers after them for a stated time (a short cache).

Binance counts request weight per IP address, 6,000 a minute, shared by every agent behind this
server. A thousand agents asking the price of one symbol at once need one request, not a thousand:
the first caller's request is the flight, every caller who asks the same `key` while it is in the
air waits for it, and its answer is kept for `max_age` seconds after it was asked.

The age of a reading counts from the moment its request left (`asked_at`), never from when the
answer came: Binance's answer reflects its state at some moment after that, so a reading is at
most its age old. A caller states the oldest reading it accepts (`max_age`; the instance's default
when it says nothing): a kept reading older than that is not served to it, and it does not join a
flight that left longer ago than that. `max_age=0` is a new request of the caller's own, always
(what a caller asking for a fresh read, or the guard's final check under the lock, gets).

`version` names the state a reading belongs to (the account's epoch for the open-order count): a
reading or a flight of another version is never served. `forget(key)` drops a key's reading and
detaches its flight (an order of the account was sent: the open-order count is no longer true); a
flight detached that way serves the callers already waiting for it but is not kept.

A failed read is not kept: its callers all get its error, the next caller asks again. A caller
whose flight was cancelled under it (its leader's client left) or refused for its leader's own
weight share (`ShareUsed`, a retry not sent) asks again itself.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import anyio

from binance_mcp.exchange.errors import ShareUsed
from binance_mcp.timestamps import utc_text

T = TypeVar("T")

MAX_KEPT = 1024
"""Readings kept at most (symbols × kinds of read); past it, the ones too old to serve are dropped."""


@dataclass(frozen=True)
class Reading(Generic[T]):
    """An exchange answer and when it was asked for."""

    value: T
    asked_at: float
    """`time.monotonic()` when its request left: the start of its age."""
    read_at: str
    """That moment in UTC (`2026-12-06T02:10:00.123Z`): the answer is no older than this."""
    shared: bool = False
    """Whether this caller got another caller's request (joined its flight or served from the cache)."""

    def age_ms(self, now: float | None = None) -> int:
        """Milliseconds since its request left."""
        return max(0, int(((time.monotonic() if now is None else now) - self.asked_at) * 1000))

    def older_of(self, other: Reading[Any]) -> Reading[Any]:
        """Whichever of the two readings was asked first (what a result made of both is as old as)."""
        return self if self.asked_at <= other.asked_at else other


class _Flight:
    """One request in the air, and what it brought."""

    def __init__(self, asked_at: float, version: Hashable) -> None:
        self.asked_at = asked_at
        self.read_at = utc_text(datetime.now(UTC))
        self.version = version
        self.landed = anyio.Event()
        self.reading: Reading[Any] | None = None
        self.error: Exception | None = None


class SharedReads:
    """Reads shared by key. `max_age` (seconds) is how old a reading may be served by default; 0
    turns sharing off (every read is its own request, as without this class)."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self.requests = 0
        """How many requests it let through (a benchmark's and a test's count)."""
        self._kept: dict[Hashable, tuple[Hashable, Reading[Any]]] = {}
        self._flying: dict[Hashable, _Flight] = {}

    async def read(
        self,
        key: Hashable,
        fetch: Callable[[], Awaitable[T]],
        *,
        max_age: float | None = None,
        version: Hashable = None,
    ) -> Reading[T]:
        """`fetch()`'s answer, asked no longer than `max_age` seconds ago (default: the instance's)."""
        bound = self.max_age if max_age is None else max_age
        while True:
            if bound > 0:
                oldest = time.monotonic() - bound
                kept = self._kept.get(key)
                if kept is not None and kept[0] == version and kept[1].asked_at >= oldest:
                    return _shared(kept[1])
                flight = self._flying.get(key)
                if flight is not None and flight.version == version and flight.asked_at >= oldest:
                    await flight.landed.wait()
                    if flight.reading is not None:
                        return _shared(flight.reading)
                    if flight.error is not None and not isinstance(flight.error, ShareUsed):
                        raise flight.error
                    continue  # its leader was cancelled, or refused its own share: ask again
            return await self._fly(key, fetch, version)

    def peek(
        self, key: Hashable, *, max_age: float | None = None, version: Hashable = None
    ) -> Reading[Any] | None:
        """The kept reading for `key`, if one is young enough, without asking anything."""
        kept = self._kept.get(key)
        bound = self.max_age if max_age is None else max_age
        if kept is None or kept[0] != version or kept[1].asked_at < time.monotonic() - bound:
            return None
        return kept[1]

    async def _fly(self, key: Hashable, fetch: Callable[[], Awaitable[T]], version: Hashable) -> Reading[T]:
        flight = _Flight(time.monotonic(), version)
        self._flying[key] = flight
        self.requests += 1
        try:
            value = await fetch()
        except Exception as exc:
            flight.error = exc
            raise
        else:
            reading = Reading(value, flight.asked_at, flight.read_at)
            flight.reading = reading
            if self._flying.get(key) is flight:  # not forgotten while it flew
                kept = self._kept.get(key)
                if kept is None or kept[0] != version or kept[1].asked_at <= flight.asked_at:
                    self._kept[key] = (version, reading)
                    self._prune()
            return reading
        finally:
            if self._flying.get(key) is flight:
                del self._flying[key]
            flight.landed.set()

    def _prune(self) -> None:
        if len(self._kept) <= MAX_KEPT:
            return
        oldest = time.monotonic() - self.max_age
        for key in [key for key, (_, reading) in self._kept.items() if reading.asked_at < oldest]:
            del self._kept[key]
        while len(self._kept) > MAX_KEPT:  # all still fresh: the first kept go first
            del self._kept[next(iter(self._kept))]

    def forget(self, key: Hashable) -> None:
        """What is kept for `key` is no longer true: the next caller asks again (a flight in the air
        still answers the callers waiting for it, but is not kept)."""
        self._kept.pop(key, None)
        self._flying.pop(key, None)


def _shared(reading: Reading[T]) -> Reading[T]:
    return Reading(reading.value, reading.asked_at, reading.read_at, shared=True)
