"""Text for a terminal: aligned tables, shortened cells, and nothing a model wrote that could
rewrite the screen (control and format characters are shown escaped)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence


def safe(text: str) -> str:
    """Control and format characters made visible: nothing shown may rewrite the terminal."""
    return "".join(json.dumps(c)[1:-1] if unicodedata.category(c) in ("Cc", "Cf") else c for c in text)


def shorten(text: str, width: int) -> str:
    """At most `width` characters, ending in `…` when cut; a width of 0 or less keeps it whole."""
    return text if width <= 0 or len(text) <= width else text[: width - 1] + "…"


def aligned(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, two spaces apart; the last column is not padded."""
    widths = [max(len(headers[i]), *(len(row[i]) for row in rows)) for i in range(len(headers))]
    lines = []
    for row in [list(headers), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
