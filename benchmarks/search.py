"""Search benchmark: ranked full-text search with filters on a large database.

    python benchmarks/search.py                    # 1,000,000 items (builds the DB once, ~10 min)
    python benchmarks/search.py --items 100000     # a smaller database, for a quick look
    python benchmarks/search.py --db /tmp/x.db --repeat 21

The database is built once through mediamon's own schema (``Store``: every migration,
indexes and the FTS5 index ``items_fts``) and cached at ``--db``; it is rebuilt when its item
count differs from ``--items``. Items are synthetic but shaped like a monitoring database:
a headline (8-12 words) and a summary (25-40 words) drawn from a Zipf-distributed vocabulary
of 30,000 made-up words; 8 % mention Russia and the Taliban (``taliban``, ``russia``,
``kabul``, ``"islamic emirate"``, ``recognition``), published evenly over two years, in
en/ru/fa/ar/ur, 25 % kept (the rest are audit items), each kept item with 1-3 topics, 40 feeds.

Each query runs through ``mediamon.store.query.search`` (the code ``mediamon search`` runs: bm25
ranking, snippets, the filters as bound parameters) for its first page (50 rows) ``--repeat``
times after one warm-up run; the table shows the median and the 90th percentile in ms and
how many rows matched the MATCH alone. Nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import sqlite3
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from mediamon.store.query import Filters, search
from mediamon.store.sqlite import Store

NOW = datetime(2026, 11, 28, tzinfo=UTC)
SPAN = timedelta(days=730)
LANGS = ["en"] * 60 + ["ru"] * 15 + ["fa"] * 10 + ["ar"] * 10 + ["ur"] * 5
TOPICS = ["russia", "taliban", "afghanistan", "recognition", "ties", "relations"]
ON_TOPIC = ["taliban", "russia", "kabul", "moscow", "afghanistan", "recognition", "embassy",
            "lavrov", "kabulov", "islamic emirate", "credentials", "ambassador"]


def vocabulary(rng: random.Random, size: int = 30_000) -> list[str]:
    syllables = ["ka", "ro", "mi", "ta", "len", "sor", "vi", "da", "bu", "ne", "sha", "pol",
                 "ter", "an", "is", "ul", "mo", "gra", "fe", "zi", "qo", "hab", "dur", "et"]
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(syllables) for _ in range(rng.randint(2, 4))))
    return sorted(words)


def build(path: Path, n: int, seed: int = 1) -> None:
    """A fresh database at ``path`` with ``n`` synthetic items (bulk insert, FTS rebuilt)."""
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    Store(path).close()  # every migration, as mediamon creates a database
    rng = random.Random(seed)
    vocab = vocabulary(rng)
    cum, total = [], 0.0
    for rank in range(len(vocab)):
        total += 1 / (rank + 1)
        cum.append(total)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    triggers = conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'items'"
    ).fetchall()
    for name, _ in triggers:
        conn.execute(f"DROP TRIGGER {name}")
    conn.executemany(
        "INSERT INTO feeds (id, url, name, added) VALUES (?, ?, ?, ?)",
        [(f, f"https://outlet{f}.example/rss", f"Outlet {f}", NOW.isoformat())
         for f in range(1, 41)])
    start = NOW - SPAN
    step = SPAN.total_seconds() / n
    batch: list[tuple] = []
    topics: list[tuple] = []
    links: list[tuple] = []

    def flush() -> None:
        conn.executemany(
            "INSERT INTO items (id, feed_id, url, canonical_url, title, summary, content, "
            "summary_html, content_html, authors, categories, published, published_from_feed, "
            "first_seen, last_seen, language, content_hash, kept, score, similarity, topics, "
            "explanation) VALUES (?, ?, ?, ?, ?, ?, '', ?, '', '[]', '[]', ?, 1, ?, ?, ?, ?, "
            "?, ?, ?, ?, '{}')", batch)
        conn.executemany("INSERT INTO item_topics (item_id, topic, terms) VALUES (?, ?, '[]')",
                         topics)
        conn.executemany("INSERT INTO item_feeds (item_id, feed_id, first_seen) VALUES (?, ?, ?)",
                         links)
        batch.clear()
        topics.clear()
        links.clear()

    for i in range(n):
        title = rng.choices(vocab, cum_weights=cum, k=rng.randint(8, 12))
        summary = rng.choices(vocab, cum_weights=cum, k=rng.randint(25, 40))
        on_topic = rng.random() < 0.08
        if on_topic:
            for word in rng.sample(ON_TOPIC, 3):
                (title if rng.random() < 0.5 else summary).insert(rng.randrange(8), word)
        kept = (on_topic and rng.random() < 0.9) or rng.random() < 0.18
        published = (start + timedelta(seconds=i * step)).replace(microsecond=0).isoformat()
        item_id = f"{i:016x}"
        feed = rng.randint(1, 40)
        text_title, text_summary = " ".join(title).capitalize(), " ".join(summary)
        score = round(rng.uniform(0.5, 1.0) if kept else rng.uniform(0, 0.5), 3)
        batch.append((item_id, feed, f"https://outlet{feed}.example/{i}",
                      f"https://outlet{feed}.example/{i}", text_title, text_summary,
                      f"<p>{text_summary}</p>", published, published, published,
                      rng.choice(LANGS), item_id, int(kept), score, score, "[]"))
        if kept:
            for topic in rng.sample(TOPICS, rng.randint(1, 3)):
                topics.append((item_id, topic))
        links.append((item_id, feed, published))
        if len(batch) == 50_000:
            flush()
            print(f"  {i + 1:,} items", file=sys.stderr, flush=True)
    flush()
    conn.commit()
    print("  rebuilding the FTS5 index", file=sys.stderr, flush=True)
    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('rebuild')")
    conn.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
    for _, sql in triggers:
        conn.execute(sql)
    conn.commit()
    conn.execute("ANALYZE")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


QUERIES: list[tuple[str, str, Filters]] = [
    ("one topic word, kept, last 30 days", "taliban",
     Filters(since=NOW - timedelta(days=30))),
    ("phrase, kept, last 7 days, topic", '"islamic emirate"',
     Filters(since=NOW - timedelta(days=7), topic="recognition")),
    ("prefix, kept, language en", "recogni*", Filters(language="en")),
    ("OR + NOT, kept, min score 0.7", "(kabulov OR lavrov) NOT embassy",
     Filters(min_score=0.7)),
    ("two words, kept and not kept, last 90 days", "taliban moscow",
     Filters(include_unkept=True, since=NOW - timedelta(days=90))),
    ("title: column, one feed", "title:kabul", Filters(feed="Outlet 7")),
    ("one topic word, every stored item, no filter", "russia", Filters(include_unkept=True)),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/mediamon-search-bench.db"))
    parser.add_argument("--repeat", type=int, default=21)
    parser.add_argument("--rebuild", action="store_true", help="Rebuild the database.")
    args = parser.parse_args()

    count = None
    if args.db.exists() and not args.rebuild:
        with sqlite3.connect(args.db) as conn:
            count = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    if count != args.items:
        print(f"building {args.db} with {args.items:,} items", file=sys.stderr)
        began = time.perf_counter()
        build(args.db, args.items)
        print(f"  built in {time.perf_counter() - began:.0f} s", file=sys.stderr)

    store = Store(args.db, readonly=True)
    size = os.path.getsize(args.db) / 1e6
    print(f"`python benchmarks/search.py --items {args.items} --repeat {args.repeat}` on "
          f"{datetime.now(UTC):%Y-%m-%d}: {args.items:,} items, database {size:,.0f} MB, "
          f"first page of 50, median of {args.repeat} runs after a warm-up.\n")
    print("| query | filters | matches (MATCH alone) | rows | median ms | p90 ms |")
    print("|---|---|---|---|---|---|")
    for label, query, filters in QUERIES:
        matches = store.db.execute(
            "SELECT count(*) FROM items_fts WHERE items_fts MATCH ?", [query]).fetchone()[0]
        rows = search(store, query, filters)
        times = []
        for _ in range(args.repeat):
            began = time.perf_counter()
            rows = search(store, query, filters)
            times.append((time.perf_counter() - began) * 1000)
        times.sort()
        p90 = times[min(len(times) - 1, round(0.9 * (len(times) - 1)))]
        print(f"| `{query}` | {label} | {matches:,} | {len(rows)} | "
              f"{statistics.median(times):.1f} | {p90:.1f} |")
    store.close()
    load = os.getloadavg()
    print(f"\nMachine: {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite "
          f"{sqlite3.sqlite_version}; load average {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}.")


if __name__ == "__main__":
    main()
