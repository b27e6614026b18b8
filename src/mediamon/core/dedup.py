"""What a feed pass does with each parsed item, given what the store already knows of it.

The store gathers the facts (``Known``), this module decides (``decide``), the store carries
it out. Pure: no SQL, no I/O.

    decision        when                                          the store then
    "duplicate"     the feed lists this id a second time           nothing
    "edit-folded"   a copy folded into a stored item before,       links the feed, stores the
                    and it changed                                 edit on that item
    "link-folded"   the same, unchanged                            links the feed
    "try-fold"      never seen, and its dedup key is on a stored   folds it in if it is a
                    item: maybe a copy                             copy, else decides again
                                                                   with ``fold=False``
    "wait"          never seen, to be stored, but this is a        nothing: the next pass
                    partial copy (the worker dropped its text)     sends it whole
    "insert"        never seen, kept (or everything is stored)     records it seen, stores it
    "note"          never seen, not kept                           records it seen
    "edit"          stored before, changed                         links the feed, updates it
    "link"          stored before, unchanged (or partial)          links the feed
    "insert-now"    seen before but not stored, changed, and       updates its hash, stores it
                    kept now
    "rehash"        the same, not kept now                         updates its hash
    "nothing"       seen, not stored, unchanged (or partial)       nothing
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Decision = Literal["duplicate", "edit-folded", "link-folded", "try-fold", "wait", "insert",
                   "note", "edit", "link", "insert-now", "rehash", "nothing"]


@dataclass(frozen=True)
class Known:
    """What the store knows of one parsed item at the moment of writing."""

    old_hash: str | None  # its content hash when seen before, else None
    stored: bool  # an item with its id is stored
    folded: bool  # it was folded into a stored item earlier (a copy)
    key_on_stored: bool  # its dedup key is a stored item's (it may be a copy of it)
    repeated: bool = False  # this pass met its id already


def decide(known: Known, *, content_hash: str, partial: bool, keep: bool,
           fold: bool = True) -> Decision:
    """The decision for one item (see the module's table). ``keep``: it matched, or every
    item is stored (``keep_all``); ``partial``: the worker sent it without its text;
    ``fold=False``: a fold was tried and it was no copy."""
    if known.repeated:
        return "duplicate"
    changed = known.old_hash != content_hash and not partial
    if known.folded:
        return "edit-folded" if changed else "link-folded"
    if known.old_hash is None:
        if fold and known.key_on_stored:
            return "try-fold"
        if keep:
            return "wait" if partial else "insert"
        return "note"
    if known.stored:
        return "edit" if changed else "link"
    if not changed:
        return "nothing"
    return "insert-now" if keep else "rehash"
