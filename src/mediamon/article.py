"""Fetch an item's article page politely, then extract its text (``core.extract``).

    ArticleFetcher.fetch(url)
      budget   this pass's ``articles.per_pass`` pages spent        -> "deferred"
      hold     the host asked to wait (Retry-After, on a feed or a page) -> "deferred"
      robots   the site's robots.txt (fetched once per site, cached a day; an error page
               means no rules, an unreachable one means no fetching for now) forbids the
               page -> "blocked-by-robots"; its Crawl-delay spaces this site's pages
      fetch    ``fetch.fetch_feed`` on the shared client: the same user agent, per-host
               limit, redirects, size cap (``articles.max_bytes``) and deadline
               (``articles.timeout``); no retry
      429/503  the host is held (``Holds.hold``: the feed pass holds its feeds too)
      extract  ``core.extract.extract_article`` -> ok / paywall / consent / not-html / empty

Every outcome is an ``Article`` with a status and a one-line reason; nothing a server does
makes ``fetch`` raise. ``Holds`` is the seam to the feed pass's Retry-After holds
(``pipeline.Updater``): ``MemoryHolds`` keeps them in memory when no pass runs.

This module does not decide which items need their article, store anything or score:
the caller does (docs/articles.md says how a feed pass wires it).
"""

from __future__ import annotations

import asyncio
import time
import urllib.robotparser
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Protocol
from urllib.parse import urlsplit

import httpx

from mediamon import USER_AGENT
from mediamon.clock import utc_iso, utcnow
from mediamon.config import ArticleSettings
from mediamon.core import policy
from mediamon.core.extract import (
    Article,
    ArticleStatus,
    ExtractorMissing,
    available,
    extract_article,
)
from mediamon.fetch import fetch_feed
from mediamon.types import FetchResult

ROBOTS_MAX_BYTES = 500_000  # RFC 9309 asks crawlers to read at least 500 KiB
ROBOTS_TTL = 86_400.0  # how long a site's robots.txt is trusted
ROBOTS_RETRY = 600.0  # an unreachable robots.txt is asked for again after this long
ROBOTS_TIMEOUT = 10.0
MAX_CRAWL_DELAY = 60.0  # a longer Crawl-delay is taken as this
DEFAULT_429_HOLD = 600.0  # a 429 without Retry-After still holds its host this long

Extractor = Callable[[bytes, str, "str | None", "str | None"], Awaitable[Article]]
"""``(body, url, content_type, final_url) -> Article``: where the extraction runs."""


class Holds(Protocol):
    """The hosts that asked to wait: the fetcher asks before each request, and tells when
    a server answers 429/503. Keyed by URL; the implementation decides what a host is."""

    def until(self, url: str) -> tuple[datetime, str] | None:
        """When ``url``'s host may be asked again and why, or None if it may be now."""
        ...

    def hold(self, url: str, until: datetime, reason: str) -> None:
        """``url``'s host asked not to be asked again before ``until``."""
        ...


def _http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # "http://[::1" and the like
        return False


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class MemoryHolds:
    """Holds kept in memory, for a fetcher that runs outside a feed pass."""

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock
        self._until: dict[str, tuple[datetime, str]] = {}

    def until(self, url: str) -> tuple[datetime, str] | None:
        wait = self._until.get(_host(url))
        if wait is None or wait[0] <= self._clock():
            return None
        return wait

    def hold(self, url: str, until: datetime, reason: str) -> None:
        current = self._until.get(_host(url))
        if current is None or current[0] < until:
            self._until[_host(url)] = (until, reason)


@dataclass
class _Robots:
    parser: urllib.robotparser.RobotFileParser | None  # None: fetching is not allowed now
    reason: str | None  # why not, when parser is None
    expires: float  # time.monotonic()
    # When parser is None: "blocked-by-robots" (it forbids), or "deferred" (it could not
    # be read: the page may be allowed once it can).
    status: ArticleStatus = "blocked-by-robots"
    next_request: float = 0.0  # time.monotonic() of the earliest next page (Crawl-delay)


async def _inline(body: bytes, url: str, content_type: str | None,
                  final_url: str | None) -> Article:
    return extract_article(body, url=url, content_type=content_type, final_url=final_url)


class ArticleFetcher:
    """Fetches article pages within the settings' limits; one per daemon (or run).

    ``client`` is the feed pass's (``fetch.make_client``): sharing it shares the per-host
    limit with the feeds. ``extract`` runs the extraction (default: in this thread; a feed
    pass hands it to its worker pool). Raises ExtractorMissing without trafilatura.
    """

    def __init__(self, client: httpx.AsyncClient, settings: ArticleSettings, *,
                 user_agent: str = USER_AGENT, holds: Holds | None = None,
                 clock: Callable[[], datetime] = utcnow,
                 max_retry_after: float = policy.MAX_RETRY_AFTER,
                 extract: Extractor | None = None) -> None:
        if extract is None and not available():
            raise ExtractorMissing()
        self.client = client
        self.settings = settings
        self.user_agent = user_agent
        self.clock = clock
        self.holds: Holds = holds if holds is not None else MemoryHolds(clock)
        self._limits = policy.Limits(max_retry_after=max_retry_after)
        self._extract = extract or _inline
        self._robots: dict[str, _Robots] = {}
        self._robots_locks: dict[str, asyncio.Lock] = {}
        self.fetched = 0  # pages requested in this pass

    # -- the pass

    def start_pass(self) -> None:
        """A new pass: its budget of ``articles.per_pass`` pages is whole again."""
        self.fetched = 0

    @property
    def left(self) -> int:
        return max(0, self.settings.per_pass - self.fetched)

    # -- one page

    async def fetch(self, url: str) -> Article:
        """The article at ``url``; never raises for anything a server or page can do."""
        if not _http_url(url):
            return Article(url, "http-error", "not an http(s) URL")
        if (wait := self.holds.until(url)) is not None:
            return Article(url, "deferred", wait[1])
        if self.left <= 0:
            return Article(url, "deferred",
                           f"this pass's budget of {self.settings.per_pass} pages is spent")
        self.fetched += 1  # reserved before waiting: pages fetched at once cannot overspend
        refused: Article | None = None
        status, why = await self._allowed(url)
        if status is not None:
            refused = Article(url, status, why)
        elif (wait := self.holds.until(url)) is not None:  # robots.txt itself said 429
            refused = Article(url, "deferred", wait[1])
        elif not await self._crawl_delay(url):
            refused = Article(url, "deferred", "robots.txt's Crawl-delay leaves no time "
                                               "for this page now")
        if refused is not None:
            self.fetched -= 1  # no request was made
            return refused
        now = self.clock()
        got = await fetch_feed(self.client, url, max_bytes=self.settings.max_bytes,
                               timeout=self.settings.timeout, now=now)
        if got.status != "ok" or got.body is None:
            return self._failed(url, got, now)
        started = time.perf_counter()
        article = await self._extract(got.body, url, got.header("content-type"),
                                      got.final_url or url)
        return replace(article, http_status=got.http_status, final_url=got.final_url or url,
                       fetch_seconds=got.elapsed,
                       extract_seconds=time.perf_counter() - started)

    def _failed(self, url: str, got: FetchResult, now: datetime) -> Article:
        reason = got.error or f"HTTP {got.http_status}"
        common = {"http_status": got.http_status, "final_url": got.final_url or url,
                  "fetch_seconds": got.elapsed}
        if reason.startswith("response larger than"):
            return Article(url, "too-large", reason, **common)  # type: ignore[arg-type]
        held = self._hold(url, got, now)
        if held:
            reason += f"; {held}"
        return Article(url, "http-error", reason, **common)  # type: ignore[arg-type]

    def _hold(self, url: str, got: FetchResult, now: datetime) -> str | None:
        """Hold ``url``'s host after a 429 (or a 503 with Retry-After); what was held."""
        seconds = got.retry_after
        if seconds is None and got.http_status == 429:
            seconds = DEFAULT_429_HOLD
        if seconds is None:
            return None
        wait = policy.host_wait(seconds, self._limits)
        if wait <= 0:
            return None
        until = now + timedelta(seconds=wait)
        if until.microsecond:  # whole seconds, as the database keeps them
            until = until.replace(microsecond=0) + timedelta(seconds=1)
        host = urlsplit(url).netloc
        self.holds.hold(url, until, f"host {host} asked to wait until {utc_iso(until)} "
                                    f"(Retry-After on {url})")
        return f"host held until {utc_iso(until)}"

    # -- robots.txt

    async def _allowed(self, url: str) -> tuple[ArticleStatus | None, str | None]:
        site = _host(url)
        lock = self._robots_locks.setdefault(site, asyncio.Lock())
        async with lock:  # one robots.txt request per site, however many pages wait
            robots = self._robots.get(site)
            if robots is None or robots.expires <= time.monotonic():
                robots = self._robots[site] = await self._read_robots(site)
        if robots.parser is None:
            return robots.status, robots.reason
        if not robots.parser.can_fetch(self.user_agent, url):
            return "blocked-by-robots", (f"robots.txt of {urlsplit(url).netloc} disallows "
                                         f"this page")
        return None, None

    async def _read_robots(self, site: str) -> _Robots:
        """RFC 9309: rules from a 2xx; none (everything allowed) after a 4xx; nothing
        allowed while robots.txt cannot be read (5xx, timeouts, network errors)."""
        url = f"{site}/robots.txt"
        now = self.clock()
        got = await fetch_feed(self.client, url, max_bytes=ROBOTS_MAX_BYTES,
                               timeout=min(ROBOTS_TIMEOUT, self.settings.timeout), now=now)
        expires = time.monotonic() + ROBOTS_TTL
        parser = urllib.robotparser.RobotFileParser(url)
        if got.status == "ok" and got.body is not None:
            parser.parse(got.body.decode("utf-8", "replace").splitlines())
            return _Robots(parser, None, expires)
        if got.status == "gone" or (got.http_status is not None
                                    and 400 <= got.http_status < 500
                                    and got.http_status != 429):
            parser.parse([])  # no robots.txt: no rules
            return _Robots(parser, None, expires)
        if got.error and got.error.startswith("response larger than"):
            # RFC 9309: the first 500 KiB are enough, but fetch_feed keeps no partial body;
            # a robots.txt this large is taken as no permission.
            return _Robots(None, f"robots.txt of {site} is larger than "
                                 f"{ROBOTS_MAX_BYTES // 1000} kB", expires)
        held = self._hold(url, got, now)
        reason = (f"robots.txt of {urlsplit(site).netloc} could not be read "
                  f"({got.error or got.status}); no page of the site is fetched until it can")
        if held:
            reason += f"; {held}"
        return _Robots(None, reason, time.monotonic() + ROBOTS_RETRY, status="deferred")

    async def _crawl_delay(self, url: str) -> bool:
        """Wait out the site's Crawl-delay (False if that would take longer than a page's
        timeout: the page waits for a later pass instead)."""
        robots = self._robots.get(_host(url))
        if robots is None or robots.parser is None:
            return True
        asked = robots.parser.crawl_delay(self.user_agent)
        if not asked:
            return True
        delay = min(float(asked), MAX_CRAWL_DELAY)
        now = time.monotonic()
        start = max(now, robots.next_request)
        if start - now > self.settings.timeout:
            return False
        robots.next_request = start + delay  # claimed before sleeping: the next page queues
        if start > now:
            await asyncio.sleep(start - now)
        return True
