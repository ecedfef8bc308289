"""Shared fixtures: a local Binance-compatible exchange, and the server built against it.

Tests talk to the server the way a client does: through the SDK's `mcp.Client`, in-process.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from mcp import Client

from binance_mcp.config import build_config
from binance_mcp.server import App, build_app
from tests.fake_binance import FakeBinance
from tests.keys import API_KEY, API_SECRET, KEY_TYPES, key_env

__all__ = ["API_KEY", "API_SECRET", "every_key_type", "make_app"]

# CI explores the same examples every run (a submission must not fail on a new random draw);
# on a developer's machine hypothesis draws new ones each time and keeps what fails.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "default")

ALLOW_ALL = {"version": "1", "default": "allow"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def key_type(request: pytest.FixtureRequest) -> str:
    """The type of API key the server signs with: HMAC, unless a test asks for each (`every_key_type`)."""
    return str(getattr(request, "param", "HMAC"))


every_key_type = pytest.mark.parametrize("key_type", KEY_TYPES, indirect=True)
"""Run a test once with each type of API key: HMAC, Ed25519 and RSA (the `app`, `client` and `build`
fixtures sign with it; the test exchange verifies each signature as Binance does)."""


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as exchange:
        yield exchange


def write_policy(directory: Path, policy: dict[str, Any]) -> Path:
    path = directory / "policy.json"
    path.write_text(json.dumps(policy))
    return path


def make_app(
    tmp_path: Path,
    base_url: str,
    *,
    policy: dict[str, Any] | None = None,
    credentials: bool = True,
    network: str = "testnet",
    dry_run: bool = False,
    keys: dict[str, str] | None = None,
    market_data_max_age: float = 0.0,
    watch: bool = False,
    rate_url: str | None = None,
) -> App:
    """A server on `base_url`; `keys` is the environment that sets its API key (HMAC by default).

    Market data is read afresh on every call (`--market-data-max-age 0`) unless a test says
    otherwise: most tests move the test exchange's price between two calls and expect the second
    to see it; tests/test_shared_reads.py is about sharing it."""
    if keys is None:
        keys = {"BINANCE_API_KEY": API_KEY, "BINANCE_API_SECRET": API_SECRET}
    env = keys if credentials else {}
    if rate_url is not None:  # the agents' rate-limit counters in this Redis
        env = {**env, "BINANCE_MCP_RATE_LIMIT_URL": rate_url}
    config = build_config(
        network_flag=network,
        base_url_flag=base_url,
        policy_flag=str(write_policy(tmp_path, policy or ALLOW_ALL)),
        state_dir_flag=str(tmp_path / "state"),
        dry_run=dry_run,
        market_data_max_age_flag=market_data_max_age,
        env=env,
        watch_policy=watch,
    )
    return build_app(config)


@pytest.fixture
def app(tmp_path: Path, fake: FakeBinance, key_type: str) -> Iterator[App]:
    built = make_app(tmp_path, fake.base_url, keys=key_env(key_type, tmp_path, fake))
    yield built
    built.close()


@pytest.fixture
def build(tmp_path: Path, fake: FakeBinance, key_type: str) -> Iterator[Any]:
    """`build(policy, **make_app options)`: a server on the fake exchange, closed after the test."""
    apps: list[App] = []

    def factory(policy: dict[str, Any], **kwargs: Any) -> App:
        kwargs.setdefault("keys", key_env(key_type, tmp_path, fake))
        app = make_app(tmp_path, fake.base_url, policy=policy, **kwargs)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.close()


@pytest.fixture
async def client(app: App) -> AsyncIterator[Client]:
    async with Client(app.server) as connected:
        yield connected


# -- cassettes (vcrpy through pytest-recording) ------------------------------------------------

VOLATILE_PARAMETERS = frozenset({"signature", "timestamp", "recvWindow"})


def binance_parameters(request: Any) -> dict[str, list[str]]:
    """A request's parameters from query and body, without those that change on every call."""
    from urllib.parse import parse_qs, urlsplit

    body = request.body.decode() if isinstance(request.body, bytes) else (request.body or "")
    found = parse_qs(urlsplit(request.uri).query) | parse_qs(body)
    return {key: sorted(values) for key, values in found.items() if key not in VOLATILE_PARAMETERS}


def match_binance_parameters(recorded: Any, replayed: Any) -> None:
    if binance_parameters(recorded) != binance_parameters(replayed):
        raise AssertionError(f"{binance_parameters(recorded)} != {binance_parameters(replayed)}")


def pytest_recording_configure(config: Any, vcr: Any) -> None:
    vcr.register_matcher("binance_parameters", match_binance_parameters)


# -- real PostgreSQL and Redis (tests/services.py), one of each per test session ----------------


@pytest.fixture(scope="session", autouse=True)
def _audit_key_of_the_tests(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The audit key (kept in the user's config dir) in a temporary config dir, for every test
    and every process a test starts: the tests never touch the real user's files."""
    saved = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(tmp_path_factory.mktemp("config"))
    yield
    if saved is None:
        os.environ.pop("XDG_CONFIG_HOME", None)
    else:
        os.environ["XDG_CONFIG_HOME"] = saved


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    from tests.services import postgres_server

    with postgres_server() as server:
        yield server


@pytest.fixture(scope="session")
def redis() -> Iterator[Any]:
    from tests.services import redis_server

    with redis_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: Any) -> str:
    """A fresh database on the session's PostgreSQL server, for one test."""
    return str(postgres.new_database())
