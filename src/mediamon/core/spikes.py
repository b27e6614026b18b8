"""Volume spikes: is the recent count of items on a topic or a story unusual? The pure core.

The unit is **items per hour**. For one topic or story, ``history`` holds its kept items
per hour, oldest first: ``baseline`` hours, then the ``window`` hours up to now. The
question is whether the window's count ``k`` is unusual against what the baseline
predicts:

    rate        items per hour over the hours of the baseline that were observed (the
                database may be younger than the baseline); with ``daily_cycle``, one rate
                per hour of the day (UTC), each pooled with its neighbours and shrunk
                toward the flat rate by ``PRIOR_ITEMS`` pseudo-items (a gamma prior), so
                the morning rise of a region's outlets is expected rather than a surge,
                while a topic with a few items a day keeps its flat rate
    expected    lambda = the rates summed over the window's hours, and never less than
                ``min_rate * window``: a new story, or a topic that is quiet, has no
                baseline to speak of, and a floor keeps its first items from looking
                infinitely unlikely
    p           P(X >= k): how often a count this high would come by chance if the
                baseline still held. Poisson(lambda) when the baseline varies like a
                Poisson stream; when its window-long blocks vary more (``dispersion``), a
                negative binomial with the same mean and that variance, so a naturally
                bursty topic needs a bigger rise
    unusual     p <= ``threshold`` AND k >= ``min_count`` AND k >= ``min_ratio * lambda``
                AND at least ``MIN_HISTORY_HOURS`` of the baseline were observed (a new
                database's first day is everyone's first day)

Why these tests together: a tail test alone fires on a large topic whose volume rises by
20 % (with hundreds of items a small relative rise is "significant"), so an effect size
(``min_ratio``) and a floor on the count (``min_count``) keep alerts to what an analyst
would call a surge; the threshold is strict (1e-6) because every topic and story is checked
many times a day. Why not an EWMA: a trailing mean over a fixed baseline is an EWMA with
a flat kernel; it is simpler to explain ("1.2 expected from the last 7 days") and, unlike an
EWMA, the expected count does not chase the surge it should be flagging.

A **surge** is a run of unusual checks of one topic or story. It fires once, when it
starts (``surge_step``); later unusual checks continue it while they come at most
``cooldown`` after the last unusual one, so a surge that lasts a day, or flickers
around the threshold, is one alert.

This module decides; it reads and writes nothing (``store.trends`` counts and records,
``desk.trends`` runs the checks). docs/alerts.md has the measured alerts on synthetic
histories.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Scope = Literal["topic", "story"]
SurgeStep = Literal["new", "continues", "quiet"]

PRIOR_ITEMS = 10.0  # pseudo-items at the flat rate mixed into each hour-of-day rate
MIN_HISTORY_HOURS = 24  # with less observed baseline than this, nothing is unusual yet


@dataclass(frozen=True)
class SpikeSettings:
    """The ``[spikes]`` section of the config (docs/alerts.md)."""

    enabled: bool = True
    window: int = 6  # hours: the recent period whose count is tested
    baseline: int = 7 * 24  # hours before the window: the trailing baseline
    threshold: float = 1e-6  # a tail probability at most this is unusual ...
    min_count: int = 6  # ... with at least this many items in the window ...
    min_ratio: float = 4.0  # ... and at least this many times the expected count
    min_rate: float = 0.2  # items per hour the baseline is never taken to be below
    cooldown: int = 24  # hours after a surge's last unusual check before it can fire again
    daily_cycle: bool = True  # topics: expect by hour of day (stories: one flat rate)

    @property
    def hours(self) -> int:
        """How many hours of history one check reads: the baseline and the window."""
        return self.baseline + self.window


@dataclass(frozen=True)
class Assessment:
    """One check of one topic or story: the window's count against what was expected."""

    count: int
    expected: float
    log_p: float  # natural log of the Poisson tail probability
    unusual: bool
    baseline_hours: int  # observed hours of baseline the expectation rests on
    dispersion: float = 1.0  # the baseline's variance over its mean (1: Poisson)

    @property
    def p(self) -> float:
        return math.exp(self.log_p)

    @property
    def score(self) -> float:
        """-log10(p): 3 means p = 0.001; how unusual, on a scale that does not underflow."""
        return -self.log_p / math.log(10) if self.log_p < 0 else 0.0

    @property
    def ratio(self) -> float:
        return self.count / self.expected if self.expected > 0 else math.inf


def poisson_log_sf(k: int, lam: float) -> float:
    """log P(X >= k) for X ~ Poisson(lam), accurate far into the tail (no underflow).

    Above the mean the tail is summed upward from k (each term is the last times
    lam / j, so it converges geometrically); at or below it, one minus the lower sum."""
    if k <= 0:
        return 0.0
    if lam <= 0:
        return -math.inf
    log_term = -lam + k * math.log(lam) - math.lgamma(k + 1)
    if k > lam:
        total, term, j = 1.0, 1.0, k
        while term > 1e-17 * total and j < k + 100_000:
            j += 1
            term *= lam / j
            total += term
        return log_term + math.log(total)
    # P(X <= k - 1), summed downward from k - 1 (the largest terms come first).
    term = math.exp(log_term) * k / lam  # P(X = k - 1)
    cdf, j = 0.0, k - 1
    while j >= 0 and (term > 1e-17 * cdf or cdf == 0.0):
        cdf += term
        term *= j / lam
        j -= 1
    return math.log1p(-min(cdf, 1.0 - 1e-16))  # k <= lam: the tail holds about half or more


def poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) for X ~ Poisson(lam)."""
    return math.exp(poisson_log_sf(k, lam))


def negbin_log_sf(k: int, mean: float, dispersion: float) -> float:
    """log P(X >= k) for a negative binomial with this ``mean`` and variance
    ``dispersion * mean`` (a Poisson whose rate varies; ``dispersion`` 1 is Poisson).

    The tail is summed upward from k: term j+1 is term j times (j + r) / (j + 1) * q,
    with r = mean / (dispersion - 1) and q = 1 - r / (r + mean)."""
    if dispersion <= 1.0 + 1e-9 or k <= 0 or mean <= 0:
        return poisson_log_sf(k, mean)
    r = mean / (dispersion - 1.0)
    log_q = math.log(mean / (r + mean))
    log_term = (math.lgamma(k + r) - math.lgamma(r) - math.lgamma(k + 1)
                + r * math.log(r / (r + mean)) + k * log_q)
    q = math.exp(log_q)
    if k <= mean:
        # One minus the lower sum (the upper tail holds about half or more).
        term, cdf, j = math.exp(log_term) * k / (k - 1 + r) / q, 0.0, k - 1
        while j >= 0 and (term > 1e-17 * cdf or cdf == 0.0):
            cdf += term
            term *= j / (j - 1 + r) / q if j > 0 else 0.0
            j -= 1
        return math.log1p(-min(cdf, 1.0 - 1e-16))
    total, term, j = 1.0, 1.0, k
    while term > 1e-17 * total and j < k + 1_000_000:
        term *= (j + r) / (j + 1) * q
        total += term
        j += 1
    return log_term + math.log(total)


def dispersion(blocks: Sequence[tuple[int, float]]) -> float:
    """How much more the counts vary than a Poisson stream would: the Pearson statistic
    sum((count - expected)^2 / expected) over the baseline's window-long blocks, divided
    by their number less one, at least 1. The largest tenth of the terms (at least one)
    is left out, so an earlier surge does not make a topic look bursty for the week it
    stays in the baseline. Fewer than 4 blocks: 1."""
    terms = sorted((c - e) ** 2 / e for c, e in blocks if e > 0)
    if len(terms) < 4:
        return 1.0
    kept = len(terms) - max(1, len(terms) // 10)
    return max(1.0, sum(terms[:kept]) / (kept - 1))


def hour_of_day_rates(baseline: Sequence[int], *, first_hour: int,
                      observed: int) -> list[float]:
    """Items per hour for each hour of the day (0-23 UTC) from the last ``observed`` hours
    of ``baseline`` (whose first hour is ``first_hour`` o'clock): each hour pooled with
    the one before and after it (weights 1, 2, 1), then shrunk toward the flat rate by
    ``PRIOR_ITEMS`` pseudo-items: (count + k * flat) / (hours + k), k = PRIOR_ITEMS / flat.
    A busy topic gets its own profile; one with a few items a week stays nearly flat."""
    counts = [0.0] * 24
    seen = [0.0] * 24
    start = len(baseline) - observed
    for i in range(start, len(baseline)):
        hour = (first_hour + i) % 24
        counts[hour] += baseline[i]
        seen[hour] += 1
    flat = sum(counts) / observed if observed else 0.0
    if flat == 0:
        return [0.0] * 24
    k = PRIOR_ITEMS / flat
    rates = []
    for h in range(24):
        c = counts[h - 1] + 2 * counts[h] + counts[(h + 1) % 24]
        n = seen[h - 1] + 2 * seen[h] + seen[(h + 1) % 24]
        rates.append((c + k * flat) / (n + k))
    return rates


def assess(history: Sequence[int], *, settings: SpikeSettings, last_hour: int,
           observed: int | None = None, daily: bool | None = None) -> Assessment:
    """Judge the last ``settings.window`` hours of ``history`` against the hours before.

    Args:
        history: items per hour, oldest first, ``settings.hours`` long.
        last_hour: the hour of the day (0-23 UTC) of the newest hour.
        observed: how many of the baseline's hours (the most recent ones) were observed:
            before that the database was not collecting. None: all of them.
        daily: model the hour of day (default ``settings.daily_cycle``; stories: False).
    Raises:
        ValueError: ``history`` is not ``settings.hours`` long.
    """
    if len(history) != settings.hours:
        raise ValueError(f"history must hold {settings.hours} hours, not {len(history)}")
    base, window = history[: settings.baseline], history[settings.baseline :]
    seen = settings.baseline if observed is None else max(0, min(observed, settings.baseline))
    count = sum(window)
    if seen == 0:
        rates = [0.0] * 24
    elif settings.daily_cycle if daily is None else daily:
        rates = hour_of_day_rates(base, first_hour=(last_hour - settings.hours + 1) % 24,
                                  observed=seen)
    else:
        rates = [sum(base[settings.baseline - seen :]) / seen] * 24
    first = (last_hour - settings.hours + 1) % 24  # the hour of the day of history[0]

    def expected(start: int, hours: int) -> float:
        return sum(rates[(first + start + i) % 24] for i in range(hours))

    lam = max(expected(settings.baseline, settings.window), settings.min_rate * settings.window)
    blocks = [(sum(base[end - settings.window : end]), expected(end - settings.window,
                                                                 settings.window))
              for end in range(settings.baseline, settings.baseline - seen + settings.window - 1,
                               -settings.window)]
    phi = dispersion(blocks)
    log_p = negbin_log_sf(count, lam, phi)
    unusual = (log_p <= math.log(settings.threshold) and count >= settings.min_count
               and count >= settings.min_ratio * lam and seen >= MIN_HISTORY_HOURS)
    return Assessment(count, lam, log_p, unusual, seen, phi)


def surge_step(last_unusual: datetime | None, unusual: bool, *, now: datetime,
               cooldown: int) -> SurgeStep:
    """What one check means for a topic's or story's surges.

    ``last_unusual`` is the latest check that found it unusual (None: never). An unusual
    check within ``cooldown`` hours of that one continues the same surge; a later one
    starts a new surge (which alerts); a check that is not unusual is quiet."""
    if not unusual:
        return "quiet"
    if last_unusual is not None and now - last_unusual <= timedelta(hours=cooldown):
        return "continues"
    return "new"


@dataclass(frozen=True)
class Fired:
    """A surge found by ``replay``: the hour it started and the check that found it."""

    hour: int
    assessment: Assessment


def replay(counts: Sequence[int], *, settings: SpikeSettings, first_hour: int = 0,
           daily: bool | None = None, observed_from: int = 0) -> list[Fired]:
    """Run the checks over a whole history of hourly counts, once an hour, as the daemon
    would: the surges that would have alerted. Checks start when a full window and
    baseline lie behind them; ``observed_from`` is the first hour that was collected
    (earlier hours count as not observed). Used to measure the model (docs/alerts.md)."""
    fired: list[Fired] = []
    last: int | None = None
    for end in range(settings.hours, len(counts) + 1):
        history = counts[end - settings.hours : end]
        observed = max(0, min(settings.baseline, end - settings.window - observed_from))
        a = assess(history, settings=settings, last_hour=(first_hour + end - 1) % 24,
                   observed=observed, daily=daily)
        hour = end - 1
        step = surge_step(None if last is None else _at(last), a.unusual, now=_at(hour),
                          cooldown=settings.cooldown)
        if step != "quiet":
            last = hour
        if step == "new":
            fired.append(Fired(hour, a))
    return fired


def _at(hour: int) -> datetime:
    """Hour ``hour`` of a replayed history as a time (only differences matter)."""
    return datetime(2000, 1, 1) + timedelta(hours=hour)


def describe(scope: Scope, name: str, *, count: int, window: int, expected: float,
             p: float) -> str:
    """The alert's sentence: ``unusual volume: 14 items in 6 h on topic relations, 1.2
    expected (p < 0.001)``."""
    chance = f"p = {p:.3f}" if p >= 0.001 else next(
        f"p < {bound:g}" for bound in (1e-9, 1e-6, 1e-3) if p < bound)
    items = "item" if count == 1 else "items"
    return (f"unusual volume: {count} {items} in {window} h on {scope} {name}, "
            f"{expected:.1f} expected ({chance})")
