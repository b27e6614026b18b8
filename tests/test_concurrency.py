"""Readers never see `database is locked` while the daemon writes, and a full disk costs one
feed pass, never half of one."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from feedserver import config_text
from mediamon.config import load_config
from mediamon.pipeline import run_once
from mediamon.store.sqlite import Store
from test_serve import (
    get,
    serving,  # `mediamon serve` on loopback, as a real process
)

FEEDS = 3
ITEMS = 40  # per feed and round
WRITER_ROUNDS = 20
READER_ROUNDS = 5
READERS = (["items"], ["search", "taliban"], ["stats"])
# Datasette pages read in a loop while the writer runs: tables, a search, a canned query.
PAGES = ("/items", "/feeds", "/items?_search=taliban", "/todays_kept_items",
         "/items.json?_shape=array&_search=taliban")


def feed_body(feed: int, round_: int, items: int = ITEMS) -> bytes:
    """An RSS feed whose items change every round: half stay (edited), half are new."""
    parts = []
    for k in range(items):
        guid = f"f{feed}-r{round_ - (k % 2)}-{k // 2}"
        parts.append(f"<item><title>Taliban talks {guid} round {round_}</title>"
                     f"<link>https://example.org/{guid}</link>"
                     f'<guid isPermaLink="false">{guid}</guid>'
                     f"<description>About the Taliban, item {guid}, edit {round_}.</description>"
                     "</item>")
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Feed {feed}</title><link>https://example.org/</link>"
            + "".join(parts) + "</channel></rss>").encode()


def setup(tmp_path: Path, feeds: int = FEEDS) -> tuple[Path, Path, list[Path]]:
    """Feed files, a config over them and the database path."""
    paths = [tmp_path / f"feed{n}.xml" for n in range(feeds)]
    for n, path in enumerate(paths):
        path.write_bytes(feed_body(n, 0))
    db = tmp_path / "mediamon.db"
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(db), [str(p) for p in paths]), encoding="utf-8")
    return config, db, paths


def ingest(config: Path, store: Store) -> list:
    """One `run --once` pass through the real pipeline on the given store."""
    return asyncio.run(run_once(load_config(config), store, keep_all=True))


def test_readers_never_see_a_locked_database_while_the_writer_ingests(tmp_path: Path) -> None:
    """A writer ingesting for a fixed number of rounds, three CLI readers looping for a
    fixed number of rounds, and Datasette (`mediamon serve`) answering page requests until
    the writer is done: every reader exits 0, every page is a 200, and none says "database
    is locked"."""
    config, db, paths = setup(tmp_path)
    with Store(db) as store:
        ingest(config, store)  # the readers need a database to open
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    results: list[tuple[list[str], int, str]] = []
    writer_errors: list[BaseException] = []
    writer_rounds = [0]
    start = threading.Barrier(2 + len(READERS))
    pages: list[tuple[str, int, str, bool]] = []  # path, status, body, while writing

    def writer() -> None:
        try:
            with Store(db) as store:
                start.wait()
                for round_ in range(1, WRITER_ROUNDS + 1):
                    for n, path in enumerate(paths):
                        path.write_bytes(feed_body(n, round_))
                    outcomes = ingest(config, store)
                    assert all(o.status == "ok" for o in outcomes), outcomes
                    writer_rounds[0] += 1
        except BaseException as exc:  # reported by the main thread
            writer_errors.append(exc)

    def reader(args: list[str]) -> None:
        start.wait()
        for _ in range(READER_ROUNDS):
            proc = subprocess.run(
                [sys.executable, "-m", "mediamon", "--config", str(config), "--db", str(db),
                 *args], capture_output=True, text=True, env=env, timeout=60)
            results.append((args, proc.returncode, proc.stdout + proc.stderr))

    def browser(base: str) -> None:
        start.wait()
        deadline = time.monotonic() + 120
        while writer_rounds[0] < WRITER_ROUNDS and not writer_errors \
                and time.monotonic() < deadline:
            for page in PAGES:
                writing = writer_rounds[0] < WRITER_ROUNDS
                try:
                    status, body = get(base + page)
                except OSError as exc:
                    status, body = -1, repr(exc).encode()
                pages.append((page, status, body.decode(errors="replace"), writing))

    with serving(config, db) as base:
        threads = [threading.Thread(target=writer), threading.Thread(target=browser,
                                                                     args=(base,))]
        threads += [threading.Thread(target=reader, args=(args,)) for args in READERS]
        started = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.monotonic() - started
    print(f"{writer_rounds[0]} writer rounds, {len(results)} CLI reads, {len(pages)} "
          f"Datasette pages ({sum(p[3] for p in pages)} while writing) in {elapsed:.1f} s")
    assert not any(t.is_alive() for t in threads)
    assert sum(writing for *_, writing in pages) >= 2 * len(PAGES)
    bad_pages = [(p, s, body[-300:]) for p, s, body, _ in pages
                 if s != 200 or "database is locked" in body.lower()]
    assert bad_pages == []
    assert not writer_errors, writer_errors
    assert writer_rounds[0] == WRITER_ROUNDS
    assert len(results) == len(READERS) * READER_ROUNDS
    failed = [(a, rc, out[-500:]) for a, rc, out in results
              if rc != 0 or "database is locked" in out.lower()]
    assert failed == []
    with sqlite3.connect(db) as conn:
        (check,) = conn.execute("PRAGMA integrity_check").fetchone()
        stored = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    assert check == "ok"
    assert stored == FEEDS * ITEMS // 2 * (WRITER_ROUNDS + 2)


def fill_disk(tmp_path: Path) -> tuple[Path, Store, list[Path], dict[str, object]]:
    """One feed ingested once, then the writer's database capped at its current size and a
    round with many new items written to the feed; returns the state before that pass."""
    config, db, paths = setup(tmp_path, feeds=1)
    store = Store(db)
    ingest(config, store)
    conn = store.db.conn
    before = {
        "items": conn.execute("SELECT id, content_hash FROM items ORDER BY id").fetchall(),
        "seen": conn.execute("SELECT count(*) FROM seen").fetchone()[0],
        "fetch_log": conn.execute("SELECT count(*) FROM fetch_log").fetchone()[0],
    }
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")
    paths[0].write_bytes(feed_body(0, 1, items=400))
    return config, store, paths, before


def test_a_full_disk_stores_nothing_half_way_and_the_next_pass_stores_everything(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass that hits SQLITE_FULL is logged and returns an error outcome without raising,
    stores no item, and once the limit is lifted the next pass stores every item."""
    # The CLI's logging setup stops "mediamon" records reaching the root logger, where
    # caplog listens; an earlier CLI test in the same process must not hide them.
    monkeypatch.setattr(logging.getLogger("mediamon"), "propagate", True)
    config, store, _, before = fill_disk(tmp_path)
    with store:
        conn = store.db.conn
        with caplog.at_level(logging.ERROR, logger="mediamon"):
            (outcome,) = ingest(config, store)
        assert any(r.levelno >= logging.ERROR for r in caplog.records)
        assert outcome.status == "error" and outcome.error
        assert outcome.new_items == 0
        assert conn.execute("SELECT id, content_hash FROM items ORDER BY id").fetchall() \
            == before["items"]
        assert conn.execute("SELECT count(*) FROM seen").fetchone()[0] == before["seen"]
        status, error = conn.execute("SELECT last_status, last_error FROM feeds").fetchone()
        assert status == "error" and error

        conn.execute("PRAGMA max_page_count = 1073741823")
        (outcome,) = ingest(config, store)
        assert outcome.status == "ok"
        assert outcome.new_items == 400 - 40 // 2  # 20 of the 400 were stored before
        assert conn.execute("SELECT count(*) FROM items").fetchone()[0] == 40 // 2 + 400
        assert conn.execute("SELECT last_status FROM feeds").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_full_disk_is_recorded_as_a_full_disk(tmp_path: Path) -> None:
    """The error recorded for a pass that hit SQLITE_FULL says the disk is full."""
    config, store, _, _ = fill_disk(tmp_path)
    with store:
        (outcome,) = ingest(config, store)
    assert "full" in (outcome.error or "")
