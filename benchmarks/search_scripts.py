"""Search in every script, measured on the labelled sets: CJK words and inflected forms.

Builds a SQLite database (the real store code, every item stored) from the project's
multilingual labelled sets (tests/data/relevance/dev, heldout and languages: 414 items in 23
languages) and, when it is there, the real 2022 stream (../shared/corpus/news/rss-2022.jsonl:
8,020 items, English and Polish). Then, for each query, it counts:

- ``truth``: stored items whose title or summary contains one of the query's forms (a
  hand-written list of each word's inflected forms, or for CJK the word as a substring);
- ``word index``: what the word index finds for the query as typed (FTS5 ``unicode61``, as
  `mediamon search` searched before query expansion and the trigram index);
- ``now``: what `mediamon search`'s code finds now (``store.query.search``), with the hits
  that are in ``truth`` and the median time of five runs.

    python benchmarks/search_scripts.py [--no-stream]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mediamon.store.query import Filters, search  # noqa: E402
from mediamon.store.sqlite import ScoredItem, Store  # noqa: E402
from mediamon.types import FeedSource, FetchResult, Item, Match, Validators  # noqa: E402

SETS = [ROOT / "tests/data/relevance" / f"{name}.jsonl"
        for name in ("dev", "heldout", "languages")]
STREAM = ROOT.parent / "shared/corpus/news/rss-2022.jsonl"
FEED = "https://example.org/labelled.xml"
NOW = datetime(2026, 12, 1, tzinfo=UTC)

# query, --lang, and the forms an analyst means by it (written for this benchmark).
QUERIES: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("塔利班", None, ("塔利班",)),
    ("俄罗斯", None, ("俄罗斯", "俄羅斯")),
    ("承认", None, ("承认", "承認")),
    ("талибы", None, ("талибы", "талибов", "талибам", "талибами", "талибах", "талиба",
                      "талибу", "талибом", "талибе", "талибан", "талибана", "талибану",
                      "талибаном", "талибане")),
    ("посольство", None, ("посольство", "посольства", "посольству", "посольством",
                          "посольстве", "посольств")),
    ("سفارت", None, ("سفارت", "سفارتها", "سفارت‌ها", "سفارت‌های", "سفارتخانه")),
    ("روسیه", None, ("روسیه",)),
    ("Rusya", "tr", ("rusya", "rusyanın", "rusyaya", "rusyada", "rusyadan", "rusyayı")),
    ("Rosja", "pl", ("rosja", "rosji", "rosję", "rosją", "rosjo")),
    ("ambasada", "pl", ("ambasada", "ambasady", "ambasadzie", "ambasadę", "ambasadą")),
    ("Taliban", None, ("taliban", "talibán", "talibã")),
]


def records(stream: bool) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for path in SETS:
        with path.open(encoding="utf-8") as f:
            out += [json.loads(line) for line in f if line.strip()]
    if stream and STREAM.exists():
        with STREAM.open(encoding="utf-8") as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def build(path: Path, rows: list[dict[str, str]]) -> None:
    items = []
    for n, row in enumerate(rows):
        title, summary = row.get("title") or "", row.get("summary") or ""
        items.append(ScoredItem(Item(
            id=f"{n:016x}", feed_url=FEED, guid=str(n), url=f"https://example.org/{n}",
            canonical_url=f"https://example.org/{n}", title=title, summary=summary,
            content="", summary_html=summary, content_html="", authors=(), categories=(),
            published=NOW - timedelta(minutes=n), updated=None, first_seen=NOW,
            language=row.get("language"), content_hash=f"h{n}"),
            Match(kept=True, score=1.0, similarity=0.0, topics=(), rule_matched=True)))
    with Store(path) as store:
        store.sync_config_feeds([FeedSource(FEED, "labelled")], now=NOW)
        fetch = FetchResult(FEED, "ok", 200, FEED, b"<rss/>", (), Validators())
        for start in range(0, len(items), 2000):
            store.save_feed_pass(FEED, fetch, items[start : start + 2000], now=NOW,
                                 next_fetch=NOW, keep_all=True)


def truth(rows: list[dict[str, str]], forms: tuple[str, ...]) -> set[str]:
    """The ids of the rows whose title or summary has one of ``forms``: as a substring for
    CJK, else as a whole word (lower case; a Persian word keeps its zero-width joiner)."""
    cjk = any("\u3040" <= form[0] <= "\ud7af" for form in forms)
    found = set()
    for n, row in enumerate(rows):
        text = f"{row.get('title') or ''} {row.get('summary') or ''}".lower()
        if cjk:
            hit = any(form in text for form in forms)
        else:
            hit = bool(set(re.findall(r"[\w\u200c]+", text)) & set(forms))
        if hit:
            found.add(f"{n:016x}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-stream", action="store_true", help="labelled sets only")
    args = parser.parse_args()
    rows = records(not args.no_stream)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "search.db"
        start = time.perf_counter()
        build(path, rows)
        print(f"{len(rows):,} items stored in {time.perf_counter() - start:.1f} s")
        print("| query | --lang | truth | word index (as typed) | found now | of truth | "
              "precision | ms (median of 5) |")
        print("|---|---|---|---|---|---|---|---|")
        with Store(path, readonly=True) as store:
            for query, lang, forms in QUERIES:
                expected = truth(rows, forms)
                phrase = '"' + query.replace('"', '""') + '"'
                word = {r[0] for r in store.db.execute(
                    "SELECT items.id FROM items_fts JOIN items ON items.rowid = "
                    "items_fts.rowid WHERE items_fts MATCH ?", [phrase])}
                filters = Filters(limit=100_000, language=lang)
                times = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    hits = {r["id"] for r in search(store, query, filters)}
                    times.append((time.perf_counter() - t0) * 1000)
                if lang:  # the language filter narrows "now": compare with its items
                    expected = {i for i in expected if i in hits or store.db.execute(
                        "SELECT language = ? FROM items WHERE id = ?", [lang, i]
                    ).fetchone()[0]}
                good = len(hits & expected)
                precision = f"{good / len(hits):.2f}" if hits else "-"
                print(f"| {query} | {lang or ''} | {len(expected)} | {len(word & expected)} | "
                      f"{len(hits)} | {good} | {precision} | {statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
