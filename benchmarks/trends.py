"""How long one spike check takes (desk/trends.py ``measure``): the hourly counts of every
topic and active story over [spikes] baseline + window, and the model on each.

    python benchmarks/trends.py                 # 20,000 kept items over 8 days
    python benchmarks/trends.py --items 40000 --topics 20

A real SQLite file (WAL, as mediamon opens it) is filled through ``save_feed_pass`` with
kept items spread evenly over 8 days, each matching 3 of ``--topics`` topics, titles drawn
from 3,000 made-up words (so few stories form); then the check runs ``--repeat`` times and
the median and minimum are reported, with each query's time. The daemon runs the check
only after passes that stored items, at most every 30 s.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mediamon.core.spikes import SpikeSettings
from mediamon.desk.trends import measure
from mediamon.store.sqlite import ScoredItem, Store
from mediamon.types import (
    FeedSource,
    FetchResult,
    Item,
    Match,
    TopicHit,
    Validators,
)

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
FEED = "https://feeds.example.org/world.xml"


def fill(store: Store, items: int, topics: int, rng: random.Random) -> None:
    words = [f"w{i}" for i in range(3000)]
    names = [f"topic{i}" for i in range(topics)]
    store.sync_config_feeds([FeedSource(FEED, "World")], now=NOW - timedelta(days=30))
    ok = FetchResult(FEED, "ok", 200, FEED, b"<rss/>", (), Validators(None, None))
    batch: list[ScoredItem] = []
    for n in range(items):
        at = NOW - timedelta(seconds=rng.uniform(0, 8 * 86400))
        title = " ".join(rng.sample(words, 8))
        url = f"https://h{n % 50}.example.org/{n}"
        item = Item(id=f"{n:016x}", feed_url=FEED, guid=url, url=url, canonical_url=url,
                    title=title, summary=title, content="", summary_html="", content_html="",
                    authors=(), categories=(), published=at, updated=None, first_seen=at,
                    language="en", content_hash=f"h{n}")
        hits = tuple(TopicHit(t, (t,)) for t in rng.sample(names, min(3, topics)))
        batch.append(ScoredItem(item, Match(kept=True, score=0.8, similarity=0.2, topics=hits,
                                            rule_matched=True)))
        if len(batch) == 200 or n == items - 1:
            store.save_feed_pass(FEED, ok, batch, now=NOW, next_fetch=NOW)
            batch = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--topics", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    settings = SpikeSettings()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        start = time.perf_counter()
        fill(store, args.items, args.topics, random.Random(1))
        print(f"filled {args.items} kept items in {time.perf_counter() - start:.0f} s; "
              f"load {os.getloadavg()[0]:.1f}")
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            trends = measure(store, settings, now=NOW)
            times.append(time.perf_counter() - start)
        print(f"check: {len(trends)} topics and stories, median "
              f"{statistics.median(times) * 1000:.0f} ms, min {min(times) * 1000:.0f} ms")
        for name, query in (
                ("topic counts", lambda: store.topic_hourly_counts(now=NOW,
                                                                   hours=settings.hours)),
                ("story counts", lambda: store.story_hourly_counts(
                    now=NOW, hours=settings.hours, window=settings.window,
                    min_count=settings.min_count)),
                ("collecting since", lambda: store.collecting_since(now=NOW,
                                                                    hours=settings.hours))):
            start = time.perf_counter()
            query()
            print(f"  {name}: {(time.perf_counter() - start) * 1000:.0f} ms")
        print(f"load {os.getloadavg()[0]:.1f}")
        store.close()


if __name__ == "__main__":
    main()
