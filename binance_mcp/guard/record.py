"""The last stage: one audit record per call, written by the one writer that owns the audit log.

Durability is decided here, once, per record kind:

- an order's or cancel's `pending` record is fsync'd before the request leaves (`write_durable`
  awaits it): crash recovery relies on it;
- every other record (the outcome of that order, reads, refusals) is handed to the writer and the
  result does not wait for it; the writer commits it within milliseconds, and `close()` (a clean
  exit, SIGTERM included) drains what is queued, so none is lost by a clean exit.

One thread owns the audit connection and does every write in order, so the event loop never
waits on a lock held across an fsync, and a reader (`binance-mcp audit`) in another process sees
committed records through SQLite's WAL.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

from binance_mcp.results import dumps
from binance_mcp.timestamps import utc_now_text

if TYPE_CHECKING:
    from binance_mcp.guard.call import Ended
    from binance_mcp.guard.services import Services
    from binance_mcp.stores.audit import AuditLog, AuditRecord

logger = logging.getLogger(__name__)

MAX_AUDITED_ARGUMENTS = 2_000
"""Characters of a call's raw arguments the audit keeps; more is cut, with a marker, never dropped."""

_STOP = object()


def bounded_arguments(arguments: Any) -> dict[str, Any]:
    """Raw arguments as the audit keeps them: JSON, at most `MAX_AUDITED_ARGUMENTS` characters.
    Arguments out of bounds (a 5,000-digit integer, a lone surrogate) are never serialised: the
    record keeps the sentence that refused them."""
    from binance_mcp.tools.bounds import check_raw_arguments

    problem = check_raw_arguments(arguments)
    if problem is not None:
        return {"_refused": problem.message[:MAX_AUDITED_ARGUMENTS]}
    if not isinstance(arguments, dict):
        return {"_raw": repr(arguments)[:MAX_AUDITED_ARGUMENTS], "_truncated": True}
    try:
        text, jsonable = dumps(arguments), True
    except (TypeError, ValueError, RecursionError):
        text, jsonable = repr(arguments)[: MAX_AUDITED_ARGUMENTS + 1], False
    if len(text) <= MAX_AUDITED_ARGUMENTS:
        return arguments if jsonable else {"_raw": text}
    return {"_raw": text[:MAX_AUDITED_ARGUMENTS], "_truncated": True}


class AuditWriter:
    """The audit log's one writer: a thread with a queue, opened on the first record."""

    def __init__(self, open_store: Callable[[], AuditLog]) -> None:
        self._open_store = open_store
        self._store: AuditLog | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self._closed = False

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
        self._submit(lambda store: store.append(record))

    async def write_durable(self, record: AuditRecord) -> int:
        """A `pending` record, committed with an fsync before this returns its id."""
        return int(await asyncio.wrap_future(self._submit(lambda store: store.begin_pending(record))))

    def finish(self, record_id: int, fallback: AuditRecord, **fields: Any) -> None:
        """Queue the outcome of a pending record. If another process completed it meanwhile (crash
        recovery on a shared state), the outcome is written as a record of its own."""

        def finish(store: AuditLog) -> None:
            try:
                store.finish(record_id, durable=False, **fields)
            except ValueError:
                logger.warning(
                    "audit record %s was completed elsewhere; recording the outcome again", record_id
                )
                store.append(fallback)

        self._submit(finish)

    async def read(self, fn: Callable[[AuditLog], Any]) -> Any:
        """A read that must see every record written before it (in order, on the writer's thread)."""
        return await asyncio.wrap_future(self._submit(fn))

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
            self._store.close()

    def _submit(self, job: Callable[[AuditLog], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the audit log is closed"))
            return future
        self._ensure_thread()
        self._queue.put((job, future))
        return future

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
                    self._thread.start()
                    atexit.register(self.close)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            job, future = item
            try:
                result = job(self.store)
            except BaseException as exc:  # a failed write is logged; the call's result stands
                logger.exception("audit write failed")
                future.set_exception(exc)
            else:
                future.set_result(result)


def audit_record(ended: Ended, services: Services, outcome: str | None = None) -> AuditRecord:
    """The audit record of a call that ended (or, with `outcome="pending"`, is about to send)."""
    from binance_mcp.guard.call import Parsed, Request
    from binance_mcp.stores.audit import AuditRecord

    request = ended.reached.request
    reached = ended.reached
    parsed = (
        reached if isinstance(reached, Parsed) else None if isinstance(reached, Request) else reached.parsed
    )
    arguments = parsed.arguments if parsed is not None else request.audited_arguments
    caller = request.caller
    return AuditRecord(
        time=utc_now_text(),
        session=caller.session,
        client=caller.agent or f"{caller.client} (declared)",
        network=services.network.value,
        base_url=services.exchange.base_url,
        account=services.account,
        tool=request.spec.name,
        arguments=arguments,
        decision=ended.decision,
        approved_via=ended.approved_via,
        approved_by=ended.approved_by,
        reason=ended.reason,
        rule=ended.rule,
        outcome=outcome or ended.outcome,
        order_id=ended.order_id,
        client_order_id=ended.client_order_id,
        latency_ms=round((time.perf_counter() - request.started) * 1000, 3),
    )


def record(ended: Ended, services: Services) -> Ended:
    """Write the call's record: finish its pending record, or append a new one."""
    entry = audit_record(ended, services)
    if logger.isEnabledFor(logging.DEBUG):  # --log-level DEBUG: each call's decision, never its arguments
        logger.debug(
            "%s by %s: %s, %s%s (rule %s) in %.1f ms",
            entry.tool,
            entry.client,
            entry.decision,
            entry.outcome,
            f": {entry.reason}" if entry.reason else "",
            entry.rule,
            entry.latency_ms or 0,
        )
    if ended.pending_id is not None:
        services.audit.finish(
            ended.pending_id,
            entry,
            outcome=entry.outcome,
            decision=entry.decision,
            reason=entry.reason,
            order_id=entry.order_id,
            client_order_id=entry.client_order_id,
            latency_ms=entry.latency_ms,
        )
    else:
        services.audit.write(entry)
    return ended
