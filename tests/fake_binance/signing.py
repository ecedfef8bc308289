"""Request signing (binance-api.md §3.2-3.5): the payload, its signature for each key type, and the
timestamp/recvWindow checks.

The payload is the raw (still percent-encoded) query string concatenated, with no separator, to the raw
body, both exactly as received and with the `signature=...` pair taken out. What signs it depends on the
API key (rest-api.md "SIGNED Endpoint Examples"):
- HMAC: lower-case hex HMAC-SHA256 with the secret, compared case-insensitively;
- RSA: RSASSA-PKCS1-v1_5 with SHA-256, base64; Ed25519: the signature of the payload, base64. Both are
  verified with the public key the account registered, are case-sensitive, and arrive percent-encoded
  (a `+` sent as it is reads as a space in a query or form body, as on any HTTP server, and fails).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from urllib.parse import unquote_plus

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from .errors import TS_AHEAD, TS_OUTSIDE, ApiError, error, illegal_chars, mandatory

DEFAULT_RECV_WINDOW = Decimal(5000)
MAX_RECV_WINDOW = Decimal(60000)
_TIMESTAMP_RE = re.compile(r"^[0-9]{1,20}$")


@dataclass(frozen=True)
class ApiKey:
    """What the exchange knows of one API key: its HMAC secret, or the public key registered for it."""

    key_type: str  # "HMAC", "Ed25519" or "RSA"
    secret: str | None = None
    public_key: ed25519.Ed25519PublicKey | rsa.RSAPublicKey | None = None

    @classmethod
    def hmac(cls, secret: str) -> ApiKey:
        return cls("HMAC", secret=secret)

    @classmethod
    def registered(cls, public_key_pem: str | bytes) -> ApiKey:
        """An Ed25519 or RSA (2048/4096-bit) key from its PEM public key, as Binance's API management takes it."""
        data = public_key_pem.encode() if isinstance(public_key_pem, str) else public_key_pem
        public_key = serialization.load_pem_public_key(data)
        if isinstance(public_key, ed25519.Ed25519PublicKey):
            return cls("Ed25519", public_key=public_key)
        if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size in (2048, 4096):
            return cls("RSA", public_key=public_key)
        raise ValueError("Binance registers Ed25519 and 2048- or 4096-bit RSA public keys only")

    def verifies(self, payload: str, signature: str) -> bool:
        """Whether `signature`, as it came in the request (still percent-encoded), signs `payload`."""
        if self.secret is not None:
            return hmac.compare_digest(sign(self.secret, payload), signature.lower())
        try:
            raw = base64.b64decode(unquote_plus(signature), validate=True)
        except (binascii.Error, ValueError):
            return False
        try:
            if isinstance(self.public_key, ed25519.Ed25519PublicKey):
                self.public_key.verify(raw, payload.encode())
            elif isinstance(self.public_key, rsa.RSAPublicKey):
                self.public_key.verify(raw, payload.encode(), padding.PKCS1v15(), hashes.SHA256())
            else:
                return False
        except InvalidSignature:
            return False
        return True


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


def signature_matches(key: ApiKey | str, raw_query: str, raw_body: str) -> bool:
    """True if the request's signature signs its payload with `key` (an HMAC secret as a plain string)."""
    payload, signature = signed_payload(raw_query, raw_body)
    if not signature:
        return False
    return (ApiKey.hmac(key) if isinstance(key, str) else key).verifies(payload, signature)


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
