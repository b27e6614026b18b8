"""``mediamon relang``: decide every stored item's language again from its title, summary
and the language its feed declared (``core.language.item_language``, the rule a feed pass
applies), for items stored before languages were detected (migration m014 kept their
declared language in both columns) or after installing the ``languages`` extra.

This module decides nothing itself and touches no topic, score or story.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mediamon.core.language import item_language
from mediamon.store import languages as language_store

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.sqlite import Store


@dataclass(frozen=True)
class RelangResult:
    items: int  # items read
    changed: int  # items whose language changed
    moves: Counter[tuple[str, str]]  # (old, new) -> items; None shown as "none"


def relang(store: Store, *, since: datetime | None = None, batch_size: int = 500,
           progress: Callable[[int], None] | None = None) -> RelangResult:
    """Decide each stored item's language again, ``batch_size`` items per transaction."""
    total = changed = 0
    moves: Counter[tuple[str, str]] = Counter()
    after = ""
    while True:
        rows = language_store.language_rows(store, since=since, after=after, limit=batch_size)
        if not rows:
            break
        after = rows[-1][0]
        changes = []
        for item_id, title, summary, language, declared in rows:
            new = item_language(declared, f"{title}\n{summary}")
            if new != language:
                changes.append((new, item_id))
                moves[(language or "none", new or "none")] += 1
        with store.transaction():
            language_store.set_languages(store, changes)
        total += len(rows)
        changed += len(changes)
        if progress is not None:
            progress(len(rows))
    return RelangResult(total, changed, moves)


def count_items(store: Store, since: datetime | None = None) -> int:
    return language_store.count_items(store, since)
