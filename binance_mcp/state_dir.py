"""Where binance-mcp keeps its state, and whether that place is usable: one check, one sentence.

`resolve_state_dir`: `--state-dir`, else `BINANCE_MCP_STATE_DIR`, else the platform's user state
dir; created private (0o700). The audit log, approvals, budgets, tokens and shared rate-limit
counts live there, one SQLite file each (`binance_mcp.stores.sqlite`), unless `--state-url` puts
them in PostgreSQL (`binance_mcp.stores`).

A state dir that is a file, lies under a file, or cannot be written is found here, before any
store opens it, so that the server (over stdio or HTTP), `doctor`, `audit`, `approvals` and
`tokens` all say the same one line (exit 2), never a traceback or "no records yet".
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_STATE_DIR = "BINANCE_MCP_STATE_DIR"
APP_NAME = "binance-mcp"


class StateError(Exception):
    """The state dir or a state database cannot be used; the message says why, in one line."""


def resolve_state_dir(explicit: str | Path | None, *, create: bool = True) -> Path:
    """The state dir: `explicit` (the `--state-dir` flag) wins, then `BINANCE_MCP_STATE_DIR`,
    else `platformdirs.user_state_dir("binance-mcp")`. An empty value counts as not given.

    With `create` (the default) a missing dir is made with mode 0o700; an existing one is left
    as it is. Readers such as `binance-mcp audit` pass `create=False` so that looking creates
    nothing. Raises `StateError` when the dir cannot be made or is not a directory.
    """
    if explicit is not None and str(explicit) != "":
        path = Path(explicit).expanduser()
    elif os.environ.get(ENV_STATE_DIR):
        path = Path(os.environ[ENV_STATE_DIR]).expanduser()
    else:
        import platformdirs  # only here: the server starts without it when a state dir is given

        path = Path(platformdirs.user_state_dir(APP_NAME))
    if not create:
        return path
    if path.is_dir():
        return path
    try:
        path.mkdir(mode=0o700, parents=True)
        path.chmod(0o700)  # mkdir's mode is filtered by the umask
    except FileExistsError:
        if not path.is_dir():
            raise StateError(f"state dir {path} exists and is not a directory") from None
    except OSError as exc:
        raise StateError(f"cannot create state dir {path}: {exc.strerror or exc}") from None
    return path


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
