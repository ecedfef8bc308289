"""Which `Host` and `Origin` headers this server answers: the MCP spec's DNS-rebinding rule.

A web page the user visits may send requests to a server on their machine, directly or through a
DNS name that it rebinds to 127.0.0.1; the browser then sends the page's own `Origin` and `Host`.
So `/mcp` answers only a `Host` that names this server and an `Origin` that is absent (not a
browser), this server's own, or one given with `--allow-origin`; the SDK's
`TransportSecuritySettings` does the checking (421 for a wrong Host, 403 for a wrong Origin).

The server's own names: the loopback names when it listens on loopback; the address it was given
otherwise; for a wildcard address (0.0.0.0, ::) also this machine's host names and addresses. A
name a reverse proxy or a container network uses is added by giving its origin with
`--allow-origin` (its host then counts as this server's too).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from mcp.server.transport_security import TransportSecurityMiddleware, TransportSecuritySettings
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARDS = ("0.0.0.0", "::", "")


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def is_loopback(host: str) -> bool:
    """Whether `host` (as given to `--host`) is a loopback address; a name other than localhost is not."""
    host = _bare(host.strip())
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _netloc(host: str, port: int) -> str:
    host = _bare(host)
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}"


def normalise_origin(value: str) -> str:
    """`scheme://host[:port]` with no path, lower-cased; ValueError saying what is wrong."""
    text = value.strip().rstrip("/")
    parts = urlsplit(text)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path
        or parts.query
        or parts.fragment
    ):
        raise ValueError(
            f"--allow-origin {value!r}: an origin is scheme://host[:port], e.g. https://app.example"
        )
    return f"{parts.scheme}://{parts.netloc}".lower()


def own_hosts(bind_host: str, port: int) -> list[str]:
    """The `Host` values (with port) that name this server."""
    host = _bare(bind_host.strip())
    names: list[str] = []
    if is_loopback(host) or host in WILDCARDS:
        names += LOOPBACK_NAMES
    if host not in WILDCARDS and not is_loopback(host):
        names.append(host)
    if host in WILDCARDS:
        names += _this_machine()
    return list(dict.fromkeys(_netloc(name, port) for name in names))


def _this_machine() -> Iterable[str]:
    names = {socket.gethostname(), socket.getfqdn()}
    found = set(names)
    for name in names:
        with contextlib.suppress(OSError):
            found.update(str(info[4][0]) for info in socket.getaddrinfo(name, None))
    return sorted(n for n in found if n)


def transport_security(bind_host: str, port: int, allow_origins: Iterable[str]) -> TransportSecuritySettings:
    hosts = own_hosts(bind_host, port)
    extra = [normalise_origin(origin) for origin in allow_origins]
    extra_hosts = [urlsplit(origin).netloc for origin in extra]
    origins = [f"http://{host}" for host in hosts] + extra
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=list(dict.fromkeys(hosts + extra_hosts)),
        allowed_origins=list(dict.fromkeys(origins)),
    )


class OriginCheck:
    """ASGI middleware: the SDK's Host/Origin check, before authentication, so nothing else runs."""

    def __init__(self, app: ASGIApp, settings: TransportSecuritySettings) -> None:
        self.app = app
        self.check = TransportSecurityMiddleware(settings)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = await self.check.validate_request(Request(scope), is_post=False)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)
