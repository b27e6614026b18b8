"""Benchmark relevance scoring: items per second, on one core, medians of several runs.

    python benchmarks/relevance.py            # about 1 minute
    python benchmarks/relevance.py --quick    # a smoke check, a few seconds

Four measurements, all in this one process (one core: the scorer is single-threaded):

- **rule path**: ``Scorer`` without a profile: tokenise, match every topic and the keep rule,
  compute R. The target is 20,000 items/s. Measured twice: as in a feed pass
  (the matched terms are listed for kept items only, since the others are not stored) and
  as in ``score``/``eval`` (every item gets its full explanation).
- **rule + profile**: the default ``Scorer``: the rule path plus the BM25 profile similarity
  and the item's terms for the background.
- **ingest**: the feed pass's ``Scorer.score_item`` on normalised ``Item``s parsed from real
  feed files (title, summary and the full content), and the share of
  ``process.process_body`` (parse, normalise, score) that scoring takes.
- **`mediamon score`**: the command itself in a subprocess, JSON Lines in and out, including
  the interpreter's start-up and config loading (``--builtin``: no database).

Three item sets, each repeated to --items: the labelled headlines of tests/data/relevance
(283 title + summary items in 16 languages, 47 % of them kept: far more on-topic than a real
feed pass, so the slowest case), the title and summary of the 2,182 items of the feed
corpus in ../shared/corpus/feeds (mostly off-topic English, like most of a real feed pass),
and the same corpus items with their full content. Rates are items per CPU second of this
process (``time.process_time``), which is steadier than wall time on a shared machine; the
subprocess rate is wall time. Nothing touches the network.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from mediamon.config import load_config
from mediamon.core.normalise import normalise_feed
from mediamon.core.parse.standard import parse_feed
from mediamon.core.score import Scorer
from mediamon.desk.relevance import record_text
from mediamon.errors import ParseError
from mediamon.pipeline import scorer_for
from mediamon.process import process_body
from mediamon.types import FetchResult, Item, Match

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "config" / "mediamon.toml"
LABELLED = [REPO / "tests" / "data" / "relevance" / n for n in ("dev.jsonl", "heldout.jsonl")]
CORPUS = REPO.parent / "shared" / "corpus" / "feeds"
NOW = datetime(2025, 7, 5, tzinfo=UTC)


def headlines() -> list[str]:
    texts = []
    for path in LABELLED:
        with path.open(encoding="utf-8") as f:
            texts += [record_text(json.loads(line)) for line in f if line.strip()]
    return texts


def corpus_bodies(limit: int = 400) -> list[tuple[Path, bytes]]:
    """Feed files of the corpus that yield items (the first ``limit`` in path order)."""
    out = []
    if not CORPUS.is_dir():
        return out
    for path in sorted(p for p in CORPUS.rglob("*") if p.is_file()):
        body = path.read_bytes()
        try:
            items = normalise_feed(parse_feed(body, url=path.as_uri()), feed_url=path.as_uri(),
                                   now=NOW)
        except ParseError:
            continue
        if items:
            out.append((path, body))
        if len(out) >= limit:
            break
    return out


def corpus_items(bodies: Sequence[tuple[Path, bytes]]) -> list[Item]:
    items: list[Item] = []
    for path, body in bodies:
        items += normalise_feed(parse_feed(body, url=path.as_uri()), feed_url=path.as_uri(),
                                now=NOW)
    return items


def repeat_to(values: list, n: int) -> list:
    return (values * (n // max(1, len(values)) + 1))[:n] if values else []


def rate(run: Callable[[], int], repeat: int) -> tuple[float, list[float]]:
    """Median items/s of ``run`` (which returns how many items it did) over ``repeat`` runs."""
    rates = []
    for _ in range(repeat):
        start = time.process_time()
        n = run()
        rates.append(n / (time.process_time() - start))
    return statistics.median(rates), rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=20_000, help="items per timed run")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs; the median is shown")
    parser.add_argument("--quick", action="store_true", help="2,000 items, 3 runs")
    args = parser.parse_args()
    if args.quick:
        args.items, args.repeat = 2_000, 3
    warnings.simplefilter("ignore")
    load_before = os.getloadavg()

    config = load_config(CONFIG)
    full, _ = scorer_for(config, None)
    full_ingest, _ = scorer_for(config, None, explain_unkept=False)
    rule = Scorer(config.topic_set, None, "rule", config.profile.threshold,
                  explain_unkept=False)
    rule_explained = Scorer(config.topic_set, None, "rule", config.profile.threshold)
    heads = repeat_to(headlines(), args.items)
    bodies = corpus_bodies()
    items = corpus_items(bodies)
    corpus_heads = repeat_to(
        ["\n".join(p for p in (i.title, i.summary[:300]) if p) for i in items], args.items)
    corpus_texts = repeat_to([i.text for i in items], args.items)
    ingest_items = repeat_to(items, args.items)

    results: list[tuple[str, str, float, list[float]]] = []

    def texts_run(scorer: Scorer, texts: list[str]) -> Callable[[], int]:
        def run() -> int:
            for text in texts:
                scorer.score_text(text)
            return len(texts)
        return run

    for name, scorer in (("rule path, feed pass", rule),
                         ("rule path, all explained", rule_explained),
                         ("rule + profile, feed pass", full_ingest),
                         ("rule + profile, all explained", full)):
        for label, texts in (("labelled headlines", heads),
                             ("corpus title + summary", corpus_heads),
                             ("corpus full text", corpus_texts)):
            if texts:
                texts_run(scorer, texts[:200])()  # warm the caches once
                results.append((name, label, *rate(texts_run(scorer, texts), args.repeat)))

    if ingest_items:
        def ingest_run() -> int:
            for item in ingest_items:
                full_ingest.score_item(item)
            return len(ingest_items)
        results.append(("ingest: score_item", "corpus Items (full text)",
                        *rate(ingest_run, args.repeat)))

    share = None
    if bodies:
        fetches = [FetchResult(p.as_uri(), "ok", 200, p.as_uri(), b) for p, b in bodies]

        def process(scorer: Scorer) -> float:
            start = time.process_time()
            for f in fetches:
                process_body(f, feed_url=f.url, scorer=scorer, now=NOW)
            return time.process_time() - start

        nothing = Match(kept=False, score=0.0, similarity=0.0, topics=(), rule_matched=False)

        class NoScore(Scorer):
            def score_item(self, item: Item) -> Match:
                return nothing  # parse + normalise only

        with_score = statistics.median(process(full_ingest) for _ in range(args.repeat))
        without = statistics.median(
            process(NoScore(rule.topics, None)) for _ in range(args.repeat))
        share = (with_score - without) / with_score

    cli_rate = None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "items.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i, text in enumerate(heads):
                f.write(json.dumps({"id": i, "title": text}, ensure_ascii=False) + "\n")
        cmd = [sys.executable, "-m", "mediamon", "--config", str(CONFIG), "score", "--builtin",
               str(path), "-o", os.devnull]
        rates = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(cmd, check=True)
            rates.append(len(heads) / (time.perf_counter() - start))
        cli_rate = statistics.median(rates)
        results.append(("mediamon score (subprocess)", "labelled headlines", cli_rate, rates))

    print(f"relevance benchmark: {args.items} items per run, median of {args.repeat} runs, "
          f"one core; Python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs")
    print(f"{'what':<32} {'items':<26} {'items/s':>9}   runs (items/s)")
    for name, label, median, runs in results:
        print(f"{name:<32} {label:<26} {median:>9,.0f}   "
              + " ".join(f"{r:,.0f}" for r in runs))
    if share is not None:
        print(f"scoring share of process_body (parse + normalise + score), {len(bodies)} "
              f"corpus feeds: {share:.0%}")
    print("load average (1/5/15 min) before: {:.2f} / {:.2f} / {:.2f}, ".format(*load_before)
          + "after: {:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
