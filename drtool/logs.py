"""Logs on stderr, as text for people (``drtool: …``) or as JSON lines for journald, Loki and
the like (``--log-format json``): one object a line with time, level, logger and message; the
final error line of a failed command is one of them too."""

from __future__ import annotations

import json
import logging
import sys

from drtool.timeutil import utc_now_iso

TEXT, JSON = "text", "json"


class _State:
    format = TEXT


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        document = {
            "time": utc_now_iso(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            document["traceback"] = self.formatException(record.exc_info)
        return json.dumps(document, sort_keys=True)


def setup_logging(level: int, log_format: str) -> None:
    """Send drtool's logs to stderr at ``level``, as text or JSON lines."""
    _State.format = log_format
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if log_format == JSON else logging.Formatter("drtool: %(message)s")
    )
    logging.basicConfig(level=level, handlers=[handler], force=True)


def say(level: str, message: str) -> None:
    """Print one of the CLI's own lines (``drtool: error: …``) on stderr, in the log format."""
    if _State.format == JSON:
        document = {"time": utc_now_iso(), "level": level, "logger": "drtool", "message": message}
        print(json.dumps(document, sort_keys=True), file=sys.stderr)
    else:
        print(f"drtool: {level}: {message}", file=sys.stderr)
