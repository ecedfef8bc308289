"""The audit log's one writer: a thread with a queue that owns the audit connection.

One thread owns the audit connection and does every write in order, so the event loop never
waits on a lock held across an fsync, and a reader (`binance-mcp audit`) in another process sees
committed records through SQLite's WAL. What each record is, and how durable, is `record.py`'s.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from binance_mcp.stores.audit import AuditLog, AuditRecord

logger = logging.getLogger(__name__)

_STOP = object()


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

    async def write_durable(self, record: AuditRecord, leg_client_order_ids: Sequence[str] = ()) -> int:
        """A `pending` record, committed with an fsync before this returns its id, with the call's
        other client order ids (an order list's legs) recorded as used."""
        return int(
            await asyncio.wrap_future(
                self._submit(
                    lambda store: store.begin_pending(record, leg_client_order_ids=leg_client_order_ids)
                )
            )
        )

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
