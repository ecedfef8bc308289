"""Text for a terminal: aligned tables, shortened cells, and nothing a model wrote that could
rewrite the screen (control and format characters are shown escaped)."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

_ESCAPED = frozenset({"Cc", "Cf", "Zl", "Zp"})
"""Controls, format characters and the line and paragraph separators (U+2028, U+2029), which
some readers split lines on."""


def _escaped(c: str) -> str:
    return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"


def safe(text: str) -> str:
    """Control and format characters and line separators made visible: nothing shown may rewrite
    the terminal or split a line."""
    return "".join(_escaped(c) if unicodedata.category(c) in _ESCAPED else c for c in text)


def ascii_only(text: str) -> str:
    """`text` with every character outside ASCII escaped: for names, where a look-alike letter
    (a Cyrillic `а` for a Latin `a`) must not pass for another name."""
    return "".join(c if 32 <= ord(c) < 127 else _escaped(c) for c in text)


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
