"""The audit log's key: kept outside the state, so whoever can write the database cannot re-chain it.

Every audit record carries an HMAC-SHA256 of its content and of the record before it, keyed with
this key (`binance_mcp.stores.audit_chain`). Someone who can edit `audit.sqlite3` (or the PostgreSQL
tables) but not read this key cannot recompute the chain after an edit, a deletion or a reordering,
and `binance-mcp audit verify` finds it.

Where the key comes from, first found wins:

1. `BINANCE_MCP_AUDIT_KEY`: the key itself (at least 32 characters), for replicas that share one log;
2. `BINANCE_MCP_AUDIT_KEY_FILE`: a file holding it;
3. `audit.key` in the user's config dir (`platformdirs.user_config_dir("binance-mcp")`), made with
   32 random bytes and mode 0600 the first time a record is written.

The key is never written to the state dir, a log, a result or an error.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

__all__ = ["AuditKeyError", "audit_key", "default_key_path"]

MIN_KEY_CHARS = 32


class AuditKeyError(Exception):
    """The audit key cannot be had; the message says where it was looked for and what to do."""


def default_key_path() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir("binance-mcp")) / "audit.key"


def _from_text(text: str, where: str) -> bytes:
    key = text.strip()
    if len(key) < MIN_KEY_CHARS:
        raise AuditKeyError(
            f"the audit key in {where} is shorter than {MIN_KEY_CHARS} characters: use a longer one"
        )
    return key.encode()


def audit_key(*, create: bool) -> bytes:
    """The audit key; made in the default place when `create` and none exists yet."""
    given = os.environ.get("BINANCE_MCP_AUDIT_KEY")
    if given:
        return _from_text(given, "BINANCE_MCP_AUDIT_KEY")
    file = os.environ.get("BINANCE_MCP_AUDIT_KEY_FILE")
    path = Path(file).expanduser() if file else default_key_path()
    try:
        return _from_text(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        if not create or file:
            raise AuditKeyError(
                f"no audit key at {path}: the key the log was written with is needed to verify it"
                " (set BINANCE_MCP_AUDIT_KEY_FILE or BINANCE_MCP_AUDIT_KEY to where it is kept)"
            ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AuditKeyError(f"cannot read the audit key at {path}: {exc.__class__.__name__}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    text = secrets.token_hex(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return _from_text(path.read_text(encoding="utf-8"), str(path))
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text + "\n")
        out.flush()
        os.fsync(out.fileno())
    return text.encode()
