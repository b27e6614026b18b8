"""Politeness limits requests, not work: a pass gives its host's slot back once the body has
arrived, so the next feed of that host is fetched while the first is still being processed;
after an error the slot is kept until the pass is over (a Retry-After must hold the host
before any other request goes to it)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

from feedserver import FeedServer, config_text, rss
from mediamon.config import load_config
from mediamon.pipeline import Updater
from mediamon.process import Processed
from mediamon.store.rows import FeedRow
from mediamon.store.sqlite import Store
from mediamon.types import FetchResult

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
PATIENCE = 10.0  # seconds a pass waits for the other feed's request before giving up


class SlowProcessing(Updater):
    """An Updater whose processing of ``/a`` lasts until the server has seen a request for
    ``/b`` (or ``PATIENCE`` runs out): whether ``/b`` was fetched meanwhile is recorded."""

    def __init__(self, *args: object, server: FeedServer, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.server = server
        self.b_fetched_while_a_processed: bool | None = None

    async def _process(self, fetch: FetchResult, feed: FeedRow, now: datetime) -> Processed:
        if feed.url.endswith("/a"):
            deadline = time.monotonic() + PATIENCE
            while not self.server.seen("/b") and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            self.b_fetched_while_a_processed = bool(self.server.seen("/b"))
        return await super()._process(fetch, feed, now)


def poll_two(tmp_path: Path, server: FeedServer) -> SlowProcessing:
    urls = [server.url("/a"), server.url("/b")]
    path = tmp_path / "mediamon.toml"
    path.write_text(config_text(str(tmp_path / "m.db"), urls, fetch="per_host = 1"),
                    encoding="utf-8")
    config = load_config(path)

    async def run(store: Store) -> SlowProcessing:
        updater = SlowProcessing(config, store, clock=lambda: T0, workers=0, server=server)
        async with updater:
            outcomes = await updater.update_feeds(store.feeds())
        assert [o.status for o in outcomes] == ["ok", "ok"]
        return updater

    with Store(tmp_path / "m.db") as store:
        store.sync_config_feeds(config.feeds, now=T0)
        return asyncio.run(run(store))


def test_next_feed_of_a_host_is_fetched_while_the_first_is_processed(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """With fetch.per_host = 1 and two feeds on one host, the second feed's request goes out
    while the first feed's body is still being processed."""
    feed_server.add("/a", rss("A", [("a1", "")]))
    feed_server.add("/b", rss("B", [("b1", "")]))
    updater = poll_two(tmp_path, feed_server)
    assert updater.b_fetched_while_a_processed is True


def test_a_failed_fetch_keeps_its_host_slot_to_the_end_of_the_pass(
        tmp_path: Path, feed_server: FeedServer) -> None:
    """After an error (here a 503) the host stays held until that pass is over: the second
    feed of the host is not requested while the failed pass is still running."""
    feed_server.status("/a", 503)
    feed_server.add("/b", rss("B", [("b1", "")]))
    urls = [feed_server.url("/a"), feed_server.url("/b")]
    path = tmp_path / "mediamon.toml"
    path.write_text(config_text(str(tmp_path / "m.db"), urls, fetch="per_host = 1"),
                    encoding="utf-8")
    config = load_config(path)
    order: list[str] = []

    class Recording(Updater):
        async def update_feed(self, feed: FeedRow):  # type: ignore[no-untyped-def]
            order.append(f"start {feed.url.rsplit('/', 1)[1]}")
            outcome = await super().update_feed(feed)
            await asyncio.sleep(0.05)  # the pass is still running: the slot stays taken
            order.append(f"end {feed.url.rsplit('/', 1)[1]}")
            return outcome

    async def run(store: Store) -> None:
        async with Recording(config, store, clock=lambda: T0, workers=0) as updater:
            await updater.update_feeds(store.feeds())

    with Store(tmp_path / "m.db") as store:
        store.sync_config_feeds(config.feeds, now=T0)
        asyncio.run(run(store))
    assert order == ["start a", "end a", "start b", "end b"]
