"""Logging: one line per event, as ``key=value`` text or JSON (``--log-format json``).

Structured fields travel in ``extra={"fields": {...}}`` so both formats carry the same data
and tests can assert on the dict rather than on text.

Every event is one line, whatever its values hold. Text lines are ``DATE TIME level message
key=value ...``: a value (or the message) with a space, a quote, an ``=``, a line break or
another unprintable character is written as a JSON string (``error="HTTP 500:\nBad"``), and
a traceback becomes the field ``exception``; ``parse_text_line`` reads a line back. In both
formats the Unicode line separators (U+2028, U+2029, U+0085) are escaped too, so a
``splitlines()`` never cuts an event. The log goes to stderr, or to a file
(``--log-file``).
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
from datetime import UTC, datetime
from typing import Any


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = getattr(record, "fields", None)
    return dict(fields) if isinstance(fields, dict) else {}


# Line breaks json.dumps(ensure_ascii=False) leaves as they are, but str.splitlines() and
# some terminals and editors break lines at; and the C1 controls.
_BREAKS = re.compile("[\x7f-\x9f\u2028\u2029]")
_KEY_UNSAFE = re.compile(r"[^\w.-]")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_FIELD = re.compile(r' ([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)')


def _json_string(text: str) -> str:
    return _BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def _plain(text: str, *, spaces: bool = False) -> bool:
    """Whether ``text`` can be written as it is: no quote, ``=`` or unprintable character,
    and no whitespace (a message may have single spaces inside)."""
    if not text or (spaces and text != text.strip()):
        return False
    return not any(c in '"=' or not c.isprintable() or (c.isspace() and not (spaces and c == " "))
                   for c in text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%d %H:%M:%S")
        message = record.getMessage()
        parts = [stamp, record.levelname.lower(),
                 message if _plain(message, spaces=True) else _json_string(message)]
        fields = _fields(record)
        if record.exc_info:
            fields["exception"] = self.formatException(record.exc_info)
        for key, value in fields.items():
            if value is None:
                continue
            text = str(value)
            key = _KEY_UNSAFE.sub("_", str(key)) or "_"
            parts.append(f"{key}={text if _plain(text) else _json_string(text)}")
        return " ".join(parts)


def parse_text_line(line: str) -> dict[str, str]:
    """One ``TextFormatter`` line back as ``{"time", "level", "event", **fields}``, every
    value a string (as ``JsonFormatter`` would give it, apart from numbers).

    Raises:
        ValueError: the line is not one the text format writes.
    """
    try:
        day, clock, level, rest = line.rstrip("\r\n").split(" ", 3)
    except ValueError:
        raise ValueError(f"not a mediamon log line: {line[:80]!r}") from None
    quoted = _QUOTED.match(rest)
    if quoted:
        event, rest = json.loads(quoted.group()), rest[quoted.end():]
    else:  # a plain message has no "=": the fields start at the first " key="
        start = _FIELD.search(rest)
        event, rest = (rest[:start.start()], rest[start.start():]) if start else (rest, "")
    data = {"time": f"{day} {clock}", "level": level, "event": event}
    end = 0
    for found in _FIELD.finditer(rest):
        if found.start() != end:
            break
        value = found.group(2)
        data[found.group(1)] = json.loads(value) if value.startswith('"') else value
        end = found.end()
    if end != len(rest):
        raise ValueError(f"not a mediamon log line: {line[:80]!r}")
    return data


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
        line = json.dumps(data, ensure_ascii=False, default=str)
        return _BREAKS.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def setup_logging(*, level: str = "info", fmt: str = "text",
                  path: str | os.PathLike[str] | None = None) -> logging.Handler:
    """Send mediamon's log to stderr, or appended to the file ``path`` (reopened when it is
    moved or deleted, so logrotate can rotate it); OSError if it cannot be opened. Returns
    the handler, for the caller to close when it is done."""
    handler: logging.Handler = (logging.handlers.WatchedFileHandler(path, encoding="utf-8")
                                if path is not None else logging.StreamHandler(sys.stderr))
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("mediamon")
    for old in root.handlers:
        old.close()  # an earlier log file is let go of
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False
    # The scheduler's own chatter ("Running job ...") would drown the one line per fetch.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    return handler
