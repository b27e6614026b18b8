"""Retention and compaction: what ``mediamon vacuum`` does.

``[retention]`` in the config says how long to keep what:

- ``unkept_after``: items stored but not kept (``run --keep-all`` audits, items a
  ``rescore`` no longer keeps) are deleted when their first sighting is older than this;
- ``fetch_log_after``: fetch-log rows older than this are deleted;
- ``kept_after``: kept items too; unset by default, so kept items are never deleted.
  Items the analyst labelled are never deleted by retention.

A deleted item leaves its story (the story's item count and reach are recomputed, an empty
story is removed) and its ``seen`` row stays, so polling does not store it again.

This module decides nothing else. Retention runs when asked (``mediamon vacuum``) and once
a day in the daemon (``daemon_job``); only ``vacuum`` compacts.

``vacuum`` compacts: it merges the full-text index, rebuilds the file and checkpoints the
WAL into it, so the file and its ``-wal`` together end no larger than they began. On
PostgreSQL it runs ``VACUUM (ANALYZE)``: the space of deleted rows is made reusable and the
planner's statistics refreshed; the files shrink only with ``VACUUM FULL``, which locks
each table while it rewrites it, so it is left to the database's administrator.

With several daemons on one PostgreSQL database, one of them applies retention each day
(``schedule``: one advisory lock per job).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

from mediamon.config import Config, RetentionSettings
from mediamon.store.sqlite import Store

log = logging.getLogger("mediamon.desk.housekeeping")

DAEMON_SECONDS = 86_400.0  # how often the daemon applies [retention]


def _doomed_items(store: Store, settings: RetentionSettings, now: datetime) -> list[str]:
    ids: list[str] = []
    for kept, after in ((False, settings.unkept_after), (True, settings.kept_after)):
        if after is None:
            continue
        cutoff = now - timedelta(seconds=after)
        ids += store.unlabelled_items_seen_before(kept=kept, cutoff=cutoff)
    return ids


def apply_retention(store: Store, settings: RetentionSettings, *, now: datetime,
                    dry_run: bool = False) -> dict[str, int]:
    """Delete what ``settings`` says has expired, in one transaction.

    Returns:
        ``{"unkept_items": n, "kept_items": n, "fetch_log": n, "stories": n}``: what was
        (or, with ``dry_run``, would be) deleted.
    """
    ids = _doomed_items(store, settings, now)
    result = {"unkept_items": 0, "kept_items": 0, "fetch_log": 0, "stories": 0}
    for kept, n in store.item_counts_by_kept(ids):
        result["kept_items" if kept else "unkept_items"] += n
    log_cutoff = (now - timedelta(seconds=settings.fetch_log_after)
                  if settings.fetch_log_after is not None else None)
    if log_cutoff is not None:
        result["fetch_log"] = store.fetch_log_count_before(log_cutoff)
    if dry_run:
        return result
    with store.transaction():
        stories = store.delete_items(ids)
        result["stories"] = _refresh_stories(store, sorted(stories))
        if log_cutoff is not None:
            store.delete_fetch_log_before(log_cutoff)
    return result


def _refresh_stories(store: Store, story_ids: list[str]) -> int:
    """Recount items and reach of stories that lost items; remove the empty ones."""
    removed = 0
    store.lock_stories(story_ids)  # PostgreSQL: a daemon's pass may be counting into them
    for story_id in story_ids:
        items, reach = store.story_item_counts(story_id)
        if items == 0:
            store.delete_story(story_id)
            removed += 1
        else:
            store.set_story_counts(story_id, items=items, reach=reach)
    return removed


def vacuum(store: Store, *, before: dict[str, int] | None = None) -> dict[str, Any]:
    """Merge the FTS5 index, rebuild the file, and leave the WAL checkpointed and empty
    (``Store.compact``, which says why the WAL is checkpointed before and after VACUUM).
    A process reading at that moment can stop the WAL being truncated: ``wal_truncated``
    says so. On PostgreSQL, ``VACUUM (ANALYZE)`` and the database's size (no WAL file).

    Args:
        before: the sizes to report as before (``store.storage_sizes``), when the caller
            changed the database first (retention); by default, as they are now.
    Returns:
        ``{"before": bytes, "after": bytes, "before_file", "before_wal", "after_file",
        "after_wal", "wal_truncated": bool}``: ``before``/``after`` count the WAL too.
    """
    start = before or store.storage_sizes()
    busy = store.compact()
    end = store.storage_sizes()
    return {"before": start["file"] + start["wal"], "after": end["file"] + end["wal"],
            "before_file": start["file"], "before_wal": start["wal"],
            "after_file": end["file"], "after_wal": end["wal"],
            "wal_truncated": not busy and end["wal"] == 0}


async def daemon_job(
    get_config: Callable[[], Config],
    open_store: Callable[[Config], AbstractContextManager[Store]] | None = None,
) -> dict[str, int] | None:
    """Apply ``[retention]`` in a thread with its own connection, so deleting never holds up
    the event loop; nothing to do without ``[retention]``. ``open_store``: how to open the
    configured database (``desk.jobs.job_store`` opens PostgreSQL's too); by default its
    SQLite file. Never raises. Returns what was deleted, or None."""
    config = get_config()
    settings = config.retention
    if settings == RetentionSettings():
        return None

    def run() -> dict[str, int]:
        opened = open_store(config) if open_store else \
            Store(config.db_path, stories=config.stories)
        with opened as store:
            return apply_retention(store, settings, now=datetime.now(UTC))

    try:
        done = await asyncio.to_thread(run)
    except Exception:
        log.exception("retention failed")
        return None
    log.info("retention applied", extra={"fields": done})
    return done
