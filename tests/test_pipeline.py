"""The orchestrator against a real loopback server and a real database: politeness (conditional
GET, body hash, Retry-After for a whole host, backoff, dead, gone, redirects), the adaptive
schedule, the one writer, and the worker pool."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sqlite3
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http import HTTPStatus
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest

from feedserver import FeedServer, Handler, config_text, rss
from mediamon.config import load_config
from mediamon.fetch import fetch_feed, make_client
from mediamon.pipeline import Updater, _Dispatcher, _Writer, run_once, scorer_for
from mediamon.process import process_body
from mediamon.store.query import feed_health
from mediamon.store.sqlite import FeedRow, Store
from mediamon.types import FeedOutcome, FetchResult, Item, Match
from pg_fixtures import BACKENDS, config_on, store_of

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the Updater."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def rfc822(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


def dated(n: int, *, every: timedelta, newest: datetime = T0, prefix: str = "i"
          ) -> list[tuple[str, str]]:
    return [(f"{prefix}{k}", rfc822(newest - k * every)) for k in range(n)]


@pytest.fixture(params=BACKENDS)
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[..., tuple[Path, Store]]:
    """Write a config for ``urls`` and open its store (closed after the test), on each
    backend: feed state, backoff and host holds follow the same rules on both."""
    stores: list[Store] = []

    def make(urls: list[str], **sections: str) -> tuple[Path, Store]:
        path = tmp_path / "mediamon.toml"
        path.write_text(config_text(str(tmp_path / "m.db"), urls, **sections), encoding="utf-8")
        config_on(request, path)
        store = cast(Store, store_of(load_config(path)))
        stores.append(store)
        return path, store

    yield make
    for store in stores:
        store.close()


def poll(config_path: Path, store: Store, clock: Clock | None = None, *, workers: int = 0,
         only: list[str] | None = None, **kwargs: object) -> dict[str, FeedOutcome]:
    """One pass over every (or the ``only``) feed, in process, at the clock's time."""
    config = load_config(config_path)
    store.sync_config_feeds(config.feeds, now=(clock or Clock())())

    async def run() -> list[FeedOutcome]:
        async with Updater(config, store, clock=clock or Clock(), workers=workers,
                           **kwargs) as updater:  # type: ignore[arg-type]
            feeds = [f for f in store.feeds() if f.gone_since is None]
            if only is not None:
                feeds = [f for f in feeds if f.url in only]
            return await updater.update_feeds(feeds)

    return {o.url: o for o in asyncio.run(run())}


def feed(store: Store, url: str) -> FeedRow:
    row = store.find_feed(url)
    assert row is not None
    return row


def wait_of(row: FeedRow, now: datetime) -> float:
    assert row.next_fetch is not None
    return (datetime.fromisoformat(row.next_fetch) - now).total_seconds()


def items_of(store: Store, url: str) -> set[str]:
    return {r[0] for r in store.db.execute(
        "SELECT guid FROM items JOIN feeds ON feeds.id = items.feed_id WHERE feeds.url = ?",
        [url])}


# Conditional GET and change detection.


def test_identical_body_without_validators_is_not_parsed_again(feed_server: FeedServer,
                                                              setup) -> None:
    """A server with no ETag/Last-Modified that sends the same bytes gets "not modified"."""
    feed_server.add("/f", rss("F", dated(3, every=timedelta(hours=1))), etag=False,
                    last_modified=False)
    config, store = setup([feed_server.url("/f")])
    first = poll(config, store)[feed_server.url("/f")]
    second = poll(config, store)[feed_server.url("/f")]
    assert (first.status, first.new_items) == ("ok", 3)
    assert (second.status, second.http_status, second.entries) == ("not_modified", 200, 0)
    assert "if-none-match" not in feed_server.seen("/f")[-1].headers


def test_changed_body_behind_a_stale_etag_is_still_read(feed_server: FeedServer, setup) -> None:
    """A server that ignores conditional requests and keeps one ETag: the body hash notices."""
    bodies = [rss("F", [("a", "")]), rss("F", [("a", ""), ("b", "")])]

    def route(h: Handler) -> None:
        h.respond(200, {"ETag": '"same"', "Content-Type": "application/rss+xml"}, bodies[0])

    feed_server.add_route("/f", route)
    config, store = setup([feed_server.url("/f")])
    poll(config, store)
    bodies.pop(0)
    again = poll(config, store)[feed_server.url("/f")]
    assert feed_server.seen("/f")[-1].headers["if-none-match"] == '"same"'
    assert (again.status, again.new_items) == ("ok", 1)
    assert items_of(store, feed_server.url("/f")) == {"a", "b"}


def test_unchanged_items_are_neither_scored_nor_stored_again(feed_server: FeedServer,
                                                             setup) -> None:
    """When one item is added, only that item is scored; the others pass as unchanged."""
    feed_server.add("/f", rss("F", [("a", ""), ("b", "")]))
    config, store = setup([feed_server.url("/f")])
    base = scorer_for(load_config(config), None)[0]
    scored: list[str] = []

    class Counting:
        def __getattr__(self, name: str) -> object:
            return getattr(base, name)

        def score_item(self, item: Item) -> Match:
            scored.append(item.guid or "")
            return base.score_item(item)

    poll(config, store, scorer=Counting())
    feed_server.set_body("/f", rss("F", [("c", ""), ("a", ""), ("b", "")]))
    scored.clear()
    outcome = poll(config, store, scorer=Counting())[feed_server.url("/f")]
    assert scored == ["c"]
    assert (outcome.new_items, outcome.updated_items) == (1, 0)
    assert items_of(store, feed_server.url("/f")) == {"a", "b", "c"}


# Retry-After: the whole host waits.


@pytest.mark.parametrize(("code", "form"), [(429, "seconds"), (429, "http-date"),
                                           (503, "seconds")])
def test_retry_after_postpones_every_feed_of_the_host(code: int, form: str, setup) -> None:
    """429/503 with Retry-After (either form) holds the host: its other feeds are not
    requested and wait until then, also in a later run; another host's feed is stored."""
    clock = Clock()
    value = "600" if form == "seconds" else rfc822(T0 + timedelta(seconds=600))
    with FeedServer() as busy, FeedServer() as other:
        busy.status("/limited", code, {"Retry-After": value})
        busy.add("/sibling", rss("S", [("s1", "")]))
        other.add("/fine", rss("O", [("o1", "")]))
        urls = [busy.url("/limited"), busy.url("/sibling"), other.url("/fine")]
        config, store = setup(urls, fetch="per_host = 1", schedule='interval = "5m"')
        out = poll(config, store, clock)
        assert out[urls[0]].status == "error"
        assert out[urls[0]].error == f"HTTP {code} {HTTPStatus(code).phrase}"
        assert out[urls[1]].status == "postponed"
        assert not busy.seen("/sibling")
        assert items_of(store, urls[2]) == {"o1"}
        for url in urls[:2]:
            row = feed(store, url)
            assert 600 <= wait_of(row, T0) <= 600 * 1.01
            assert "Retry-After" in (row.next_reason or "")
        clock.advance(seconds=60)
        later = poll(config, store, clock, only=urls[:2])
        assert {o.status for o in later.values()} == {"postponed"}
        assert len(busy.seen("/limited")) == 1 and not busy.seen("/sibling")
        clock.advance(seconds=600)
        assert poll(config, store, clock, only=[urls[1]])[urls[1]].status == "ok"


def test_retry_after_is_capped_by_the_config(feed_server: FeedServer, setup) -> None:
    """A Retry-After of three days is cut to fetch.max_retry_after."""
    feed_server.status("/f", 503, {"Retry-After": str(3 * 86400)})
    config, store = setup([feed_server.url("/f")], fetch='max_retry_after = "1h"')
    poll(config, store)
    row = feed(store, feed_server.url("/f"))
    assert wait_of(row, T0) == 3600
    assert "capped" in (row.next_reason or "")


def test_errors_back_off_exponentially_with_the_reason(feed_server: FeedServer, setup) -> None:
    """Consecutive 500s double the wait (less jitter), and the feed says why."""
    feed_server.status("/f", 500)
    config, store = setup([feed_server.url("/f")], schedule='interval = "10m"')
    clock, waits = Clock(), []
    for _ in range(4):
        poll(config, store, clock)
        row = feed(store, feed_server.url("/f"))
        waits.append(wait_of(row, clock.now))
        clock.advance(seconds=waits[-1])
    assert all(600 * 2**n * 0.8 <= w <= 600 * 2**n for n, w in enumerate(waits, 1))
    assert row.failures == 4
    assert row.next_reason == "backoff after 4 failures: HTTP 500 Internal Server Error"


def test_a_feed_failing_for_days_is_dead_then_revives(feed_server: FeedServer, setup) -> None:
    """Past schedule.dead_after of failures a feed is dead (polled weekly, still listed); a
    success brings it back."""
    feed_server.status("/f", 500)
    config, store = setup([feed_server.url("/f")], schedule='dead_after = "2d"')
    clock = Clock()
    for day in range(3):
        clock.now = T0 + timedelta(days=day, seconds=day)
        poll(config, store, clock)
    row = feed(store, feed_server.url("/f"))
    assert row.dead_since is not None and wait_of(row, clock.now) == 7 * 86400
    health = {r["url"]: r for r in feed_health(store, now=clock.now)}
    assert health[feed_server.url("/f")]["health"] == "dead"
    feed_server.add("/f", rss("F", [("x", "")]))
    poll(config, store, clock)
    row = feed(store, feed_server.url("/f"))
    assert (row.dead_since, row.failures, row.failing_since) == (None, 0, None)


def test_gone_feed_is_never_polled_again_until_added_again(feed_server: FeedServer,
                                                           setup) -> None:
    """410 marks the feed gone: no next poll, not due, skipped by run --once; `feeds add`
    of the same URL polls it again."""
    feed_server.status("/f", 410)
    config, store = setup([feed_server.url("/f")])
    assert poll(config, store)[feed_server.url("/f")].status == "gone"
    row = feed(store, feed_server.url("/f"))
    assert row.gone_since is not None and row.next_fetch is None and row.active
    assert "410" in (row.next_reason or "")
    assert not store.due_feeds(T0 + timedelta(days=365))
    asyncio.run(run_once(load_config(config), store))
    assert len(feed_server.seen("/f")) == 1
    store.add_feed(row.source(), now=T0)
    assert feed(store, feed_server.url("/f")).gone_since is None


@pytest.mark.parametrize(("code", "moves"), [(301, True), (308, True), (302, False),
                                             (307, False)])
def test_only_permanent_redirects_move_a_feed_after_three_polls(feed_server: FeedServer, setup,
                                                                code: int, moves: bool) -> None:
    """A 301/308 seen on three polls in a row moves the feed; 302/307 never do."""
    feed_server.add("/new", rss("F", [("a", "")]))
    feed_server.redirect("/old", "/new", code)
    config, store = setup([feed_server.url("/old")])
    for n in range(4):
        poll(config, store)
        if n == 1:
            assert feed(store, feed_server.url("/old")).fetch_url is None
    row = feed(store, feed_server.url("/old"))
    assert row.fetch_url == (feed_server.url("/new") if moves else None)
    assert len(feed_server.seen("/old")) == (3 if moves else 4)
    assert items_of(store, feed_server.url("/old")) == {"a"}


# The adaptive schedule.


def test_interval_follows_the_publishing_rate(feed_server: FeedServer, setup) -> None:
    """An item every 20 minutes: polled every 20 minutes; nothing for weeks: once a day."""
    feed_server.add("/busy", rss("B", dated(30, every=timedelta(minutes=20))))
    feed_server.add("/quiet", rss("Q", dated(5, every=timedelta(days=1),
                                             newest=T0 - timedelta(days=30))))
    config, store = setup([feed_server.url("/busy"), feed_server.url("/quiet")])
    poll(config, store)
    busy, quiet = feed(store, feed_server.url("/busy")), feed(store, feed_server.url("/quiet"))
    assert busy.poll_interval == pytest.approx(1200, rel=0.05)
    assert wait_of(busy, T0) == pytest.approx(1200, rel=0.05)
    assert busy.next_reason and busy.next_reason.startswith("adaptive ")
    assert busy.next_reason.endswith("items/day), within 5m–24h")
    assert (quiet.poll_interval, wait_of(quiet, T0)) == (86400, 86400)


def test_server_hints_are_a_floor(feed_server: FeedServer, setup) -> None:
    """<ttl> and Cache-Control max-age slow a busy feed down to what the server asks."""
    feed_server.add("/ttl", rss("T", dated(30, every=timedelta(minutes=5)), ttl=90))
    body = rss("C", dated(30, every=timedelta(minutes=5)))
    feed_server.add_route("/cache", lambda h: h.respond(
        200, {"Cache-Control": "max-age=7200", "Content-Type": "application/rss+xml"}, body))
    config, store = setup([feed_server.url("/ttl"), feed_server.url("/cache")])
    poll(config, store)
    assert feed(store, feed_server.url("/ttl")).poll_interval == 5400
    cached = feed(store, feed_server.url("/cache"))
    assert cached.poll_interval == 7200 and "server hint 2h" in (cached.next_reason or "")


def test_pinned_interval_is_used_as_given(feed_server: FeedServer, setup) -> None:
    """A feed's own interval is kept whatever its rate and hints."""
    feed_server.add("/f", rss("F", dated(30, every=timedelta(minutes=5)), ttl=600))
    config, store = setup([feed_server.url("/f")], feed_keys='interval = "45s"')
    poll(config, store)
    row = feed(store, feed_server.url("/f"))
    assert (row.poll_interval, wait_of(row, T0)) == (45, 45)
    assert row.next_reason == "pinned 45s (the server asks for at least 10h)"


# The writer and the workers.


def test_writer_keeps_each_pass_atomic_within_a_batch(tmp_path: Path) -> None:
    """A pass that fails half-way is rolled back alone; the rest of its batch commits."""
    store = Store(tmp_path / "w.db")
    store.db.execute("CREATE TABLE t (x INTEGER)")

    def write(x: int, fail: bool = False) -> Callable[[], int]:
        def fn() -> int:
            store.db.execute("INSERT INTO t VALUES (?)", [x])
            if fail:
                raise RuntimeError("boom")
            return x
        return fn

    async def run() -> list[object]:
        writer = _Writer(store)
        jobs = [writer.run(write(1)), writer.run(write(2, fail=True)), writer.run(write(3))]
        results = await asyncio.gather(*jobs, return_exceptions=True)
        await writer.aclose()
        return results

    results = asyncio.run(run())
    assert results[0] == 1 and results[2] == 3 and isinstance(results[1], RuntimeError)
    assert [r[0] for r in store.db.execute("SELECT x FROM t ORDER BY x")] == [1, 3]
    store.close()


def _commits(store: Store) -> list[str]:
    """Every COMMIT the store's connection runs, from now on."""
    seen: list[str] = []
    store.db.conn.set_trace_callback(
        lambda sql: seen.append(sql) if sql.strip().upper() == "COMMIT" else None)
    return seen


def _table(tmp_path: Path) -> tuple[Store, Callable[[int], Callable[[], int]]]:
    store = Store(tmp_path / "g.db")
    store.db.execute("CREATE TABLE t (x INTEGER)")

    def write(x: int) -> Callable[[], int]:
        def fn() -> int:
            store.db.execute("INSERT INTO t VALUES (?)", [x])
            return x
        return fn
    return store, write


def test_writer_commits_passes_that_arrive_while_others_run_together(tmp_path: Path) -> None:
    """Group commit: writes that come one at a time while other passes have yet to write
    share one transaction; it commits as soon as no pass is left to wait for, not after
    the whole linger, even though the passes already written are still running."""
    store, write = _table(tmp_path)
    commits = _commits(store)

    async def one_pass(writer: _Writer, x: int, delay: float) -> int:
        await asyncio.sleep(delay)
        result = cast(int, await writer.run(write(x)))
        await asyncio.sleep(60)  # still running after its write: not waited for
        return result

    async def run() -> list[int]:
        unwritten: set[asyncio.Task[object]] = set()
        writer = _Writer(store, linger=30.0, unwritten=unwritten)
        tasks = [asyncio.create_task(one_pass(writer, x, 0.05 * x)) for x in (1, 2, 3)]
        unwritten.update(tasks)
        while len(store.db.execute("SELECT x FROM t").fetchall()) < 3 or writer._open:
            await asyncio.sleep(0.01)
        for task in tasks:
            task.cancel()
        await writer.aclose()
        return [r[0] for r in store.db.execute("SELECT x FROM t ORDER BY x")]

    started = time.monotonic()
    assert asyncio.run(run()) == [1, 2, 3]
    assert time.monotonic() - started < 10  # the last pass did not wait out the linger
    assert commits == ["COMMIT"]
    assert [r[0] for r in store.db.execute("SELECT x FROM t ORDER BY x")] == [1, 2, 3]
    store.close()


def test_a_pass_waiting_for_the_commit_leaves_its_slot_to_the_next(tmp_path: Path) -> None:
    """With one pass at a time, the second feed's pass starts once the first has handed its
    write over, while the writer still waits to commit it (so a lingering writer does not
    hold the feeds behind it), and both commit together."""
    store, write = _table(tmp_path)
    commits = _commits(store)
    commits_at_start: list[int] = []

    async def run() -> None:
        unwritten: set[asyncio.Task[object]] = set()
        writer = _Writer(store, linger=30.0, unwritten=unwritten,
                         on_written=lambda: dispatcher.pump())

        async def one_pass(feed: FeedRow) -> int:
            commits_at_start.append(len(commits))
            return cast(int, await writer.run(write(feed.id)))

        dispatcher = _Dispatcher(one_pass, concurrency=1, per_host=1, unwritten=unwritten)
        for n in (1, 2):
            dispatcher.submit(cast(FeedRow, SimpleNamespace(
                id=n, effective_url=f"http://feeds{n}.example/rss")))
        await dispatcher.wait_idle()
        await writer.aclose()
        assert dispatcher.results == {1: 1, 2: 2}

    asyncio.run(run())
    assert commits_at_start == [0, 0]  # the second started before the first committed
    assert commits == ["COMMIT"]
    store.close()


def test_passes_waiting_for_the_writer_are_bounded() -> None:
    """Passes that have handed their write over free their slot, but no more than one more
    pass per slot waits for the writer: a slow writer does not gather every feed's items."""
    most = 0

    async def run() -> None:
        nonlocal most
        unwritten: set[asyncio.Task[object]] = set()
        committed = asyncio.Event()

        async def one_pass(feed: FeedRow) -> int:
            nonlocal most
            most = max(most, len(dispatcher.tasks()))
            unwritten.discard(cast("asyncio.Task[object]", asyncio.current_task()))
            dispatcher.pump()  # what the writer does when a pass queues its write
            await committed.wait()
            return feed.id

        dispatcher = _Dispatcher(one_pass, concurrency=1, per_host=1, unwritten=unwritten)
        for n in range(1, 6):
            dispatcher.submit(cast(FeedRow, SimpleNamespace(
                id=n, effective_url=f"http://feeds{n}.example/rss")))
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(dispatcher.tasks()) == 2  # one waiting for the writer, one more at most
        committed.set()
        await dispatcher.wait_idle()
        assert dispatcher.results == {n: n for n in range(1, 6)}

    asyncio.run(run())
    assert most == 2


def test_writer_without_linger_commits_each_pass(tmp_path: Path) -> None:
    """The same arrivals on a store that does not allow group commit (PostgreSQL): one
    commit per pass, as before."""
    store, write = _table(tmp_path)
    commits = _commits(store)

    async def run() -> None:
        never = asyncio.create_task(asyncio.sleep(60))  # a pass that has yet to write
        writer = _Writer(store, linger=0.0, unwritten={never})
        for x in (1, 2, 3):
            await writer.run(write(x))
        await writer.aclose()
        never.cancel()

    asyncio.run(run())
    assert commits == ["COMMIT"] * 3
    store.close()


def test_a_lingering_writer_cancelled_commits_what_it_wrote(tmp_path: Path) -> None:
    """Stopping the writer while it waits for more passes loses nothing it has written: the
    batch commits and its callers get their results."""
    store, write = _table(tmp_path)

    async def run() -> int:
        never = asyncio.create_task(asyncio.sleep(60))  # a pass that never writes
        writer = _Writer(store, linger=30.0, unwritten={never})
        task = asyncio.create_task(writer.run(write(7)))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if writer._open:
                break
        assert writer._open and not task.done()  # written, waiting for the others
        assert writer._task is not None
        writer._task.cancel()
        never.cancel()
        return cast(int, await task)

    assert asyncio.run(run()) == 7
    other = sqlite3.connect(tmp_path / "g.db")
    assert other.execute("SELECT x FROM t").fetchall() == [(7,)]
    other.close()
    store.close()


def test_a_batch_sqlite_rolled_back_fails_every_pass_in_it(tmp_path: Path) -> None:
    """When SQLite rolls the whole transaction back (a full disk, an I/O error), every pass
    written in it, the one that met the error included, gets the error and nothing of them
    is stored; a pass still queued goes into the next transaction."""
    store, write = _table(tmp_path)

    def disk_full() -> int:
        store.db.execute("INSERT INTO t VALUES (99)")
        store.db.conn.execute("ROLLBACK")  # what SQLite does itself on SQLITE_FULL
        raise sqlite3.OperationalError("database or disk is full")

    async def run() -> list[object]:
        never = asyncio.create_task(asyncio.sleep(60))  # a pass that has yet to write
        writer = _Writer(store, linger=0.5, unwritten={never})
        results = await asyncio.gather(writer.run(write(1)), writer.run(disk_full),
                                       writer.run(write(3)), return_exceptions=True)
        never.cancel()
        await writer.aclose()
        return list(results)

    results = asyncio.run(run())
    assert [type(r) for r in results] == [sqlite3.OperationalError] * 2 + [int], results
    assert [r[0] for r in store.db.execute("SELECT x FROM t")] == [3]
    store.close()


def test_worker_pool_stores_what_the_main_process_would(tmp_path: Path,
                                                        feed_server: FeedServer) -> None:
    """Parsing in worker processes gives the same items and hashes as parsing in-process."""
    for n in range(6):
        feed_server.add(f"/f{n}", rss(f"F{n}", dated(20, every=timedelta(hours=1),
                                                     prefix=f"f{n}-")))
    urls = [feed_server.url(f"/f{n}") for n in range(6)]
    rows = []
    for workers in (2, 0):
        path = tmp_path / f"c{workers}.toml"
        path.write_text(config_text(str(tmp_path / f"{workers}.db"), urls,
                                    fetch=f"workers = {workers}"), encoding="utf-8")
        config = load_config(path)
        with Store(config.db_path) as store:
            outcomes = asyncio.run(run_once(config, store))
            assert {o.status for o in outcomes} == {"ok"}
            rows.append(sorted(store.db.execute(
                "SELECT id, content_hash, summary_html, kept FROM items")))
    assert len(rows[0]) == 120 and rows[0] == rows[1]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_each_fetch_is_one_structured_log_line(feed_server: FeedServer, setup) -> None:
    """The log line carries feed, status, bytes, duration, new and kept items."""
    feed_server.add("/f", rss("F", [("a", ""), ("b", "")]))
    config, store = setup([feed_server.url("/f")])
    logger, handler = logging.getLogger("mediamon.pipeline"), Records()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)  # setLevel, not .level: it clears the logger's cache
    try:
        poll(config, store)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    (record,) = [r for r in handler.records if r.getMessage() == "fetch"]
    fields = record.fields  # type: ignore[attr-defined]
    assert fields["url"] == feed_server.url("/f") and fields["status"] == "ok"
    assert (fields["new"], fields["kept"]) == (2, 2)
    assert fields["bytes"] > 100 and fields["seconds"] >= 0


def test_a_killed_worker_process_is_replaced(feed_server: FeedServer, setup) -> None:
    """When a worker process dies, the next pass starts a new pool and still stores items."""
    feed_server.add("/a", rss("A", [("a1", "")]))
    feed_server.add("/b", rss("B", [("b1", "")]))
    config_path, store = setup([feed_server.url("/a"), feed_server.url("/b")],
                               fetch="workers = 1")
    config = load_config(config_path)
    store.sync_config_feeds(config.feeds, now=T0)
    first, second = store.feeds()

    async def run() -> list[FeedOutcome]:
        async with Updater(config, store, clock=Clock()) as updater:
            await updater.update_feeds([first])
            assert updater._pool is not None
            for pid in updater._pool.pids():
                os.kill(pid, signal.SIGKILL)
            return await updater.update_feeds([second])

    (outcome,) = asyncio.run(run())
    assert (outcome.status, outcome.new_items) == ("ok", 1)
    assert items_of(store, feed_server.url("/b")) == {"b1"}


def refuse_to_start(*_: object) -> None:
    """A worker initializer that always fails (module level: workers import it)."""
    raise RuntimeError("cannot initialise")


def test_workers_that_cannot_start_leave_the_parsing_to_this_process(
        feed_server: FeedServer, setup, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every worker dies at start (no processes to be had, a broken install): the pass
    parses in this process instead, says so once, and stores every feed; the next pass
    does not try the workers again before POOL_RETRY_SECONDS."""
    import mediamon.pipeline as pipeline_module

    monkeypatch.setattr(pipeline_module, "init_worker", refuse_to_start)
    for name in ("a", "b", "c"):
        feed_server.add(f"/{name}", rss(name.upper(), [(f"{name}1", ""), (f"{name}2", "")]))
    urls = [feed_server.url(f"/{n}") for n in ("a", "b", "c")]
    config_path, store = setup(urls, fetch="workers = 2")
    config = load_config(config_path)
    store.sync_config_feeds(config.feeds, now=T0)

    async def run() -> tuple[list[FeedOutcome], list[FeedOutcome], object]:
        async with Updater(config, store, clock=Clock()) as updater:
            first = await updater.update_feeds(store.feeds())
            feed_server.add("/a", rss("A", [("a3", "")]))
            second = await updater.update_feeds(store.feeds())
            return first, second, updater._pool

    logger, handler = logging.getLogger("mediamon.pipeline"), Records()
    logger.addHandler(handler)  # not caplog: the CLI's log setup stops propagation
    level = logger.level
    logger.setLevel(logging.WARNING)  # an earlier CLI test may have set "mediamon" higher
    try:
        first, second, pool = asyncio.run(run())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [o.status for o in first] == ["ok"] * 3
    assert [o.status for o in second] == ["ok", "not_modified", "not_modified"]
    assert items_of(store, urls[0]) == {"a1", "a2", "a3"}
    assert items_of(store, urls[2]) == {"c1", "c2"}
    assert pool is None  # not made again within the retry time
    said = [r.getMessage() for r in handler.records
            if "parsing in this process" in r.getMessage()]
    assert len(said) == 1 and "died at start 3 times" in said[0], said


def test_item_edited_by_another_feed_meanwhile_is_linked_not_overwritten(
        feed_server: FeedServer, setup) -> None:
    """An item a worker saw as unchanged, then edited through another feed before this
    feed's write, is linked to this feed and the newer version is kept."""
    shared = "https://example.org/shared"
    feed_server.add("/a", rss("Old", [(shared, "")]))
    feed_server.add("/b", rss("Old", [(shared, "")]))
    feed_server.add("/c", rss("New", [(shared, "")]))
    urls = [feed_server.url(p) for p in ("/a", "/b", "/c")]
    config_path, store = setup(urls)
    poll(config_path, store, only=[urls[0]])
    config = load_config(config_path)
    updater = Updater(config, store, clock=Clock(), workers=0)
    b = feed(store, urls[1])
    body = rss("Old", [(shared, "")])
    fetched = asyncio.run(_fetch_once(urls[1]))
    assert fetched.body == body
    processed = process_body(fetched, feed_url=b.url, scorer=updater.scorer, now=T0,
                             known=store.seen_hashes)
    assert len(processed.unchanged) == 1
    poll(config_path, store, only=[urls[2]])  # the edit lands first
    with store.transaction():
        store.save_feed_pass(b.url, fetched, updater._fresh(processed), now=T0,
                             next_fetch=None)
    (title,) = store.db.execute("SELECT title FROM items").fetchone()
    linked = {r[0] for r in store.db.execute(
        "SELECT f.url FROM item_feeds i JOIN feeds f ON f.id = i.feed_id")}
    assert title == f"New {shared}" and linked == set(urls)


async def _fetch_once(url: str) -> FetchResult:
    async with make_client() as client:
        return await fetch_feed(client, url)


def test_a_feed_whose_parse_makes_no_progress_fails_with_a_reason_and_others_go_on(
        feed_server: FeedServer, setup) -> None:
    """The watchdog in a real pass: a body that keeps its worker busy past
    fetch.worker_timeout is tried twice, then recorded as failed with a one-line reason;
    the feeds beside it are stored, and the pass ends."""
    feed_server.add("/big", rss("Big", [(f"https://example.org/i{k}", "")
                                        for k in range(20_000)]))
    feed_server.add("/a", rss("A", [("a1", "")]))
    feed_server.add("/b", rss("B", [("b1", "")]))
    urls = [feed_server.url(p) for p in ("/a", "/big", "/b")]
    config_path, store = setup(urls, fetch='workers = 2\nworker_timeout = "0.3s"')
    outcomes = poll(config_path, store, workers=2)
    big = outcomes[urls[1]]
    assert big.status == "error" and big.error is not None
    assert "stuck" in big.error and "0.3 s" in big.error
    assert feed(store, urls[1]).last_error == big.error
    assert items_of(store, urls[0]) == {"a1"} and items_of(store, urls[2]) == {"b1"}
    assert items_of(store, urls[1]) == set()
