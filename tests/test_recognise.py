"""Entries met before are recognised by their digest (``core.normalise.entry_digest``, kept in
``seen.raw``) instead of being normalised again: the item ``recognise_entry`` makes is the one
normalising gives, on the benchmark workloads and the shared corpus's real feeds; and a feed
that sends its whole body again, changed here and there, ends in the database exactly as it
does when every entry is normalised, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sqlite3
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest

import mediamon.process as process
from conftest import default_scorer as scorer
from feedserver import FeedServer
from mediamon.config import load_config
from mediamon.core.normalise import entry_digest, normalise_entry, recognise_entry
from mediamon.core.parse import parse_body
from mediamon.errors import ParseError
from mediamon.pipeline import Updater
from mediamon.types import FetchResult
from pg_fixtures import BACKENDS, store_of, with_database

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "corpus"
NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)


def workload_bodies() -> list[tuple[str, bytes]]:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        from workload import generate
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    return [("https://bench.example" + doc.path, doc.body)
            for shape in ("default", "rich", "long", "wire") for doc in generate(3, 30, 1, shape)]


def corpus_bodies() -> Iterator[tuple[str, bytes]]:
    root = SHARED / "feeds"
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.stat().st_size < 2_000_000:
            yield "https://corpus.example/" + path.relative_to(root).as_posix(), path.read_bytes()


def check_body(url: str, body: bytes) -> int:
    """Every entry of the body: recognised with the id and hash it normalises to, it is the
    item normalising gives (without its text), dedup key and outlet included; a second parse
    of the same body gives every entry the same digest. The number of entries."""
    try:
        parsed, _ = parse_body(body, url=url, headers={})
        again, _ = parse_body(body, url=url, headers={})
    except ParseError:  # not a feed: nothing to recognise
        return 0
    for entry, twin in zip(parsed.entries, again.entries, strict=True):
        full = normalise_entry(entry, feed_url=url, feed=parsed, now=NOW, html=False,
                               detect=False).without_text()
        known = recognise_entry(entry, feed_url=url, feed=parsed, now=NOW, item_id=full.id,
                                content_hash=full.content_hash)
        assert known == full, url
        assert (known.dedup_key, known.site) == (full.dedup_key, full.site), url
        digest = entry_digest(entry, feed_url=url, feed=parsed)
        assert entry_digest(twin, feed_url=url, feed=again) == digest, url
        assert entry_digest(entry, feed_url=url + "?other", feed=parsed) != digest
    return len(parsed.entries)


def test_a_recognised_entry_is_the_item_normalising_gives_on_the_workloads() -> None:
    assert sum(check_body(url, body) for url, body in workload_bodies()) >= 360


def test_a_recognised_entry_is_the_item_normalising_gives_on_real_feeds() -> None:
    if not SHARED.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED}")
    entries = feeds = 0
    for url, body in corpus_bodies():
        n = check_body(url, body)
        entries += n
        feeds += n > 0
    assert feeds > 1000 and entries > 2500


# -- a feed that sends its whole body again ---------------------------------------------

def entry(n: int, *, title: str | None = None, extra: str = "") -> str:
    when = (NOW - timedelta(hours=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    title = title or f"Russia and the Taliban hold talks on trade, round {n}"
    return (f"<item><title>{escape(title)}</title><guid>item-{n}</guid>"
            f"<link>https://news.example/{n}</link><pubDate>{when}</pubDate>"
            f"<description><![CDATA[<p>Moscow's envoy met the Taliban's delegation in Kabul "
            f"about recognition and trade, report {n}.{extra}</p>]]></description></item>")


def body(entries: list[str], built: str) -> bytes:
    return ("<rss version='2.0'><channel><title>Wire</title><link>https://news.example/</link>"
            f"<lastBuildDate>{built}</lastBuildDate>" + "".join(entries)
            + "</channel></rss>").encode()


FIRST = body([entry(n) for n in range(2, 30)], "one")
# two new entries on top, the two oldest gone, one entry edited, one whose markup alone
# changed (its text is the same: unchanged for the store), and a new build date
SECOND = body([entry(0), entry(1)]
              + [entry(n, title="Edited: Russia and the Taliban sign a trade deal")
                 if n == 5 else entry(n).replace("<p>", "<p class='x'>") if n == 7
                 else entry(n) for n in range(2, 28)], "two")
THIRD = body([entry(0), entry(1)]
             + [entry(n, title="Edited: Russia and the Taliban sign a trade deal")
                if n == 5 else entry(n) for n in range(2, 28)], "three")


def database(store: Any) -> list[Any]:
    """Every row a pass writes, but the digests and the times."""
    def rows(sql: str) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in store.db.execute(sql).fetchall()]

    return [
        rows("SELECT id, title, summary, summary_html, kept, score, explanation, language, "
             "content_hash FROM items ORDER BY id"),
        rows("SELECT item_id, version, title FROM item_versions ORDER BY 1, 2"),
        rows("SELECT item_id, topic, terms FROM item_topics ORDER BY 1, 2"),
        rows("SELECT id, content_hash FROM seen ORDER BY id"),
        rows("SELECT item_id, story_id FROM story_items ORDER BY item_id"),
        rows("SELECT item_id FROM item_feeds ORDER BY item_id"),
        rows("SELECT publish_rate, title, last_status, failures FROM feeds"),
    ]


def poll_three_times(feed_server: FeedServer, tmp_path: Path, name: str, *, workers: int,
                     db_url: str | None = None) -> tuple[list[list[Any]], Any]:
    """Three passes over /wire (FIRST, SECOND, THIRD) into a new SQLite file, or the
    PostgreSQL database ``db_url``; the database after each, and the config."""
    db = tmp_path / f"{name}.db"
    config_path = tmp_path / f"{name}.toml"
    where = f"url = {json.dumps(db_url)}" if db_url else f"path = {json.dumps(str(db))}"
    config_path.write_text(
        f"extends = {json.dumps(str(REPO / 'config' / 'mediamon.toml'))}\n\n"
        f"[database]\n{where}\n\n[fetch]\nworkers = {workers}\n\n"
        f"[schedule]\njitter = \"0s\"\n\n"
        f"[[feeds]]\nurl = {json.dumps(feed_server.url('/wire'))}\n", encoding="utf-8")
    config = load_config(config_path)
    after = []
    for n, served in enumerate((FIRST, SECOND, THIRD)):
        feed_server.add("/wire", served, content_type="application/rss+xml")
        store: Any = store_of(config, stories=config.stories)
        try:
            if n == 0:
                store.sync_config_feeds(config.feeds, now=NOW)
            asyncio.run(one_pass(config, store, NOW + timedelta(hours=n)))
            after.append(database(store))
        finally:
            store.close()
    return after, config


async def one_pass(config: Any, store: Any, now: datetime) -> None:
    async with Updater(config, store, clock=lambda: now) as updater:
        (outcome,) = await updater.update_feeds(store.feeds())
        assert outcome.status == "ok", outcome


@pytest.fixture(params=BACKENDS)
def databases(request: pytest.FixtureRequest) -> Iterator[Callable[[], str | None]]:
    """New databases on the backend: None for a SQLite file, else a PostgreSQL URL (the
    test skips with the reason when no server can be had)."""
    if request.param == "sqlite":
        yield lambda: None
        return
    import psycopg

    server = request.getfixturevalue("pg_server")
    made: list[str] = []

    def new() -> str:
        name = f"mediamon_recognise_{os.getpid()}_{len(made)}"
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\'')
        made.append(name)
        return with_database(server, name)

    yield new
    with psycopg.connect(server, autocommit=True) as conn:
        for name in made:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_recognising_entries_stores_what_normalising_every_entry_stores(
        feed_server: FeedServer, tmp_path: Path, databases: Callable[[], str | None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Three polls of a feed that never answers 304, recognising the entries met before and
    not: the same rows after each; and the second and third polls normalise only what is
    new or changed."""
    normalised: list[str] = []
    real = process.normalise_entry

    def counting(entry: Any, **kwargs: Any) -> Any:
        item = real(entry, **kwargs)
        normalised.append(item.title)
        return item

    monkeypatch.setattr(process, "normalise_entry", counting)
    with_digests, _ = poll_three_times(feed_server, tmp_path, "with", workers=0,
                                       db_url=databases())
    counts = list(normalised)
    normalised.clear()
    fresh = itertools.count()  # a digest no entry ever had: none is recognised
    monkeypatch.setattr(process, "entry_digest", lambda *a, **k: f"new-{next(fresh)}")
    without, _ = poll_three_times(feed_server, tmp_path, "without", workers=0,
                                  db_url=databases())
    assert with_digests == without
    assert len(with_digests[0][0]) == 28 and with_digests[0][0] != with_digests[1][0]
    # first poll: all 28; second: the 2 new, the edited one and the one whose markup changed
    # (unchanged for the store, which keeps the digest it had); third: none, that entry's
    # markup being back to the one whose digest the row kept
    assert len(counts) == 28 + 4 + 0
    assert len(normalised) == 3 * 28


def test_parse_workers_recognise_entries_too(feed_server: FeedServer, tmp_path: Path) -> None:
    in_workers, config = poll_three_times(feed_server, tmp_path, "w2", workers=2)
    feed_url = feed_server.url("/wire")
    here, _ = poll_three_times(feed_server, tmp_path, "w0", workers=0)
    assert in_workers == here
    with sqlite3.connect(config.db_path) as conn:
        digests = conn.execute("SELECT count(raw) FROM seen").fetchone()[0]
    assert digests == 30  # every entry's, the markup-only change's included (it had one)
    # a worker's own read-only connection answers which entries it met before
    process.init_worker(scorer(), str(config.db_path))
    try:
        job = process.Job(FetchResult(feed_url, "ok", 200, feed_url, THIRD), feed_url, NOW,
                          False, config.stories)
        done = process.process_job(job)
        halves = [process.process_job(replace(job, part=(k, 2))) for k in (0, 1)]
    finally:
        process._WORKER.clear()
    assert done.recognised == 28 and len(done.unchanged) == 28
    assert process.merge(halves, NOW) == done


def test_a_digest_vouches_only_for_the_hash_it_was_stored_with(tmp_path: Path) -> None:
    """``revisit`` (a deferred article) forgets the hash and the digest together; an edit
    stores the edited entry's; a row without one gets the first it meets, and keeps it."""
    from mediamon.store.sqlite import Store

    store = Store(tmp_path / "raw.db")
    url = "https://news.example/feed"
    parsed, _ = parse_body(FIRST, url=url, headers={})
    store.db.execute("INSERT INTO feeds (url, name, tags, origin, interval, added, active) "
                     "VALUES (?, 'f', '[]', 'config', 3600, '', 1)", [url])
    fetch = FetchResult(url, "ok", 200, url, FIRST)

    def poll(content: bytes) -> Any:
        done = process.process_body(
            FetchResult(url, "ok", 200, url, content), feed_url=url, scorer=scorer(), now=NOW,
            known=store.seen_hashes, entries_known=store.seen_raw)
        store.save_feed_pass(url, fetch, done.scored, now=NOW, next_fetch=None)
        return done

    first = poll(FIRST)
    item = first.scored[0].item
    digest = entry_digest(parsed.entries[0], feed_url=url, feed=parsed)
    assert store.seen_raw([digest]) == {digest: (item.id, item.content_hash)}
    store.revisit(item.id, url)
    assert store.seen_raw([digest]) == {}
    again = poll(FIRST)
    assert item.id not in again.unchanged  # processed in full: its hash was forgotten
    assert store.seen_raw([digest]) == {digest: (item.id, item.content_hash)}
    # a row without a digest (stored before digests were) gets one, and keeps it
    store.db.execute("UPDATE seen SET raw = NULL")
    poll(FIRST)
    assert store.seen_raw([digest]) == {digest: (item.id, item.content_hash)}
    store.db.execute("UPDATE seen SET raw = 'another' WHERE id = ?", [item.id])
    poll(FIRST)
    assert store.seen_raw([digest]) == {}
    store.close()
