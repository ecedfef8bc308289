"""Where the `binance-mcp` command is: the console script pip installed for the Python running the tests.

Tests run the CLI through its own entry point, as a user does. The script sits beside the
interpreter (a venv's `bin/`, wherever that venv is); a Python without one beside it (a system
install) finds it on PATH. Neither: the package is not installed, and the tests say so.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

__all__ = ["BINANCE_MCP"]


def _find() -> Path:
    beside = Path(sys.executable).with_name("binance-mcp")
    if beside.exists():
        return beside
    found = shutil.which("binance-mcp")
    if found is None:
        raise RuntimeError(
            f"no binance-mcp command beside {sys.executable} nor on PATH: install the package into "
            "this Python (`pip install -e '.[test]'`, as scripts/test does)"
        )
    return Path(found)


BINANCE_MCP = str(_find())
"""The `binance-mcp` console script, as the first word of a command line."""
