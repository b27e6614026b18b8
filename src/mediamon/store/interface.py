"""The storage seam of the feed pass: what the pipeline and the daemon ask of a store.

``sqlite.Store`` is the one implementation today (mypy checks that it fits wherever an
``IngestStore`` is expected); a second backend implements this first. The desk and the CLI
use more of the store (its parts: alerts, labels, stats...), and are not bound by it.

Every method is one transaction or runs inside the caller's ``transaction()``; times are
aware UTC datetimes; feed rows are ``FeedRow``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from mediamon.core.profile import Background
from mediamon.core.stories import StorySettings
from mediamon.store.rows import FeedRow, ScoredItem
from mediamon.types import FeedOutcome, FeedSource, FetchResult


class IngestStore(Protocol):
    """Feeds in, items and fetch state out: the pipeline's whole use of storage."""

    @property
    def path(self) -> Path: ...
    @property
    def stories(self) -> StorySettings: ...
    @property
    def in_transaction(self) -> bool: ...
    @property
    def group_commit(self) -> bool:
        """Whether the writer may hold a transaction open while passes still run, to commit
        several together (``pipeline._Writer``)."""
        ...

    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction; nested calls are savepoints that roll back alone."""
        ...

    # feeds and their schedule
    def sync_config_feeds(self, sources: Sequence[FeedSource], *, now: datetime) -> None: ...
    def feeds(self, *, active_only: bool = True,
              include_paused: bool = False) -> list[FeedRow]: ...
    def due_feeds(self, now: datetime, *, limit: int = 1000,
                  exclude: Iterable[int] = ()) -> list[FeedRow]: ...
    def feed_urls(self) -> list[tuple[int, str]]: ...
    def postpone(self, feed_ids: Sequence[int], until: datetime, reason: str) -> int: ...
    def set_host_wait(self, host: str, until: datetime, reason: str) -> None: ...
    def host_waits(self, now: datetime) -> dict[str, tuple[str, str]]: ...

    # what a pass needs to know, and what it writes
    def seen_hashes(self, ids: Iterable[str]) -> dict[str, str]: ...
    def seen_raw(self, digests: Iterable[str]) -> dict[str, tuple[str, str]]: ...
    def background(self) -> Background: ...
    def label_texts(self) -> tuple[tuple[str, ...], tuple[str, ...]]: ...
    def save_feed_pass(
        self, feed_url: str, fetch: FetchResult, scored: Sequence[ScoredItem], *,
        now: datetime, next_fetch: datetime | None, keep_all: bool = False, entries: int = 0,
        warning: str | None = None, feed_title: str | None = None,
        site_url: str | None = None, state: dict[str, Any] | None = None,
    ) -> FeedOutcome: ...
    def save_feed_failure(
        self, feed_url: str, fetch: FetchResult, *, now: datetime,
        next_fetch: datetime | None, error: str | None = None,
        state: dict[str, Any] | None = None,
    ) -> FeedOutcome: ...
