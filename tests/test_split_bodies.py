"""A large body shared between idle workers (``process_body``'s ``part``, ``process.merge``):
the parts, merged, are exactly what one worker makes of the whole body, on the benchmark
workloads, the shared corpus's real feeds and a feed of real 2022 news; and a real pass that
splits a body stores what a pass that does not split stores."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

import mediamon.pipeline as pipeline
from conftest import default_scorer as scorer
from feedserver import FeedServer
from mediamon.config import load_config
from mediamon.core.stories import StorySettings
from mediamon.errors import ParseError
from mediamon.pipeline import Updater
from mediamon.process import Processed, merge, process_body
from mediamon.store.sqlite import Store
from mediamon.types import FetchResult

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpus"
NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)


def workload_bodies(shapes: tuple[str, ...] = ("default", "dense", "wire", "rich"),
                    feeds: int = 2, items: int = 60) -> list[tuple[str, bytes]]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from workload import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return [("https://bench.example" + doc.path, doc.body)
            for shape in shapes for doc in generate(feeds, items, 1, shape)]


def news_body() -> bytes:
    """The real 2022 stream's first 600 items as one RSS feed (read from ../shared)."""
    lines = (SHARED / "news" / "rss-2022.jsonl").read_text(encoding="utf-8").splitlines()
    entries = []
    for line in lines[:600]:
        r = json.loads(line)
        entries.append(
            f"<item><title>{escape(r.get('title') or '')}</title>"
            f"<link>{escape(r.get('link') or '')}</link>"
            f"<description>{escape(r.get('summary') or '')}</description>"
            f"<pubDate>{escape(r.get('published') or '')}</pubDate></item>")
    return ("<rss version='2.0'><channel><title>2022</title>"
            + "".join(entries) + "</channel></rss>").encode()


def corpus_bodies() -> list[tuple[str, bytes]]:
    root = SHARED / "feeds"
    return [("https://corpus.example/" + p.relative_to(root).as_posix(), p.read_bytes())
            for p in sorted(root.rglob("*")) if p.is_file() and p.stat().st_size > 20_000]


def whole_and_merged(url: str, body: bytes, parts: int, *, keep_all: bool,
                     known: dict[str, str] | None) -> tuple[Processed, Processed]:
    fetch = FetchResult(url, "ok", 200, url, body)
    look = None if known is None else (lambda ids: {i: known[i] for i in ids if i in known})
    common: dict[str, Any] = dict(feed_url=url, scorer=scorer(), now=NOW, keep_all=keep_all,
                                  known=look, stories=StorySettings())
    whole = process_body(fetch, **common)
    merged = merge([process_body(fetch, **common, part=(k, parts)) for k in range(parts)],
                   NOW)
    return whole, merged


def half_known(url: str, body: bytes) -> dict[str, str]:
    """Every other item as stored before: half of those with the same hash (unchanged),
    half with another (edited)."""
    first, _ = whole_and_merged(url, body, 1, keep_all=True, known=None)
    known = {}
    for n, si in enumerate(first.scored[::2]):
        known[si.item.id] = si.item.content_hash if n % 2 else "0" * 16
    return known


def check(url: str, body: bytes, *, thorough: bool = True) -> int:
    """Whole against merged parts, in 2, 3 and 7 parts, with and without keep_all, for a
    first pass and for a pass with half of the items stored; the number of items."""
    try:
        known = half_known(url, body)
    except ParseError:
        return 0
    for parts in (2, 3, 7) if thorough else (3,):
        for keep_all in (False, True):
            for k in (None, {}, known) if thorough else (known,):
                whole, merged = whole_and_merged(url, body, parts, keep_all=keep_all, known=k)
                assert merged == whole, (url, parts, keep_all, k is known)
    return len(whole.scored)


def test_workload_bodies_split_into_parts_merge_to_the_whole() -> None:
    items = sum(check(url, body) for url, body in workload_bodies())
    assert items >= 400


def test_real_feeds_and_real_news_split_into_parts_merge_to_the_whole() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED}")
    bodies = corpus_bodies()
    assert len(bodies) > 30
    items = sum(check(url, body, thorough=False) for url, body in bodies)
    assert items > 1000
    assert check("https://news.example/2022.rss", news_body()) == 600


def test_a_body_that_is_not_a_feed_fails_whole_when_split() -> None:
    url = "https://bench.example/broken"
    fetch = FetchResult(url, "ok", 200, url, b"<html><body>not a feed</body></html>")
    with pytest.raises(ParseError):
        process_body(fetch, feed_url=url, scorer=scorer(), now=NOW, part=(1, 2))
    failed = Processed((), 0, None, None, None, error="not a feed")
    ok = Processed((), 3, None, "T", None)
    assert merge([ok, failed], NOW) is failed


def stored(db: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        items = conn.execute(
            "SELECT id, title, summary, kept, score, explanation, language FROM items "
            "ORDER BY id").fetchall()
        topics = conn.execute("SELECT * FROM item_topics ORDER BY 1, 2").fetchall()
        seen = conn.execute("SELECT id, content_hash FROM seen ORDER BY id").fetchall()
        stories = conn.execute(
            "SELECT item_id, story_id, via FROM story_items ORDER BY item_id").fetchall()
        feed = conn.execute("SELECT publish_rate, title FROM feeds").fetchall()
    return [items, topics, seen, stories, feed]


async def one_pass(config: Any, store: Store) -> None:
    async with Updater(config, store) as updater:
        (outcome,) = await updater.update_feeds(store.feeds())
        assert outcome.status == "ok", outcome


def test_a_pass_that_splits_a_large_body_stores_what_one_worker_would(
        feed_server: FeedServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One large feed, two idle workers: the body goes to both (each its half of the
    entries), and the database ends as it does when one worker parses it all."""
    ((_, body),) = workload_bodies(("dense",), feeds=1, items=300)
    feed_server.add("/big", body, content_type="application/rss+xml")
    merges: list[int] = []
    real_merge = pipeline.merge

    def counting(parts: list[Processed], now: datetime) -> Processed:
        merges.append(len(parts))
        return real_merge(parts, now)

    monkeypatch.setattr(pipeline, "merge", counting)
    results = []
    for split_bytes in (len(body) // 2, len(body) + 1):
        monkeypatch.setattr(pipeline, "SPLIT_BYTES", split_bytes)
        db = tmp_path / f"split-{split_bytes}.db"
        config_path = tmp_path / f"split-{split_bytes}.toml"
        config_path.write_text(
            f"extends = {json.dumps(str(REPO / 'config' / 'mediamon.toml'))}\n\n"
            f"[database]\npath = {json.dumps(str(db))}\n\n[fetch]\nworkers = 2\n\n"
            f"[schedule]\njitter = \"0s\"\n\n"
            f"[[feeds]]\nurl = {json.dumps(feed_server.url('/big'))}\n", encoding="utf-8")
        config = load_config(config_path)
        store = Store(db, stories=config.stories)
        try:
            store.sync_config_feeds(config.feeds, now=NOW)

            asyncio.run(one_pass(config, store))
        finally:
            store.close()
        results.append(stored(db))
    assert merges == [2]  # the first pass split the body in two, the second did not
    split, whole = results
    assert split[0] and split == whole
