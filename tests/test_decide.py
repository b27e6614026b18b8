"""core.dedup.decide: what a feed pass does with an item, from what the store knows of it.
Pure: every row of the module's table, and the properties the writer relies on."""

from __future__ import annotations

import itertools

import pytest

from mediamon.core.dedup import Known, decide

H = "hash-now"


def known(old_hash: str | None = None, *, stored: bool = False, folded: bool = False,
          key: bool = False, repeated: bool = False) -> Known:
    return Known(old_hash=old_hash, stored=stored, folded=folded, key_on_stored=key,
                 repeated=repeated)


@pytest.mark.parametrize(("facts", "partial", "keep", "fold", "expected"), [
    (known(H, stored=True, repeated=True), False, True, True, "duplicate"),
    (known("old", folded=True), False, True, True, "edit-folded"),
    (known(H, folded=True), False, True, True, "link-folded"),
    (known("old", folded=True), True, True, True, "link-folded"),  # partial: no edit
    (known(None, key=True), False, True, True, "try-fold"),
    (known(None, key=True), False, True, False, "insert"),  # it was no copy
    (known(None, key=True), False, False, False, "note"),
    (known(None), True, True, True, "wait"),
    (known(None), False, True, True, "insert"),
    (known(None), False, False, True, "note"),
    (known(None), True, False, True, "note"),  # partial and not kept: only seen
    (known("old", stored=True), False, False, True, "edit"),  # stored items follow edits
    (known(H, stored=True), False, True, True, "link"),
    (known("old", stored=True), True, True, True, "link"),
    (known("old"), False, True, True, "insert-now"),
    (known("old"), False, False, True, "rehash"),
    (known(H), False, True, True, "nothing"),
    (known("old"), True, True, True, "nothing"),
])
def test_each_row_of_the_table(facts: Known, partial: bool, keep: bool, fold: bool,
                               expected: str) -> None:
    """The decision for each case the module's table lists."""
    assert decide(facts, content_hash=H, partial=partial, keep=keep, fold=fold) == expected


def all_cases() -> list[tuple[Known, bool, bool, bool]]:
    cases = []
    for old, stored, folded, key, repeated, partial, keep, fold in itertools.product(
            (None, "old", H), *[(False, True)] * 7):
        cases.append((known(old, stored=stored, folded=folded, key=key, repeated=repeated),
                      partial, keep, fold))
    return cases


def test_properties_the_writer_relies_on() -> None:
    """Over every combination: a partial copy is never inserted or edited (its text is not
    there); nothing is inserted that is not kept; a fold is tried only for items never seen,
    and never once it was tried; a repeated id is always a duplicate."""
    for facts, partial, keep, fold in all_cases():
        d = decide(facts, content_hash=H, partial=partial, keep=keep, fold=fold)
        if partial:
            assert d not in ("insert", "insert-now", "edit", "edit-folded"), (facts, d)
        if d in ("insert", "insert-now"):
            assert keep, (facts, d)
        if d == "try-fold":
            assert facts.old_hash is None and fold and facts.key_on_stored
        if facts.repeated:
            assert d == "duplicate"
