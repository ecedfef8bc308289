"""The log of requests the fake received, for assertions in tests (thread-safe, append-only until cleared)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .faults import Fault


@dataclass
class RecordedRequest:
    """One request as received and answered.

    `params` merges query and body (query wins); `signature_ok` is None when no signature check was possible
    (public endpoint, missing/unknown key or signature); `status` is None when the connection was dropped;
    `fault` is the injected fault applied to this request, if any; `response` is the JSON body sent (None if
    none), and for ExecuteThenFail `executed_response` is the body the real processing produced.
    """

    method: str
    path: str
    query: dict[str, str]
    body: dict[str, str]
    params: dict[str, str]
    api_key: str | None
    signature_ok: bool | None = None
    key_type: str | None = None  # the signing key's type ("HMAC", "Ed25519", "RSA") when it was checked
    status: int | None = None
    fault: Fault | None = None
    raw_query: str = ""
    raw_body: str = ""
    time_ms: int = 0
    response: object = field(default=None, repr=False)
    executed_response: object = field(default=None, repr=False)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def append(self, item: RecordedRequest) -> None:
        with self._lock:
            self._items.append(item)

    def snapshot(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
