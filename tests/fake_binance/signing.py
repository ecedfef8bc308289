"""Request signing (binance-api.md §3.3-3.5): the HMAC-SHA256 payload and the timestamp/recvWindow checks.

The payload is the raw (still percent-encoded) query string concatenated, with no separator, to the raw
body, both exactly as received and with the `signature=...` pair taken out.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from decimal import Decimal, InvalidOperation

from .errors import TS_AHEAD, TS_OUTSIDE, ApiError, error, illegal_chars, mandatory

DEFAULT_RECV_WINDOW = Decimal(5000)
MAX_RECV_WINDOW = Decimal(60000)
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,20}$")


def sign(secret: str, payload: str) -> str:
    """Lower-case hex HMAC-SHA256 of `payload` keyed with `secret`."""
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def strip_signature(raw: str) -> tuple[str, str | None]:
    """Remove the `signature=` pair from a raw `a=1&b=2` string; return (rest, signature value or None)."""
    if not raw:
        return raw, None
    kept: list[str] = []
    signature: str | None = None
    for pair in raw.split("&"):
        if pair.startswith("signature="):
            signature = pair[len("signature=") :]
        else:
            kept.append(pair)
    return "&".join(kept), signature


def signed_payload(raw_query: str, raw_body: str) -> tuple[str, str | None]:
    """The string Binance signs for this request, and the signature the client sent (query or body)."""
    query, sig_q = strip_signature(raw_query)
    body, sig_b = strip_signature(raw_body)
    return query + body, sig_q if sig_q is not None else sig_b


def signature_matches(secret: str, raw_query: str, raw_body: str) -> bool:
    """True if the request's signature is the HMAC of its payload (hex compared case-insensitively)."""
    payload, signature = signed_payload(raw_query, raw_body)
    if not signature:
        return False
    return hmac.compare_digest(sign(secret, payload), signature.lower())


def check_timing(timestamp: str | None, recv_window: str | None, server_time_ms: int) -> None:
    """Apply §3.4: -1102 missing timestamp, recvWindow ≤ 60000, then the two -1021 rules."""
    if not timestamp:
        raise mandatory("timestamp")
    if not _TIMESTAMP_RE.match(timestamp):
        raise illegal_chars("timestamp", "^[0-9]{1,20}$")
    ts = Decimal(timestamp)
    if ts >= 10**14:  # microseconds were sent
        ts = ts / 1000
    window = DEFAULT_RECV_WINDOW
    if recv_window:
        try:
            window = Decimal(recv_window)
        except InvalidOperation:
            raise mandatory("recvWindow") from None
        if not window.is_finite() or window < 0 or window.as_tuple().exponent < -3:  # type: ignore[operator]
            raise mandatory("recvWindow")
        if window > MAX_RECV_WINDOW:
            raise ApiError(
                400, -1102, "'recvWindow' contains unexpected value. Cannot be greater than 60000."
            )
    if ts >= server_time_ms + 1000:
        raise error(TS_AHEAD)
    if server_time_ms - ts > window:
        raise error(TS_OUTSIDE)
