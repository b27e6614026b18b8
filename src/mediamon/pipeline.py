"""The one orchestrator: one pass over one feed, and one pass over many.

    update_feed(feed):
        fetch   conditional GET with the stored ETag / Last-Modified (or read a local file)
        if not modified, failed or gone: record that on the feed, schedule the next poll, stop
        if the body is byte-for-byte the last one: treat it as not modified
        parse   bytes + headers -> ParsedFeed              (ParseError -> recorded, stop)
        normalise each entry -> Item                       (stable id, canonical URL, UTC dates)
        score   each Item -> Match                         (topics, keep rule, profile)
        store   new/changed items + feed state + fetch log, in ONE transaction

    update_feeds(feeds): update_feed for each, concurrently, at most ``concurrency`` at once
    and ``per_host`` per host. One feed's failure never stops another's.

Expected failures (network, HTTP status, malformed feeds) are recorded on the feed and the
pass goes on; anything unexpected is logged with its traceback and recorded on that feed too,
so a daemon never dies of one bad feed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from .config import Config
from .errors import ParseError
from .fetch import fetch_feed, make_client
from .normalise import normalise_feed
from .parse import parse_feed
from .policy import next_poll
from .score import Scorer
from .store import FeedRow, ScoredItem, Store
from .types import FeedOutcome, FetchResult

log = logging.getLogger("mediamon.pipeline")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Processed:
    """What the CPU-bound half of a pass produced from a body (picklable, for a worker pool)."""

    scored: tuple[ScoredItem, ...]
    entries: int
    warning: str | None
    title: str | None
    link: str | None


def process_body(fetch: FetchResult, *, feed_url: str, scorer: Scorer, now: datetime) -> Processed:
    """parse -> normalise -> score. Pure: raises ParseError for a body that is not a feed."""
    assert fetch.body is not None
    parsed = parse_feed(fetch.body, url=fetch.final_url or feed_url, headers=fetch.headers)
    items = normalise_feed(parsed, feed_url=feed_url, now=now)
    scored = tuple(ScoredItem(item, scorer.score_item(item)) for item in items)
    return Processed(scored, len(parsed.entries), parsed.warning, parsed.title, parsed.link)


class Updater:
    """Runs feed passes with one shared HTTP client and one Store (the single writer)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        client: httpx.AsyncClient | None = None,
        scorer: Scorer | None = None,
        clock: Callable[[], datetime] = utcnow,
        keep_all: bool | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.scorer = scorer or Scorer.from_config(config)
        self.clock = clock
        self.keep_all = config.keep.keep_all if keep_all is None else keep_all
        self._client = client
        self._own_client = client is None
        # At most ``concurrency`` passes at once; the per-host limit is the client's own
        # (see fetch.make_client), so a slow host never holds the global slots for others.
        self._global = asyncio.Semaphore(config.fetch.concurrency)

    @property
    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            f = self.config.fetch
            self._client = make_client(
                user_agent=f.user_agent, timeout=f.timeout,
                max_connections=f.concurrency, per_host=f.per_host,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None and self._own_client:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Updater:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _interval(self, feed: FeedRow) -> float:
        return feed.interval or self.config.schedule.interval

    def _next(self, feed: FeedRow, *, failures: int, retry_after: float | None = None,
              gone: bool = False) -> datetime | None:
        return next_poll(
            self.clock(), interval=self._interval(feed), failures=failures,
            retry_after=retry_after, gone=gone, jitter=self.config.schedule.jitter,
        )

    async def update_feed(self, feed: FeedRow) -> FeedOutcome:
        """One pass over one feed. Never raises for anything a feed or server can do."""
        started = time.perf_counter()
        try:
            async with self._global:
                fetch = await fetch_feed(
                    self.client, feed.url, feed.validators,
                    max_bytes=self.config.fetch.max_bytes, timeout=self.config.fetch.timeout,
                    now=self.clock(),
                )
            outcome = self._store_fetch(feed, fetch)
        except Exception as exc:  # a bug or a database fault: record it, keep the daemon alive
            log.exception("internal error while updating %s", feed.url)
            outcome = FeedOutcome(feed.url, "error", error=f"internal error: {exc!r}")
            try:
                failed = FetchResult(feed.url, "error", error=outcome.error)
                self.store.save_feed_failure(
                    feed.url, failed, now=self.clock(),
                    next_fetch=self._next(feed, failures=feed.failures + 1), error=outcome.error,
                )
            except Exception:
                log.exception("could not record the failure of %s", feed.url)
        elapsed = time.perf_counter() - started
        log_outcome(outcome, feed, elapsed)
        return outcome

    def _store_fetch(self, feed: FeedRow, fetch: FetchResult) -> FeedOutcome:
        now = self.clock()
        if fetch.status == "ok" and fetch.body is not None:
            body_hash = hashlib.sha256(fetch.body).hexdigest()[:16]
            if body_hash == feed.body_hash:
                # Some servers send no validators (or stale ones): an identical body is
                # "not modified" and costs no parsing.
                unchanged = FetchResult(
                    fetch.url, "not_modified", fetch.http_status, fetch.final_url, None,
                    fetch.headers, fetch.validators, None, fetch.elapsed,
                )
                return self.store.save_feed_failure(
                    feed.url, unchanged, now=now, next_fetch=self._next(feed, failures=0))
            try:
                processed = process_body(fetch, feed_url=feed.url, scorer=self.scorer, now=now)
            except ParseError as exc:
                return self.store.save_feed_failure(
                    feed.url, fetch, now=now, error=exc.reason,
                    next_fetch=self._next(feed, failures=feed.failures + 1),
                )
            return self.store.save_feed_pass(
                feed.url, fetch, processed.scored, now=now,
                next_fetch=self._next(feed, failures=0), keep_all=self.keep_all,
                entries=processed.entries, warning=processed.warning,
                feed_title=processed.title, site_url=processed.link,
            )
        failures = feed.failures + 1 if fetch.status == "error" else 0
        return self.store.save_feed_failure(
            feed.url, fetch, now=now,
            next_fetch=self._next(feed, failures=failures, retry_after=fetch.retry_after,
                                  gone=fetch.status == "gone"),
        )

    async def update_feeds(self, feeds: Sequence[FeedRow]) -> list[FeedOutcome]:
        """Update every feed concurrently; results in the order of ``feeds``."""
        return list(await asyncio.gather(*(self.update_feed(f) for f in feeds)))


def log_outcome(outcome: FeedOutcome, feed: FeedRow, elapsed: float) -> None:
    """One line per fetch: feed, status, new and kept items, bytes, time."""
    fields = {
        "feed": feed.name or feed.url,
        "url": feed.url,
        "status": outcome.status,
        "http": outcome.http_status,
        "entries": outcome.entries,
        "new": outcome.new_items,
        "kept": outcome.kept_items,
        "bytes": outcome.bytes,
        "seconds": round(elapsed, 3),
    }
    if outcome.error:
        fields["error"] = outcome.error
    if outcome.warning:
        fields["warning"] = outcome.warning
    level = logging.WARNING if outcome.status == "error" else logging.INFO
    log.log(level, "fetch", extra={"fields": fields})


async def run_once(config: Config, store: Store, *, keep_all: bool | None = None,
                   client: httpx.AsyncClient | None = None) -> list[FeedOutcome]:
    """Poll every active feed once (the config's feeds are synced into the store first)."""
    store.sync_config_feeds(config.feeds, now=utcnow())
    async with Updater(config, store, keep_all=keep_all, client=client) as updater:
        return await updater.update_feeds(store.feeds())
