"""The CPU-bound half of a feed pass: parse -> normalise -> score, in a parse worker.

    process_body(fetch)          a fetched body -> Processed (picklable)
      parse        the fast path, or feedparser (core.parse)
      recognise    an entry the database met before, by its digest: id and hash known,
                   no text rendered (core.normalise.recognise_entry)
      normalise    every other entry, text only (core.normalise)
      unchanged    an item whose content hash the database holds: no more work
      prefilter    a new item the keep rule cannot match: its seen row and profile terms
                   only (Scorer.rejects)
      score        topics and the reference profile (core.score)
      complete     the items that may be stored: sanitised HTML, language, story
                   fingerprint, dedup key (with_markup, core.stories)

``pipeline`` runs this in a pool of worker processes (``workers``), or in its own process
with ``fetch.workers = 0``. A worker imports this module and what it needs, not the
orchestrator's HTTP client, database writer or article fetcher: the fork server that
starts the workers imports it before the first pass waits for them (``workers.PRELOAD``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mediamon.core import language, policy, urls
from mediamon.core.normalise import (
    entry_digest,
    normalise_entry,
    recognise_entry,
    shows_something,
    with_markup,
)
from mediamon.core.parse import parse_body
from mediamon.core.score import Scorer
from mediamon.core.stories import StorySettings
from mediamon.core.stories import fingerprint as story_fingerprint
from mediamon.errors import ParseError
from mediamon.store.rows import ScoredItem
from mediamon.store.seen import SeenReader
from mediamon.types import FetchResult, Item, Match, RawEntry

# The match given to an item whose content hash is unchanged: the store only links such
# an item to the feed and never reads its match (see Store.save_feed_pass).
UNCHANGED = Match(kept=False, score=0.0, similarity=0.0, topics=(), rule_matched=False)


@dataclass(frozen=True)
class Processed:
    """What the CPU-bound half of a pass produced from a body (picklable, for a worker pool)."""

    scored: tuple[ScoredItem, ...]
    entries: int
    warning: str | None
    title: str | None
    link: str | None
    rate: float | None = None  # new items per day, from the feed's own dates
    body_hint: float | None = None  # seconds the feed asks between polls (<ttl>, sy:*)
    unchanged: tuple[str, ...] = ()  # ids passed with the UNCHANGED match
    error: str | None = None  # the ParseError reason (scored is then empty)
    fast: bool = False  # parsed by fastparse rather than feedparser
    # One part of a body split between workers (``Job.part``): its entries' feed dates,
    # for ``merge`` to measure the publish rate over the whole body.
    dates: tuple[datetime, ...] = ()
    recognised: int = 0  # entries recognised by their digest (``entries_known``)


KnownHashes = Callable[[Sequence[str]], dict[str, str]]  # item id -> stored content hash
# entry digest -> (item id, content hash) of the entries met before (store.seen.seen_raw)
KnownEntries = Callable[[Sequence[str]], dict[str, tuple[str, str]]]


def process_body(
    fetch: FetchResult,
    *,
    feed_url: str,
    scorer: Scorer,
    now: datetime,
    keep_all: bool = False,
    known: KnownHashes | None = None,
    stories: StorySettings | None = None,
    part: tuple[int, int] = (0, 1),
    entries_known: KnownEntries | None = None,
) -> Processed:
    """parse -> normalise -> score. Raises ParseError for a body that is not a feed.

    ``part`` (k, n): the whole body is parsed, and only the k-th of n equal runs of its
    entries processed (a large body shared by n workers; ``merge`` joins the parts).

    With ``known`` (item id -> stored content hash), items whose hash is unchanged are not
    scored (they get ``UNCHANGED``), new items that cannot be kept are not scored either
    unless ``keep_all`` stores them (``Scorer.rejects``), and HTML is sanitised only for
    items that may be stored: kept ones, all with ``keep_all``, and changed ones. With
    ``stories`` (the store's settings), those items also carry their story fingerprint, and
    every item its dedup key: work taken off the single writer, which would otherwise do it
    in order.

    With ``entries_known`` as well (entry digest -> the id and content hash it gave), an
    entry met before is recognised by its digest and its text is not rendered
    (``recognise_entry``); every item normalised from its entry carries the digest
    (``ScoredItem.raw``) for the store to keep.
    """
    assert fetch.body is not None
    parsed, fast = parse_body(fetch.body, url=fetch.final_url or feed_url, headers=fetch.headers)
    k, n = part
    total = len(parsed.entries)
    entries = parsed.entries[k * total // n:(k + 1) * total // n]
    digests: list[str | None] = [None] * len(entries)
    met: dict[str, tuple[str, str]] = {}
    if known is not None and entries_known is not None:
        digests = [entry_digest(entry, feed_url=feed_url, feed=parsed) for entry in entries]
        met = entries_known([d for d in digests if d is not None])
    # (entry, item, its digest, recognised by it)
    pairs: list[tuple[RawEntry, Item, str | None, bool]] = []
    for entry, digest in zip(entries, digests, strict=True):
        seen = met.get(digest) if digest is not None else None
        if seen is not None:
            item = recognise_entry(entry, feed_url=feed_url, feed=parsed, now=now,
                                   item_id=seen[0], content_hash=seen[1])
            pairs.append((entry, item, digest, True))
            continue
        item = normalise_entry(entry, feed_url=feed_url, feed=parsed, now=now, html=False,
                               detect=False)  # the items that may be stored get both below
        if shows_something(item):
            pairs.append((entry, item, digest, False))
    previous = known([item.id for _, item, _, _ in pairs]) if known is not None else {}
    scored = []
    unchanged = []
    for entry, item, digest, recognised in pairs:
        old = previous.get(item.id)
        if old is not None and old == item.content_hash:
            scored.append(_partial(item, UNCHANGED, stories,
                                   raw=None if recognised else digest))
            unchanged.append(item.id)
            continue
        if recognised:
            # The row changed between the two questions (another pass updated the item):
            # the entry is normalised after all, and goes on as any other.
            item = normalise_entry(entry, feed_url=feed_url, feed=parsed, now=now, html=False,
                                   detect=False)
            if item.id not in previous:
                previous.update(known([item.id]) if known is not None else {})
            old = previous.get(item.id)
            if old is not None and old == item.content_hash:
                scored.append(_partial(item, UNCHANGED, stories, raw=digest))
                unchanged.append(item.id)
                continue
        if old is None and not keep_all and known is not None:
            # New, and stored only if kept: an item the keep rule cannot match needs no
            # scoring (Scorer.rejects; it still gets its seen row and profile terms).
            rejected = scorer.rejects(item.text)
            if rejected is not None:
                scored.append(_partial(item, rejected, stories, raw=digest))
                continue
        match = scorer.score_item(item)
        if not (match.kept or keep_all or old is not None or known is None or
                _article_candidate(scorer, item, match)):
            # new and not kept: never stored
            scored.append(_partial(item, match, stories, raw=digest))
            continue
        item = with_markup(item, entry)  # what normalise_entry's defaults would give
        match.explanation_json  # noqa: B018 (computed here, once per verdict, and pickled)
        fingerprint = None
        if stories is not None:
            item.dedup_key  # noqa: B018 (computed here, cached and pickled with the item)
            if match.kept or keep_all:
                fingerprint = story_fingerprint(item.title, item.summary, stories)
                item.site  # noqa: B018 (cached and pickled, as dedup_key)
        scored.append(ScoredItem(item, match, fingerprint, raw=digest))
    dates = [item.published for _, item, _, _ in pairs if item.published_from_feed]
    ttl = parsed.ttl_minutes * 60.0 if parsed.ttl_minutes else None
    hint = max((h for h in (ttl, policy.sy_seconds(parsed.update_period,
                                                   parsed.update_frequency)) if h), default=None)
    return Processed(tuple(scored), total, parsed.warning, parsed.title,
                     parsed.link, rate=policy.publish_rate(dates, now), body_hint=hint,
                     unchanged=tuple(unchanged), fast=fast,
                     dates=tuple(dates) if n > 1 else (),
                     recognised=sum(1 for pair in pairs if pair[3]))


def merge(parts: Sequence[Processed], now: datetime) -> Processed:
    """The ``Processed`` of a whole body from its parts (``Job.part``), in order: the same
    as one worker would have made of it. A part that failed fails the whole."""
    failed = next((p for p in parts if p.error is not None), None)
    if failed is not None:
        return failed
    first = parts[0]
    dates = [d for p in parts for d in p.dates]
    return Processed(
        tuple(s for p in parts for s in p.scored), first.entries, first.warning, first.title,
        first.link, rate=policy.publish_rate(dates, now), body_hint=first.body_hint,
        unchanged=tuple(i for p in parts for i in p.unchanged), fast=first.fast,
        recognised=sum(p.recognised for p in parts))


def _article_candidate(scorer: Scorer, item: Item, match: Match) -> bool:
    """With articles on (``enrich``), a new unkept item that matched a positive topic and
    has a link goes to the writer whole: its article may make it kept."""
    return scorer.article_candidates and bool(item.url) and \
        any(hit.topic in scorer.positive for hit in match.topics)


def _partial(item: Item, match: Match, stories: StorySettings | None,
             raw: str | None = None) -> ScoredItem:
    """An item the writer only needs to recognise (see ``ScoredItem.partial``): its text
    stays in the worker, which makes the result a fraction of the size to send back."""
    item = item.without_text()
    if stories is not None:
        item.dedup_key  # noqa: B018 (computed here, cached and pickled with the item)
    return ScoredItem(item, match, partial=True, raw=raw)


@dataclass(frozen=True)
class Job:
    """One body for a worker: what ``process_body`` needs besides the worker's scorer."""

    fetch: FetchResult
    feed_url: str
    now: datetime
    keep_all: bool
    stories: StorySettings | None = None
    part: tuple[int, int] = (0, 1)  # see process_body
    # False: the feed was never parsed, so none of its entries can be known by its digest
    # (the digest covers the feed URL): nothing to look up.
    recognise: bool = True


_WORKER: dict[str, Any] = {}


def init_worker(scorer: Scorer, db_path: str | None) -> None:
    """A worker process (see ``workers``): the scorer, where to read known hashes, and what
    the first feed would otherwise load (the language model, the public suffix list: their
    time would count against the feed's ``worker_timeout``; no-ops in a worker forked from
    the fork server, which loaded them: ``workers_preload``)."""
    language.warm()
    urls.warm()
    _WORKER.update(scorer=scorer, known=SeenReader(db_path) if db_path else None)


def worker_known(ids: Sequence[str]) -> dict[str, str]:
    """Stored content hashes of ``ids``, through the worker's own read-only connection."""
    known = _WORKER.get("known")
    return known(ids) if known is not None else {}


def worker_entries_known(digests: Sequence[str]) -> dict[str, tuple[str, str]]:
    """The entries met before among ``digests`` (``KnownEntries``), through the same
    connection."""
    known = _WORKER.get("known")
    return known.raw(digests) if known is not None else {}


def _none_met(digests: Sequence[str]) -> dict[str, tuple[str, str]]:
    return {}


def run_job(job: Job, scorer: Scorer, known: KnownHashes | None,
            entries_known: KnownEntries | None = None) -> Processed:
    """``process_body`` of ``job``: a body that is not a feed comes back as its error."""
    if entries_known is not None and not job.recognise:
        entries_known = _none_met
    try:
        return process_body(job.fetch, feed_url=job.feed_url, scorer=scorer, now=job.now,
                            keep_all=job.keep_all, known=known, stories=job.stories,
                            part=job.part, entries_known=entries_known)
    except ParseError as exc:
        return Processed((), 0, None, None, None, error=exc.reason)


def process_job(job: Job) -> Processed:
    """``run_job`` in a worker: its scorer, and the hashes its own connection reads."""
    return run_job(job, _WORKER["scorer"], worker_known, worker_entries_known)
