"""The volume-spike model (core/spikes.py) on synthetic, seeded hourly histories."""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from decimal import Decimal, getcontext

import pytest
from hypothesis import given
from hypothesis import strategies as st

import spikes_eval
from mediamon.core.spikes import (
    SpikeSettings,
    assess,
    describe,
    dispersion,
    negbin_log_sf,
    poisson_log_sf,
    poisson_sf,
    replay,
    surge_step,
)

S = SpikeSettings()


def exact_poisson_sf(k: int, lam: float) -> float:
    """P(X >= k) summed exactly in 60-digit decimals: an independent reference."""
    getcontext().prec = 60
    d = Decimal(repr(lam))
    term, below = (-d).exp(), Decimal(0)
    for j in range(k):
        below += term
        term = term * d / (j + 1)
    return float(Decimal(1) - below)


@pytest.mark.parametrize("lam", [0.05, 1.2, 6.0, 40.0, 250.0])
@pytest.mark.parametrize("k", [0, 1, 3, 7, 14, 30, 80, 300, 600])
def test_poisson_tail_matches_an_exact_sum(lam: float, k: int) -> None:
    """The Poisson tail equals a 60-digit exact sum, far into the tail."""
    want = exact_poisson_sf(k, lam)
    if want < 1e-40:
        return  # beyond what the 60-digit difference resolves
    assert poisson_sf(k, lam) == pytest.approx(want, rel=1e-9)


def test_the_tail_does_not_underflow() -> None:
    """A count far above its mean still gets a finite log-probability (and a score)."""
    assert poisson_log_sf(2000, 1.0) < -10_000
    assert math.isfinite(poisson_log_sf(2000, 1.0))


def direct_negbin_sf(k: int, mean: float, disp: float) -> float:
    """1 - P(X < k), each pmf term from lgamma on its own (not the recurrence)."""
    r = mean / (disp - 1)
    p = r / (r + mean)
    below = sum(math.exp(math.lgamma(j + r) - math.lgamma(r) - math.lgamma(j + 1)
                         + r * math.log(p) + j * math.log(1 - p)) for j in range(k))
    return 1 - below


@pytest.mark.parametrize(("k", "mean", "disp"), [
    (3, 1.2, 1.5), (10, 5.0, 2.0), (40, 20.0, 3.0), (30, 25.0, 5.0), (5, 8.0, 1.2)])
def test_negative_binomial_tail_matches_its_pmf_sum(k: int, mean: float, disp: float) -> None:
    """The negative binomial tail equals one minus its directly computed pmf terms."""
    assert math.exp(negbin_log_sf(k, mean, disp)) == pytest.approx(
        direct_negbin_sf(k, mean, disp), rel=1e-7)


@given(st.integers(0, 200), st.floats(0.01, 100))
def test_dispersion_one_is_poisson_and_more_is_a_heavier_tail(k: int, lam: float) -> None:
    """Dispersion 1 is the Poisson tail; more dispersion never makes a high count rarer."""
    assert negbin_log_sf(k, lam, 1.0) == poisson_log_sf(k, lam)
    if k > 2 * lam + 2:
        assert negbin_log_sf(k, lam, 3.0) >= poisson_log_sf(k, lam)


def test_dispersion_is_one_for_steady_counts_and_more_for_bursty_ones() -> None:
    """Blocks that vary like Poisson give 1; blocks that swing widely give more; one
    outlying block (an earlier surge) alone does not."""
    steady = [(10, 10.0), (12, 10.0), (9, 10.0), (11, 10.0), (8, 10.0), (10, 10.0)]
    bursty = [(2, 10.0), (25, 10.0), (4, 10.0), (22, 10.0), (1, 10.0), (18, 10.0)]
    one_surge = [*steady, (60, 10.0)]
    assert dispersion(steady) == 1.0
    assert dispersion(bursty) > 5
    assert dispersion(one_surge) == 1.0
    assert dispersion(steady[:3]) == 1.0  # too few blocks to say


def flat(rate: float, hours: int, seed: int) -> list[int]:
    rng = random.Random(seed)
    return [spikes_eval.poisson(rng, rate) for _ in range(hours)]


def test_a_surge_is_unusual_and_a_quiet_window_is_not() -> None:
    """14 items in 6 hours against about 1 expected is unusual; a quiet window is not."""
    history = flat(0.2, S.hours, seed=1)
    history[-S.window:] = [0] * S.window
    quiet = assess(history, settings=S, last_hour=12)
    assert not quiet.unusual
    history[-S.window:] = [2, 3, 2, 3, 2, 2]
    surge = assess(history, settings=S, last_hour=12)
    assert surge.unusual and surge.count == 14
    assert 1.0 <= surge.expected <= 2.0 and surge.score > 6


def test_min_count_and_min_ratio_hold_back_small_or_relative_rises() -> None:
    """A count under min_count never fires; neither does a large topic's 30 % rise,
    however significant."""
    history = [0] * S.hours
    history[-1] = 5
    assert not assess(history, settings=S, last_hour=5).unusual  # p is tiny, count is 5
    big = flat(100.0, S.hours, seed=2)
    big[-S.window:] = [130] * S.window
    a = assess(big, settings=S, last_hour=5, daily=False)
    assert a.log_p < math.log(S.threshold) and not a.unusual


def test_history_must_have_the_configured_length() -> None:
    """A history of the wrong length is refused, not silently misaligned."""
    with pytest.raises(ValueError, match="must hold 174 hours"):
        assess([0] * 10, settings=S, last_hour=0)


def test_unobserved_hours_do_not_count_as_quiet_ones() -> None:
    """Only the observed hours of the baseline make the rate: a topic with 4 items an hour
    for a day is not 'surging' because the database did not exist the week before."""
    history = [0] * (S.baseline - 30) + [4] * 30 + [5] * S.window
    assert assess(history, settings=S, last_hour=10, observed=30, daily=False).expected == \
        pytest.approx(24.0)
    # Counted as quiet, the unobserved week would drag the expectation down to a fifth.
    assert assess(history, settings=S, last_hour=10, daily=False).expected < 5


def test_surge_step_fires_once_then_cools_down() -> None:
    """The first unusual check starts a surge; one within the cool-down continues it; one
    after the cool-down starts another; a quiet check is quiet."""
    t = datetime(2026, 3, 1, 12)
    assert surge_step(None, True, now=t, cooldown=24) == "new"
    assert surge_step(t, True, now=t + timedelta(hours=20), cooldown=24) == "continues"
    assert surge_step(t, True, now=t + timedelta(hours=25), cooldown=24) == "new"
    assert surge_step(t, False, now=t + timedelta(hours=1), cooldown=24) == "quiet"


def surge_history(seed: int) -> tuple[list[int], list[int]]:
    """Three weeks at 0.5 items an hour with surges starting at two known hours."""
    counts = flat(0.5, 21 * 24, seed)
    starts = [10 * 24 + 5, 16 * 24 + 14]
    for start in starts:
        for h in range(start, start + 3):
            counts[h] += 6
    return counts, starts


@pytest.mark.parametrize("seed", range(5))
def test_known_surges_fire_exactly_once_each(seed: int) -> None:
    """Each of two surges (18 extra items in 3 hours) fires once, within its window, and
    nothing else fires."""
    counts, starts = surge_history(seed)
    fired = [f.hour for f in replay(counts, settings=S)]
    assert len(fired) == 2
    for hour, start in zip(fired, starts, strict=True):
        assert start <= hour <= start + 2


def test_a_flickering_surge_fires_once_within_the_cooldown_and_again_after() -> None:
    """Bursts 10 hours apart are one surge; a burst 40 hours after the last is another."""
    counts = flat(0.3, 14 * 24, seed=7)
    for start in (9 * 24, 9 * 24 + 10, 9 * 24 + 50):
        counts[start] += 20
    fired = [f.hour for f in replay(counts, settings=S)]
    assert len(fired) == 2 and fired[0] == 9 * 24
    assert 9 * 24 + 50 <= fired[1] < 9 * 24 + 50 + S.window
    no_cooldown = replay(counts, settings=SpikeSettings(cooldown=0))
    assert len(no_cooldown) > len(fired)  # without a cool-down every unusual hour alerts


@pytest.mark.parametrize("kind", ["poisson", "quiet", "daily", "growth"])
def test_quiet_periods_daily_cycles_and_slow_growth_do_not_fire(kind: str) -> None:
    """Seeded five-week histories without surges (flat, bursty, day/night, growing x4)
    at 0.1 to 10 items an hour raise no alert."""
    for seed in range(5):
        for h in spikes_eval.histories(seed):
            if h.kind == kind:
                assert replay(h.counts, settings=S, daily=h.daily) == [], (seed, kind)


def test_a_new_story_fires_only_when_it_has_many_items() -> None:
    """A story's first few items (2-6) never fire; 12 or more in a few hours do, once."""
    for seed in range(10):
        few, many = [h for h in spikes_eval.histories(seed) if h.kind.startswith("new story")]
        assert replay(few.counts, settings=S, daily=False) == []
        assert len(replay(many.counts, settings=S, daily=False)) == 1


def morning_bulletin(days: int) -> list[int]:
    """A topic whose items all come between 08:00 and 12:00 UTC, 5 an hour."""
    rng = random.Random(3)
    return [spikes_eval.poisson(rng, 5.0) if 8 <= h % 24 < 12 else 0
            for h in range(days * 24)]


def test_a_daily_cycle_is_expected_rather_than_a_surge() -> None:
    """Every morning's burst of a topic published only in the morning is expected by the
    hour-of-day model; a flat rate would call it a surge."""
    counts = morning_bulletin(21)
    assert replay(counts, settings=S) == []
    noon = 20 * 24 + 12  # the check at 12:00 on the last day sees the whole bulletin
    daily = assess(counts[noon - S.hours : noon], settings=S, last_hour=11)
    flat_rate = assess(counts[noon - S.hours : noon], settings=S, last_hour=11, daily=False)
    assert not daily.unusual and daily.expected > 3 * flat_rate.expected
    assert flat_rate.count > 4 * flat_rate.expected


def test_the_daily_model_catches_a_night_surge_a_flat_one_misses() -> None:
    """At night, when little is published, 24 extra items stand out against the hour's
    own rate, not against the day's average."""
    rng = random.Random(5)
    counts = [spikes_eval.poisson(rng, 3.0 * spikes_eval.cycle(h)) for h in range(21 * 24)]
    surge = 15 * 24 + 3  # 03:00
    for h in range(surge, surge + 3):
        counts[h] += 8
    daily = [f.hour for f in replay(counts, settings=S)]
    assert any(surge <= h <= surge + 6 for h in daily)
    assert not replay(counts, settings=SpikeSettings(daily_cycle=False))


def test_the_alert_sentence() -> None:
    """The sentence says the count, the window, the scope and name, expected and p."""
    assert describe("topic", "relations", count=14, window=6, expected=1.2, p=0.0004) == \
        "unusual volume: 14 items in 6 h on topic relations, 1.2 expected (p < 0.001)"
    assert describe("story", "“Taliban envoy”", count=1, window=12, expected=0.25,
                    p=0.02) == ("unusual volume: 1 item in 12 h on story “Taliban envoy”, "
                                "0.2 expected (p = 0.020)")
    assert describe("topic", "t", count=30, window=6, expected=1.2, p=1e-12).endswith(
        "(p < 1e-09)")
