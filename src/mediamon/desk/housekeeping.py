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
WAL into it, so the file and its ``-wal`` together end no larger than they began.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mediamon.clock import utc_iso
from mediamon.config import Config, RetentionSettings
from mediamon.store.sqlite import Store

log = logging.getLogger("mediamon.desk.housekeeping")

DAEMON_SECONDS = 86_400.0  # how often the daemon applies [retention]


def _doomed_items(conn: sqlite3.Connection, settings: RetentionSettings,
                  now: datetime) -> list[str]:
    ids: list[str] = []
    for kept, after in ((0, settings.unkept_after), (1, settings.kept_after)):
        if after is None:
            continue
        cutoff = utc_iso(now - timedelta(seconds=after))
        ids += [r[0] for r in conn.execute(
            "SELECT id FROM items WHERE kept = ? AND first_seen < ? AND id NOT IN "
            "(SELECT item_id FROM labels)", [kept, cutoff])]
    return ids


def apply_retention(store: Store, settings: RetentionSettings, *, now: datetime,
                    dry_run: bool = False) -> dict[str, int]:
    """Delete what ``settings`` says has expired, in one transaction.

    Returns:
        ``{"unkept_items": n, "kept_items": n, "fetch_log": n, "stories": n}``: what was
        (or, with ``dry_run``, would be) deleted.
    """
    conn = store.db.conn
    ids = _doomed_items(conn, settings, now)
    result = {"unkept_items": 0, "kept_items": 0, "fetch_log": 0, "stories": 0}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        for kept, n in conn.execute(
                f"SELECT kept, count(*) FROM items WHERE id IN ({marks}) GROUP BY kept", chunk):
            result["kept_items" if kept else "unkept_items"] += n
    log_cutoff = (utc_iso(now - timedelta(seconds=settings.fetch_log_after))
                  if settings.fetch_log_after is not None else None)
    if log_cutoff:
        result["fetch_log"] = conn.execute(
            "SELECT count(*) FROM fetch_log WHERE started < ?", [log_cutoff]).fetchone()[0]
    if dry_run:
        return result
    with store.transaction():
        stories: set[str] = set()
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            stories.update(r[0] for r in conn.execute(
                f"SELECT story_id FROM story_items WHERE item_id IN ({marks})", chunk))
            conn.execute(f"DELETE FROM story_bands WHERE n IN (SELECT n FROM story_items "
                         f"WHERE item_id IN ({marks}))", chunk)
            for table, column in (("story_items", "item_id"), ("item_versions", "item_id"),
                                  ("item_aliases", "item_id"), ("items", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", chunk)
        result["stories"] = _refresh_stories(conn, sorted(stories))
        if log_cutoff:
            conn.execute("DELETE FROM fetch_log WHERE started < ?", [log_cutoff])
    return result


def _refresh_stories(conn: sqlite3.Connection, story_ids: list[str]) -> int:
    """Recount items and reach of stories that lost items; remove the empty ones."""
    removed = 0
    for story_id in story_ids:
        items, reach = conn.execute(
            "SELECT count(*), count(DISTINCT outlet) FROM story_items "
            "WHERE story_id = ?", [story_id]).fetchone()
        if items == 0:
            conn.execute("DELETE FROM stories WHERE id = ?", [story_id])
            removed += 1
        else:
            conn.execute("UPDATE stories SET items = ?, reach = ? WHERE id = ?",
                         [items, reach, story_id])
    return removed


def file_sizes(path: Path) -> dict[str, int]:
    """The database file's size and its ``-wal`` file's, in bytes (0 for a missing file)."""
    wal = path.with_name(path.name + "-wal")
    return {"file": path.stat().st_size if path.exists() else 0,
            "wal": wal.stat().st_size if wal.exists() else 0}


def vacuum(store: Store, *, before: dict[str, int] | None = None) -> dict[str, Any]:
    """Merge the FTS5 index, rebuild the file, and leave the WAL checkpointed and empty.

    In WAL mode VACUUM writes the whole rebuilt database into the ``-wal`` file, and the
    database file only shrinks when that is checkpointed: without the checkpoint after it,
    the file and its WAL together were about twice the database, and stayed so while
    another connection (the daemon) kept the WAL open. The WAL is checkpointed before
    VACUUM too, so it never holds more than one copy. A process reading at that moment can
    stop the WAL being truncated: ``wal_truncated`` says so.

    Args:
        before: the sizes to report as before (``file_sizes``), when the caller changed
            the database first (retention); by default, as they are now.
    Returns:
        ``{"before": bytes, "after": bytes, "before_file", "before_wal", "after_file",
        "after_wal", "wal_truncated": bool}``: ``before``/``after`` count the WAL too.
    """
    start = before or file_sizes(store.path)
    store.db.execute("INSERT INTO items_fts (items_fts) VALUES ('optimize')")
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.db.execute("VACUUM")
    store.db.execute("PRAGMA optimize")
    busy = store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
    end = file_sizes(store.path)
    return {"before": start["file"] + start["wal"], "after": end["file"] + end["wal"],
            "before_file": start["file"], "before_wal": start["wal"],
            "after_file": end["file"], "after_wal": end["wal"],
            "wal_truncated": not busy and end["wal"] == 0}


async def daemon_job(get_config: Callable[[], Config]) -> None:
    """Apply ``[retention]`` in a thread with its own connection, so deleting never holds up
    the event loop; nothing to do without ``[retention]``. Never raises."""
    config = get_config()
    settings = config.retention
    if settings == RetentionSettings():
        return

    def run() -> dict[str, int]:
        with Store(config.db_path, stories=config.stories) as store:
            return apply_retention(store, settings, now=datetime.now(UTC))

    try:
        done = await asyncio.to_thread(run)
    except Exception:
        log.exception("retention failed")
        return
    log.info("retention applied", extra={"fields": done})
