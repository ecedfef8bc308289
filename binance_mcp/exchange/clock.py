"""The offset between this machine's clock and Binance's, for signed requests' `timestamp`.

Binance rejects a signed request whose timestamp is 1000 ms ahead of its clock or further behind
than recvWindow (-1021; Binance's rest-api.md, "Timing security"). After a -1021 the server asks `/api/v3/time` and
keeps the difference; the offset is biased so that timestamps fall slightly behind the server's
clock (allowed up to recvWindow, 10 s with python-binance) and never ahead of it.
"""

from __future__ import annotations

import time

INVALID_TIMESTAMP = -1021


def offset_ms(server_time_ms: int, received_at_s: float) -> int:
    """The server-minus-local offset from one `/api/v3/time` answer, received at `received_at_s`.

    The server read its clock before its answer arrived; taking the moment of arrival makes
    `local + offset` at most the server's time (behind by the answer's way back), never ahead.
    """
    return int(server_time_ms - received_at_s * 1000)


def server_now_ms(offset: int) -> int:
    """Binance's current time as this machine estimates it."""
    return int(time.time() * 1000) + offset
