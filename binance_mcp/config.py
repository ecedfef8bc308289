"""Start-up configuration: which network, which REST root, which keys, where state lives.

Flags win over environment variables, which win over a `.env` file in the working directory.
Everything is checked here, before any transport opens, so that a bad value stops the server
with one line naming it (exit 2) instead of a traceback later. Mainnet is never a default.
An API key signs with its HMAC secret or, as Binance recommends, with the private key of an
Ed25519 (or RSA) key read from a PEM file (`binance_mcp.keyfile`); either is checked here too.

python-dotenv is read directly rather than through pydantic-settings: six variables do not need
it, and its import costs more than the whole budget the cold-start benchmark leaves us.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlsplit

from binance_mcp.keyfile import (
    ENV_PRIVATE_KEY_FILE,
    ENV_PRIVATE_KEY_PASSPHRASE,
    KeyFileError,
    KeyType,
    PassphrasePrompt,
    PrivateKey,
    load_private_key,
)

ENV_API_KEY = "BINANCE_API_KEY"
ENV_API_SECRET = "BINANCE_API_SECRET"
ENV_NETWORK = "BINANCE_NETWORK"
ENV_BASE_URL = "BINANCE_BASE_URL"
ENV_POLICY = "BINANCE_MCP_POLICY"
ENV_STATE_DIR = "BINANCE_MCP_STATE_DIR"
ENV_CONNECT_TIMEOUT = "BINANCE_MCP_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "BINANCE_MCP_READ_TIMEOUT"
ENV_MARKET_DATA_MAX_AGE = "BINANCE_MCP_MARKET_DATA_MAX_AGE"
MARKET_DATA_MAX_AGE = 0.5
"""Seconds one market-data answer serves every caller asking the same (`--market-data-max-age`)."""
MARKET_DATA_MAX_AGE_CEILING = 60.0
ENV_STATE_URL = "BINANCE_MCP_STATE_URL"
ENV_RATE_LIMIT_URL = "BINANCE_MCP_RATE_LIMIT_URL"

CHOOSE_NETWORK_HINT = "no Binance network chosen: pass --testnet, --demo or --mainnet (or set BINANCE_NETWORK=testnet|demo|mainnet)"


class Network(StrEnum):
    TESTNET = "testnet"
    DEMO = "demo"
    MAINNET = "mainnet"

    @property
    def default_base_url(self) -> str:
        """The REST root, without `/api`: requests go to `{root}/api/v3/...` and `{root}/sapi/v1/...`."""
        return _DEFAULT_ROOTS[self]


_DEFAULT_ROOTS = {
    Network.TESTNET: "https://testnet.binance.vision",
    Network.DEMO: "https://demo-api.binance.com",
    Network.MAINNET: "https://api.binance.com",
}


class ConfigError(ValueError):
    """A start-up setting is wrong; the message is one line naming the setting and the value."""


@dataclass(frozen=True)
class Credentials:
    """The API key and what signs for it: the HMAC secret, or the private key of an Ed25519 or RSA key.

    `repr` never shows them, so they cannot leak through a log line.
    """

    api_key: str = field(repr=False)
    api_secret: str | None = field(default=None, repr=False)
    private_key: PrivateKey | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return f"Credentials(api_key='***', key_type={self.key_type.value})"

    @property
    def key_type(self) -> KeyType:
        return self.private_key.key_type if self.private_key is not None else KeyType.HMAC

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every text that must never be shown: the key, the secret, the private key and its passphrase."""
        found = [self.api_key, self.api_secret or ""]
        if self.private_key is not None:
            found.extend(self.private_key.secrets)
        return tuple(text for text in found if text)


@dataclass(frozen=True)
class ServerConfig:
    network: Network
    base_url: str
    credentials: Credentials | None = field(repr=False)
    policy_path: Path | None = None
    state_dir: Path | None = None
    watch_policy: bool = False
    dry_run: bool = False
    allow_withdrawal_keys: bool = False
    log_level: str = "WARNING"
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    market_data_max_age: float = MARKET_DATA_MAX_AGE
    """Seconds a price, ticker, book or candles answer is shared with later callers (0: never)."""
    lock_wait: float = 10.0
    """Seconds a call that changes the account waits for another holder of its lock before it is
    refused as `account_busy` (`--lock-wait`)."""
    lock_lease: float = 30.0
    """Seconds the account lock is held without a renewal before another process may take it
    (`--lock-lease`): how long a stalled holder can block the account."""
    state_url: str | None = field(default=None, repr=False)
    """`postgresql://…`: shared state in PostgreSQL instead of SQLite in the state dir."""
    rate_limit_url: str | None = field(default=None, repr=False)
    """`redis://…`: rate-limit counters every replica shares."""

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.credentials.secrets if self.credentials else ()


def read_environment(cwd: Path | None = None) -> dict[str, str]:
    """The process environment over the `.env` file of the working directory (the environment wins)."""
    env_file = (cwd or Path.cwd()) / ".env"
    merged: dict[str, str] = {}
    if env_file.is_file():
        from dotenv import dotenv_values

        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(os.environ)
    return merged


def parse_network(value: str, source: str) -> Network:
    try:
        return Network(value.strip().lower())
    except ValueError:
        raise ConfigError(f"{source}: unknown network {value!r}; use testnet, demo or mainnet") from None


API_SUFFIXES = ("/api/v3", "/api")
"""What a REST root given with the API path ends in; requests add `/api/v3/...` themselves."""


def normalise_base_url(value: str, source: str) -> str:
    """The REST root in one spelling, so that two spellings of one place compare equal.

    Scheme and host lower-cased, the host's trailing dot dropped, an IPv4 address in any form
    `inet_aton` takes (`127.1`, `0x7f.0.0.1`) and an IPv6 address in their usual form, the
    default port (80, 443) dropped, no trailing slash. A root given with the API path
    (`.../api` or `.../api/v3/`) would double it (`/api/v3/api/v3/...`): that part is removed,
    with a note on stderr. `ConfigError` for anything that is not an http(s) URL with a host.
    """
    text = value.strip()
    parts = urlsplit(text)
    if "@" in parts.netloc:  # never echo a password typed into the URL
        raise ConfigError(
            f"{source}: the REST root must not carry a user name or password (user:password@); "
            "give the bare root, e.g. https://host:port"
        )
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{source}: {value!r} is not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{source}: {value!r} is not an http(s) URL, e.g. http://127.0.0.1:9000")
    if parts.query or parts.fragment:
        raise ConfigError(f"{source}: {value!r} must not carry a query or fragment")
    host = canonical_host(parts.hostname)
    if port is not None and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    path = parts.path.rstrip("/")
    for suffix in API_SUFFIXES:
        if path.lower().endswith(suffix):
            path = path[: -len(suffix)].rstrip("/")
            root = f"{scheme}://{host}{path}"
            print(
                f"binance-mcp: note: {source} {value!r} ends in {suffix}, which the server adds itself; "
                f"using the REST root {root}",
                file=sys.stderr,
            )
            break
    return f"{scheme}://{host}{path}"


DEFAULT_PORTS = {"http": 80, "https": 443}


def canonical_host(hostname: str) -> str:
    """`hostname` (already lower-cased by urlsplit) without trailing dots; an IP address in its usual form."""
    import ipaddress
    import socket

    host = hostname.rstrip(".")
    if ":" in host:  # IPv6: urlsplit gives it without brackets
        try:
            return f"[{ipaddress.IPv6Address(host.split('%')[0]).compressed}]"
        except ValueError:
            return f"[{host}]"
    if host and all(c in "0123456789abcdefx." for c in host) and host[0].isdigit():
        try:
            return socket.inet_ntoa(socket.inet_aton(host))  # what the resolver makes of 127.1 or 0x7f.1
        except OSError:
            pass
    return host


def is_real_exchange(base_url: str) -> bool:
    """Whether a normalised REST root is on Binance's real exchange (`*.binance.com`, not the demo)."""
    host = (urlsplit(base_url).hostname or "").rstrip(".")
    on_binance = host == "binance.com" or host.endswith(".binance.com")
    return on_binance and not host.startswith("demo-")


STATE_URL_SCHEMES = ("postgresql", "postgres")
RATE_LIMIT_URL_SCHEMES = ("redis", "rediss", "redis+unix")


def check_service_url(value: str, source: str, schemes: tuple[str, ...], example: str) -> str:
    """A `--state-url` / `--rate-limit-url` value: one of `schemes`, with a host (or socket path)."""
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in schemes:
        raise ConfigError(f"{source}: {_shown(url)!r} is not a {schemes[0]}:// URL, e.g. {example}")
    if not (parts.netloc or parts.path):
        raise ConfigError(f"{source}: {_shown(url)!r} names no server, e.g. {example}")
    return url


def _shown(url: str) -> str:
    """A URL as an error may show it: without its password (`url_secrets.shown_url`)."""
    from binance_mcp.url_secrets import shown_url

    return shown_url(url)


def parse_seconds(value: str | float | None, source: str, default: float) -> float:
    if value is None or (isinstance(value, str) and not value.strip()):
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{source}: {value!r} is not a number of seconds") from None
    if not 0 < seconds <= 300:
        raise ConfigError(f"{source}: must be a number of seconds above 0 and at most 300 (got {value})")
    return seconds


def parse_max_age(value: str | float | None, source: str) -> float:
    """`--market-data-max-age`: seconds from 0 (every call asks Binance) to 60."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return MARKET_DATA_MAX_AGE
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(f"{source}: {value!r} is not a number of seconds") from None
    if not 0 <= seconds <= MARKET_DATA_MAX_AGE_CEILING:
        raise ConfigError(
            f"{source}: must be a number of seconds from 0 (every call asks Binance) to "
            f"{MARKET_DATA_MAX_AGE_CEILING:g} (got {value})"
        )
    return seconds


def load_credentials(env: Mapping[str, str], ask: PassphrasePrompt | None = None) -> Credentials | None:
    """The API key with its HMAC secret (`BINANCE_API_SECRET`) or its private key file
    (`BINANCE_PRIVATE_KEY_FILE`, decrypted with `BINANCE_PRIVATE_KEY_PASSPHRASE` or what `ask`
    returns); None when no key is set at all. `ConfigError` names what is missing or wrong."""
    key = env.get(ENV_API_KEY, "").strip()
    secret = env.get(ENV_API_SECRET, "").strip()
    key_file = env.get(ENV_PRIVATE_KEY_FILE, "").strip()
    passphrase = env.get(ENV_PRIVATE_KEY_PASSPHRASE) or None
    signer = f"{ENV_API_SECRET} (an HMAC key) or {ENV_PRIVATE_KEY_FILE} (an Ed25519 or RSA key)"
    if not key and not secret and not key_file:
        if passphrase:
            raise ConfigError(f"{ENV_PRIVATE_KEY_PASSPHRASE} is set but {ENV_PRIVATE_KEY_FILE} is not")
        return None
    if not key:
        raise ConfigError(f"{ENV_API_KEY} is not set: set it beside {signer}, or set none of them")
    for name, value in ((ENV_API_KEY, key), (ENV_API_SECRET, secret)):
        if not (value.isascii() and value.isprintable()):  # it would fail deep in the request
            raise ConfigError(
                f"{name} holds characters an API key never has (Binance writes them as letters and "
                "digits): copy it again from Binance's API management"
            )
    if secret and key_file:
        raise ConfigError(f"both {ENV_API_SECRET} and {ENV_PRIVATE_KEY_FILE} are set: set one, {signer}")
    if key_file:
        try:
            private_key = load_private_key(Path(key_file).expanduser(), passphrase, ask=ask)
        except KeyFileError as exc:
            raise ConfigError(str(exc)) from None
        return Credentials(api_key=key, private_key=private_key)
    if not secret:
        raise ConfigError(f"{ENV_API_SECRET} is not set, nor {ENV_PRIVATE_KEY_FILE}: set {signer}")
    return Credentials(api_key=key, api_secret=secret)


def build_config(
    *,
    network_flag: str | None,
    base_url_flag: str | None = None,
    policy_flag: str | None = None,
    state_dir_flag: str | None = None,
    watch_policy: bool = False,
    dry_run: bool = False,
    allow_withdrawal_keys: bool = False,
    log_level: str = "WARNING",
    connect_timeout_flag: float | None = None,
    read_timeout_flag: float | None = None,
    market_data_max_age_flag: float | None = None,
    lock_wait_flag: float | None = None,
    lock_lease_flag: float | None = None,
    state_url_flag: str | None = None,
    rate_limit_url_flag: str | None = None,
    env: Mapping[str, str] | None = None,
    ask_passphrase: PassphrasePrompt | None = None,
) -> ServerConfig:
    """Merge flags and environment into a checked `ServerConfig`, or raise `ConfigError`.

    `ask_passphrase` is asked for the private key's passphrase when the key file is encrypted
    and none is set (the CLI passes `keyfile.ask_on_terminal`)."""
    env = read_environment() if env is None else env
    if network_flag:
        network = parse_network(network_flag, "--" + network_flag)
    elif env.get(ENV_NETWORK, "").strip():
        network = parse_network(env[ENV_NETWORK], ENV_NETWORK)
    else:
        raise ConfigError(CHOOSE_NETWORK_HINT)

    if base_url_flag:
        base_url = normalise_base_url(base_url_flag, "--base-url")
    elif env.get(ENV_BASE_URL, "").strip():
        base_url = normalise_base_url(env[ENV_BASE_URL], ENV_BASE_URL)
    else:
        base_url = network.default_base_url

    if network is not Network.MAINNET and is_real_exchange(base_url):
        raise ConfigError(
            f"{network.value} was chosen but the REST root {base_url} is the real exchange: use --mainnet "
            f"for real money, or a {network.value} URL"
        )

    policy_value = policy_flag or env.get(ENV_POLICY, "").strip() or None
    policy_path = Path(policy_value).expanduser() if policy_value else None
    if policy_value and policy_path is not None and not policy_path.is_file():
        from binance_mcp.bundled_policies import bundled_policy, where_they_are

        bundled = bundled_policy(policy_value)
        if bundled is None:
            import difflib

            from binance_mcp.bundled_policies import PURPOSES

            source = "--policy" if policy_flag else ENV_POLICY
            typed = policy_value.removesuffix(".json").replace("_", "-").lower()
            close = difflib.get_close_matches(typed, list(PURPOSES), n=1, cutoff=0.6)
            meant = f"did you mean {source} {close[0]}? " if close else ""
            raise ConfigError(f"{source}: no policy file at {policy_path}; {meant}{where_they_are()}")
        policy_path = bundled

    state_value = state_dir_flag or env.get(ENV_STATE_DIR, "").strip() or None
    state_url, rate_limit_url = service_urls(state_url_flag, rate_limit_url_flag, env)
    return ServerConfig(
        network=network,
        base_url=base_url,
        credentials=load_credentials(env, ask_passphrase),
        policy_path=policy_path,
        state_dir=Path(state_value).expanduser() if state_value else None,
        watch_policy=watch_policy,
        dry_run=dry_run,
        allow_withdrawal_keys=allow_withdrawal_keys,
        log_level=log_level,
        connect_timeout=(
            parse_seconds(connect_timeout_flag, "--connect-timeout", 5.0)
            if connect_timeout_flag is not None
            else parse_seconds(env.get(ENV_CONNECT_TIMEOUT), ENV_CONNECT_TIMEOUT, 5.0)
        ),
        read_timeout=(
            parse_seconds(read_timeout_flag, "--read-timeout", 10.0)
            if read_timeout_flag is not None
            else parse_seconds(env.get(ENV_READ_TIMEOUT), ENV_READ_TIMEOUT, 10.0)
        ),
        market_data_max_age=(
            parse_max_age(market_data_max_age_flag, "--market-data-max-age")
            if market_data_max_age_flag is not None
            else parse_max_age(env.get(ENV_MARKET_DATA_MAX_AGE), ENV_MARKET_DATA_MAX_AGE)
        ),
        lock_wait=parse_seconds(lock_wait_flag, "--lock-wait", 10.0),
        lock_lease=lock_lease(lock_lease_flag),
        state_url=state_url,
        rate_limit_url=rate_limit_url,
    )


def lock_lease(flag: float | None) -> float:
    """`--lock-lease`: at least 2 s (the lease is renewed every third of it, and a signed request
    sent under it must be able to arrive within it: its `recvWindow` is the lease less 1.5 s,
    `exchange.client.LEASE_MARGIN_MS`), at most 300 (default 30)."""
    seconds = parse_seconds(flag, "--lock-lease", 30.0)
    if seconds < 2:
        raise ConfigError(f"--lock-lease: must be at least 2 seconds (got {flag})")
    return seconds


def service_urls(
    state_url_flag: str | None, rate_limit_url_flag: str | None, env: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """`--state-url` (else `BINANCE_MCP_STATE_URL`) and `--rate-limit-url` (else
    `BINANCE_MCP_RATE_LIMIT_URL`), checked; None when not given. Every CLI subcommand reads
    the state URL the same way."""
    state_url = rate_limit_url = None
    if state_url_flag:
        state_url = check_service_url(
            state_url_flag, "--state-url", STATE_URL_SCHEMES, "postgresql://host/db"
        )
    elif env.get(ENV_STATE_URL, "").strip():
        state_url = check_service_url(
            env[ENV_STATE_URL], ENV_STATE_URL, STATE_URL_SCHEMES, "postgresql://host/db"
        )
    if rate_limit_url_flag:
        rate_limit_url = check_service_url(
            rate_limit_url_flag, "--rate-limit-url", RATE_LIMIT_URL_SCHEMES, "redis://127.0.0.1:6379/0"
        )
    elif env.get(ENV_RATE_LIMIT_URL, "").strip():
        rate_limit_url = check_service_url(
            env[ENV_RATE_LIMIT_URL], ENV_RATE_LIMIT_URL, RATE_LIMIT_URL_SCHEMES, "redis://127.0.0.1:6379/0"
        )
    return state_url, rate_limit_url
