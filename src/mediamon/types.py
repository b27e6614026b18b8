"""Frozen data types that flow through the pipeline.

fetch -> FetchResult -> parse -> ParsedFeed (RawEntry...) -> normalise -> Item
      -> score -> Match -> store

Everything here is plain data: no I/O, no clock. Datetimes are always aware and in UTC.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from mediamon.core.urls import dedup_key, site_of

FetchStatus = Literal["ok", "not_modified", "error", "gone", "postponed"]
# "postponed" is only ever a FeedOutcome: the feed was not fetched because its server
# asked to wait (Retry-After on another feed of the same host).


@dataclass(frozen=True)
class FeedSource:
    """A feed the analyst wants polled, from the config or the database."""

    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    interval: float | None = None  # seconds; None means the schedule default
    origin: Literal["config", "db"] = "config"


@dataclass(frozen=True)
class Validators:
    """What a conditional request sends back to the server."""

    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one HTTP (or file) request for one feed.

    ``body`` is None when the server said "not modified" or the request failed.
    """

    url: str  # the URL that was asked for
    status: FetchStatus
    http_status: int | None = None
    final_url: str | None = None  # after redirects
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = ()
    validators: Validators = Validators()
    error: str | None = None  # one-line reason when status is "error"
    elapsed: float = 0.0
    retry_after: float | None = None  # seconds, from a 429/503
    # Where only permanent redirects (301/308) from ``url`` led, when they did.
    permanent_url: str | None = None

    def header(self, name: str) -> str | None:
        name = name.lower()
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(frozen=True)
class RawEntry:
    """One entry as the parser saw it: feedparser's field names, plain Python values."""

    data: dict[str, Any]


@dataclass(frozen=True)
class ParsedFeed:
    """A parsed feed document: its own metadata and its entries."""

    title: str | None
    link: str | None
    language: str | None
    entries: tuple[RawEntry, ...]
    format: str  # e.g. "rss20", "atom10", "json11"
    warning: str | None = None  # set when the feed was malformed but usable
    ttl_minutes: int | None = None
    # sy:updatePeriod / sy:updateFrequency as the feed wrote them (server hints).
    update_period: str | None = None
    update_frequency: str | None = None


@dataclass(frozen=True)
class Item:
    """A normalised feed item, ready to score and store."""

    id: str  # stable across polls and restarts
    feed_url: str
    guid: str | None
    url: str | None  # the link as the feed gave it (absolute)
    canonical_url: str | None
    title: str
    summary: str  # plain text
    content: str  # plain text
    summary_html: str  # sanitised
    content_html: str  # sanitised
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: datetime  # UTC; first-seen time when the feed gives none
    updated: datetime | None
    first_seen: datetime
    language: str | None
    content_hash: str  # of the fields a reader sees, not of volatile ones
    published_from_feed: bool = True
    # The language the feed declared for it (``language`` is the detected one when the
    # detector is sure, else this one: core/language.item_language).
    language_declared: str | None = None

    @property
    def text(self) -> str:
        """Title, summary and content joined: what topics are matched against."""
        return "\n".join(part for part in (self.title, self.summary, self.content) if part)

    def without_text(self) -> Item:
        """A copy without its summary and content (and their HTML), keeping the cached
        ``dedup_key`` and ``site``, which do not depend on them: what a worker process sends
        back for an item that will not be stored. Faster than ``dataclasses.replace``."""
        copy = object.__new__(Item)
        copy.__dict__.update(self.__dict__, summary="", content="", summary_html="",
                             content_html="")
        return copy

    @cached_property
    def dedup_key(self) -> str | None:
        """``urls.dedup_key`` of the canonical URL. Cached, and pickled with the
        item: a worker process computes it, so the single writer does not have to."""
        return dedup_key(self.canonical_url)

    @cached_property
    def site(self) -> str | None:
        """``urls.site_of`` the canonical URL: the outlet of a stored item. Cached like
        ``dedup_key``."""
        return site_of(self.canonical_url)


@dataclass(frozen=True)
class TopicHit:
    """One topic that matched, with the words that made it match."""

    topic: str
    terms: tuple[str, ...]  # as they appeared in the text


@dataclass(frozen=True)
class Match:
    """Why an item was (or was not) kept."""

    kept: bool
    score: float
    similarity: float
    topics: tuple[TopicHit, ...]
    rule_matched: bool
    profile_terms: tuple[str, ...] = ()  # top seed terms shared with the item
    rule_score: float = 0.0  # R in the score formula (README, "Score")
    label: str | None = None  # the analyst's label, which overrides the rule when set
    # The item's distinct profile terms (stems), counted into the background document
    # frequencies when the item is first seen; None when there is no profile.
    doc_terms: tuple[str, ...] | None = field(default=None, compare=False, repr=False)

    @property
    def topic_names(self) -> tuple[str, ...]:
        return tuple(hit.topic for hit in self.topics)

    def explanation(self) -> dict[str, Any]:
        why: dict[str, Any] = {
            "kept": self.kept,
            "score": round(self.score, 4),
            "similarity": round(self.similarity, 4),
            "rule_matched": self.rule_matched,
            "rule_score": round(self.rule_score, 4),
            "topics": {hit.topic: list(hit.terms) for hit in self.topics},
            "profile_terms": list(self.profile_terms),
        }
        if self.label is not None:
            why["label"] = self.label
        return why

    @cached_property
    def explanation_json(self) -> str:
        """``explanation()`` as the store keeps it. Cached, and pickled with the verdict: a
        parse worker computes it once for every copy of a text (``Scorer`` remembers the
        verdict), and the single writer only writes it."""
        return json.dumps(self.explanation(), ensure_ascii=False)


@dataclass(frozen=True)
class FeedOutcome:
    """What one pass over one feed did; this is what gets logged and summarised."""

    url: str
    status: FetchStatus
    http_status: int | None = None
    entries: int = 0
    new_items: int = 0
    kept_items: int = 0
    updated_items: int = 0
    error: str | None = None
    warning: str | None = None
    bytes: int = 0
    elapsed: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)
