"""`binance-mcp doctor`'s checks of the shared backends, and of what the policy needs of them.

Each backend it is given is checked as the server will use it: connected to, its version read,
and one value written and read back in a scratch place of its own that is removed after
(PostgreSQL: a table `binance_mcp_doctor_<random>`; Redis: a key `binance-mcp/doctor/<random>`
that also expires on its own). A policy whose rate limits count per `agent` or `global` needs
those counts in one place for every process that serves it: the doctor says where they will be,
and fails when that place cannot be used (in the state dir, shared by the servers of one machine
only, it says so: replicas on several machines need PostgreSQL or Redis). No line shows a
password a URL carries.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from binance_mcp.stores.postgres import safe_url

if TYPE_CHECKING:
    from binance_mcp.config import ServerConfig
    from binance_mcp.policy.engine import PolicyEngine

Add = Callable[[str, str, str], None]
"""`report.add(status, what, detail)`."""

OK, FAIL, INFO = "ok", "FAIL", "info"
TIMEOUT_S = 5


def check_postgresql(url: str, add: Add) -> bool:
    """Connect, read the version, write and read back a row in a scratch table (dropped after)."""
    from binance_mcp.guard.failures import store_cause
    from binance_mcp.state_dir import StateError
    from binance_mcp.stores import PostgresState

    where = f"PostgreSQL at {safe_url(url)}"
    table = f"binance_mcp_doctor_{secrets.token_hex(6)}"
    written = secrets.token_hex(8)
    try:
        with PostgresState(url) as state, state.pool.connection() as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
            try:
                conn.execute(f"CREATE TABLE {table} (value TEXT NOT NULL)")
                conn.execute(f"INSERT INTO {table} (value) VALUES (%s)", (written,))
                row = conn.execute(f"SELECT value FROM {table}").fetchone()
            finally:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
    except StateError as exc:
        add(FAIL, "state", str(exc))
        return False
    except Exception as exc:
        add(FAIL, "state", f"{where} cannot be used: {store_cause(exc)}")
        return False
    if row is None or row[0] != written:
        add(FAIL, "state", f"{where} did not read back what was written to it")
        return False
    add(OK, "state", f"{where} answers (PostgreSQL {version}); a row written and read back")
    return True


def check_redis(url: str, add: Add) -> bool:
    """Connect, read the version, write and read back a scratch key (deleted after)."""
    import redis

    from binance_mcp.guard.failures import store_cause

    where = f"Redis at {safe_url(url)}"
    key = f"binance-mcp/doctor/{secrets.token_hex(6)}"
    written = secrets.token_hex(8)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=TIMEOUT_S, socket_timeout=TIMEOUT_S)
        try:
            info = client.info("server")
            client.set(key, written, ex=60)
            read = client.get(key)
            client.delete(key)
        finally:
            client.close()
    except Exception as exc:
        hint = " — is Redis running on that host and port (redis-cli -u URL ping)?"
        add(FAIL, "rate-limit store", f"{where} cannot be used: {store_cause(exc)}{hint}")
        return False
    if read is None or (read.decode() if isinstance(read, bytes) else str(read)) != written:
        add(FAIL, "rate-limit store", f"{where} did not read back what was written to it")
        return False
    version = info.get("redis_version", "?")
    add(OK, "rate-limit store", f"{where} answers (Redis {version}); a key written and read back")
    return True


def shared_scopes(engine: PolicyEngine) -> list[str]:
    """The policy's rate limits counted per agent or for everyone, as `rules.X.rate_limit (global)`."""
    policy = engine.policy
    found = [
        f"{prefix}rules.{key}.rate_limit ({rule.rate_limit.scope})"
        for prefix, rules in (
            ("", policy.rules),
            *((f"agents.{a}.", p.rules) for a, p in policy.agents.items()),
        )
        for key, rule in rules.items()
        if rule.rate_limit is not None and rule.rate_limit.scope in ("agent", "global")
    ]
    return found


def check_shared_limits(
    engine: PolicyEngine | None, config: ServerConfig, add: Add, *, reachable: bool
) -> None:
    """Where the policy's `agent`/`global` counts will live, and whether every replica shares them."""
    if engine is None:
        return
    scopes = shared_scopes(engine)
    if not scopes:
        return
    named = ", ".join(scopes[:3]) + (f" and {len(scopes) - 3} more" if len(scopes) > 3 else "")
    if config.rate_limit_url:
        where = f"Redis at {safe_url(config.rate_limit_url)}"
    elif config.state_url:
        where = f"PostgreSQL at {safe_url(config.state_url)}"
    else:
        add(
            INFO,
            "shared rate limits",
            f"{named} count calls in the state dir: shared by the "
            "servers on this machine only — replicas on other machines would each allow the whole limit; "
            "give every replica --state-url postgresql://… or --rate-limit-url redis://…",
        )
        return
    if reachable:
        add(OK, "shared rate limits", f"{named} count calls in {where}, shared by every replica")
    else:
        add(
            FAIL,
            "shared rate limits",
            f"{named} count calls in {where}, which cannot be used: every call they limit would be "
            "refused (store_unavailable)",
        )
