"""Which account state belongs to: the network and a one-way fingerprint of the API key.

Budgets, the client-order-id history, pending orders and approvals are the account's, not the
REST root's: `http://127.0.0.1:P`, `http://localhost:P`, `HTTP://127.0.0.1:P`, `http://0x7f.1:P`
and `http://127.1:P` are one exchange, and keying state by how the root is spelled handed out a
fresh daily budget per spelling. So the key is `AccountKey(network, fingerprint)`, where the
fingerprint is the first 16 hex digits of SHA-256 over `"binance-mcp:" + api_key` — stable across
restarts, replicas and root spellings, and useless to anyone who reads the state (the key itself is
never stored; the secret is never involved). Without keys the account is `anonymous` (nothing that
changes an account can be done then).

`normalise_rest_root` is for wherever a REST root is *compared* (the mainnet check, logs): scheme
and host lower-cased, a default port and a trailing dot dropped, IDN hosts in their ASCII form,
numeric IPv4 spellings (`0x7f.1`, `127.1`, `2130706433`) and IPv6 in their canonical form.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

__all__ = ["ANONYMOUS", "AccountKey", "account_of", "key_fingerprint", "network_of", "normalise_rest_root"]

ANONYMOUS = "anonymous"
FINGERPRINT_HEX = 16
_DEFAULT_PORTS = {"http": 80, "https": 443}
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}")


def key_fingerprint(api_key: str | None) -> str:
    """16 hex digits of SHA-256("binance-mcp:" + key); `anonymous` for no key. One-way: the
    fingerprint names the account in state and logs without revealing the key."""
    if not api_key:
        return ANONYMOUS
    digest = hashlib.sha256(("binance-mcp:" + api_key).encode("utf-8", "surrogateescape")).hexdigest()
    return digest[:FINGERPRINT_HEX]


@dataclass(frozen=True)
class AccountKey:
    """The account a store's rows belong to; `str()` gives the stored form `network:fingerprint`."""

    network: str
    fingerprint: str

    @classmethod
    def of(cls, network: str, api_key: str | None) -> AccountKey:
        """The key of the account `api_key` opens on `network` (a `Network` or its value)."""
        return cls(str(getattr(network, "value", network)), key_fingerprint(api_key))

    @classmethod
    def parse(cls, text: str) -> AccountKey:
        network, _, fingerprint = text.partition(":")
        if not network or not fingerprint:
            raise ValueError(f"{text!r} is not an account key (network:fingerprint)")
        return cls(network, fingerprint)

    def __str__(self) -> str:
        return f"{self.network}:{self.fingerprint}"


def account_of(config: Any) -> str:
    """The stored account key of a `ServerConfig`: its network and its API key's fingerprint."""
    credentials = getattr(config, "credentials", None)
    return str(AccountKey.of(config.network, credentials.api_key if credentials is not None else None))


def network_of(account: str) -> str:
    """The network part of a stored account key (`testnet:…` → `testnet`)."""
    return account.partition(":")[0]


def normalise_rest_root(url: str) -> str:
    """One spelling per REST root: `HTTPS://API.Binance.com.:443/` → `https://api.binance.com`.

    Lower-cases scheme and host, drops the scheme's default port, a trailing dot, userinfo and
    trailing slashes, encodes an IDN host as ASCII (punycode), writes a numeric IPv4 host in
    dotted-quad form (`127.1`, `0x7f.1`, `2130706433` → `127.0.0.1`) and an IPv6 host compressed.
    The path is kept (without its trailing slash). Raises `ValueError` for what is not an
    http(s) URL with a host.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    host = _canonical_host(parts.hostname)
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{url!r} has an invalid port") from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), parts.query, ""))


def _canonical_host(hostname: str) -> str:
    host = hostname.strip().rstrip(".").lower()
    try:
        return str(ipaddress.ip_address(host))  # IPv6 compressed; dotted-quad IPv4 as it is
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:  # what the C resolver (and so python-binance's requests) makes of 127.1 or 0x7f.1
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host
