"""How long a stopping server waits for its calls, over either transport: one set of numbers.

A first SIGTERM (over stdio also the client closing stdin; over HTTP also `HttpService.stop`)
makes the server take no new call, then wait until no call is in flight and none has ended for
`linger_s` (time for the client's tools/list after its last result), or at most `grace_s` in all.
Over HTTP, uvicorn then gives what is left (open listening streams) `close_s` before it cuts them.

The defaults are what a deploy needs. They are a value passed down (`serve_stdio`, `HttpSettings`)
rather than constants read deep inside, so a test that starts and stops many servers can shorten
them instead of waiting out the production numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEPLOYED", "DrainTimes"]


@dataclass(frozen=True)
class DrainTimes:
    grace_s: float = 10.0
    """The longest a stopping server waits for the calls in flight."""
    linger_s: float = 1.5
    """How long nothing may be in flight nor have just ended before the server stops."""
    close_s: int = 1
    """HTTP: after draining, how long uvicorn waits for what is left (listening streams), in whole seconds as uvicorn takes it."""


DEPLOYED = DrainTimes()
"""The defaults: what a server that is really deployed waits."""
