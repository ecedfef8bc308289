"""Logging to stderr (stdout belongs to the stdio transport), with the secrets scrubbed out.

Nothing in the server logs a key on purpose; the filter is the second line of defence, for a
library that might put a request in an exception message.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class RedactSecrets(logging.Filter):
    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        scrubbed = message
        for secret in self._secrets:
            scrubbed = scrubbed.replace(secret, "[redacted]")
            if record.exc_text:
                record.exc_text = record.exc_text.replace(secret, "[redacted]")
        if scrubbed != message:
            record.msg, record.args = scrubbed, ()
        return True


_ONE_LINE = {
    i: (f"\\x{i:02x}" if i < 0x100 else f"\\u{i:04x}")
    for i in (*range(0x20), 0x7F, 0x85, 0x2028, 0x2029)
    if i != 0x09
}


class OneLine(logging.Formatter):
    """A record's message on one line: line breaks and other controls in it (a client's declared
    name, say) are shown escaped, so no text from outside can write a log line of its own.
    A traceback, added after the message, keeps its lines."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = record.message.translate(_ONE_LINE)
        return super().formatMessage(record)


def configure_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Our logs at `level`; other libraries' at WARNING or above, all to stderr, all scrubbed."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLine("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("binance_mcp").setLevel(level)
