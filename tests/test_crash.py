"""kill -9 at random moments of an ingest, twenty times in a row.

A real `mediamon run --once` process ingests feeds from the loopback server and is killed
with SIGKILL at a moment drawn from a seeded ``random.Random`` (MEDIAMON_CRASH_SEED replays
a failure; the seed is printed and named in every assertion). Between runs the feeds gain
items and revise a few, so every run has work; some stories are carried by three feeds each
(folded copies). Just before each kill the committed state is read through a separate
read-only connection. After each kill:

- ``PRAGMA integrity_check`` and ``foreign_key_check`` pass, and the full-text index matches
  the items table (FTS5 ``integrity-check`` against its content table);
- no item, seen row or item-feed link read before the kill (or after an earlier one) is gone;
- nothing is stored twice: one item per dedup key, per canonical URL and per feed guid, one
  story membership per item, no folded copy also stored, one index entry per item.

After the series one uninterrupted run must leave the database as one uninterrupted ingest
of the same feeds leaves a new database.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import fetch_count, wait_for
from feedserver import FeedServer, config_text, rss

pytestmark = pytest.mark.slow

SEED = int(os.environ.get("MEDIAMON_CRASH_SEED", "20261128"))
KILLS = 20
FEEDS = 24
BASE = 60  # items each feed lists from the start
GROW = 8  # items a third of the feeds gain each round (they also revise items)
WIRE = 2  # new stories each round, each carried by three feeds (one link, their own guids)
# Where a kill lands: a quarter START seconds after the process starts (imports, schema,
# config sync, first fetches: a run commits its first pass ~0.6 s after it starts), the
# others INGEST seconds after the run's first commit (its passes then take ~0.8 s, one feed
# at a time, per_host = 1). Timed from a commit, they land mid-ingest on a slow machine too.
START = (0.05, 0.7)
INGEST = (0.0, 0.8)
SETTINGS = {"fetch": "per_host = 1\nconcurrency = 8", "schedule": 'interval = "1h"'}


def carriers(wire: int) -> set[int]:
    return {(wire * 5 + k * 7) % FEEDS for k in range(3)}


def feed_body(feed: int, round_: int) -> bytes:
    """Feed ``feed`` as served in round ``round_``: in the rounds where it changes it gains
    ``GROW`` items and revises the summary of its items numbered like the round (mod 20)."""
    changes = [r for r in range(1, round_ + 1) if r % 3 == feed % 3]
    items = [(f"f{feed}-i{k}", "") for k in range(BASE + GROW * len(changes))]
    items += [(f"wire-{w}", "") for w in range(WIRE * (round_ + 1)) if feed in carriers(w)]
    body = rss(f"Feed {feed}", items)
    for k in range(BASE):
        revised = [r for r in changes if r % 20 == k % 20]
        if revised:
            guid = f"f{feed}-i{k}"
            body = body.replace(f"<description>About {guid}.".encode(),
                                f"<description>About {guid}, revision {revised[-1]}.".encode())
    return body


@dataclass
class State:
    """What must never be lost once committed."""

    items: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)
    links: set[tuple[str, int]] = field(default_factory=set)
    fetches: int = 0

    def absorb(self, other: State) -> None:
        self.items |= other.items
        self.seen |= other.seen
        self.links |= other.links


def read_state(db: Path) -> State:
    """The committed state, through a read-only connection (the writer may be running)."""
    if not db.exists():
        return State()
    try:
        conn = sqlite3.connect(db.as_uri() + "?mode=ro", uri=True, timeout=10)
        try:
            return State(
                items={r[0] for r in conn.execute("SELECT id FROM items")},
                seen={r[0] for r in conn.execute("SELECT id FROM seen")},
                links=set(conn.execute("SELECT item_id, feed_id FROM item_feeds")),
                fetches=conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0],
            )
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc) or "unable to open" in str(exc):
            return State()  # killed before the schema was committed
        raise


# Rows that must not exist; "twice" ones are duplicates.
FORBIDDEN = {
    "item twice under one dedup key": "SELECT dedup_key FROM items WHERE dedup_key IS NOT NULL "
                                      "GROUP BY dedup_key HAVING count(*) > 1",
    "item twice under one canonical URL": "SELECT canonical_url FROM items WHERE canonical_url "
                                          "IS NOT NULL GROUP BY canonical_url HAVING count(*) > 1",
    "item twice under one feed guid": "SELECT feed_id, guid FROM items WHERE guid IS NOT NULL "
                                      "GROUP BY feed_id, guid HAVING count(*) > 1",
    "seen row twice": "SELECT id FROM seen GROUP BY id HAVING count(*) > 1",
    "feed link twice": "SELECT item_id, feed_id FROM item_feeds GROUP BY item_id, feed_id "
                       "HAVING count(*) > 1",
    "topic row twice": "SELECT item_id, topic FROM item_topics GROUP BY item_id, topic "
                       "HAVING count(*) > 1",
    "item twice in stories": "SELECT item_id FROM story_items GROUP BY item_id HAVING count(*) > 1",
    "item in no story": "SELECT id FROM items WHERE id NOT IN (SELECT item_id FROM story_items)",
    "story member not stored": "SELECT item_id FROM story_items WHERE item_id NOT IN "
                               "(SELECT id FROM items)",
    "item without a feed link": "SELECT id FROM items WHERE id NOT IN "
                                "(SELECT item_id FROM item_feeds)",
    "folded copy stored too": "SELECT id FROM item_aliases WHERE id IN (SELECT id FROM items)",
    "folded copy of nothing": "SELECT id FROM item_aliases WHERE item_id NOT IN "
                              "(SELECT id FROM items)",
    "item never seen": "SELECT id FROM items WHERE id NOT IN (SELECT id FROM seen)",
}


def check_database(db: Path, ever: State, why: str) -> State:
    """Integrity, nothing of ``ever`` lost, nothing twice; returns what the database holds."""
    conn = sqlite3.connect(db, timeout=10)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok", why
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == [], why
        try:  # the index against its content table: a missing, extra or stale entry fails
            conn.execute("INSERT INTO items_fts (items_fts, rank) VALUES ('integrity-check', 1)")
        except sqlite3.DatabaseError as exc:
            raise AssertionError(f"full-text index does not match items ({exc}); {why}") from None
        indexed = {r[0] for r in conn.execute("SELECT id FROM items_fts_docsize")}
        assert indexed == {r[0] for r in conn.execute("SELECT rowid FROM items")}, \
            f"full-text index entries != items; {why}"
        for what, sql in FORBIDDEN.items():
            found = conn.execute(sql).fetchall()
            assert not found, f"{what}: {found[:5]}; {why}"
        assert conn.execute("SELECT coalesce(sum(items), 0) FROM stories").fetchone() == \
            conn.execute("SELECT count(*) FROM story_items").fetchone(), f"story sizes; {why}"
    finally:
        conn.close()
    now = read_state(db)
    for what, lost in (("items", ever.items - now.items), ("seen rows", ever.seen - now.seen),
                       ("feed links", ever.links - now.links)):
        assert not lost, f"{len(lost)} committed {what} lost: {sorted(lost)[:5]}; {why}"
    return now


def summary(db: Path) -> dict[str, object]:
    """What an ingest of the same feeds leaves however it was interrupted: each item a feed
    sent alone with its latest content, one stored item per story link (which feed's copy is
    stored depends on the order passes are written in), every id seen, every feed link, the
    feeds' validators, the counts (earlier versions aside)."""
    with sqlite3.connect(db) as conn:
        return {
            "own items": dict(conn.execute(
                "SELECT id, content_hash FROM items WHERE guid NOT LIKE 'wire-%'")),
            "stored links": sorted(r[0] for r in conn.execute("SELECT dedup_key FROM items")),
            "stored or folded": {r[0] for r in conn.execute(
                "SELECT id FROM items UNION SELECT id FROM item_aliases")},
            "seen": dict(conn.execute("SELECT id, content_hash FROM seen")),
            "feed links": set(conn.execute(
                "SELECT i.dedup_key, f.url FROM item_feeds l JOIN items i ON i.id = l.item_id "
                "JOIN feeds f ON f.id = l.feed_id")),
            "feeds": set(conn.execute("SELECT url, etag, body_hash, failures FROM feeds")),
            "counts": {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in (
                "items", "seen", "item_feeds", "item_topics", "item_aliases", "story_items",
                "items_fts_docsize")},
            "background documents": conn.execute(
                "SELECT documents FROM background_size").fetchone()[0],
        }


def start_run(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "mediamon", "--config", str(config), "run", "--once"],
            stdout=out, stderr=out)


@dataclass
class Kill:
    from_start: bool  # timed from the process start, else from the run's first commit
    delay: float
    passes: int  # feed passes the run had committed when the state was read
    items: int  # new items it had committed


def run_and_kill(config: Path, db: Path, log: Path, rng: random.Random
                 ) -> tuple[Kill, State, int]:
    """One run killed at a random moment: (the kill, the state read just before, exit code)."""
    from_start = rng.random() < 0.25
    delay = rng.uniform(*(START if from_start else INGEST))
    before = read_state(db)
    proc = start_run(config, log)
    if not from_start:
        assert wait_for(lambda: fetch_count(db) > before.fetches or proc.poll() is not None,
                        timeout=60)
    deadline = time.monotonic() + delay
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    committed = read_state(db)  # read-only, just before the kill
    with contextlib.suppress(ProcessLookupError):  # the run finished first
        os.kill(proc.pid, signal.SIGKILL)
    code = proc.wait(timeout=30)
    kill = Kill(from_start, delay, committed.fetches - before.fetches,
                len(committed.items - before.items))
    return kill, committed, code


def test_kill_9_twenty_times_loses_nothing_and_duplicates_nothing(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """20 SIGKILLs at random moments of growing ingests: after each, the database is intact,
    every committed row is still there and nothing is stored twice; one more run then gives
    exactly what an uninterrupted ingest of the same feeds gives."""
    rng = random.Random(SEED)
    print(f"crash test seed: MEDIAMON_CRASH_SEED={SEED}")
    paths = [f"/feed{f}.xml" for f in range(FEEDS)]
    for f, path in enumerate(paths):
        feed_server.add(path, feed_body(f, 0))
    urls = [feed_server.url(p) for p in paths]
    db, ref = tmp_path / "m.db", tmp_path / "ref.db"
    config, ref_config = tmp_path / "mediamon.toml", tmp_path / "ref.toml"
    config.write_text(config_text(str(db), urls, **SETTINGS), encoding="utf-8")
    ref_config.write_text(config_text(str(ref), urls, **SETTINGS), encoding="utf-8")
    log = tmp_path / "runs.log"

    started = time.monotonic()
    ever = State()
    kills: list[Kill] = []
    round_ = 0
    while len(kills) < KILLS:
        assert round_ < 2 * KILLS, f"the runs keep finishing before the kill (seed {SEED})"
        if round_:
            for f, path in enumerate(paths):
                body = feed_body(f, round_)
                if body != feed_body(f, round_ - 1):
                    feed_server.set_body(path, body)
        kill, committed, code = run_and_kill(config, db, log, rng)
        why = f"round {round_}, {kill} (seed {SEED}); log: {log}"
        ever.absorb(committed)
        if code == -signal.SIGKILL:
            kills.append(kill)
        else:
            assert code == 0, f"run failed with {code}; {why}"
        ever.absorb(check_database(db, ever, why))
        round_ += 1
    series = time.monotonic() - started

    # One run to the end; then the same feeds into a new database, uninterrupted.
    for name, cfg in (("final", config), ("reference", ref_config)):
        proc = start_run(cfg, log)
        assert proc.wait(timeout=120) == 0, f"{name} run failed (seed {SEED}); log: {log}"
    check_database(db, ever, f"after the final run (seed {SEED})")
    check_database(ref, State(), "reference")
    got, want = summary(db), summary(ref)
    mid = [k for k in kills if 0 < k.passes < FEEDS]
    print(f"{len(kills)} kills in {round_} runs ({sum(k.from_start for k in kills)} timed from "
          f"the start), {series:.1f}s; {len(mid)} between feed passes (some committed, some "
          f"not); new items committed per killed run: {[k.items for k in kills]}; final: "
          f"{want['counts']}; total {time.monotonic() - started:.1f}s")
    for key in want:
        assert got[key] == want[key], f"{key} differs from an uninterrupted ingest (seed {SEED})"
    with sqlite3.connect(db) as conn:  # revisions were stored as edits on the way
        assert conn.execute("SELECT count(*) FROM item_versions").fetchone()[0] > 0
    assert not list(tmp_path.glob("*.bak")), "a killed first start left a half-migrated schema"
    # The kills hit passes in flight, and the reads before them saw commits.
    assert len(mid) >= KILLS // 2, f"too few kills landed mid-ingest: {kills} (seed {SEED})"


def test_the_checks_notice_a_lost_item_a_duplicate_and_an_unindexed_item(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """The checks above are not vacuous: each fault, made by hand, fails them."""
    paths = [f"/feed{f}.xml" for f in range(3)]
    for f, path in enumerate(paths):
        feed_server.add(path, feed_body(f, 0))
    db, config = tmp_path / "m.db", tmp_path / "mediamon.toml"
    config.write_text(config_text(str(db), [feed_server.url(p) for p in paths], **SETTINGS),
                      encoding="utf-8")
    assert start_run(config, tmp_path / "run.log").wait(timeout=60) == 0
    ever = check_database(db, State(), "clean")
    assert len(ever.items) == 3 * BASE + 1  # and wire-0, which feed 0 carries
    copy = ("INSERT INTO items SELECT 'copy' || id, feed_id, 'copy' || guid, url, canonical_url,"
            " title, summary, content, summary_html, content_html, authors, categories,"
            " published, published_from_feed, updated, first_seen, last_seen, language,"
            " content_hash, kept, score, similarity, topics, explanation, dedup_key,"
            " language_declared FROM items WHERE id = ?")
    victim = sorted(ever.items)[0]

    def fault(*statements: str) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            for sql in statements:
                conn.execute(sql, [victim] if "?" in sql else [])

    # A stored item is lost (with its links, topics, story membership and index entry).
    fault("UPDATE stories SET items = items - 1 WHERE id = "
          "(SELECT story_id FROM story_items WHERE item_id = ?)",
          "DELETE FROM story_items WHERE item_id = ?", "DELETE FROM items WHERE id = ?")
    with pytest.raises(AssertionError, match="1 committed items lost"):
        check_database(db, ever, "lost")
    ever = check_database(db, State(), "restart")
    victim = sorted(ever.items)[0]
    # An item stored twice under another id (indexed, linked and in a story, so only the
    # duplicate is wrong).
    fault(copy, "INSERT INTO items_fts (rowid, title, summary, content) SELECT rowid, title, "
          "summary, content FROM items WHERE id = 'copy' || ?",
          "INSERT INTO item_feeds SELECT 'copy' || item_id, feed_id, first_seen FROM item_feeds "
          "WHERE item_id = ?", "INSERT INTO seen (id, feed_id, content_hash, first_seen) SELECT "
          "'copy' || id, feed_id, content_hash, first_seen FROM seen WHERE id = ?",
          "INSERT INTO story_items (item_id, story_id, "
          "outlet, t, terms, joined) SELECT 'copy' || item_id, story_id, outlet, t, terms, "
          "joined FROM story_items WHERE item_id = ?",
          "UPDATE stories SET items = items + 1 WHERE id = "
          "(SELECT story_id FROM story_items WHERE item_id = ?)")
    with pytest.raises(AssertionError, match="item twice under one dedup key"):
        check_database(db, ever, "duplicate")
    fault("UPDATE items SET dedup_key = NULL, canonical_url = NULL WHERE id = 'copy' || ?")
    ever = check_database(db, ever, "no longer a duplicate")
    # An item stored without its full-text index entry.
    fault("DELETE FROM items_fts_docsize WHERE id = (SELECT rowid FROM items WHERE id = ?)")
    with pytest.raises(AssertionError, match="full-text index"):
        check_database(db, ever, "unindexed")
