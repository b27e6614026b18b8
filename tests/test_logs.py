"""The log keeps one event per line in both formats, whatever the values hold (newlines,
quotes, '=', spaces, Unicode line separators), and each line parses back to the event."""

from __future__ import annotations

import json
import logging
import sys

import pytest

from mediamon.logs import JsonFormatter, TextFormatter

AWKWARD = {
    "url": "http://example.org/feed?a=1&b=2",
    "error": 'HTTP 500: "Internal\nServer Error"\r\n  at line 3',
    "title": "key=value pairs = trouble",
    "quote": '"',
    "empty": "",
    "separators": "a\u2028b\u2029c\x85d\x0be\x0cf\x1cg",
    "tab": "a\tb",
    "backslash": "C:\\feeds\\n.xml",
    "plain": "ok",
    "number": 42,
}


def record(message: str = "fetch failed", fields: dict | None = None,
           exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\nthing")
        except ValueError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("mediamon.test", logging.WARNING, __file__, 1, message, None,
                            exc_info)
    rec.fields = dict(AWKWARD if fields is None else fields)
    return rec


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()],
                         ids=["text", "json"])
@pytest.mark.parametrize("message", ["fetch failed", "odd\nmessage with \"quotes\" and a=b"])
def test_every_event_is_one_line(formatter: logging.Formatter, message: str) -> None:
    """Values and messages with line breaks, quotes and '=' never split an event, nor does
    an exception's traceback."""
    for rec in (record(message), record(message, exc=True)):
        line = formatter.format(rec)
        assert len(line.splitlines()) == 1, line
        assert "\n" not in line and "\r" not in line


def test_text_lines_parse_back_to_the_event() -> None:
    """parse_text_line(TextFormatter line) gives the message and every field, as text."""
    from mediamon.logs import parse_text_line

    for message in ("fetch failed", "odd\nmessage with \"quotes\" and a=b", "x=1", ""):
        parsed = parse_text_line(TextFormatter().format(record(message)))
        assert parsed["event"] == message and parsed["level"] == "warning"
        assert {k: v for k, v in parsed.items() if k not in ("time", "level", "event")} == \
            {k: str(v) for k, v in AWKWARD.items()}
    parsed = parse_text_line(TextFormatter().format(record(exc=True)))
    assert parsed["exception"].startswith("Traceback") and "ValueError: bad\nthing" in \
        parsed["exception"]


def test_json_lines_parse_back_to_the_event() -> None:
    """A JSON line is one object with the message, every field and the traceback."""
    line = JsonFormatter().format(record("odd\nmessage", exc=True))
    data = json.loads(line)
    assert data["event"] == "odd\nmessage" and data["level"] == "warning"
    assert {k: data[k] for k in AWKWARD} == AWKWARD
    assert "ValueError: bad\nthing" in data["exception"]
