"""The state dir, the SQLite audit log and the `binance-mcp audit` command."""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from binance_mcp.account import AccountKey
from binance_mcp.commands import audit as audit_command
from binance_mcp.commands.audit import format_table, main, parse_since
from binance_mcp.state_dir import StateError, resolve_state_dir
from binance_mcp.stores import sqlite
from binance_mcp.stores.audit import (
    DECISIONS,
    SCHEMA_VERSION,
    AuditDecision,
    AuditLog,
    AuditRecord,
    Outcome,
    audit_path,
    redact,
)
from binance_mcp.stores.sqlite import connect
from binance_mcp.timestamps import utc_text

TESTNET = "https://testnet.binance.vision"
MAINNET = "https://api.binance.com"
CLI = "import sys; from binance_mcp.commands.audit import main; sys.exit(main(sys.argv[1:]))"
KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
ACCOUNT = str(AccountKey.of("testnet", KEY))


def record(**overrides: object) -> AuditRecord:
    fields: dict[str, object] = {
        "network": "testnet",
        "base_url": TESTNET,
        "tool": "get_price",
        "arguments": {"symbol": "BTCUSDT"},
        "decision": "allowed",
        "outcome": "ok",
        "client": "claude-code",
        "session": "s1",
        "account": ACCOUNT,
    }
    fields.update(overrides)
    return AuditRecord(**fields)  # type: ignore[arg-type]


def ago(**delta: float) -> str:
    return utc_text(datetime.now(UTC) - timedelta(**delta))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return resolve_state_dir(tmp_path / "state")


@pytest.fixture
def log(state_dir: Path):
    with AuditLog(audit_path(state_dir), secrets=(KEY, SECRET)) as opened:
        yield opened


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", CLI, *argv],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


# --- state_dir.py, stores/sqlite.py ------------------------------------------------------------------------------------


def test_state_dir_precedence_and_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import platformdirs

    monkeypatch.setattr(platformdirs, "user_state_dir", lambda app: str(tmp_path / "platform" / app))
    monkeypatch.delenv("BINANCE_MCP_STATE_DIR", raising=False)
    default = resolve_state_dir(None)
    assert default == tmp_path / "platform" / "binance-mcp"
    assert stat.S_IMODE(default.stat().st_mode) == 0o700

    monkeypatch.setenv("BINANCE_MCP_STATE_DIR", str(tmp_path / "from-env"))
    assert resolve_state_dir(None) == tmp_path / "from-env"
    assert resolve_state_dir("") == tmp_path / "from-env"  # an empty flag counts as not given
    assert resolve_state_dir(tmp_path / "flag") == tmp_path / "flag"  # the flag wins
    assert (tmp_path / "flag").is_dir()

    assert resolve_state_dir(tmp_path / "not-made", create=False) == tmp_path / "not-made"
    assert not (tmp_path / "not-made").exists()

    (tmp_path / "a-file").write_text("")
    with pytest.raises(StateError, match="not a directory"):
        resolve_state_dir(tmp_path / "a-file")


def test_connect_pragmas_and_file_mode(tmp_path: Path) -> None:
    conn = connect(tmp_path / "x.sqlite3")
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
        assert conn.isolation_level is None  # transactions are explicit
    finally:
        conn.close()
    assert stat.S_IMODE((tmp_path / "x.sqlite3").stat().st_mode) == 0o600


def test_schema_version_and_newer_database_refused(state_dir: Path) -> None:
    path = audit_path(state_dir)
    with AuditLog(path) as log:
        log.append(record())
    with AuditLog(path) as log:  # reopening migrates nothing and keeps the data
        assert len(log.query()) == 1
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 8
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateError, match=f"schema version {SCHEMA_VERSION + 1}"):
        AuditLog(path)


def test_write_transaction_rolls_back_and_migrate_steps(tmp_path: Path) -> None:
    conn = connect(tmp_path / "m.sqlite3")
    try:
        steps = ["CREATE TABLE IF NOT EXISTS a (x INTEGER);"]
        assert sqlite.migrate(conn, steps) == 1
        with pytest.raises(RuntimeError), sqlite.write_transaction(conn):
            conn.execute("INSERT INTO a VALUES (1)")
            raise RuntimeError("boom")
        assert conn.execute("SELECT count(*) FROM a").fetchone()[0] == 0 and not conn.in_transaction
        steps.append("ALTER TABLE a ADD COLUMN y TEXT;\nCREATE INDEX IF NOT EXISTS a_y ON a (y);")
        assert sqlite.migrate(conn, steps) == 2 == sqlite.schema_version(conn)
        assert sqlite.migrate(conn, steps) == 2  # once only
        assert [row[1] for row in conn.execute("PRAGMA table_info(a)")] == ["x", "y"]
    finally:
        conn.close()


# --- the log ---------------------------------------------------------------------------------------


def test_append_returns_ids_and_round_trips(log: AuditLog) -> None:
    first = log.append(record(time="2026-11-25T14:30:00.123Z"))
    second = log.append(
        record(
            tool="place_order",
            arguments={"symbol": "BTCUSDT", "quantity": Decimal("0.010"), "nested": {"b": 1, "a": [1, 2]}},
            decision=AuditDecision.APPROVED,
            approved_via="cli",
            outcome=Outcome.OK,
            order_id=12345678901,
            client_order_id="bmcp-1",
            latency_ms=12.5,
            rule="rules.place_order",
            reason="approved by the operator",
        )
    )
    assert (first, second) == (1, 2)
    got = log.query()
    assert [r.id for r in got] == [1, 2]
    assert got[0].time == "2026-11-25T14:30:00.123Z"
    assert got[1].arguments == {"symbol": "BTCUSDT", "quantity": "0.010", "nested": {"a": [1, 2], "b": 1}}
    assert got[1].decision == "approved" and type(got[1].decision) is str
    assert (got[1].approved_via, got[1].order_id, got[1].latency_ms) == ("cli", 12345678901, 12.5)
    raw = sqlite3.connect(log.path).execute("SELECT arguments FROM audit WHERE id = 2").fetchone()[0]
    assert raw == '{"nested":{"a":[1,2],"b":1},"quantity":"0.010","symbol":"BTCUSDT"}'  # canonical


def test_time_format_is_utc_with_milliseconds() -> None:
    assert utc_text(datetime(2026, 11, 25, 15, 30, 0, 123456, tzinfo=UTC)) == "2026-11-25T15:30:00.123Z"
    plus_one = datetime(2026, 11, 25, 17, 30, tzinfo=timezone(timedelta(hours=1)))
    assert utc_text(plus_one) == "2026-11-25T16:30:00.000Z"
    assert utc_text(datetime(2026, 11, 25, 16, 30)) == "2026-11-25T16:30:00.000Z"  # naive: UTC
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record().time)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("decision", "maybe", "unknown audit decision"),
        ("outcome", "fine", "unknown audit outcome"),
        ("approved_via", "telepathy", "unknown audit approved_via"),
        ("time", "2026-11-25 14:30", "not UTC ISO 8601"),
        ("network", "", "network must be"),
    ],
)
def test_invalid_records_are_refused(log: AuditLog, field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        log.append(record(**{field: value}))
    assert log.query() == []


def test_query_filters_and_limit_keeps_newest(log: AuditLog) -> None:
    log.append(record(time=ago(hours=3), tool="get_price", decision="allowed"))
    log.append(record(time=ago(hours=2), tool="place_order", decision="denied", outcome="refused"))
    log.append(record(time=ago(minutes=50), tool="get_price", decision="denied", outcome="refused"))
    log.append(record(time=ago(minutes=10), tool="place_order", decision="allowed"))
    log.append(record(time=ago(minutes=1), tool="get_price", decision="hidden", outcome="refused"))

    assert [r.id for r in log.query()] == [1, 2, 3, 4, 5]
    assert [r.id for r in log.query(tool="get_price")] == [1, 3, 5]
    assert [r.id for r in log.query(decision="denied")] == [2, 3]
    assert [r.id for r in log.query(tool="get_price", decision="denied")] == [3]
    assert [r.id for r in log.query(since=datetime.now(UTC) - timedelta(hours=1))] == [3, 4, 5]
    naive_utc = datetime.now(UTC).replace(tzinfo=None) - timedelta(hours=1)
    assert [r.id for r in log.query(since=naive_utc)] == [3, 4, 5]
    assert [r.id for r in log.query(limit=2)] == [4, 5]  # the newest two, oldest first
    assert [r.id for r in log.query(tool="get_price", limit=2)] == [3, 5]
    assert [r.id for r in log.query(limit=100)] == [1, 2, 3, 4, 5]
    assert log.query(limit=0) == []
    with pytest.raises(ValueError, match="unknown audit decision"):
        log.query(decision="nope")


def test_order_is_by_time_then_id(log: AuditLog) -> None:
    # A record stamped earlier but written later (another thread) still sorts by its time.
    log.append(record(time="2026-11-25T14:30:00.200Z"))
    log.append(record(time="2026-11-25T14:30:00.100Z"))
    assert [r.id for r in log.query()] == [2, 1]
    assert [r.id for r in log.query(limit=1)] == [1]


def test_pending_then_finish(log: AuditLog) -> None:
    pending_id = log.begin_pending(
        record(tool="place_order", decision="allowed", outcome="ok", client_order_id="bmcp-abc")
    )
    (pending,) = log.pending(account=ACCOUNT)
    assert (pending.id, pending.outcome, pending.client_order_id) == (pending_id, "pending", "bmcp-abc")

    log.finish(pending_id, outcome="ok", order_id=42, latency_ms=87.0)
    assert log.pending(account=ACCOUNT) == []
    (done,) = log.query()
    assert (done.outcome, done.order_id, done.latency_ms, done.decision) == ("ok", 42, 87.0, "allowed")
    assert done.client_order_id == "bmcp-abc"  # None in finish() keeps the value

    with pytest.raises(ValueError, match="not pending"):  # never finished twice
        log.finish(pending_id, outcome="unknown")
    with pytest.raises(KeyError):
        log.finish(999, outcome="ok")
    other = log.begin_pending(record(tool="cancel_order"))
    with pytest.raises(ValueError, match="final outcome"):
        log.finish(other, outcome="pending")
    with pytest.raises(ValueError, match="unknown audit outcome"):
        log.finish(other, outcome="done")
    log.finish(other, outcome="error", decision="allowed", reason="Binance -2011: Unknown order sent.")
    assert log.query()[-1].reason == "Binance -2011: Unknown order sent."


def test_pending_is_per_account(log: AuditLog) -> None:
    other = str(AccountKey.of("mainnet", "key-b"))
    a = log.begin_pending(record(tool="place_order"))
    b = log.begin_pending(record(tool="place_order", network="mainnet", base_url=MAINNET, account=other))
    log.append(record(tool="place_order", network="mainnet", base_url=MAINNET, account=other, outcome="ok"))
    assert [r.id for r in log.pending(account=ACCOUNT)] == [a]
    assert [r.id for r in log.pending(account=other)] == [b]


def test_secrets_are_redacted_everywhere(log: AuditLog) -> None:
    arguments = {
        "symbol": "BTCUSDT",
        "note": f"my key is {KEY}!",
        "deep": {"list": ["fine", {"x": f"secret={SECRET}"}], "n": 3},
        KEY: "as a key",
    }
    record_id = log.begin_pending(
        record(tool="place_order", arguments=arguments, reason=f"Binance said: bad signature {SECRET}")
    )
    log.finish(record_id, outcome="error", reason=f"-2015 Invalid API-key {KEY}, IP, or permissions")
    (stored,) = log.query()
    assert stored.arguments == {
        "symbol": "BTCUSDT",
        "note": "[redacted]",
        "deep": {"list": ["fine", {"x": "[redacted]"}], "n": 3},
        "[redacted]": "as a key",
    }
    assert stored.reason == "-2015 Invalid API-key [redacted], IP, or permissions"
    on_disk = b"".join(p.read_bytes() for p in log.path.parent.iterdir() if p.is_file())
    assert KEY.encode() not in on_disk and SECRET.encode() not in on_disk
    assert b"[redacted]" in on_disk


def test_redact_function() -> None:
    assert redact({"a": "xx-S3CRET-yy", "b": ["S3CRET"], "c": {"d": "ok"}, "e": 1}, ["S3CRET"]) == {
        "a": "[redacted]",
        "b": ["[redacted]"],
        "c": {"d": "ok"},
        "e": 1,
    }
    # An unset secret (empty string) must not redact everything.
    assert redact({"a": "plain"}, ["", None]) == {"a": "plain"}  # type: ignore[list-item]


def test_concurrent_appends_from_threads(log: AuditLog) -> None:
    threads_n, per_thread = 8, 25
    ids: list[int] = []
    ids_lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n)

    def work(n: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                new_id = log.append(record(session=f"t{n}", arguments={"symbol": "BTCUSDT", "i": i}))
                with ids_lock:
                    ids.append(new_id)
                if i % 5 == 0:
                    log.query(limit=3)  # reads interleave with writes
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    total = threads_n * per_thread
    assert sorted(ids) == list(range(1, total + 1))
    assert len(log.query()) == total
    for n in range(threads_n):
        assert len([r for r in log.query() if r.session == f"t{n}"]) == per_thread


def test_closed_log_refuses(state_dir: Path) -> None:
    log = AuditLog(audit_path(state_dir))
    log.close()
    log.close()  # twice is fine
    with pytest.raises(StateError, match="closed"):
        log.append(record())


# --- another process reads while this one writes -----------------------------------------------------


def test_cli_process_reads_while_server_writes(log: AuditLog, state_dir: Path) -> None:
    pending_id = log.begin_pending(record(tool="place_order", client_order_id="bmcp-crash"))
    # Committed means visible to another process at once, the writer's connection still open.
    first = cli("--state-dir", str(state_dir), "--json")
    assert first.returncode == 0, first.stderr
    (seen,) = json_lines(first.stdout)
    assert (seen["id"], seen["outcome"], seen["client_order_id"]) == (pending_id, "pending", "bmcp-crash")

    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        while not stop.is_set() and len(written) < 2000:
            written.append(log.append(record(arguments={"symbol": "ETHUSDT", "n": len(written)})))

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        counts = []
        for _ in range(3):
            result = cli("--state-dir", str(state_dir), "--json")
            assert result.returncode == 0, result.stderr
            lines = json_lines(result.stdout)  # every line whole, valid JSON
            ids = [line["id"] for line in lines]
            assert ids == sorted(ids) and ids[0] == pending_id
            counts.append(len(lines))
    finally:
        stop.set()
        thread.join()
    assert counts == sorted(counts)
    final = cli("--state-dir", str(state_dir), "--json")
    assert len(json_lines(final.stdout)) == 1 + len(written)


def test_cli_subprocess_honours_env_state_dir(log: AuditLog, state_dir: Path) -> None:
    log.append(record())
    result = cli("--json", env={"BINANCE_MCP_STATE_DIR": str(state_dir)})
    assert result.returncode == 0 and len(json_lines(result.stdout)) == 1


# --- the CLI -----------------------------------------------------------------------------------------


def test_cli_without_a_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing-here"
    assert main(["--state-dir", str(missing)]) == 0
    assert capsys.readouterr().out == f"no audit records yet in {missing}\n"
    assert not missing.exists()  # reading creates nothing
    assert main(["--state-dir", str(missing), "--json"]) == 0
    out = capsys.readouterr()
    assert out.out == "" and "no audit records yet" in out.err  # stdout stays valid JSON lines


def test_cli_table_and_json(log: AuditLog, state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log.append(record(decision="denied", outcome="refused", rule="default", reason="Denied by default"))
    log.append(
        record(
            tool="place_order",
            arguments={"symbol": "BTCUSDT", "side": "BUY", "quantity": "0.01", "memo": "x" * 200},
            reason="line one\nline two \x1b[31mred",
        )
    )
    assert main(["--state-dir", str(state_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ID       TIME")
    for header in ("CLIENT", "KNOWN BY", "TOOL", "DECISION", "OUTCOME", "APPROVED BY", "ORDER", "ORDER ID"):
        assert header in lines[0]
    assert len(lines) == 3
    assert lines[1].index("get_price") == lines[2].index("place_order")  # aligned
    assert "Denied by default" in lines[1]
    assert "BUY 0.01 BTCUSDT" in lines[2]  # the order's essentials, not cut behind a generated id
    assert "\x1b" not in lines[2] and "\\u001b" in lines[2]  # no terminal escapes from a model

    assert main(["--state-dir", str(state_dir), "--json", "--tool", "place_order"]) == 0
    (obj,) = json_lines(capsys.readouterr().out)
    assert obj["tool"] == "place_order" and obj["arguments"]["memo"] == "x" * 200
    assert set(obj) == {
        "id",
        "time",
        "session",
        "client",
        "network",
        "base_url",
        "tool",
        "arguments",
        "decision",
        "approved_via",
        "approved_by",
        "reason",
        "rule",
        "outcome",
        "order_id",
        "client_order_id",
        "latency_ms",
        "account",
        "seq",
        "identity",
        "policy",
        "result",
        "replica",
    }


def test_cli_filters(log: AuditLog, state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log.append(record(time=ago(days=3), decision="denied", outcome="refused"))
    log.append(record(time=ago(hours=5)))
    log.append(record(time=ago(minutes=45), decision="denied", outcome="refused"))
    log.append(record(time=ago(minutes=5), tool="place_order"))

    def ids(*argv: str) -> list[int]:
        assert main(["--state-dir", str(state_dir), "--json", *argv]) == 0
        return [obj["id"] for obj in json_lines(capsys.readouterr().out)]

    assert ids() == [1, 2, 3, 4]
    assert ids("--since", "30m") == [4]
    assert ids("--since", "1h") == [3, 4]
    assert ids("--since", "1h30m") == [3, 4]
    assert ids("--since", "1d") == [2, 3, 4]
    assert ids("--since", "2d") == [2, 3, 4]
    assert ids("--since", "1w") == [1, 2, 3, 4]
    assert ids("--since", utc_text(datetime.now(UTC) - timedelta(hours=6))) == [2, 3, 4]
    assert ids("--since", "2000-01-01") == [1, 2, 3, 4]
    assert ids("--since", "2099-01-01T00:00:00+02:00") == []
    assert ids("--decision", "denied") == [1, 3]
    assert ids("--decision", "denied", "--limit", "1") == [3]
    assert ids("--tool", "place_order") == [4]
    assert ids("--limit", "2") == [3, 4]
    assert main(["--state-dir", str(state_dir), "--decision", "hidden"]) == 0
    assert capsys.readouterr().out == "no audit records match these filters\n"


def test_parse_since() -> None:
    now = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    assert parse_since("30m", now=now) == datetime(2026, 11, 25, 11, 30, tzinfo=UTC)
    assert parse_since("2d", now=now) == datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert parse_since("1w", now=now) == datetime(2026, 11, 18, 12, 0, tzinfo=UTC)
    assert parse_since("45s", now=now) == datetime(2026, 11, 25, 11, 59, 15, tzinfo=UTC)
    assert parse_since("2026-11-25T14:30:00Z") == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)
    assert parse_since("2026-11-25T14:30:00") == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)  # naive: UTC
    assert parse_since("2026-11-25T15:30:00+01:00") == datetime(2026, 11, 25, 14, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--since", "yesterday"], "'yesterday'"),
        (["--since", "1y"], "'1y'"),
        (["--since=-1h"], "'-1h'"),
        (["--since", "99999999999999w"], "'99999999999999w'"),
        (["--decision", "approve"], "'approve'"),
        (["--limit", "0"], "'0'"),
        (["--limit", "ten"], "'ten'"),
    ],
)
def test_cli_bad_input_in_process(
    argv: list[str], named: str, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--state-dir", str(state_dir), *argv]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err.count("\n") == 1 and named in out.err and out.err.startswith("binance-mcp audit: error:")


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--since", "3 fortnights"], "--since '3 fortnights' is neither an ISO 8601 time"),
        (["--decision", "allow"], "--decision 'allow' is not one of: " + ", ".join(DECISIONS)),
    ],
)
def test_cli_bad_input_subprocess(argv: list[str], expected: str, state_dir: Path) -> None:
    result = cli("--state-dir", str(state_dir), *argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert expected in result.stderr
    assert result.stdout == ""


def test_cli_unreadable_database(state_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    audit_path(state_dir).write_bytes(b"this is not a database" * 100)
    assert main(["--state-dir", str(state_dir)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "binance-mcp audit: error:" in err


def test_add_parser_keeps_a_top_level_state_dir(
    log: AuditLog, state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log.append(record())
    parser = argparse.ArgumentParser(prog="binance-mcp")
    parser.add_argument("--state-dir")
    audit_command.add_parser(parser.add_subparsers(dest="command"))
    before = parser.parse_args(["--state-dir", str(state_dir), "audit", "--json"])
    assert before.state_dir == str(state_dir)  # not overwritten by the subcommand's default
    assert before.func(before) == 0
    after = parser.parse_args(["audit", "--state-dir", str(state_dir), "--json"])
    assert after.func(after) == 0
    assert len(json_lines(capsys.readouterr().out)) == 2


def test_format_table_empty_cells() -> None:
    table = format_table([record(client="", rule=None, reason=None, arguments={})])
    assert table.splitlines()[1].split()[2] == "-"  # ID, TIME, CLIENT
