"""The audit log cannot be edited without a trace (issue #21 item 2), and the CLI answers an
incident's questions (item 3): `binance-mcp audit verify` and the filters, through the entry point."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sqlite3
from pathlib import Path

import pytest

from binance_mcp.stores.audit import AuditLog, AuditRecord, audit_path
from tests.test_audit import ACCOUNT, ago, record
from tests.test_cli import run_cli


@pytest.fixture
def state(tmp_path: Path) -> Path:
    state = tmp_path / "state"
    state.mkdir(mode=0o700)
    return state


def audit(state: Path, *args: str, env: dict[str, str] | None = None):
    return run_cli("audit", "--state-dir", str(state), *args, env=env)


def write_trial(state: Path) -> list[int]:
    """Eight records: reads, a denial, an approved order in flight and its outcome, an error."""
    with AuditLog(audit_path(state)) as log:
        ids = [
            log.append(record(client="bot1", time=ago(minutes=50))),
            log.append(
                record(client="bot1", decision="denied", outcome="refused", reason="Denied by default")
            ),
            log.append(record(client="desk (declared)", tool="get_account_info")),
        ]
        pending = log.begin_pending(
            record(
                client="bot2",
                tool="place_order",
                decision="approved",
                approved_via="cli",
                approved_by="cli:root",
                arguments={
                    "symbol": "BTCUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "quantity": "0.01",
                    "price": "65000",
                },
                client_order_id="x-abc",
            )
        )
        log.finish(pending, outcome="ok", order_id=4242)
        ids += [
            pending,
            log.append(record(client="bot2", tool="cancel_order", outcome="error", reason="-2011")),
        ]
    return ids


def test_an_untouched_log_verifies_and_prints_its_head(state: Path) -> None:
    write_trial(state)
    done = audit(state, "verify")
    assert done.returncode == 0, done.stderr
    assert "audit log intact: 6 records, 1 to 6" in done.stdout  # 5 calls + 1 outcome record
    head = done.stdout.split("verify --anchor checks it later): ")[1].strip()
    assert audit(state, "verify", "--anchor", head).returncode == 0


def raw(state: Path) -> sqlite3.Connection:
    return sqlite3.connect(audit_path(state), isolation_level=None)


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        (
            "UPDATE audit SET approved_by = 'anna' WHERE approved_by = 'cli:root'",
            "record 4 (id 4) does not match its hash",
        ),
        ("DELETE FROM audit WHERE decision = 'denied'", "record 2 missing before record 3"),
        (
            "UPDATE audit SET arguments = '{\"quantity\":\"0.001\"}', decision = 'allowed' WHERE id = 4",
            "record 4 (id 4) does not match its hash",
        ),
        # reorder: two records swap their places in the chain
        (
            "UPDATE audit SET seq = -1 WHERE seq = 1; UPDATE audit SET seq = 1 WHERE seq = 2;"
            " UPDATE audit SET seq = 2 WHERE seq = -1",
            "record 1 (id 2) does not match its hash",
        ),
        # a deletion hidden by renumbering ids and reusing the sequence
        (
            "DELETE FROM audit WHERE id = 2; UPDATE audit SET id = id - 1 WHERE id > 2;"
            " UPDATE sqlite_sequence SET seq = 5 WHERE name = 'audit'; VACUUM",
            "record 2 missing",
        ),
        ("DELETE FROM audit WHERE seq = 6", "records after 5 were removed (truncated)"),
        ("UPDATE audit SET hash = 'x' || substr(hash, 2) WHERE seq = 3", "record 3"),
    ],
)
def test_verify_names_each_kind_of_tampering(state: Path, tamper: str, found: str) -> None:
    write_trial(state)
    with raw(state) as conn:
        conn.executescript(tamper)
    done = audit(state, "verify")
    assert done.returncode == 1, done.stdout
    assert "audit log CHANGED" in done.stdout and found in done.stdout, done.stdout
    assert "Traceback" not in done.stderr


def test_a_truncation_that_also_rewrites_the_head_is_caught_by_the_anchor(state: Path) -> None:
    """(Cutting an order's outcome would also leave its call pending and not in flight: found
    without the anchor. Cutting the last call is found only with it.)"""
    write_trial(state)
    head = audit(state, "verify").stdout.split("later): ")[1].strip()
    with raw(state) as conn:  # cut the last record and make the head agree
        conn.execute("DELETE FROM audit WHERE seq > 5")
        seq, digest = conn.execute("SELECT seq, hash FROM audit WHERE seq = 5").fetchone()
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, digest))
    assert audit(state, "verify").returncode == 0  # without the anchor it looks whole
    done = audit(state, "verify", "--anchor", head)
    assert done.returncode == 1
    assert "the anchor names record 6, but the log ends at record 5" in done.stdout
    with raw(state) as conn:  # cutting an order's outcome too leaves it pending and out of flight
        conn.execute("DELETE FROM audit WHERE seq > 4")
        seq, digest = conn.execute("SELECT seq, hash FROM audit WHERE seq = 4").fetchone()
        conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, digest))
    cut = audit(state, "verify")
    assert (
        cut.returncode == 1 and "record 4 (id 4) is pending with no outcome and not in flight" in cut.stdout
    )


def test_whoever_lacks_the_key_cannot_rechain_an_edit(state: Path) -> None:
    """Recomputing the hashes with any other key still fails verification."""
    from binance_mcp.stores.audit_chain import link

    write_trial(state)
    with raw(state) as conn:
        conn.execute("UPDATE audit SET approved_by = 'anna' WHERE approved_by = 'cli:root'")
        previous = ""
        columns = [r[1] for r in conn.execute("PRAGMA table_info(audit)")]
        content_columns = [c for c in columns if c not in ("id", "seq", "hash", "owner", "lease_until")]
        for row in conn.execute(
            f"SELECT seq, {', '.join(content_columns)} FROM audit ORDER BY seq"
        ).fetchall():
            previous = link(b"a guess at the key, long enough to pass", previous, row[0], row[1:])
            conn.execute("UPDATE audit SET hash = ? WHERE seq = ?", (previous, row[0]))
        conn.execute("UPDATE audit_head SET hash = ?", (previous,))
    done = audit(state, "verify")
    assert done.returncode == 1 and "record 1 (id 1) does not match its hash" in done.stdout


def test_verify_without_the_key_says_where_it_looked(state: Path, tmp_path: Path) -> None:
    write_trial(state)
    done = audit(state, "verify", env={"XDG_CONFIG_HOME": str(tmp_path / "elsewhere")})
    assert done.returncode == 2
    assert "no audit key at" in done.stderr and "BINANCE_MCP_AUDIT_KEY_FILE" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_outcome_is_a_record_of_its_own_and_the_pending_record_is_never_changed(state: Path) -> None:
    with AuditLog(audit_path(state)) as log:
        pending = log.begin_pending(record(tool="place_order", client_order_id="c-1"))
        with raw(state) as conn:
            before = conn.execute("SELECT * FROM audit WHERE id = ?", (pending,)).fetchone()
        log.finish(pending, outcome="ok", order_id=7)
        (call,) = log.query()
        assert (call.outcome, call.order_id, call.id) == ("ok", 7, pending)
    with raw(state) as conn:
        assert conn.execute("SELECT * FROM audit WHERE id = ?", (pending,)).fetchone() == before
        assert conn.execute("SELECT completes, outcome FROM audit WHERE id != ?", (pending,)).fetchall() == [
            (1, "ok")
        ]
        assert conn.execute("SELECT count(*) FROM audit_in_flight").fetchone() == (0,)


def test_a_log_from_before_the_chain_is_chained_on_its_first_write(state: Path) -> None:
    """An existing audit.sqlite3 (schema 4) keeps its records and they join the chain."""
    path = audit_path(state)
    with sqlite3.connect(path) as conn:
        from binance_mcp.stores.audit import _MIGRATIONS

        for step in _MIGRATIONS["sqlite"][:4]:
            conn.executescript(step)
        conn.execute("PRAGMA user_version = 4")
        conn.execute(
            "INSERT INTO audit (time, session, client, network, base_url, tool, arguments, decision, outcome,"
            " account, owner, lease_until) VALUES ('2026-11-01T00:00:00.000Z', 's', 'old', 'testnet', 'u',"
            " 'place_order', '{}', 'allowed', 'pending', 'acct', 'gone:1', '2026-11-01T00:00:30.000Z')"
        )
    with AuditLog(path) as log:
        assert [r.client for r in log.pending(account="acct")] == ["old"]  # still in flight
        log.append(record())
        log.finish(log.pending(account="acct")[0].id or 0, outcome="unknown")
    done = audit(state, "verify")
    assert done.returncode == 0 and "3 records" in done.stdout, done.stdout


# --- the incident's questions --------------------------------------------------------------------


def ids_of(done) -> list[int]:
    assert done.returncode == 0, done.stderr
    return [json.loads(line)["id"] for line in done.stdout.splitlines()]


def test_filters_answer_an_incidents_questions(state: Path) -> None:
    first, denied, declared, order, cancel = write_trial(state)
    assert ids_of(audit(state, "--json", "--until", ago(minutes=10))) == [first]
    assert ids_of(audit(state, "--json", "--client", "bot2")) == [order, cancel]
    assert ids_of(audit(state, "--json", "--agent", "desk")) == [declared]
    assert ids_of(audit(state, "--json", "--identity", "declared")) == [declared]
    assert ids_of(audit(state, "--json", "--outcome", "error,refused")) == [denied, cancel]
    assert ids_of(audit(state, "--json", "--decision", "denied", "--decision", "approved")) == [denied, order]
    assert ids_of(audit(state, "--json", "--order-id", "4242")) == [order]
    assert ids_of(audit(state, "--json", "--client-order-id", "x-abc")) == [order]
    assert ids_of(audit(state, "--json", "--approved-by", "cli:root")) == [order]
    (line,) = audit(state, "--json", "--order-id", "4242").stdout.splitlines()
    call = json.loads(line)
    assert (call["outcome"], call["approved_by"], call["identity"], call["client"]) == (
        "ok",
        "cli:root",
        "token",
        "bot2",
    )
    bad = audit(state, "--outcome", "fine")
    assert bad.returncode == 2 and "--outcome 'fine' is not one of" in bad.stderr


def test_the_table_shows_who_approved_and_the_orders_essentials(state: Path) -> None:
    write_trial(state)
    done = audit(state, "--tool", "place_order")
    header, row = done.stdout.splitlines()
    assert "APPROVED BY" in header and "KNOWN BY" in header
    assert "cli:root" in row and "BUY 0.01 BTCUSDT LIMIT @65000" in row and "4242" in row and "x-abc" in row
    declared = audit(state, "--tool", "get_account_info").stdout.splitlines()[1]
    assert "desk " in declared and "declared" in declared


def test_csv_and_json_lines_survive_every_line_separator(state: Path) -> None:
    with AuditLog(audit_path(state)) as log:
        for n in range(3):
            log.append(record(client=f"evil\u2028name\u2029{n}", reason="a\u0085b\nc"))
    lines = audit(state, "--json").stdout.splitlines()  # str.splitlines splits on U+2028 too
    assert len(lines) == 3 and all(json.loads(line)["client"].startswith("evil") for line in lines)
    rows = list(csv.DictReader(io.StringIO(audit(state, "--csv").stdout)))
    assert len(rows) == 3 and rows[0]["client"] == "evil\\u2028name\\u20290"
    table = audit(state).stdout.splitlines()
    assert len(table) == 4


def test_look_alike_names_are_not_shown_as_the_real_one(state: Path) -> None:
    with AuditLog(audit_path(state)) as log:
        log.append(record(client="b\u043eb"))  # Cyrillic о
        log.append(record(client="bob"))
    rows = audit(state).stdout.splitlines()[1:]
    assert "b\\u043eb" in rows[0] and " bob " in rows[1]


def test_follow_shows_one_order_from_request_to_outcome(state: Path) -> None:
    _, _, _, order, _ = write_trial(state)
    with AuditLog(audit_path(state)) as log:
        later = log.append(
            record(client="bot2", tool="get_order", arguments={"symbol": "BTCUSDT"}, order_id=4242)
        )
    done = audit(state, "follow", str(order))
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert f"call {order}: place_order by bot2 (token)" in text
    assert "approved by cli:root via cli" in text and "order id 4242" in text and "BUY 0.01 BTCUSDT" in text
    assert f"  {later}  " in text  # the later read of the same order
    assert audit(state, "follow", "999").returncode == 2


def test_exports_stream_in_pages(state: Path) -> None:
    """More records than one page: every one is written, in order (constant memory is the page)."""
    from binance_mcp.stores import audit as store

    with AuditLog(audit_path(state)) as log:
        for n in range(store._PAGE + 5):
            log.append(AuditRecord(**{**record().__dict__, "id": None, "seq": None, "session": f"s{n}"}))
    assert len(audit(state, "--json").stdout.splitlines()) == store._PAGE + 5


# --- human decisions are records of the log, and kept -----------------------------------------------


def test_operator_decisions_are_audited_and_approvals_are_kept(state: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from binance_mcp.stores.approvals import open_approval_store

    with open_approval_store(state) as store:
        asked = [
            store.request(
                tool="place_order",
                account=ACCOUNT,
                network="testnet",
                base_url="http://x",
                agent=None,
                arguments_key=f'{{"n":{n}}}',
                question=f"BUY {n} BTCUSDT — approve?",
            )
            for n in range(3)
        ]
    assert run_cli("approvals", "--state-dir", str(state), "approve", asked[0].id).returncode == 0
    assert run_cli("approvals", "--state-dir", str(state), "deny", asked[1].id).returncode == 0
    assert run_cli("approvals", "--state-dir", str(state), "revoke", asked[0].id).returncode == 0
    events = [json.loads(line) for line in audit(state, "--json", "--decision", "event").stdout.splitlines()]
    assert [e["tool"] for e in events] == ["approval_approved", "approval_denied", "approval_revoked"]
    assert [e["arguments"]["approval_id"] for e in events] == [asked[0].id, asked[1].id, asked[0].id]
    assert events[1]["arguments"]["question"] == "BUY 1 BTCUSDT — approve?"
    assert all(e["approved_by"].startswith("cli:") and e["approved_via"] == "cli" for e in events)
    assert audit(state, "verify").returncode == 0
    # a week and a day later the approvals, the denial among them, are still there
    with open_approval_store(state) as store:
        later = datetime.now(UTC) + timedelta(days=8)
        store.request(
            tool="place_order",
            account=ACCOUNT,
            network="testnet",
            base_url="http://x",
            agent=None,
            arguments_key='{"n":9}',
            question="later",
            now=later,
        )
        kept = {a.id for a in store.list(include_decided=True, now=later)}
    assert {a.id for a in asked} <= kept


@pytest.mark.anyio
async def test_each_record_names_the_policy_in_force_and_each_load_is_an_event(tmp_path: Path) -> None:
    """`rules.place_order` in a record points at one policy, also across a reload."""
    from mcp import Client

    from binance_mcp.policy.engine import PolicyEngine
    from binance_mcp.policy.model import Policy
    from binance_mcp.stores.audit import AuditFilter
    from tests.conftest import make_app
    from tests.fake_binance import FakeBinance

    with FakeBinance() as fake:
        app = make_app(tmp_path, fake.base_url, policy={"version": "1", "default": "allow"})
        try:
            async with Client(app.server) as client:
                await client.call_tool("get_price", {"symbol": "BTCUSDT"})
                app.guard.install(PolicyEngine(Policy.model_validate({"version": "1", "default": "deny"})))
                await client.call_tool("get_price", {"symbol": "BTCUSDT"})
            app.guard.audit  # noqa: B018 - drained
        finally:
            app.close()
    with AuditLog(audit_path(tmp_path / "state")) as log:
        records = list(log.calls(AuditFilter(events=True)))
    assert [(r.tool, r.decision) for r in records] == [
        ("policy_loaded", "event"),
        ("get_price", "allowed"),
        ("policy_loaded", "event"),
        ("get_price", "denied"),
    ]
    first, second = records[0].policy, records[2].policy
    assert first and second and first != second
    assert [r.policy for r in records] == [first, first, second, second]


# --- retention ---------------------------------------------------------------------------------------


def test_archive_moves_old_records_to_a_file_and_verification_spans_both(state: Path, tmp_path: Path) -> None:
    with AuditLog(audit_path(state)) as log:
        for n in range(5):
            log.append(record(time=ago(days=100 - n), client_order_id=f"old-{n}", tool="place_order"))
        pending = log.begin_pending(record(time=ago(days=50), tool="place_order", client_order_id="flying"))
        log.append(record(time=ago(days=40)))
        log.append(record(time=ago(minutes=5)))
    done = run_cli("audit", "--state-dir", str(state), "archive", "--before", "30d")
    assert done.returncode == 0, done.stderr
    assert "archived records 1 to 5 (5)" in done.stdout  # the record still in flight holds the rest back
    archives = state / "audit-archive"
    (file,) = archives.glob("audit-*.jsonl.gz")
    with gzip.open(file, "rt") as opened:
        lines = opened.read().splitlines()
    assert json.loads(lines[0])["to_seq"] == 5 and len(lines) == 6
    assert [json.loads(line)["client"] for line in audit(state, "--json").stdout.splitlines()][:1] == [
        "claude-code"
    ]
    assert len(audit(state, "--json").stdout.splitlines()) == 3
    whole = audit(state, "verify", "--archives", str(archives))
    assert whole.returncode == 0 and "5 archived records (1 to 5)" in whole.stdout, whole.stdout
    assert "records 1 to 5 are archived" in audit(state, "verify").stdout
    # an archived call's client order id is still refused for reuse
    with AuditLog(audit_path(state)) as log:
        assert [r.tool for r in log.sent_with_client_order_id("old-2", account=ACCOUNT)] == ["place_order"]
        log.finish(pending, outcome="ok")
    assert (
        "archived records 6 to 7"
        in run_cli("audit", "--state-dir", str(state), "archive", "--before", "30d").stdout
    )
    assert audit(state, "verify", "--archives", str(archives)).returncode == 0


def test_an_archive_changed_or_missing_is_found(state: Path) -> None:
    with AuditLog(audit_path(state)) as log:
        for n in range(4):
            log.append(record(time=ago(days=100 - n)))
    assert run_cli("audit", "--state-dir", str(state), "archive", "--before", "30d").returncode == 0
    archives = state / "audit-archive"
    (file,) = archives.glob("*.gz")
    with gzip.open(file, "rt") as opened:
        lines = opened.read().splitlines()
    edited = json.loads(lines[2])
    edited["approved_by"] = "anna"
    lines[2] = json.dumps(edited)
    with gzip.open(file, "wt") as out:
        out.write("\n".join(lines) + "\n")
    done = audit(state, "verify", "--archives", str(archives))
    assert done.returncode == 1 and "record 2 (id 2) does not match its hash" in done.stdout
    file.unlink()
    gone = audit(state, "verify", "--archives", str(archives))
    assert gone.returncode == 1 and "the archives in" in gone.stdout and "end at record 0" in gone.stdout


@pytest.mark.parametrize(
    ("tamper", "found"),
    [
        # an order in flight dropped from the in-flight table: crash recovery would never settle it
        ("DELETE FROM audit_in_flight", "record 4 (id 4) is pending with no outcome and not in flight"),
        # the pending record moved to another id: the in-flight row and the legs' ids point at nothing
        ("UPDATE audit SET id = 100 WHERE id = 4", "record 4 (id 100) is pending with no outcome"),
        # a finished call put back in flight: recovery would settle it a second time
        (
            "INSERT INTO audit_in_flight (record_id, account, owner, lease_until) VALUES (1, 'main', NULL, NULL)",
            "audit_in_flight names record id 1, which is not a call in flight",
        ),
        # a leg's client order id moved off its call: that id would be accepted for a new order
        (
            "UPDATE audit_client_ids SET audit_id = 99",
            "audit_client_ids names record id 99, which does not exist",
        ),
    ],
)
def test_verify_checks_the_tables_kept_beside_the_chain(state: Path, tamper: str, found: str) -> None:
    with AuditLog(audit_path(state)) as log:
        for _ in range(3):
            log.append(record())
        log.begin_pending(record(tool="place_order", client_order_id="fly-1"), leg_client_order_ids=["leg-a"])
    assert audit(state, "verify").returncode == 0
    with raw(state) as conn:
        conn.executescript(tamper)
    done = audit(state, "verify")
    assert done.returncode == 1, done.stdout
    assert "audit log CHANGED" in done.stdout and found in done.stdout, done.stdout


def test_a_log_deleted_whole_is_caught_by_the_anchor(state: Path) -> None:
    write_trial(state)
    head = audit(state, "verify").stdout.split("later): ")[1].strip()
    audit_path(state).unlink()
    assert audit(state, "verify").returncode == 0  # with nothing to hold it against, there is no log yet
    done = audit(state, "verify", "--anchor", head)
    assert done.returncode == 1, done.stdout
    assert "audit log CHANGED" in done.stdout and "the anchor names record 6" in done.stdout, done.stdout


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:40],  # cut short
        lambda data: b"not a gzip file\n",
        lambda data: gzip.compress(b'{"archive": 1}\n'),  # a header with no place in the chain
        lambda data: gzip.compress(data and gzip.decompress(data).split(b"\n", 1)[0] + b"\n{not json\n"),
    ],
    ids=["cut-short", "not-gzip", "bad-header", "bad-record"],
)
def test_a_damaged_archive_is_reported_not_a_traceback(state: Path, damage) -> None:
    with AuditLog(audit_path(state)) as log:
        for n in range(3):
            log.append(record(time=ago(days=100 - n)))
    assert run_cli("audit", "--state-dir", str(state), "archive", "--before", "30d").returncode == 0
    archives = state / "audit-archive"
    (file,) = archives.glob("*.gz")
    file.write_bytes(damage(file.read_bytes()))
    done = audit(state, "verify", "--archives", str(archives))
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stdout
    assert f"{file.name} cannot be read" in done.stdout or "does not match" in done.stdout, done.stdout


def test_verify_checks_the_in_flight_table_on_postgresql(postgres_url: str) -> None:
    import psycopg

    from binance_mcp.stores import PostgresState

    with PostgresState(postgres_url) as state:
        log = state.audit()
        log.append(record())
        log.begin_pending(record(tool="place_order", client_order_id="fly-1"), leg_client_order_ids=["leg-a"])
        assert log.verify().intact
        with psycopg.connect(postgres_url, autocommit=True) as conn:  # the attacker, straight at the table
            conn.execute("DELETE FROM audit_in_flight")
        assert any("pending with no outcome and not in flight" in p for p in log.verify().problems)
        log.close()


def test_verify_checks_what_lives_beside_the_chain(state: Path) -> None:
    """The in-flight table and the used leg ids are not chained (they change, or are derived), so
    `verify` checks them against the chained records: removing a row there is found too."""
    with AuditLog(audit_path(state)) as log:
        log.begin_pending(
            record(tool="place_order", client_order_id="in-flight-1"),
        )
        log.begin_pending(
            record(
                tool="place_order_list",
                arguments={
                    "list_client_order_id": "L1",
                    "legs": [{"client_order_id": "K2"}, {"client_order_id": "K3"}],
                },
                client_order_id="L1",
            ),
            leg_client_order_ids=["K2", "K3"],
        )
        log.begin_pending(  # as recorded before place_order_list took legs
            record(
                tool="place_order_list",
                arguments={
                    "list_client_order_id": "L2",
                    "above_client_order_id": "K4",
                    "below_client_order_id": "K5",
                },
                client_order_id="L2",
            ),
            leg_client_order_ids=["K4", "K5"],
        )
    assert audit(state, "verify").returncode == 0
    with raw(state) as conn:
        conn.execute("DELETE FROM audit_in_flight WHERE record_id = 1")
        conn.execute("DELETE FROM audit_client_ids WHERE client_order_id IN ('K2', 'K4')")
    done = audit(state, "verify")
    assert done.returncode == 1
    assert "record 1 (id 1) is pending with no outcome and not in flight" in done.stdout
    assert "leg id K2 (legs[0].client_order_id) is not among the used client order ids" in done.stdout
    assert "leg id K4 (above_client_order_id) is not among the used client order ids" in done.stdout
    assert "K3" not in done.stdout and "K5" not in done.stdout


def test_a_checkpoint_the_chain_does_not_name_is_a_deletion(state: Path) -> None:
    """Review finding: a faked checkpoint made `verify` call deleted records archived."""
    write_trial(state)
    with raw(state) as conn:
        conn.execute(
            "INSERT INTO audit_checkpoint SELECT seq, hash, 'x', '0', 'now' FROM audit WHERE seq = 2"
        )
        conn.execute("DELETE FROM audit WHERE seq <= 2")
    done = audit(state, "verify")
    assert done.returncode == 1
    assert "the checkpoint at record 2 is named by no archive record of the chain" in done.stdout
