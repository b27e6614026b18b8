"""The feed pass and story assignment are one implementation for both databases
(``store.ingest``, ``store.stories``): the same passes, in the same order, leave SQLite and
PostgreSQL holding the same items, versions, topics, feed links, copies, stories (members,
how each joined, counters, first mention), band index, feed state and fetch log.

The passes are the benchmark's wire-copy workload (agency texts copied word for word
across many feeds, so stories grow past the indexed members and reach counts many
outlets), then edits of some of those feeds (versions, re-indexed stories), a feed that
re-sends its items under new guids (folded copies), an unchanged re-poll and failures.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mediamon.config import load_config
from mediamon.pipeline import scorer_for
from mediamon.process import process_body
from mediamon.store.base import among
from mediamon.store.sqlite import Store
from mediamon.types import FeedSource, FetchResult, Validators

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import workload

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed (pip install -e "
                              "'.[postgres]')")
from mediamon.store.postgres.store import PostgresStore  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "config" / "mediamon.toml"
NOW = datetime(2025, 7, 4, 18, 0, tzinfo=UTC)

Execute = Callable[[str], Any]
FEED = "(SELECT url FROM feeds WHERE feeds.id = x.feed_id)"  # ids follow insertion order


def state_of(execute: Execute) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a pass writes, by what does not depend on insertion order (feeds by URL,
    the band index by item, not by row number)."""
    queries = {
        "items": f"SELECT id, {FEED}, kept, round(score * 1000000), topics, title, summary, "
                 "content_hash, dedup_key, first_seen, last_seen, published FROM items AS x",
        "item_feeds": f"SELECT item_id, {FEED}, first_seen FROM item_feeds AS x",
        "item_topics": "SELECT item_id, topic, terms FROM item_topics",
        "seen": f"SELECT id, {FEED}, content_hash, first_seen FROM seen AS x",
        "aliases": f"SELECT id, item_id, {FEED}, reason, first_seen FROM item_aliases AS x",
        "versions": f"SELECT item_id, version, seen_from, replaced, {FEED}, title, summary, "
                    "url, content_hash, changed FROM item_versions AS x",
        "story_items": "SELECT item_id, story_id, outlet, t, terms, via, similarity, joined, "
                       "headline FROM story_items",
        "stories": "SELECT id, first_published, first_item_id, first_outlet, title, "
                   "last_published, items, reach, created, updated FROM stories",
        "bands": "SELECT b.key, b.t, i.item_id FROM story_bands b "
                 "JOIN story_items i ON i.n = b.n",
        "background": "SELECT documents FROM background_size",
        "df": "SELECT term, df FROM background_df",
        "feeds": "SELECT url, title, site_url, etag, body_hash, last_status, last_error, "
                 "failures, last_fetch, last_success, next_fetch FROM feeds",
        "fetch_log": f"SELECT {FEED}, started, status, http_status, bytes, entries, "
                     "new_items, kept_items, error FROM fetch_log AS x",
    }
    return {name: sorted(tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                         for row in execute(sql).fetchall())
            for name, sql in queries.items()}


def fetched(url: str, body: bytes) -> FetchResult:
    return FetchResult(url=url, status="ok", http_status=200, final_url=url, body=body,
                       validators=Validators(f'"{hash(body)}"', None), elapsed=0.01)


class Both:
    """A SQLite store and a PostgreSQL store given the same passes in the same order."""

    def __init__(self, lite: Store, pg: PostgresStore, urls: Sequence[str]) -> None:
        self.lite, self.pg = lite, pg
        self.config = load_config(CONFIG)
        for store in (lite, pg):
            store.sync_config_feeds([FeedSource(u) for u in urls], now=NOW)

    def poll(self, url: str, body: bytes, now: datetime) -> None:
        """One pass of ``url``: parsed and scored once (on what SQLite knows), then written
        by each store."""
        scorer = scorer_for(self.config, self.lite)[0]
        fetch = fetched(url, body)
        processed = process_body(fetch, feed_url=url, scorer=scorer, now=now, keep_all=True,
                                 known=self.lite.seen_hashes, stories=self.lite.stories)
        outcomes = [store.save_feed_pass(
            url, fetch, processed.scored, now=now, next_fetch=now + timedelta(hours=1),
            keep_all=True, entries=len(processed.scored), feed_title="T " + url[-12:],
            site_url=url.rsplit("/", 2)[0]) for store in (self.lite, self.pg)]
        assert outcomes[0] == outcomes[1]

    def fail(self, url: str, now: datetime) -> None:
        fetch = FetchResult(url=url, status="error", error="HTTP 503", http_status=503)
        outcomes = [store.save_feed_failure(url, fetch, now=now, next_fetch=now,
                                            error="HTTP 503")
                    for store in (self.lite, self.pg)]
        assert outcomes[0] == outcomes[1]

    def states(self) -> tuple[dict[str, Any], dict[str, Any]]:
        with sqlite3.connect(self.lite.path) as conn:
            lite = state_of(conn.execute)
        with psycopg.connect(self.pg.url) as conn:
            pg = state_of(lambda sql: conn.execute(sql))
        return lite, pg


@pytest.fixture
def both(tmp_path: Path, pg_url: str) -> Iterator[tuple[Both, list[workload.Document]]]:
    docs = workload.generate(feeds=30, items=24, seed=7, shape="wire")
    urls = [f"http://feeds.test{doc.path}" for doc in docs]
    with Store(tmp_path / "lite.db") as lite, PostgresStore(pg_url) as pg:
        yield Both(lite, pg, urls), docs


def assert_same(both: Both) -> dict[str, Any]:
    lite, pg = both.states()
    assert len(lite["items"]) >= 100
    for name in lite:
        assert pg[name] == lite[name], name
    return lite


def test_the_same_passes_leave_the_same_state_on_both(
        both: tuple[Both, list[workload.Document]]) -> None:
    """Wire copies, edits, re-sent items, re-polls and failures: after each round SQLite and
    PostgreSQL hold the same rows, including stories' members, counters and band index."""
    stores, docs = both
    urls = [f"http://feeds.test{doc.path}" for doc in docs]
    for url, doc in zip(urls, docs, strict=True):
        stores.poll(url, doc.body, NOW)
    first = assert_same(stores)
    stories = {story: items for story, *_, items, _reach, _c, _u in first["stories"]}
    assert max(stories.values()) > 16  # past INDEXED_PER_STORY: a spike of copies
    assert any(row[5] is not None for row in first["story_items"])  # some joined a story

    later = NOW + timedelta(hours=2)
    for url, doc in list(zip(urls, docs, strict=True))[::3]:  # edits: versions, re-indexing
        stores.poll(url, doc.body.replace(b"Taliban", b"Taliban government"), later)
    rss = next(i for i, doc in enumerate(docs) if i % 3 and doc.path.endswith(".rss"))
    guid = b'<guid isPermaLink="false">'
    resent = docs[rss].body.replace(guid, guid + b"v2-")
    assert resent != docs[rss].body
    stores.poll(urls[rss], resent, later)  # new guids, same links and titles: folded copies
    stores.poll(urls[2], docs[2].body, later)  # unchanged
    stores.fail(urls[4], later)
    stores.fail(urls[4], later + timedelta(minutes=5))
    second = assert_same(stores)
    assert second["versions"] and second["aliases"]
    assert any(row[7] == 2 for row in second["feeds"])  # two failures in a row


def test_among_spells_a_membership_test_for_each_database() -> None:
    """SQLite gets ``IN`` lists of at most ``size`` values, PostgreSQL one array; no value
    gives no statement."""
    assert list(among("sqlite", "id", ["a", "b", "c"], size=2)) == [
        ("id IN (?,?)", ["a", "b"]), ("id IN (?)", ["c"])]
    assert list(among("postgresql", "id", ["a", "b", "c"])) == [("id = ANY(?)", [["a", "b", "c"]])]
    assert list(among("sqlite", "id", [])) == [] == list(among("postgresql", "id", []))
