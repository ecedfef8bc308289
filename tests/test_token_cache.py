"""The HTTP server keeps the tokens it checks in memory, and still sees every change at once.

Each request's bearer token is checked against a copy of the token rows that is read again only
when the store says the tokens changed (SQLite: `PRAGMA data_version`; PostgreSQL: a counter a
trigger bumps in the same transaction as the change). These tests run a real `binance-mcp
--transport http` on each backend and change the tokens from outside it, as an operator does: the
very next request must see the change. A copy that missed a change would let a revoked token call
for as long as the copy lived, so each change is followed by one request, no wait, no retry.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from tests.conftest import API_KEY, API_SECRET
from tests.fake_binance import FakeBinance
from tests.test_cli import run_cli
from tests.test_http import INITIALIZE, MCP_HEADERS
from tests.test_http_process import GET_PRICE, serving


@pytest.fixture(scope="module")
def exchange() -> Iterator[FakeBinance]:
    with FakeBinance(api_key=API_KEY, api_secret=API_SECRET) as fake:
        yield fake


@pytest.fixture(params=["sqlite", "postgresql"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, ...]:
    """The flags naming a fresh state: a state dir, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return ("--state-dir", str(tmp_path / "state"))
    postgres = request.getfixturevalue("postgres")
    return ("--state-url", postgres.new_database())


def tokens(state: tuple[str, ...], *words: str) -> str:
    done = run_cli("tokens", *words, *state)
    assert done.returncode == 0, done.stderr
    return done.stdout


def token_of(added: str) -> str:
    return next(word for word in added.split() if word.startswith("bmcp_"))


def delete_row_behind_the_servers_back(state: tuple[str, ...], name: str) -> None:
    """As an older binance-mcp, or a person at psql or sqlite3, would: a plain DELETE of the row."""
    kind, where = state
    if kind == "--state-dir":
        with sqlite3.connect(Path(where) / "tokens.sqlite3") as db:
            assert db.execute("DELETE FROM tokens WHERE name = ?", (name,)).rowcount == 1
        return
    import psycopg

    with psycopg.connect(where, autocommit=True) as db:
        assert db.execute("DELETE FROM tokens WHERE name = %s", (name,)).rowcount == 1


async def call(url: str, token: str) -> int:
    """One sessionless tools/call get_price with `token`: its HTTP status."""
    headers = MCP_HEADERS | {"authorization": f"Bearer {token}", "mcp-protocol-version": "2025-06-18"}
    async with httpx2.AsyncClient(headers=headers) as http:
        opened = await http.post(url, json=INITIALIZE)
        if opened.status_code != 200:
            return opened.status_code
        session = opened.headers.get("mcp-session-id")
        answer = await http.post(url, json=GET_PRICE, headers={"mcp-session-id": session} if session else {})
        if answer.status_code == 200:
            assert '"isError":true' not in answer.text.replace(" ", ""), answer.text
        return answer.status_code


def statuses(url: str, *presented: str) -> list[int]:
    async def each() -> list[int]:
        return [await call(url, token) for token in presented]

    return anyio.run(each)


def test_a_token_change_is_seen_by_the_very_next_request(
    exchange: FakeBinance, state: tuple[str, ...], tmp_path: Path
) -> None:
    alice = token_of(tokens(state, "add", "alice"))
    bob = token_of(tokens(state, "add", "bob"))
    carol = token_of(tokens(state, "add", "carol"))
    with serving(*state, "--base-url", exchange.base_url, cwd=tmp_path) as server:
        warm = statuses(server.url, alice, alice, bob, carol)  # the copy is read and then reused
        tokens(state, "revoke", "alice")
        revoked = statuses(server.url, alice)
        delete_row_behind_the_servers_back(state, "carol")
        deleted = statuses(server.url, carol)
        dora = token_of(tokens(state, "add", "dora"))
        added = statuses(server.url, dora)
        bystander = statuses(server.url, bob)
    print(
        f"{state[0]}: before {warm}; alice revoked at the CLI: {revoked}; carol's row deleted: {deleted}; "
        f"dora added: {added}; bob meanwhile: {bystander}"
    )
    assert warm == [200, 200, 200, 200]
    assert revoked == [401]
    assert deleted == [401]
    assert added == [200]
    assert bystander == [200]


def test_the_counter_postgresql_keeps_moves_with_every_change(postgres: Any) -> None:
    """What the server's copy relies on: every kind of change moves the counter, in its transaction."""
    import psycopg

    from binance_mcp.stores import PostgresState

    url = postgres.new_database()
    with PostgresState(url) as state, state.tokens() as store:
        store.add("alice")

        def counter() -> int:
            with psycopg.connect(url, autocommit=True) as db:
                row = db.execute("SELECT n FROM tokens_version").fetchone()
                assert row is not None
                return int(row[0])

        seen = [counter()]
        with psycopg.connect(url, autocommit=True) as db:
            db.execute("UPDATE tokens SET kind = 'operator' WHERE name = 'alice'")
            seen.append(counter())
            with db.transaction():
                db.execute("DELETE FROM tokens")
                db.execute("INSERT INTO tokens (name, token_sha256, created) VALUES ('x', 'y', 'z')")
            seen.append(counter())
            db.execute("TRUNCATE tokens")
            seen.append(counter())
        store.add("bob")
        seen.append(counter())
    assert seen == sorted(set(seen)), f"the counter did not move with each change: {seen}"
