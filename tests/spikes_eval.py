"""Synthetic hourly histories with known surges, and how the spike model does on them.

    python tests/spikes_eval.py            # the table in docs/alerts.md
    python tests/spikes_eval.py --seeds 50 # more histories per kind

Every history is drawn from a seeded generator, so the figures are reproducible. Counts are
Poisson around an hourly rate; "bursty" histories multiply each day's rate by a gamma
variate (shape 16: days vary by about +-25 %) and each hour's by another (shape 8: +-35 %),
which is closer to how news arrives than a plain Poisson stream. Kinds, each at a base
rate of 0.1, 0.5, 2 and 10 items per hour:

    poisson       a flat rate, plain Poisson: any alert is false by construction
    quiet         a flat rate, bursty
    daily         a day/night cycle (0.15x at night, 1.85x in the afternoon), bursty
    growth        a rate that grows steadily (x4 over the 5 weeks), bursty
    surge         a quiet or daily history with 1-3 surges added: 3-10x the rate, or at
                  least 8-20 items, spread over 2-8 hours
    new story     nothing, then a story: a few items (2-6 over 1-12 h: must not fire), or
                  many (12-30 over 2-6 h: must fire)

A surge counts as found when an alert fires between its first hour and ``window`` hours
after its last; an alert anywhere else is a false alert. Stories are judged without the
daily cycle, as the daemon judges them.
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass, field

from mediamon.core.spikes import SpikeSettings, replay

HOURS = 5 * 7 * 24  # five weeks per history


@dataclass
class History:
    kind: str
    counts: list[int]
    surges: list[tuple[int, int]] = field(default_factory=list)  # first and last hour
    daily: bool | None = None  # None: as the settings say (topics); False: stories
    first_hour: int = 0


def poisson(rng: random.Random, lam: float) -> int:
    """A Poisson variate (inversion; fine for the rates used here)."""
    if lam <= 0:
        return 0
    if lam > 50:  # normal approximation, far from the tails that matter here
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    k, p, s, u = 0, math.exp(-lam), math.exp(-lam), rng.random()
    while u > s:
        k += 1
        p *= lam / k
        s += p
    return k


def cycle(hour: int) -> float:
    """A day/night factor averaging 1: 0.15 at 03:00, 1.85 at 15:00."""
    return 1.0 - 0.85 * math.cos(2 * math.pi * ((hour - 3) % 24) / 24)


def rates(rng: random.Random, base: float, *, daily: bool, growth: float = 1.0,
          bursty: bool = True) -> list[float]:
    out = []
    day_factor = 1.0
    for h in range(HOURS):
        if h % 24 == 0:
            day_factor = rng.gammavariate(16, 1 / 16) if bursty else 1.0
        r = base * growth ** (h / HOURS) * (cycle(h) if daily else 1.0) * day_factor
        out.append(r * (rng.gammavariate(8, 1 / 8) if bursty else 1.0))
    return out


def add_surges(rng: random.Random, lam: list[float], n: int) -> list[tuple[int, int]]:
    surges: list[tuple[int, int]] = []
    for _ in range(n):
        for _attempt in range(50):
            start = rng.randrange(9 * 24, HOURS - 12)  # after the first full baseline
            length = rng.randint(2, 8)
            if all(abs(start - s) > 72 for s, _ in surges):
                break
        base = sum(lam[start - 168 : start]) / 168
        extra = max(rng.uniform(3, 10) * base * length, rng.randint(8, 20))
        for h in range(start, start + length):
            lam[h] += extra / length
        surges.append((start, start + length - 1))
    return sorted(surges)


def histories(seed: int) -> list[History]:
    rng = random.Random(seed)
    out: list[History] = []
    for base in (0.1, 0.5, 2.0, 10.0):
        lam = rates(rng, base, daily=False, bursty=False)
        out.append(History("poisson", [poisson(rng, x) for x in lam]))
        lam = rates(rng, base, daily=False)
        out.append(History("quiet", [poisson(rng, x) for x in lam]))
        lam = rates(rng, base, daily=True)
        out.append(History("daily", [poisson(rng, x) for x in lam]))
        lam = rates(rng, base, daily=True, growth=4.0)
        out.append(History("growth", [poisson(rng, x) for x in lam]))
        lam = rates(rng, base, daily=rng.random() < 0.5)
        surges = add_surges(rng, lam, rng.randint(1, 3))
        out.append(History("surge", [poisson(rng, x) for x in lam], surges))
    for many in (False, True):
        counts = [0] * HOURS
        start = rng.randrange(9 * 24, HOURS - 24)
        length = rng.randint(2, 6) if many else rng.randint(1, 12)
        total = rng.randint(12, 30) if many else rng.randint(2, 6)
        for _ in range(total):
            counts[start + rng.randrange(length)] += 1
        tail = rng.randint(0, 10)  # a few late mentions over the next days
        for _ in range(tail):
            counts[min(HOURS - 1, start + length + rng.randrange(72))] += 1
        out.append(History("new story, many" if many else "new story, few", counts,
                           [(start, start + length - 1)] if many else [], daily=False))
    return out


@dataclass
class Tally:
    histories: int = 0
    surges: int = 0
    found: int = 0
    twice: int = 0  # surges that fired more than once
    false: int = 0
    checks: int = 0


def judge(h: History, settings: SpikeSettings) -> tuple[int, int, int]:
    """(surges found, surges that fired more than once, false alerts) for one history."""
    fired = [f.hour for f in replay(h.counts, settings=settings, daily=h.daily,
                                    first_hour=h.first_hour)]
    found = twice = 0
    matched: set[int] = set()
    for start, end in h.surges:
        mine = [t for t in fired if start <= t <= end + settings.window]
        matched.update(mine)
        found += bool(mine)
        twice += len(mine) > 1
    return found, twice, len([t for t in fired if t not in matched])


def evaluate(settings: SpikeSettings, seeds: range) -> dict[str, Tally]:
    tallies: dict[str, Tally] = {}
    for seed in seeds:
        for h in histories(seed):
            t = tallies.setdefault(h.kind, Tally())
            found, twice, false = judge(h, settings)
            t.histories += 1
            t.surges += len(h.surges)
            t.found += found
            t.twice += twice
            t.false += false
            t.checks += len(h.counts) - settings.hours + 1
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--flat", action="store_true", help="no daily cycle for topics")
    args = parser.parse_args()
    settings = SpikeSettings(daily_cycle=not args.flat)
    tallies = evaluate(settings, range(args.seeds))
    print(f"{args.seeds} seeds, {settings}")
    print("| kind | histories | surges | found | fired twice | false alerts | "
          "false per 1,000 checks |")
    print("|---|---|---|---|---|---|---|")
    for kind, t in tallies.items():
        print(f"| {kind} | {t.histories} | {t.surges} | {t.found} | {t.twice} | {t.false} | "
              f"{1000 * t.false / t.checks:.3f} |")


if __name__ == "__main__":
    main()
