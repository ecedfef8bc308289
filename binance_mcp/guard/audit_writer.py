"""The audit log's one writer: a thread with a queue that owns the audit connection.

One thread owns the audit connection and does every write in order, so the event loop never
waits on a lock held across an fsync, and a reader (`binance-mcp audit`) in another process sees
committed records through SQLite's WAL. What each record is, and how durable, is `record.py`'s.

Complete or refuse: a write that fails stops the answers (`check()`, a `store_unavailable`
refusal) until a record can be written again, and the gap is recorded then.
"""

from __future__ import annotations

import asyncio
import atexit
import dataclasses
import errno
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from binance_mcp.timestamps import utc_now_text

if TYPE_CHECKING:
    from binance_mcp.refusals import Refusal
    from binance_mcp.stores.audit import AuditLog, AuditRecord

logger = logging.getLogger(__name__)

_STOP = object()
RETRY_AFTER_S = 5.0
"""What a `store_unavailable` refusal of the audit log suggests waiting."""
ANCHOR_EVERY = 1000
"""The audit log's head goes to the server's log every this many records, and at close."""


@dataclass
class Outage:
    """The audit log could not be written: since when, why, and what that cost."""

    since: str
    cause: str
    lost: int = 0  # records that were to be written behind an answer already given
    refused: int = 0  # calls refused since, for want of a record

    def gap(self) -> str:
        return (
            f"the audit log could not be written from {self.since} to {utc_now_text()} ({self.cause}): "
            f"{self.lost} record{'s' if self.lost != 1 else ''} lost, {self.refused} "
            f"call{'s' if self.refused != 1 else ''} refused meanwhile"
        )


def store_failure(exc: BaseException) -> str:
    """What went wrong with a store, in a few words, with no path or value from the call."""
    text = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
    if "full" in text.lower() or getattr(exc, "errno", None) == errno.ENOSPC:
        return "the disk is full"
    return f"{exc.__class__.__name__}: {text[:200]}"


class AuditWriter:
    """The audit log's one writer: a thread with a queue, opened on the first record.

    Complete or refuse: once a write fails, `outage` says since when and why, and `check()` — the
    first thing the guard does for each call — refuses every call (`store_unavailable`) until a
    record can be written again; the first record then written says how long the log was out and
    what that cost (an `audit_gap` event)."""

    def __init__(
        self,
        open_store: Callable[[], AuditLog],
        event: Callable[[str, str], AuditRecord] | None = None,
    ) -> None:
        self._open_store = open_store
        self._event = event
        self._deferred: list[AuditRecord] = []
        self.outage: Outage | None = None
        self._store: AuditLog | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False
        self._written = 0
        self._owed: dict[int, Callable[[], AuditRecord]] = {}
        """Outcomes of pending records whose write failed, by record id (`repair`)."""

    @property
    def store(self) -> AuditLog:
        """The store itself, for reads (tests, recovery): writes go through the queue."""
        if self._store is None:
            with self._start_lock:
                if self._store is None:
                    self._store = self._open_store()
        return self._store

    def write(self, record: AuditRecord) -> None:
        """Queue a record; the call's result does not wait for it."""
        self.write_made(lambda: record)

    def write_made(self, make: Callable[[], AuditRecord]) -> None:
        """Queue a record that `make` builds on the writer's thread, off the call's own time: every
        value it reads must be fixed already (its time and latency taken when the call ended).
        Records queued together are committed together (`_Append`)."""
        self._submit(_Append(make))

    def event(self, name: str, reason: str, *, policy: str | None = None, defer: bool = False) -> None:
        """Record something that is not a tool call (a policy loaded, failed sign-ins). With
        `defer`, before the log is first opened it waits for the first record, so that start-up
        opens no database."""
        if self._event is None:
            return
        record = dataclasses.replace(self._event(name, reason), policy=policy)
        if defer and self._thread is None:
            self._deferred.append(record)
        else:
            self.write(record)

    async def write_durable(self, record: AuditRecord, leg_client_order_ids: Sequence[str] = ()) -> int:
        """A `pending` record, committed with an fsync before this returns its id, with the call's
        other client order ids (an order list's legs) recorded as used; raises a `store_unavailable`
        refusal (nothing may be sent) when it cannot be written."""
        try:
            return int(
                await asyncio.wrap_future(
                    self._submit(
                        lambda store: store.begin_pending(record, leg_client_order_ids=leg_client_order_ids)
                    )
                )
            )
        except Exception:
            raise self.refusal() from None

    async def write_pending_read(self, record: AuditRecord) -> int:
        """A signed read's `pending` record, committed (not synced to the disk: a read changes
        nothing, so a power loss may lose it) before its request leaves; its id, for `finish`."""
        try:
            return int(
                await asyncio.wrap_future(
                    self._submit(lambda store: store.begin_pending(record, durable=False))
                )
            )
        except Exception:
            raise self.refusal() from None

    async def check(self) -> None:
        """Refuse the call while the log cannot be written; when it can again, record the gap."""
        outage = self.outage
        if outage is None:
            if self._owed:
                self.repair()
            return
        if self._event is not None:
            gap = self._event("audit_gap", outage.gap())
            try:
                await asyncio.wrap_future(self._submit(lambda store: store.append(gap)))
            except Exception:
                outage.refused += 1
                raise self.refusal() from None
        logger.warning("audit log writable again: %s", outage.gap())
        self.outage = None
        self.repair()

    def refusal(self) -> Refusal:
        from binance_mcp.refusals import Refusal, RefusalKind

        outage = self.outage
        cause = outage.cause if outage is not None else "a write failed"
        since = f" since {outage.since}" if outage is not None else ""
        return Refusal(
            RefusalKind.STORE_UNAVAILABLE,
            f"the audit log cannot be written{since} ({cause}); every call is refused until it can, so that "
            "none goes unrecorded, and nothing was done: the operator must make room or repair the state "
            "(binance-mcp doctor), then call again",
            retry_after_s=RETRY_AFTER_S,
            store="audit log",
        )

    def finish(self, record_id: int, make: Callable[[], AuditRecord]) -> None:
        """Queue the outcome of a pending record, the record of it that `make` builds on the
        writer's thread (as `write_made`). If another process completed it meanwhile (crash
        recovery on a shared state), the outcome is written as a record of its own."""

        def finish(store: AuditLog) -> None:
            entry = make()
            try:
                store.finish(
                    record_id,
                    durable=False,
                    outcome=entry.outcome,
                    decision=entry.decision,
                    reason=entry.reason,
                    order_id=entry.order_id,
                    client_order_id=entry.client_order_id,
                    latency_ms=entry.latency_ms,
                    result=entry.result,
                )
            except ValueError:
                logger.warning(
                    "audit record %s was completed elsewhere; recording the outcome again", record_id
                )
                store.append(entry)
            except Exception as exc:  # the store is away: owed, and written by `repair` once it is back
                self._owed[record_id] = make
                logger.warning(
                    "the outcome of audit record %s is owed (%s): written once the log is back",
                    record_id,
                    store_failure(exc),
                )
                raise

        self._submit(finish)

    def repair(self) -> None:
        """Queue again each outcome whose write failed (its pending record stays pending until one
        lands): the next call and the server's background task ask for it."""
        for record_id in list(self._owed):
            owed = self._owed.pop(record_id, None)
            if owed is not None:
                logger.warning("writing the owed outcome of audit record %s", record_id)
                self.finish(record_id, owed)

    async def read(self, fn: Callable[[AuditLog], Any]) -> Any:
        """A read that must see every record written before it (in order, on the writer's thread);
        a `store_unavailable` refusal when the log cannot be read (naming PostgreSQL when that
        is what cannot be reached)."""
        from binance_mcp.guard.failures import store_refusal

        try:
            return await asyncio.wrap_future(self._submit(fn, writes=False))
        except Exception as exc:
            raise (store_refusal(exc) or self.refusal()) from None

    def flush(self) -> None:
        """Wait until every queued record is committed."""
        if self._thread is not None and self._thread.is_alive():
            self._submit(lambda store: None).result()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
        if self._store is not None:
            self._log_head()
            self._store.close()

    def _failed(self, exc: BaseException, *, lost: bool) -> None:
        if self.outage is None:
            self.outage = Outage(since=utc_now_text(), cause=store_failure(exc))
            logger.error(
                "audit log write failed (%s): calls are refused until it can be written", self.outage.cause
            )
        self.outage.lost += int(lost)

    def _log_head(self) -> None:
        """Write the chain's head to the server's log: an anchor kept outside the store, which
        `binance-mcp audit verify --anchor SEQ:HASH` checks (a truncation that rewrote the head)."""
        try:
            seq, digest = self.store.head()
        except Exception:  # the log's own failure was reported where it happened
            return
        if seq:
            logger.info("audit log head %s:%s (binance-mcp audit verify --anchor checks it)", seq, digest)

    def _submit(self, job: Callable[[AuditLog], Any], *, writes: bool = True) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the audit log is closed"))
            return future
        self._ensure_thread()
        self._queue.put((job, future, writes))
        return future

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()
                    atexit.register(self.close)

    def _run(self) -> None:
        while self._deferred:
            record = self._deferred.pop(0)
            try:
                self.store.append(record)
            except Exception as exc:
                self._failed(exc, lost=True)
        carried: Any = None
        while True:
            item, carried = (carried, None) if carried is not None else (self._queue.get(), None)
            if item is _STOP:
                return
            if isinstance(item[0], _Append):  # with every record queued behind it, in one commit
                batch = [item]
                while len(batch) < MAX_BATCH:
                    try:
                        following = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if following is _STOP or not isinstance(following[0], _Append):
                        carried = following  # run next, in its turn
                        break
                    batch.append(following)
                self._append_all(batch)
                continue
            self._run_one(item)

    def _run_one(self, item: Any) -> None:
        job, future, writes = item
        self._written += 1
        if self._written % ANCHOR_EVERY == 0:
            self._log_head()
        try:
            result = job(self.store)
        except BaseException as exc:  # the call's result stands; later calls are refused
            self._failed(exc, lost=writes)
            future.set_exception(exc)
        else:
            future.set_result(result)

    def _append_all(self, batch: list[Any]) -> None:
        """Records queued together, in one transaction; when that fails (one of them refused, the
        store failing), each is tried on its own, so each is written or counted lost as alone."""
        if len(batch) > 1:
            try:
                records = [job.make() for job, _, _ in batch]
                ids = self.store.append_all(records)
            except Exception:
                pass
            else:
                for (_, future, _), record_id in zip(batch, ids, strict=True):
                    self._written += 1
                    if self._written % ANCHOR_EVERY == 0:
                        self._log_head()
                    future.set_result(record_id)
                return
        for item in batch:
            self._run_one(item)


MAX_BATCH = 64
"""The most queued records one commit takes."""


@dataclass(frozen=True)
class _Append:
    """A job that appends the record `make` builds: queued ones are committed together."""

    make: Callable[[], AuditRecord]

    def __call__(self, store: AuditLog) -> int:
        return store.append(self.make())
