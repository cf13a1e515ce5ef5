"""What `fieldsync serve` writes to its log (docs/operations.md, "Logs"): granian's lines, the access log with
`--access-log`, and the `fieldsync` logger's warnings and errors, all on standard output.

A request's path and method are the client's to choose (percent-decoded, up to granian's 64 KiB
request line): each log line is cut to a length and its control characters escaped, and a traceback's lines
are indented, so a client can neither forge a line (`%0A` in a path) nor write a terminal's escapes or
64 KiB into the log.
"""

from __future__ import annotations

import logging
import re
from typing import Any

LOG_MESSAGE_CHARS = 2000  # a log line's message, and each line of a traceback
# granian's access line, with the client's method and path cut short (`%(path).300s`); no query string, so
# no cursor or other parameter is logged, and no header, so no token.
ACCESS_FORMAT = '[%(time)s] %(addr)s - "%(method).16s %(path).300s %(protocol)s" %(status)d %(dt_ms).3f'

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def printable(text: str) -> str:
    """`text` with its control characters (a newline, ESC) written as `\\x0a`, `\\x1b`…"""
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}", text)


class LogLine(logging.Formatter):
    """A formatter whose lines a client's text cannot forge or lengthen without bound."""

    def format(self, record: logging.LogRecord) -> str:
        # A traceback another handler formatted first is cached on the record, unbounded: made again here.
        cached, record.exc_text = record.exc_text, None
        try:
            return super().format(record)
        finally:
            record.exc_text = cached

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message[:LOG_MESSAGE_CHARS])
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        # Indented: an exception's text (a newline in a client's value) cannot begin a line that reads as a log's.
        lines = super().formatException(ei).splitlines()
        return "\n".join("  " + printable(line[:LOG_MESSAGE_CHARS]) for line in lines)


def log_config() -> dict[str, Any]:
    """granian's `log_dictconfig`: its own loggers, and every other through the root's handler (`fieldsync`'s
    had none, so its warnings reached standard error bare, without their level), all through `LogLine`.
    granian gives it to every worker."""
    line = {"()": f"{__name__}.LogLine", "fmt": "[%(levelname)s] %(message)s"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"generic": line, "access": {**line, "fmt": "%(message)s"}},
        "handlers": {
            "console": {"formatter": "generic", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
            "access": {"formatter": "access", "class": "logging.StreamHandler", "stream": "ext://sys.stdout"},
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
        # `fieldsync`'s warnings and errors, and any library's (WeasyPrint's on a sheet's CSS).
        "root": {"handlers": ["console"], "level": "WARNING"},
    }
