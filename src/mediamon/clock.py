"""Time in one place: now, how mediamon writes instants, and durations both ways.

    utcnow()             the current instant, aware, in UTC
    utc_iso(dt)          ISO 8601 in UTC at second precision: how every instant is stored
    parse_duration(v)    "30s", "15m", "2h", "1d", "1w" or a number of seconds -> seconds
    parse_when(v, now)   "2d" ago, or an ISO date/datetime -> an aware UTC datetime
    duration(seconds)    seconds -> a short human duration (45s, 1m30s, 2h30m, 2.5d)

No I/O, no state.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from mediamon.errors import QueryError

DAY = 86_400
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def utcnow() -> datetime:
    return datetime.now(UTC)


def utc_iso(dt: datetime | None) -> str | None:
    """ISO-8601 in UTC with a ``Z``-free ``+00:00`` suffix, second precision, sortable as text."""
    if dt is None:
        return None
    return dt.astimezone(UTC).replace(microsecond=0).isoformat()


def parse_duration(value: object) -> float:
    """``"30s"``, ``"15m"``, ``"2h"``, ``"1d"`` or a number of seconds -> seconds.

    Raises ValueError with the message used in config errors.
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (use 30s, 15m, 2h)")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        m = _DURATION_RE.match(str(value))
        if not m:
            raise ValueError(f'"{value}" is not a duration (use 30s, 15m, 2h)')
        seconds = float(m.group(1)) * _DURATION_UNITS[(m.group(2) or "s").lower()]
    if seconds < 0:
        raise ValueError(f"{value!r} is negative")
    return seconds


def parse_when(value: str, *, now: datetime, option: str = "--since") -> datetime:
    """``2d``/``12h``/``30m`` ago, or an ISO date/datetime (UTC when no offset is given)."""
    text = value.strip()
    try:
        return now - timedelta(seconds=parse_duration(text))
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise QueryError(
            f"{option}: {value!r} is neither a duration (2d, 12h) nor a date (2026-11-01)"
        ) from None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def duration(seconds: float) -> str:
    """A short human duration that never rounds by more than a little: 45s, 1m30s, 12m,
    2h30m, 3d, 2.5d. Under an hour it keeps the seconds (a Retry-After of 90 s is 1m30s,
    not 2m), under two days the minutes."""
    whole = round(max(0.0, seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if whole < 2 * DAY:
        hours, minutes = divmod(round(whole / 60), 60)
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days = whole / DAY
    return f"{days:.0f}d" if days >= 10 else f"{days:.1f}".removesuffix(".0") + "d"
