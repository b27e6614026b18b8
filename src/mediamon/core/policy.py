"""Pure scheduling decisions: how often a feed is polled, and when it is polled next.

Everything here takes ``now`` and the feed's state as arguments: no clock, no I/O, no
database, so every rule is a unit test (and the bounds are property tests).

The rules:

- **Adaptive interval.** A feed is polled about once per new item: ``1 day / (items per
  day)``, the rate measured from the publication dates the feed itself gives over the last
  ``RATE_WINDOW``, clamped to ``[min_interval, max_interval]``. A feed without dates keeps
  the default interval; a pinned interval (``[[feeds]] interval``) is used as given. (The
  config makes a written ``[schedule] interval`` the maximum unless ``max_interval`` is
  set, so what the user wrote is never exceeded but by backoff and Retry-After.)
- **Server hints** (RSS ``<ttl>``, ``sy:updatePeriod``/``sy:updateFrequency``,
  ``Cache-Control: max-age``, ``Expires``) are a floor on the adaptive interval, each
  clamped to ``[0, max_interval]`` so a hint can never park a feed beyond the maximum.
- **Backoff.** After ``n`` consecutive failures the delay is ``interval x 2^n``, capped at
  ``max_backoff`` (a day), less up to 20 % of jitter (so it stays monotonic in ``n`` and
  never exceeds the cap).
- **Retry-After** (429/503) replaces backoff: the feed waits that long (never less than its
  interval, at most ``max_retry_after``); the caller applies it to every feed of the host.
- **Dead feeds.** A feed failing for ``dead_after`` is dead: polled every
  ``dead_interval`` (a week), never dropped. **410 Gone** stops polling.

Every decision comes with a one-line ``reason`` that ``mediamon status`` shows, and
``interval_rule`` words a feed's interval from its stored state (pinned, adaptive with its
rate and range, or a server's hint).

This module does not know about HTTP, feeds' items or the scheduler; it only does arithmetic.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Literal

from mediamon.clock import duration

DAY = 86_400.0
RATE_WINDOW = timedelta(days=7)
MAX_BACKOFF = DAY  # a failing feed is still tried at least once a day
MAX_RETRY_AFTER = DAY
DEAD_INTERVAL = 7 * DAY
BACKOFF_JITTER = 0.2  # backoff delays are shortened by up to this fraction, at random

Outcome = Literal["ok", "not_modified", "error", "gone"]


@dataclass(frozen=True)
class Limits:
    """The schedule settings the decisions depend on (all in seconds)."""

    min_interval: float = 300.0
    max_interval: float = DAY
    default_interval: float = 1800.0
    jitter: float = 120.0
    dead_after: float = 7 * DAY
    dead_interval: float = DEAD_INTERVAL
    max_backoff: float = MAX_BACKOFF
    max_retry_after: float = MAX_RETRY_AFTER

    def __post_init__(self) -> None:
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")


@dataclass(frozen=True)
class Plan:
    """When to poll a feed next, and why."""

    next_fetch: datetime | None  # None: never (410 Gone)
    interval: float  # the feed's current normal interval, seconds
    reason: str  # one line, for `mediamon status`
    dead: bool = False


def clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def publish_rate(published: Iterable[datetime], now: datetime,
                 window: timedelta = RATE_WINDOW) -> float | None:
    """New items per day over ``window``, from the publication dates a feed gives.

    The rate is the number of dates in the window divided by the time from the oldest of
    them to ``now`` (at least an hour), so a busy feed that only lists its last few hours is
    measured over those hours. None when there are no dates at all (rate unknown); 0.0 when
    every date is older than the window.
    """
    dates = [d for d in published if d <= now]
    if not dates:
        return None
    recent = [d for d in dates if d >= now - window]
    if not recent:
        return 0.0
    span = max((now - min(recent)).total_seconds(), 3600.0)
    return len(recent) * DAY / span


def adaptive_interval(rate_per_day: float | None, limits: Limits) -> float:
    """About one poll per new item, within ``[min_interval, max_interval]``.

    An unknown rate gives the default interval (clamped too); a rate of zero the maximum.
    Non-increasing in the rate.
    """
    if rate_per_day is None or math.isnan(rate_per_day):
        return clamp(limits.default_interval, limits.min_interval, limits.max_interval)
    if rate_per_day <= 0:
        return limits.max_interval
    return clamp(DAY / rate_per_day, limits.min_interval, limits.max_interval)


_SY_PERIODS = {"hourly": 3600.0, "daily": DAY, "weekly": 7 * DAY, "monthly": 30 * DAY,
               "yearly": 365 * DAY}


def sy_seconds(period: str | None, frequency: str | int | None) -> float | None:
    """``sy:updatePeriod`` / ``sy:updateFrequency`` as seconds between updates, or None."""
    if period is None and frequency is None:
        return None
    seconds = _SY_PERIODS.get((period or "daily").strip().lower())
    if seconds is None:
        return None
    try:
        times = int(str(frequency).strip()) if frequency is not None else 1
    except ValueError:
        return None
    if times < 1:
        return None
    return seconds / times


def header_hint(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds the response says it stays fresh: ``Cache-Control: max-age`` (preferred) or
    ``Expires`` (relative to ``Date`` when given, else ``now``). None when neither is usable.
    ``headers`` has lower-case names."""
    control = headers.get("cache-control", "")
    for part in control.split(","):
        name, _, value = part.strip().partition("=")
        if name.strip().lower() == "max-age":
            try:
                return max(0.0, float(int(value.strip().strip('"'))))
            except ValueError:
                return None
        if name.strip().lower() in ("no-cache", "no-store"):
            return 0.0
    expires = headers.get("expires")
    if expires:
        when = _http_date(expires)
        if when is None:
            return 0.0  # RFC 9111: an invalid Expires means "already expired"
        base = _http_date(headers.get("date", "")) or now
        return max(0.0, (when - base).total_seconds())
    return None


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        from datetime import UTC

        when = when.replace(tzinfo=UTC)
    return when


def hint_floor(hints: Iterable[float | None], limits: Limits) -> float:
    """The largest server hint, clamped to ``[0, max_interval]`` (0 when there is none)."""
    usable = [h for h in hints if h is not None and math.isfinite(h) and h > 0]
    return clamp(max(usable, default=0.0), 0.0, limits.max_interval)


def adaptive_rule(rate_per_day: float | None, limits: Limits) -> tuple[float, str]:
    """``adaptive_interval`` and the words that explain it, for ``mediamon status``:
    ``adaptive 3h (8 items/day), within 5m–24h``; ``schedule interval 30m (no dated items
    yet), within 5m–24h``; just ``schedule interval 1m`` when the bounds leave no choice."""
    interval = adaptive_interval(rate_per_day, limits)
    if limits.min_interval == limits.max_interval:
        return interval, f"schedule interval {duration(interval)}"
    if rate_per_day is None or math.isnan(rate_per_day):
        why = f"schedule interval {duration(interval)} (no dated items yet)"
    elif rate_per_day <= 0:
        why = f"adaptive {duration(interval)} (no new items in {RATE_WINDOW.days} days)"
    else:
        why = f"adaptive {duration(interval)} ({per_day(rate_per_day)})"
    return interval, (f"{why}, within {duration(limits.min_interval)}–"
                      f"{duration(limits.max_interval)}")


def per_day(rate: float) -> str:
    """A publishing rate in words: 288 items/day, 2.5 items/day, 0.7 items/week."""
    if rate >= 10:
        return f"{rate:.0f} items/day"
    if rate >= 1:
        return f"{rate:.1f}".rstrip("0").rstrip(".") + " items/day"
    return f"{rate * 7:.1f}".rstrip("0").rstrip(".") + " items/week"


def effective_interval(*, pinned: float | None, adaptive: float, floor: float,
                       limits: Limits, adaptive_why: str | None = None,
                       hint_source: str | None = None) -> tuple[float, str]:
    """The interval to use and how it was chosen (one line: ``mediamon status`` shows it).

    A pinned interval is the operator's choice and is used as given. Otherwise the adaptive
    interval, raised to the servers' hint when that is longer (both within the limits).
    ``adaptive_why`` explains the adaptive interval (``adaptive_rule``); ``hint_source``
    names where the hint came from (ttl, Cache-Control).
    """
    if pinned is not None:
        note = f" (the server asks for at least {duration(floor)})" if floor > pinned else ""
        return pinned, f"pinned {duration(pinned)}{note}"
    interval = clamp(adaptive, limits.min_interval, limits.max_interval)
    why = adaptive_why or (f"adaptive {duration(interval)}, within "
                           f"{duration(limits.min_interval)}–{duration(limits.max_interval)}")
    if floor > interval:
        source = f" ({hint_source})" if hint_source else ""
        return floor, f"server hint {duration(floor)}{source} over {why}"
    return interval, why


def interval_rule(*, pinned: float | None, rate_per_day: float | None,
                  body_hint: float | None, current: float | None, limits: Limits) -> str:
    """How a feed's interval is chosen, from what the database keeps of it (its pinned
    interval, publishing rate, the feed's own hint, the interval in use) and the limits:
    the words ``effective_interval`` gave at the last poll. A hint from response headers
    is not kept: an interval in use that only such a hint explains is shown as one."""
    adaptive, why = adaptive_rule(rate_per_day, limits)
    floor, source = hint_floor([body_hint], limits), "ttl"
    if pinned is None and current is not None and current > max(adaptive, floor) + 1 \
            and current <= limits.max_interval:
        floor, source = current, "Cache-Control"
    return effective_interval(pinned=pinned, adaptive=adaptive, floor=floor, limits=limits,
                              adaptive_why=why, hint_source=source)[1]


def backoff_delay(interval: float, failures: int, *, cap: float = MAX_BACKOFF,
                  u: float = 0.0) -> float:
    """Delay after ``failures`` consecutive failures: ``interval x 2^failures`` capped at
    ``cap`` (but never below ``interval``), shortened by ``u x BACKOFF_JITTER`` of itself.

    ``u`` in [0, 1) is the caller's random draw. For a fixed ``u`` the delay is
    non-decreasing in ``failures``, at least ``interval`` and at most ``max(cap, interval)``.
    """
    if failures <= 0:
        return interval
    full = min(cap, interval * 2.0 ** min(failures, 40))
    delay = full * (1.0 - BACKOFF_JITTER * clamp(u, 0.0, 1.0))
    return max(interval, delay)


def plan_next(
    now: datetime,
    outcome: Outcome,
    *,
    interval: float,
    interval_reason: str = "",
    failures: int = 0,
    failing_since: datetime | None = None,
    retry_after: float | None = None,
    error: str | None = None,
    limits: Limits = Limits(),
    rng: random.Random | None = None,
) -> Plan:
    """When to poll a feed again after a pass.

    Args:
        outcome: what this pass was ("ok" and "not_modified" are successes).
        interval: the feed's normal interval (see ``effective_interval``), seconds.
        interval_reason: how that interval was chosen, for the reason line.
        failures: consecutive failures *including* this pass (0 after a success).
        failing_since: when the current run of failures started (None after a success).
        retry_after: the server's Retry-After in seconds, if it sent one.
        error: the one-line error of this pass, for the reason line.

    Returns:
        A ``Plan``; its ``next_fetch`` is None only for "gone".
    """
    rnd = rng or random
    if outcome == "gone":
        return Plan(None, interval, "HTTP 410 Gone: not polled again")
    if outcome != "error":
        spread = min(limits.jitter, interval / 2) if limits.jitter > 0 else 0.0
        delay = interval + (rnd.uniform(0, spread) if spread > 0 else 0.0)
        return Plan(now + timedelta(seconds=delay), interval, interval_reason or
                    f"interval {duration(interval)}")
    failures = max(failures, 1)
    why = f": {error}" if error else ""
    failing_for = (now - failing_since).total_seconds() if failing_since else 0.0
    dead = failing_for >= limits.dead_after
    if dead:
        delay = limits.dead_interval
        reason = (f"dead: failing for {duration(failing_for)} ({failures} failures){why}; "
                  f"polled every {duration(limits.dead_interval)}")
    elif retry_after is not None:
        # The server said when to come back: that (capped), never sooner than the interval,
        # instead of guessing with backoff.
        wait = clamp(retry_after, 0.0, limits.max_retry_after)
        delay = max(interval, wait)
        capped = " (capped)" if retry_after > limits.max_retry_after else ""
        reason = f"server asked to wait {duration(wait)}{capped} (Retry-After){why}"
    else:
        delay = backoff_delay(interval, failures, cap=limits.max_backoff, u=rnd.random())
        reason = f"backoff after {failures} failure{'s' if failures > 1 else ''}{why}"
    return Plan(now + timedelta(seconds=delay), interval, reason, dead=dead)


def host_wait(retry_after: float, limits: Limits) -> float:
    """How long every feed of a host waits after its server sent ``Retry-After``."""
    return clamp(retry_after, 0.0, limits.max_retry_after)

