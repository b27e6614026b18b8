"""What searching the article texts costs ``mediamon search`` (store.articles).

    python benchmarks/article_search.py                       # 200,000 items, 5 % with articles
    python benchmarks/article_search.py --items 1000000 --share 0.1 --repeat 31

The items are ``benchmarks/search.py``'s (built once at ``--db`` and reused), then articles
are added in two steps: none at first, then ``--share`` of the kept items get an "ok"
article of 300-800 words from the same vocabulary (indexed by ``articles_fts`` through its
triggers, as a feed pass writes them); one article in a thousand holds a word no feed text
has.

At each step every query runs, interleaved, through ``store.query.search`` (what ``mediamon
search`` runs: the items' index, then the articles' index, merged) and through
``store.query._ranked_first`` (the items' index alone: the search before articles), so the
ratio compares the two in the same run on the same warm cache. Nothing leaves the machine.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import search as search_bench  # benchmarks/search.py: the items

from mediamon.store.query import Filters, _ranked_first, search
from mediamon.store.sqlite import Store

RARE = "zanzibarite"
QUERIES = ["taliban", '"islamic emirate"', "kabul AND recognition", RARE]


def ensure_items(db: Path, items: int) -> None:
    if db.exists():
        with sqlite3.connect(db) as conn:
            if conn.execute("SELECT count(*) FROM items").fetchone()[0] == items:
                return
    print(f"building {db} with {items:,} items", file=sys.stderr, flush=True)
    search_bench.build(db, items)


def set_articles(db: Path, share: float, seed: int = 3) -> int:
    """Replace the database's articles: ``share`` of the kept items get one; returns how
    many."""
    rng = random.Random(seed)
    words = search_bench.vocabulary(random.Random(1))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("DELETE FROM articles")
    ids = [r[0] for r in conn.execute("SELECT id FROM items WHERE kept = 1 ORDER BY rowid")]
    chosen = [i for i in ids if rng.random() < share]
    rows = []
    for n, item_id in enumerate(chosen):
        paragraphs = []
        for _ in range(rng.randint(4, 8)):
            para = [words[min(int(rng.paretovariate(1.1)) - 1, len(words) - 1)]
                    for _ in range(rng.randint(60, 110))]
            if rng.random() < 0.2:
                para.insert(rng.randrange(len(para)), rng.choice(search_bench.ON_TOPIC))
            paragraphs.append(" ".join(para))
        if n % 1000 == 0:
            paragraphs.append(RARE)
        rows.append((item_id, f"https://example.org/{item_id}", "ok", "\n".join(paragraphs),
                     "2026-11-28T00:00:00+00:00"))
    conn.executemany("INSERT INTO articles (item_id, url, status, text, fetched_at) "
                     "VALUES (?, ?, ?, ?, ?)", rows)
    conn.commit()
    conn.execute("INSERT INTO articles_fts (articles_fts) VALUES ('optimize')")
    conn.commit()
    conn.close()
    return len(rows)


def measure(db: Path, repeat: int) -> list[tuple[str, float, float, int, int]]:
    """(query, median ms with articles, median ms items only, rows, article hits)."""
    out = []
    with Store(db, readonly=True) as store:
        for query in QUERIES:
            filters = Filters()
            search(store, query, filters)  # warm-up, both paths
            _ranked_first(store, query, filters)
            both, alone = [], []
            for _ in range(repeat):
                began = time.perf_counter()
                found = search(store, query, filters)
                both.append((time.perf_counter() - began) * 1000)
                began = time.perf_counter()
                _ranked_first(store, query, filters)
                alone.append((time.perf_counter() - began) * 1000)
            hits = len(store.article_hits(query, 1000))
            out.append((query, statistics.median(both), statistics.median(alone), len(found),
                        hits))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--db", type=Path, default=Path("/tmp/mediamon-article-search.db"))
    parser.add_argument("--share", type=float, default=0.05,
                        help="share of the kept items given an article (default 0.05)")
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    ensure_items(args.db, args.items)
    Store(args.db).close()  # this code's migrations (m013_articles) on a cached database
    load = os.getloadavg()
    print(f"`python benchmarks/article_search.py --items {args.items} --share {args.share} "
          f"--repeat {args.repeat}`; load before {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f}\n")
    for share in (0.0, args.share):
        made = set_articles(args.db, share)
        print(f"{made:,} articles:\n")
        print("| query | search ms (median) | items only ms | ratio | rows | article hits |")
        print("|---|---|---|---|---|---|")
        for query, both, alone, rows, hits in measure(args.db, args.repeat):
            print(f"| `{query}` | {both:.2f} | {alone:.2f} | {both / alone:.2f} | {rows} | "
                  f"{hits} |")
        print()
    load = os.getloadavg()
    print(f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, SQLite "
          f"{sqlite3.sqlite_version}; load after {load[0]:.2f} / {load[1]:.2f} / "
          f"{load[2]:.2f}.")


if __name__ == "__main__":
    main()
