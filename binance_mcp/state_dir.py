"""Is the state dir usable? One check and one sentence for the server and every command.

A state dir that is a file, lies under a file, or cannot be written is found here, before any
store opens it, so that the server (over stdio or HTTP), `doctor`, `audit`, `approvals` and
`tokens` all say the same one line (exit 2), never a traceback or "no records yet".
"""

from __future__ import annotations

import os
from pathlib import Path

from binance_mcp.state import StateError, resolve_state_dir

FIX = "pass --state-dir a directory you can write (or set BINANCE_MCP_STATE_DIR)"


def state_dir_problem(path: Path) -> str | None:
    """Why `path` cannot hold the state (the whole sentence, with the fix), or None if it can.

    A missing dir is fine when its nearest existing ancestor is a directory it can be made in.
    """
    if path.exists():
        if not path.is_dir():
            return f"state dir {path} is a file, not a directory: {FIX}"
        if not os.access(path, os.W_OK | os.X_OK):
            return f"state dir {path} is not writable: {FIX}"
        return None
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"state dir {path} cannot be made: {ancestor} is a file, not a directory: {FIX}"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"state dir {path} cannot be made: {ancestor} is not writable: {FIX}"
    return None


def usable_state_dir(explicit: str | Path | None, *, create: bool = True) -> Path:
    """`resolve_state_dir`, after the check: raises `StateError` with `state_dir_problem`'s sentence."""
    path = resolve_state_dir(explicit, create=False)
    problem = state_dir_problem(path)
    if problem is not None:
        raise StateError(problem)
    return resolve_state_dir(explicit, create=create) if create else path
