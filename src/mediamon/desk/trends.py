"""Volume trends and spikes: ``mediamon trends``, and the daemon's check for surges.

One check, at ``now``::

    counts  = store: kept items per hour, per topic and per story (stories with at least
              min_count items in the window), over [spikes] baseline + window
    judge   = core.spikes.assess each one (topics with the daily cycle, stories flat)
    surges  = core.spikes.surge_step against the topic's or story's last surge: a new one
              is recorded (table spikes), a continuing one moves its last unusual check on

``[[alerts]]`` with ``when = "spikes"`` send the new surges through their channels, once
per surge and channel (``desk.alerts``). The daemon checks after feed passes that stored
items (``daemon_job``, every ``DAEMON_SECONDS`` when the store has something new).

This module decides nothing itself: the model is ``core.spikes``, the SQL ``store.trends``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mediamon.clock import utc_iso
from mediamon.config import Config
from mediamon.core.spikes import Assessment, Scope, SpikeSettings, assess, describe, surge_step
from mediamon.store.sqlite import Store
from mediamon.store.trends import SpikeRow

log = logging.getLogger("mediamon.desk.trends")

DAEMON_SECONDS = 30.0  # how often the daemon looks for new items to check


@dataclass(frozen=True)
class Trend:
    """One topic or story at one check."""

    scope: Scope
    key: str
    assessment: Assessment
    title: str | None = None  # a story's title
    url: str | None = None
    reach: int | None = None

    @property
    def name(self) -> str:
        return self.key if self.scope == "topic" else (self.title or self.key)


def _observed(store: Store, settings: SpikeSettings, now: datetime) -> int:
    """Hours of the baseline the database was collecting (see ``collecting_since``)."""
    since = store.collecting_since(now=now, hours=settings.hours)
    if since is None:
        return 0
    hours = (now - timedelta(hours=settings.window) - since).total_seconds() // 3600
    return max(0, min(settings.baseline, int(hours)))


def measure(store: Store, settings: SpikeSettings, *, now: datetime,
            min_story_items: int | None = None) -> list[Trend]:
    """Every topic with kept items in the period, and every story with at least
    ``min_story_items`` (default ``settings.min_count``) in the window, judged at ``now``;
    most unusual first."""
    observed = _observed(store, settings, now)
    last_hour = (now - timedelta(minutes=30)).hour  # the middle of the newest hour
    trends = []
    for topic, counts in store.topic_hourly_counts(now=now, hours=settings.hours).items():
        trends.append(Trend("topic", topic, assess(counts, settings=settings,
                                                   last_hour=last_hour, observed=observed)))
    stories = store.story_hourly_counts(
        now=now, hours=settings.hours, window=settings.window,
        min_count=settings.min_count if min_story_items is None else min_story_items)
    about = store.story_summaries(list(stories))
    for story, counts in stories.items():
        info = about.get(story, {})
        trends.append(Trend("story", story,
                            assess(counts, settings=settings, last_hour=last_hour,
                                   observed=observed, daily=False),
                            info.get("title"), info.get("url"), info.get("reach")))
    trends.sort(key=lambda t: (-t.assessment.score, -t.assessment.count, t.scope, t.key))
    return trends


def spike_id(scope: str, key: str, started: datetime) -> str:
    return hashlib.sha256(f"{scope}\0{key}\0{utc_iso(started)}".encode()).hexdigest()[:16]


def detect(store: Store, settings: SpikeSettings, *, now: datetime) -> list[SpikeRow]:
    """One check: record the surges that start now, continue the ones going on. Returns
    the new surges (what the spike alerts will send). One transaction."""
    trends = [t for t in measure(store, settings, now=now) if t.assessment.unusual]
    new: list[SpikeRow] = []
    with store.transaction():
        for scope in ("topic", "story"):
            mine = [t for t in trends if t.scope == scope]
            last = store.last_unusual(scope, [t.key for t in mine])
            for t in mine:
                a = t.assessment
                previous = last.get(t.key)
                step = surge_step(previous[1] if previous else None, a.unusual, now=now,
                                  cooldown=settings.cooldown)
                if step == "continues" and previous:
                    store.continue_spike(previous[0], now=now, count=a.count)
                elif step == "new":
                    row = SpikeRow(id=spike_id(scope, t.key, now), scope=scope, key=t.key,
                                   started=utc_iso(now) or "", last_unusual=utc_iso(now) or "",
                                   window_hours=settings.window, count=a.count,
                                   expected=round(a.expected, 3), p=a.p,
                                   score=round(a.score, 2), peak=a.count)
                    if store.record_spike(row):
                        new.append(row)
    for row in new:
        log.info("volume spike", extra={"fields": {
            "scope": row["scope"], "key": row["key"], "count": row["count"],
            "expected": row["expected"], "p": row["p"]}})
    return new


def spike_text(scope: str, key: str, *, title: str | None, count: int, window: int,
               expected: float, p: float) -> str:
    """The alert's sentence for a surge (``core.spikes.describe``); a story by its title."""
    name = key if scope == "topic" else f"“{title}”" if title else key
    return describe("topic" if scope == "topic" else "story", name, count=count,
                    window=window, expected=expected, p=p)


def trend_rows(trends: list[Trend], settings: SpikeSettings, *,
               rising_only: bool = True) -> list[dict[str, Any]]:
    """``mediamon trends`` rows: scope, id, name, count, expected, ratio, score, unusual."""
    rows = []
    for t in trends:
        a = t.assessment
        if rising_only and a.count <= a.expected:
            continue
        rows.append({
            "scope": t.scope, "id": t.key, "name": t.name, "count": a.count,
            "expected": round(a.expected, 2), "ratio": round(a.ratio, 2),
            "score": round(a.score, 2), "p": a.p, "dispersion": round(a.dispersion, 2),
            "baseline_hours": a.baseline_hours, "unusual": a.unusual,
            "window_hours": settings.window, "url": t.url, "reach": t.reach,
        })
    return rows


class DaemonJob:
    """The daemon's spike check: after feed passes that stored items (the store's
    ``kept_mark`` moved), check for surges in a thread with its own connection. Never
    raises."""

    def __init__(self) -> None:
        self.mark: int | None = None

    async def run(self, get_config: Callable[[], Config],
                  open_store: Callable[[Config], AbstractContextManager[Store]] | None = None,
                  ) -> list[SpikeRow]:
        """``open_store``: how to open the configured database (``desk.jobs.job_store``
        opens PostgreSQL's too); by default its SQLite file."""
        config = get_config()
        settings = config.spikes
        if not settings.enabled:
            return []

        def run() -> list[SpikeRow]:
            opened = open_store(config) if open_store else \
                Store(config.db_path, stories=config.stories)
            with opened as store:
                mark = store.kept_mark()
                if mark == self.mark:
                    return []
                found = detect(store, settings, now=datetime.now(UTC))
                self.mark = mark
                return found

        try:
            return await asyncio.to_thread(run)
        except Exception:
            log.exception("spike check failed")
            return []
