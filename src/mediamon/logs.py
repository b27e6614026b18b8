"""Logging: one line per event, as ``key=value`` text or JSON (``--log-format json``).

Structured fields travel in ``extra={"fields": {...}}`` so both formats carry the same data
and tests can assert on the dict rather than on text.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        parts = [stamp, record.levelname.lower(), record.getMessage()]
        for key, value in _fields(record).items():
            if value is None:
                continue
            text = str(value)
            parts.append(f"{key}={json.dumps(text, ensure_ascii=False) if ' ' in text else text}")
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def setup_logging(*, level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("mediamon")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # The scheduler's own chatter ("Running job ...") would drown the one line per fetch.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
