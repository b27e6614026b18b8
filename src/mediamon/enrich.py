"""Article pages in a feed pass: fetch the pages of a pass's candidates, re-score, store.

    Enricher.after_pass(feed, processed)        (pipeline.Updater, once a pass is stored)
      candidates   the pass's items that are kept, or that matched a positive topic without
                   passing the keep rule (``core.score.Scorer.positive``), with a link;
                   plus the feed's stored items whose page an earlier pass deferred
      skip         a stored item whose article is stored already (any status but deferred)
      fetch        ``article.ArticleFetcher``: this pass's budget, the feed pass's client,
                   per-host limits and Retry-After holds, robots.txt; extraction in the
                   worker pool                                             [event loop]
      re-score     feed text + article text (``core.score.score_with_article``): terms
                   found only in the article are marked ``article:``; an article never
                   unkeeps an item, and an analyst's label is never overridden
      write        through the pass's one writer:
                     stored item        its article row, and its new verdict (ok pages)
                     unstored, now kept the item, kept, with its article row
                     unstored, deferred its seen hash forgotten: the next pass of its feed
                                        processes it in full, and asks again
                     unstored, not kept nothing (the item stays unstored)

The budget (``articles.per_pass`` pages) is whole again at each ``run --once`` pass and,
in the daemon, every ``schedule.interval``. Nothing a page or its server does fails the
feed pass: every outcome is an ``Article`` with a status, and anything unexpected is
logged and the pass goes on.

This module does not parse feeds, decide which feeds are due, or write SQL (the store's
``articles`` part does, on SQLite and on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from mediamon.article import ArticleFetcher
from mediamon.config import Config
from mediamon.core.extract import Article, available, extract_article
from mediamon.core.score import Scorer, score_with_article
from mediamon.store.articles import StoredCandidate
from mediamon.store.rows import FeedRow, ScoredItem
from mediamon.types import Item, Match
from mediamon.workers import WorkerError, WorkerPool

log = logging.getLogger("mediamon.enrich")

WriteFn = Callable[[Callable[[], Any]], Awaitable[Any]]


class ArticleStore(Protocol):
    """What a pass asks of its store for articles: SQLite's ``store.articles.ArticlesStore``
    and PostgreSQL's ``store.postgres.articles.PostgresArticles``."""

    def article_candidates(self, ids: Sequence[str]) -> dict[str, StoredCandidate]: ...
    def stored_item_ids(self, ids: Sequence[str]) -> set[str]: ...
    def deferred_articles(self, feed_url: str, limit: int) -> list[str]: ...
    def save_article(self, item_id: str, article: Article, *, now: datetime,
                     matched_on: str | None = None) -> None: ...
    def keep_on_article(self, item: Item, match: Match, article: Article, *, feed_url: str,
                        now: datetime) -> bool: ...
    def rescore_on_article(self, item_id: str, match: Match, article: Article, *,
                           now: datetime, matched_on: str | None) -> None: ...
    def revisit(self, item_id: str, feed_url: str) -> None: ...


_SAID: set[str] = set()  # what ``enabled`` has logged already (once per process)


def enabled(config: Config, store: object) -> bool:
    """Whether a feed pass over ``store`` fetches articles; when ``[articles] enabled`` but
    it cannot, says why once."""
    if not config.articles.enabled:
        return False
    why = None
    if not all(hasattr(store, name) for name in ("keep_on_article", "deferred_articles",
                                                 "rescore_on_article", "revisit")):
        why = ("articles: [articles] enabled, but this database's store cannot keep "
               "articles; no article page is fetched")
    elif not available():
        why = "articles: [articles] enabled, but trafilatura is not installed " \
              "(pip install 'mediamon[articles]'); no article page is fetched"
    if why is None:
        return True
    if why not in _SAID:
        _SAID.add(why)
        log.warning(why)
    return False


def is_candidate(scored: ScoredItem, positive: frozenset[str]) -> bool:
    """Whether a pass's item may need its article: it has a link and its text, and it is
    kept or matched a positive topic (its article may complete the keep rule)."""
    if scored.partial or not scored.item.url:
        return False
    return scored.match.kept or any(hit.topic in positive for hit in scored.match.topics)


def _extract_job(job: tuple[bytes, str, str | None, str | None]) -> Article:
    """``core.extract.extract_article`` in a worker process."""
    body, url, content_type, final_url = job
    return extract_article(body, url=url, content_type=content_type, final_url=final_url)


@dataclass(frozen=True)
class _Todo:
    id: str
    url: str
    feed_text: str
    stored: StoredCandidate | None  # a stored item
    scored: ScoredItem | None  # an unstored one, with its full item and feed match


class PassHolds:
    """``article.Holds`` over a feed pass's Retry-After holds (``pipeline.Updater``): what a
    page's 429 holds also postpones the host's feeds, and the other way round."""

    def __init__(self, until: dict[str, tuple[datetime, str]], host_of: Callable[[str], str],
                 clock: Callable[[], datetime], write: WriteFn,
                 store_hold: Callable[[str, datetime, str], Any]) -> None:
        self._until = until
        self._host_of = host_of
        self._clock = clock
        self._write = write
        self._store_hold = store_hold
        self.tasks: set[asyncio.Future[Any]] = set()

    def until(self, url: str) -> tuple[datetime, str] | None:
        wait = self._until.get(self._host_of(url))
        if wait is None or wait[0] <= self._clock():
            return None
        return wait

    def hold(self, url: str, until: datetime, reason: str) -> None:
        host = self._host_of(url)
        if not host:
            return
        current = self._until.get(host)
        if current is None or current[0] < until:
            self._until[host] = (until, reason)
        task: asyncio.Future[Any] = asyncio.ensure_future(
            self._write(lambda: self._store_hold(host, until, reason)))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


class Enricher:
    """One per ``pipeline.Updater`` when ``[articles] enabled``: see the module docstring."""

    def __init__(self, config: Config, store: ArticleStore, *, client: httpx.AsyncClient,
                 scorer: Scorer, clock: Callable[[], datetime], write: WriteFn,
                 holds: PassHolds, pool: Callable[[], WorkerPool | None]) -> None:
        self.config = config
        self.store = store
        self.scorer = scorer
        self.clock = clock
        self._write = write
        self.holds = holds
        self._pool = pool
        self.fetcher = ArticleFetcher(
            client, config.articles, user_agent=config.fetch.user_agent, holds=holds,
            clock=clock, max_retry_after=config.fetch.max_retry_after, extract=self._extract)
        self._refilled = time.monotonic()

    def start_pass(self) -> None:
        """A new pass: the budget is whole again."""
        self.fetcher.start_pass()
        self._refilled = time.monotonic()

    async def _extract(self, body: bytes, url: str, content_type: str | None,
                       final_url: str | None) -> Article:
        pool = self._pool()
        if pool is None:
            return extract_article(body, url=url, content_type=content_type,
                                   final_url=final_url)
        try:
            return await pool.run(_extract_job, (body, url, content_type, final_url),
                                  what=url)
        except WorkerError as exc:
            return Article(url, "empty", f"extraction failed: {exc.reason}")

    # -- a pass

    async def after_pass(self, feed: FeedRow, scored: Sequence[ScoredItem],
                         unchanged: Sequence[str]) -> None:
        """Fetch, re-score and store the articles of one stored feed pass; never raises
        (but for cancellation)."""
        try:
            await self._after_pass(feed, scored, unchanged)
        except asyncio.CancelledError:
            raise
        except Exception:  # a bug: logged, and the feed pass stands
            log.exception("articles of %s failed", feed.url)

    async def _after_pass(self, feed: FeedRow, scored: Sequence[ScoredItem],
                          unchanged: Sequence[str]) -> None:
        if time.monotonic() - self._refilled >= self.config.schedule.interval:
            self.start_pass()  # the daemon: one budget per polling interval
        same = set(unchanged)
        fresh = {s.item.id: s for s in scored
                 if s.item.id not in same and is_candidate(s, self.scorer.positive)}
        deferred = self.store.deferred_articles(feed.url, self.config.articles.per_pass)
        ids = list(dict.fromkeys([*fresh, *deferred]))
        if not ids:
            return
        stored = self.store.article_candidates(ids)
        in_items = self.store.stored_item_ids(ids)
        todo: list[_Todo] = []
        for item_id in ids:
            if item_id in stored:
                c = stored[item_id]
                todo.append(_Todo(item_id, c.url, c.text, c, None))
            elif item_id in fresh and item_id not in in_items and \
                    not fresh[item_id].match.kept:
                s = fresh[item_id]
                todo.append(_Todo(item_id, s.item.url or "", s.item.text, None, s))
        # Kept items first, then the likeliest to be kept by their article.
        todo.sort(key=lambda t: (not (t.stored.kept if t.stored else False),
                                 -(t.scored.match.rule_score if t.scored else 1.0)))
        if not todo:
            return
        pages = await asyncio.gather(*(self.fetcher.fetch(t.url) for t in todo))
        now = self.clock()
        for t, page in zip(todo, pages, strict=True):
            await self._store(feed, t, page, now)

    async def _store(self, feed: FeedRow, t: _Todo, page: Article, now: datetime) -> None:
        fields: dict[str, Any] = {"feed": feed.url, "item": t.id, "url": t.url,
                                  "status": page.status}
        if page.reason:
            fields["reason"] = page.reason
        if t.stored is not None:
            c = t.stored
            match: Match | None = None
            on: str | None = None
            if page.ok and page.text and c.label is None:
                match, on = score_with_article(self.scorer, c.text, page.text,
                                               published=c.published)
                if c.kept and not match.kept:
                    match = None  # the feed's verdict stands (config changed since)
                elif match.kept and not c.kept:
                    fields["kept_by_article"] = True
            if match is not None:
                found = match
                await self._write(lambda: self.store.rescore_on_article(
                    c.id, found, page, now=now, matched_on=on))
            else:
                await self._write(lambda: self.store.save_article(c.id, page, now=now))
        else:
            assert t.scored is not None
            s = t.scored
            if page.ok and page.text:
                match, on = score_with_article(self.scorer, s.item.text, page.text,
                                               feed_match=s.match,
                                               published=s.item.published)
                if match.kept:
                    item: Item = s.item
                    kept = await self._write(lambda: self.store.keep_on_article(
                        item, match, page, feed_url=feed.url, now=now))
                    if kept:
                        fields["kept_by_article"] = True
            elif page.status == "deferred":
                await self._write(lambda: self.store.revisit(s.item.id, feed.url))
        log.info("article", extra={"fields": fields})

