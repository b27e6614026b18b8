"""What ``[articles] enabled`` costs the CPU-bound half of a feed pass (``Scorer.rejects``).

    python benchmarks/article_candidates.py            # the corpus feeds, 5 rounds

With articles on, the prefilter lets through every new item that may match a positive topic
(``Scorer.article_candidates``), not only those that may match the keep rule, so more items
are scored. This runs what a worker does for each new item of the feed corpus
(``../shared/corpus/feeds``) with the repository's config: the prefilter, then scoring when
it does not reject, with and without ``article_candidates``, interleaved, in items per CPU
second, and counts the items each lets through and the candidates (items that matched a
positive topic without being kept). Nothing leaves the machine.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import relevance as relevance_bench  # benchmarks/relevance.py: the corpus

from mediamon.config import load_config
from mediamon.core.score import Scorer
from mediamon.pipeline import scorer_for
from mediamon.types import Item

ROUNDS = 5


def one_pass(scorer: Scorer, items: list[Item]) -> tuple[int, int]:
    """(items scored, candidates) of one worker pass over ``items``."""
    scored = candidates = 0
    for item in items:
        if scorer.rejects(item.text) is not None:
            continue
        scored += 1
        match = scorer.score_item(item)
        if not match.kept and any(hit.topic in scorer.positive for hit in match.topics):
            candidates += 1
    return scored, candidates


def main() -> None:
    config = load_config(Path(__file__).resolve().parents[1] / "config" / "mediamon.toml")
    plain = scorer_for(config, None, explain_unkept=False)[0]
    wide = replace(plain, article_candidates=True)
    items = relevance_bench.corpus_items(relevance_bench.corpus_bodies())
    if not items:
        raise SystemExit(f"no corpus at {relevance_bench.CORPUS}")
    load = os.getloadavg()
    print(f"`python benchmarks/article_candidates.py`: {len(items):,} corpus items, "
          f"{ROUNDS} rounds; load before {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\n")
    rates: dict[str, list[float]] = {"off": [], "on": []}
    counts = {}
    for _ in range(ROUNDS):
        for name, scorer in (("off", plain), ("on", wide)):
            began = time.process_time()
            counts[name] = one_pass(scorer, items)
            rates[name].append(len(items) / (time.process_time() - began))
    print("| articles | items/CPU s (median) | scored | candidates |")
    print("|---|---|---|---|")
    for name in ("off", "on"):
        print(f"| {name} | {statistics.median(rates[name]):,.0f} | {counts[name][0]:,} | "
              f"{counts[name][1]:,} |")
    ratio = statistics.median(rates["on"]) / statistics.median(rates["off"])
    load = os.getloadavg()
    print(f"\nratio on/off {ratio:.2f}; load after {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f}")


if __name__ == "__main__":
    main()
