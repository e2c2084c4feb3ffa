"""The log's format: one JSON object a line on stderr, with the time, level, logger, message
and the record's ``fields``.

Standard library only, so that a service's main process, which never imports the app
(:mod:`common.server`), formats its lines as its workers do.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


class JsonFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._time = ""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """The record's second in local time (ISO 8601 with its offset), formatted once a
        second: every line of that second shares it."""
        second = int(record.created)
        if second != self._second:
            # Two threads may both format a new second: they write the same text.
            self._time = time.strftime("%Y-%m-%dT%H:%M:%S%z", self.converter(second))
            self._second = second
        return self._time

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encode(entry)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
