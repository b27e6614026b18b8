"""The scheduling rules as pure functions: adaptive interval, hints, backoff, dead, gone."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mediamon.core.policy import (
    DAY,
    Limits,
    adaptive_interval,
    backoff_delay,
    effective_interval,
    header_hint,
    hint_floor,
    plan_next,
    publish_rate,
    sy_seconds,
)

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
LIMITS = Limits(min_interval=300, max_interval=DAY, default_interval=1800, jitter=120)

seconds = st.floats(min_value=1, max_value=30 * DAY, allow_nan=False)
rates = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))


@st.composite
def limits(draw: st.DrawFn) -> Limits:
    low = draw(st.floats(min_value=1, max_value=DAY))
    high = draw(st.floats(min_value=low, max_value=30 * DAY))
    return Limits(min_interval=low, max_interval=high,
                  default_interval=draw(seconds), jitter=draw(st.floats(0, 3600)))


@settings(max_examples=200, deadline=None)
@given(rates, limits())
def test_adaptive_interval_stays_within_min_and_max(rate: float | None, lim: Limits) -> None:
    """Whatever the publishing rate, the adaptive interval is between min and max."""
    assert lim.min_interval <= adaptive_interval(rate, lim) <= lim.max_interval


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1e6), st.floats(0, 1e6), limits())
def test_adaptive_interval_shrinks_as_a_feed_publishes_more(a: float, b: float, lim: Limits
                                                            ) -> None:
    """A feed that publishes more is never polled less often."""
    low, high = sorted((a, b))
    assert adaptive_interval(high, lim) <= adaptive_interval(low, lim)


def test_adaptive_interval_examples() -> None:
    """About one poll per new item: 48 a day is every 30 minutes; none at all is the maximum."""
    assert adaptive_interval(48, LIMITS) == 1800
    assert adaptive_interval(10_000, LIMITS) == 300  # clamped to the minimum
    assert adaptive_interval(0.0, LIMITS) == DAY
    assert adaptive_interval(None, LIMITS) == 1800  # unknown: the default interval


@settings(max_examples=300, deadline=None)
@given(seconds, st.integers(0, 200), st.integers(0, 200), st.floats(0, 0.999), seconds)
def test_backoff_is_monotonic_in_failures_and_bounded(interval: float, f1: int, f2: int,
                                                      u: float, cap: float) -> None:
    """More consecutive failures never shorten the delay; it stays in [interval, cap]."""
    low, high = sorted((f1, f2))
    a = backoff_delay(interval, low, cap=cap, u=u)
    b = backoff_delay(interval, high, cap=cap, u=u)
    assert a <= b
    for delay in (a, b):
        assert interval <= delay <= max(cap, interval)


def test_backoff_doubles_then_caps_at_a_day() -> None:
    """interval x 2^failures, until a day."""
    assert [backoff_delay(600, n) for n in range(4)] == [600, 1200, 2400, 4800]
    assert backoff_delay(600, 30) == DAY


@settings(max_examples=300, deadline=None)
@given(seconds, st.integers(0, 100), st.one_of(st.none(), st.floats(0, 1e9)),
       st.sampled_from(["ok", "not_modified", "error"]), st.integers(0, 2**32))
def test_plan_never_below_the_interval_nor_past_the_caps(interval: float, failures: int,
                                                         retry_after: float | None,
                                                         outcome: str, seed: int) -> None:
    """The next poll is never sooner than the interval, and never later than the longest
    wait any rule allows (interval + jitter, backoff cap, Retry-After cap, dead interval)."""
    assume(interval >= LIMITS.min_interval)
    plan = plan_next(NOW, outcome, interval=interval, failures=failures,  # type: ignore[arg-type]
                     retry_after=retry_after, limits=LIMITS, rng=random.Random(seed))
    assert plan.next_fetch is not None
    delay = (plan.next_fetch - NOW).total_seconds()
    longest = max(interval + LIMITS.jitter, LIMITS.max_backoff, LIMITS.max_retry_after,
                  LIMITS.dead_interval)
    assert interval - 1e-5 <= delay <= longest + 1e-5  # datetimes keep microseconds


def test_success_polls_at_the_interval_plus_bounded_jitter() -> None:
    """After a success the delay is the interval plus at most the jitter."""
    delays = {(plan_next(NOW, "ok", interval=1800, limits=LIMITS,
                         rng=random.Random(i)).next_fetch - NOW).total_seconds()
              for i in range(50)}
    assert all(1800 <= d <= 1920 for d in delays)
    assert len(delays) > 1  # feeds do not synchronise


def test_retry_after_is_honoured_and_capped() -> None:
    """A Retry-After beyond the cap is cut to it, and the reason says so."""
    lim = Limits(max_retry_after=3600)
    plan = plan_next(NOW, "error", interval=600, failures=1, retry_after=7200, limits=lim,
                     error="HTTP 429 Too Many Requests", rng=random.Random(1))
    assert plan.next_fetch == NOW + timedelta(hours=1)
    assert "Retry-After" in plan.reason and "capped" in plan.reason
    short = plan_next(NOW, "error", interval=600, failures=1, retry_after=30, limits=lim,
                      rng=random.Random(1))
    assert (short.next_fetch - NOW).total_seconds() >= 600  # backoff wins over a short wait


def test_feed_failing_long_enough_is_dead_and_polled_weekly() -> None:
    """Past dead_after of failures a feed is dead: polled every dead_interval, not dropped."""
    lim = Limits(dead_after=3 * DAY)
    alive = plan_next(NOW, "error", interval=600, failures=5,
                      failing_since=NOW - timedelta(days=2), limits=lim)
    dead = plan_next(NOW, "error", interval=600, failures=50,
                     failing_since=NOW - timedelta(days=3), limits=lim, error="HTTP 500")
    assert not alive.dead and "backoff after 5 failures" in alive.reason
    assert dead.dead and dead.next_fetch == NOW + timedelta(seconds=lim.dead_interval)
    assert dead.reason.startswith("dead: failing for 3d") and "HTTP 500" in dead.reason


def test_gone_is_never_polled_again() -> None:
    """410 Gone gives no next poll at all."""
    plan = plan_next(NOW, "gone", interval=600)
    assert plan.next_fetch is None and "410" in plan.reason


def test_publish_rate_counts_recent_dated_items() -> None:
    """The rate is items in the window over the time since the oldest of them."""
    hourly = [NOW - timedelta(hours=h) for h in range(1, 25)]
    assert publish_rate(hourly, NOW) == pytest.approx(24.0)
    assert publish_rate([NOW - timedelta(days=30)], NOW) == 0.0
    assert publish_rate([], NOW) is None
    assert publish_rate([NOW + timedelta(days=1)], NOW) is None  # future dates are ignored


def test_server_hints_from_headers_and_body() -> None:
    """max-age wins over Expires; Expires is read against Date; sy:* is period/frequency."""
    assert header_hint({"cache-control": "public, max-age=900"}, NOW) == 900
    assert header_hint({"cache-control": "no-cache"}, NOW) == 0
    expires = {"expires": "Sun, 01 Nov 2026 13:00:00 GMT", "date": "Sun, 01 Nov 2026 12:30:00 GMT"}
    assert header_hint(expires, NOW) == 1800
    assert header_hint({"expires": "0"}, NOW) == 0  # invalid: already expired
    assert header_hint({}, NOW) is None
    assert sy_seconds("hourly", "2") == 1800
    assert sy_seconds(None, "4") == DAY / 4  # the period defaults to daily
    assert sy_seconds("fortnightly", "1") is None


def test_hints_are_a_clamped_floor_and_a_pinned_interval_wins() -> None:
    """A hint raises the adaptive interval, never past the maximum; a pinned one is kept."""
    floor = hint_floor([3600.0, None, 60.0], LIMITS)
    assert floor == 3600
    assert hint_floor([30 * DAY], LIMITS) == DAY
    interval, why = effective_interval(pinned=None, adaptive=900, floor=floor, limits=LIMITS)
    assert (interval, why) == (3600, "server hint 1h over adaptive 15m, within 5m–24h")
    interval, why = effective_interval(pinned=60, adaptive=900, floor=floor, limits=LIMITS)
    assert interval == 60 and "pinned" in why and "at least 1h" in why
