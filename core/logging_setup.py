"""The one logging set-up every EndoScribe process uses: a format, and a filter that keeps tokens out.

A session's stream token rides in its URLs' query string (`?token=`: a browser's `EventSource` and
WebSocket cannot send headers), and whoever reads it can follow the transcript and append audio. So
no query string reaches the access log, and a `token=` anywhere else in a log line (a client
library's request line, an error) is redacted. The filter sits on the handlers, where every record
passes whichever logger it came from, and on uvicorn's own loggers, whose records stay there.
"""

from __future__ import annotations

import logging
import re

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# `token=` as a query parameter (or a suffix of one: `stream_token=`), up to the next separator.
_TOKEN = re.compile(r"(?i)(token=)[^&\s\"'<>]+")
# uvicorn's loggers: `uvicorn.access` logs each request line, `uvicorn.error` each WebSocket's.
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def redact(text: str) -> str:
    """`text` with the value of every `token=` parameter replaced by `[redacted]`."""
    return _TOKEN.sub(r"\1[redacted]", text) if "token=" in text.lower() else text


class RedactingFilter(logging.Filter):
    """Drops the query string of uvicorn's access-log lines, and redacts `token=` values in any record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) >= 3:
            # (client, method, path with query, HTTP version, status): the path is what an operator needs.
            args = list(record.args)
            args[2] = str(args[2]).split("?", 1)[0]
            record.args = tuple(args)
        message = record.getMessage()
        if "token=" in message.lower():
            record.msg, record.args = redact(message), None
        return True


_FILTER = RedactingFilter()


def protect(*loggers: logging.Logger) -> None:
    """Put the filter on `loggers`, their handlers and the root logger's handlers (once each)."""
    for logger in (*loggers, logging.getLogger()):
        for target in (logger, *logger.handlers):
            if _FILTER not in target.filters:
                target.addFilter(_FILTER)


def protect_uvicorn() -> None:
    """The filter on uvicorn's loggers as uvicorn configured them (its CLI, `--log-config`, or in-process)."""
    protect(*(logging.getLogger(name) for name in UVICORN_LOGGERS))


def configure(level: int = logging.INFO) -> None:
    """Logging for a process that sets up its own (the webhook deliverer, scripts): format and filter."""
    logging.basicConfig(level=level, format=FORMAT)
    # httpx logs every request's full URL at INFO: ours say enough, and the filter catches what is left.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    protect()
