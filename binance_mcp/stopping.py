"""How long a stopping server waits for its calls, over either transport: one set of numbers.

A first SIGTERM (over stdio also the client closing stdin; over HTTP also `HttpService.stop`)
makes the server take no new call, then wait until no call is in flight and none has ended for
`linger_s` (time for the client's tools/list after its last result), or at most `grace_s` in all.
Over HTTP, uvicorn then gives what is left (open listening streams) `close_s` before it cuts them.

The grace covers the longest call the server lets finish (`grace_for`): one that has just started
waiting for the account lock waits at most the lock wait, then sends its request, which may take
the connect timeout and the read timeout, plus a margin for what the call does around them. A
call that waits on a human (5 minutes at most) is not covered: the grace cuts it, and its audit
record says so (`cut_by_drain`).

The defaults are what a deploy needs. They are a value passed down (`serve_stdio`, `HttpSettings`)
rather than constants read deep inside, so a test that starts and stops many servers can shorten
them instead of waiting out the production numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEFAULT_LOCK_WAIT_S",
    "DEPLOYED",
    "MARGIN_S",
    "READ_TIMEOUT_S",
    "DrainTimes",
    "Stopping",
    "grace_for",
]

CONNECT_TIMEOUT_S = 5.0
"""The exchange client's default connect timeout (`--connect-timeout`)."""
READ_TIMEOUT_S = 10.0
"""The exchange client's default read timeout (`--read-timeout`)."""
DEFAULT_LOCK_WAIT_S = 10.0
"""The longest a call waits for the account lock, by default."""
MARGIN_S = 5.0
"""What a call does around its exchange request (deciding again, the audit record), with room to spare."""


def grace_for(
    *,
    read_timeout_s: float = READ_TIMEOUT_S,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    lock_wait_s: float = DEFAULT_LOCK_WAIT_S,
    margin_s: float = MARGIN_S,
) -> float:
    """The drain's grace that lets a call finish which started just before SIGTERM: its wait for
    the account lock, then its request (connect and read), plus a margin. 30 s by default."""
    return lock_wait_s + connect_timeout_s + read_timeout_s + margin_s


@dataclass(frozen=True)
class DrainTimes:
    grace_s: float = grace_for()
    """The longest a stopping server waits for the calls in flight (`--drain-grace`; by default
    `grace_for` the server's timeouts)."""
    linger_s: float = 1.5
    """How long nothing may be in flight nor have just ended before the server stops."""
    close_s: int = 1
    """HTTP: after draining, how long uvicorn waits for what is left (listening streams), in whole seconds as uvicorn takes it."""


DEPLOYED = DrainTimes()
"""The defaults: what a server that is really deployed waits."""


class Stopping:
    """Whether this server is stopping, and whether its drain gave up on calls still in flight.

    One per server (the guard's), set by the transport's drain: the guard reads `cut` to tell a
    call the drain cut (`cut_by_drain`) from one its client abandoned, and /metrics reports both."""

    def __init__(self) -> None:
        self.draining = False
        self.cut = False
        """The grace ran out (or a second signal came) with calls still in flight."""
