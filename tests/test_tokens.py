"""`binance-mcp tokens add | list | revoke` as a user runs them, and the store the server checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from binance_mcp.stores.tokens import TOKENS_DB_NAME, TokenExists, TokenStore, UnknownToken
from tests.test_cli import run_cli


def add(state: Path, name: str) -> str:
    done = run_cli("tokens", "add", name, "--state-dir", str(state))
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def test_add_prints_the_token_once_alone_on_the_last_line_and_keeps_only_its_hash(tmp_path: Path) -> None:
    state = tmp_path / "state"
    done = run_cli("tokens", "add", "research-bot", "--state-dir", str(state))
    assert done.returncode == 0 and done.stderr == ""
    token = done.stdout.splitlines()[-1]
    assert token == token.strip() and token.startswith("bmcp_") and len(token) >= 40
    assert "research-bot" in done.stdout.splitlines()[0]
    stored = b"".join(path.read_bytes() for path in state.iterdir())
    assert token.encode() not in stored and token[5:].encode() not in stored
    assert oct((state / TOKENS_DB_NAME).stat().st_mode & 0o777) == "0o600"
    with TokenStore.in_state_dir(state) as store:
        assert store.agent_for(token) == "research-bot"
        assert store.agent_for(token[:-1]) is None
    assert add(state, "other") != token


def test_list_shows_names_and_times_never_tokens(tmp_path: Path) -> None:
    state = tmp_path / "state"
    tokens = [add(state, "alice"), add(state, "bob")]
    table = run_cli("tokens", "list", "--state-dir", str(state))
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "KIND", "CREATED"]
    assert [line.split()[0] for line in lines[1:]] == ["alice", "bob"]
    as_json = run_cli("tokens", "list", "--json", env={"BINANCE_MCP_STATE_DIR": str(state)})
    rows = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [set(row) for row in rows] == [{"name", "kind", "created"}] * 2
    assert [row["kind"] for row in rows] == ["agent", "agent"]
    assert [row["name"] for row in rows] == ["alice", "bob"]
    for token in tokens:
        assert token not in table.stdout and token not in as_json.stdout


def test_adding_an_existing_name_or_revoking_an_unknown_one_is_exit_1(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = add(state, "alice")
    again = run_cli("tokens", "add", "alice", "--state-dir", str(state))
    assert again.returncode == 1 and "already has a token" in again.stderr and again.stdout == ""
    unknown = run_cli("tokens", "revoke", "carol", "--state-dir", str(state))
    assert unknown.returncode == 1 and "carol" in unknown.stderr
    nowhere = run_cli("tokens", "revoke", "alice", "--state-dir", str(tmp_path / "none"))
    assert nowhere.returncode == 1 and not (tmp_path / "none").exists()
    with TokenStore.in_state_dir(state) as store:
        assert store.agent_for(first) == "alice"  # the failed add changed nothing


def test_revoke_ends_a_token_for_a_store_that_is_already_open(tmp_path: Path) -> None:
    state = tmp_path / "state"
    token = add(state, "alice")
    with TokenStore.in_state_dir(state) as server_side:  # as a running server holds it
        assert server_side.agent_for(token) == "alice"
        done = run_cli("tokens", "revoke", "alice", "--state-dir", str(state))
        assert done.returncode == 0 and "alice" in done.stdout
        assert server_side.agent_for(token) is None
        assert server_side.count() == 0
    replaced = add(state, "alice")
    assert replaced != token


@pytest.mark.parametrize("name", ["", "bad name", "a" * 65, "tab\tname", "local", "ünïcode"])
def test_a_bad_name_is_exit_2_and_nothing_is_made(tmp_path: Path, name: str) -> None:
    done = run_cli("tokens", "add", name, "--state-dir", str(tmp_path / "state"))
    assert done.returncode == 2 and done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1


def test_the_state_dir_may_come_before_the_subcommand_or_from_the_environment(tmp_path: Path) -> None:
    before = run_cli("--state-dir", str(tmp_path / "a"), "tokens", "add", "alice")
    assert before.returncode == 0 and (tmp_path / "a" / TOKENS_DB_NAME).is_file()
    from_env = run_cli("tokens", "add", "bob", env={"BINANCE_MCP_STATE_DIR": str(tmp_path / "b")})
    assert from_env.returncode == 0 and (tmp_path / "b" / TOKENS_DB_NAME).is_file()
    listed = run_cli("tokens", "list", "--state-dir", str(tmp_path / "none"))
    assert listed.returncode == 0 and not (tmp_path / "none").exists()


def test_the_store_in_process(tmp_path: Path) -> None:
    with TokenStore(tmp_path / TOKENS_DB_NAME) as store:
        token = store.add("alice")
        with pytest.raises(TokenExists):
            store.add("alice")
        with pytest.raises(UnknownToken):
            store.revoke("bob")
        assert [info.name for info in store.list()] == ["alice"]
        assert store.agent_for(token) == "alice" and store.agent_for("") is None
        store.revoke("alice")
        assert store.agent_for(token) is None and store.list() == []
