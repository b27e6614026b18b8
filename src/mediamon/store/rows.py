"""The rows the feed pass and the store hand each other: a feed with its schedule state, and a
scored item on its way to the writer. Plain data; no SQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from mediamon.core.stories import Fingerprint
from mediamon.types import FeedSource, Item, Match, Validators


@dataclass(frozen=True)
class FeedRow:
    """A feed as stored, with its fetch state."""

    id: int
    url: str
    name: str | None
    tags: tuple[str, ...]
    origin: str
    active: bool
    interval: float | None
    title: str | None
    validators: Validators
    body_hash: str | None
    last_fetch: str | None
    last_success: str | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    failures: int
    next_fetch: str | None
    # Fetch and schedule state (m004_fetch_state).
    fetch_url: str | None = None
    redirect_to: str | None = None
    redirect_seen: int = 0
    poll_interval: float | None = None
    publish_rate: float | None = None
    body_hint: float | None = None
    next_reason: str | None = None
    failing_since: str | None = None
    dead_since: str | None = None
    gone_since: str | None = None
    paused: bool = False  # ``feeds edit --paused`` (m009_feed_paused)

    @property
    def effective_url(self) -> str:
        """Where the feed is fetched: its URL, or where it moved for good."""
        return self.fetch_url or self.url

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> FeedRow:
        return cls(
            id=row["id"],
            url=row["url"],
            name=row["name"],
            tags=tuple(json.loads(row["tags"] or "[]")),
            origin=row["origin"],
            active=bool(row["active"]),
            interval=row["interval"],
            title=row["title"],
            validators=Validators(row["etag"], row["last_modified"]),
            body_hash=row["body_hash"],
            last_fetch=row["last_fetch"],
            last_success=row["last_success"],
            last_status=row["last_status"],
            last_http_status=row["last_http_status"],
            last_error=row["last_error"],
            failures=row["failures"],
            next_fetch=row["next_fetch"],
            fetch_url=row.get("fetch_url"),
            redirect_to=row.get("redirect_to"),
            redirect_seen=row.get("redirect_seen") or 0,
            poll_interval=row.get("poll_interval"),
            publish_rate=row.get("publish_rate"),
            body_hint=row.get("body_hint"),
            next_reason=row.get("next_reason"),
            failing_since=row.get("failing_since"),
            dead_since=row.get("dead_since"),
            gone_since=row.get("gone_since"),
            paused=bool(row.get("paused")),
        )

    def source(self) -> FeedSource:
        origin: Literal["config", "db"] = "config" if self.origin == "config" else "db"
        return FeedSource(self.url, self.name, self.tags, self.interval, origin)


@dataclass(frozen=True)
class ScoredItem:
    item: Item
    match: Match
    # The item's story fingerprint, when a worker process computed it already (made with
    # the Store's own ``stories`` settings); None: the writer computes it if it needs it.
    fingerprint: Fingerprint | None = None
    # True when the item carries only what a pass needs to recognise it (id, hash, title,
    # links), not its text and HTML: one the worker expected never to store. Should the
    # database say otherwise by the time it is written (another feed's pass stored it
    # meanwhile), the writer links it but leaves the stored version and its hash alone, so
    # the next pass processes it in full.
    partial: bool = False
    # The digest of the entry the item was made from (``core.normalise.entry_digest``), to
    # be stored with its content hash in ``seen.raw``: set on items normalised from their
    # entry, None on items recognised by that digest (the row has it already) and on items
    # whose hash the pipeline replaced with the stored one.
    raw: str | None = None


@lru_cache(maxsize=4096)
def terms_json(terms: tuple[str, ...]) -> str:
    """A topic's matched words as ``item_topics.terms`` stores them (a JSON list). Kept items
    share most lists (one topic's few words; every copy of an agency text has its text's), so
    each is encoded once. An import encodes its records' other lists of strings (authors,
    categories, topic names) with it too."""
    return json.dumps(list(terms), ensure_ascii=False)
