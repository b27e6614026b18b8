"""Stored items' languages, for ``mediamon relang`` (``desk.languages``): the SQL that reads
each item's title, summary and languages in batches, and writes the language decided again.
Decides nothing (``core.language.item_language`` does), and uses only SQL that SQLite and
PostgreSQL both run (keyset pages by item id, no rowid).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mediamon.clock import utc_iso

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.sqlite import Store

LanguageRow = tuple[str, str, str, "str | None", "str | None"]
"""(id, title, summary, language, language_declared)"""


def count_items(store: Store, since: datetime | None = None) -> int:
    """Stored items (published at or after ``since`` when given)."""
    where, params = ("WHERE published >= ?", [utc_iso(since)]) if since else ("", [])
    return int(store.db.execute(f"SELECT count(*) FROM items {where}", params).fetchone()[0])


def language_rows(store: Store, *, since: datetime | None, after: str,
                  limit: int) -> list[LanguageRow]:
    """The next ``limit`` items after id ``after`` in id order (published at or after
    ``since`` when given); empty when none is left."""
    where, params = ("AND published >= ?", [utc_iso(since)]) if since else ("", [])
    return [(r[0], r[1], r[2], r[3], r[4]) for r in store.db.execute(
        f"SELECT id, title, summary, language, language_declared FROM items "
        f"WHERE id > ? {where} ORDER BY id LIMIT ?", [after, *params, limit]).fetchall()]


def set_languages(store: Store, changes: Sequence[tuple[str | None, str]]) -> None:
    """Store each ``(language, item id)``."""
    if changes:
        store.db.conn.executemany("UPDATE items SET language = ? WHERE id = ?", changes)
