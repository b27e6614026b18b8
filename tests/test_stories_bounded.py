"""Stories: the work of assigning one new item stays bounded however crowded its window is
(docs/stories.md, "Bounded candidates"): hundreds of copies of one wire text, or hundreds of
same-topic items that each start a story, never make a new item compare with all of them.

Work is counted, not timed: candidates compared exactly, rows a lookup returns, and SQLite
virtual-machine steps (``set_progress_handler``) of one assignment.
"""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta

from mediamon.core.stories import StorySettings, fingerprint, minutes
from mediamon.store.stories import (
    HEADLINE_MATCHES,
    MAX_CANDIDATES,
    assign,
    candidates,
    create_schema,
    headline_candidates,
)

S = StorySettings()
NOW = datetime(2025, 7, 3, 6, 0, tzinfo=UTC)
WIRE = ("Russia recognizes Islamic Emirate of Afghanistan - Foreign Ministry",
        "Russia has officially recognized the Islamic Emirate of Afghanistan, the Russian "
        "Foreign Ministry said on Thursday, saying it would give impetus to productive "
        "bilateral cooperation in various fields.")


def index() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    return conn


def steps(conn: sqlite3.Connection, **item: object) -> tuple[int, object]:
    """SQLite VM steps (in units of 10) spent assigning one item, and the decision."""
    count = 0

    def tick() -> int:
        nonlocal count
        count += 1
        return 0

    conn.set_progress_handler(tick, 10)
    try:
        decision = assign(conn, settings=S, stamp="2026-01-01T00:00:00+00:00",
                          **item)  # type: ignore[arg-type]
    finally:
        conn.set_progress_handler(None, 10)
    return count, decision


def test_a_story_with_hundreds_of_copies_costs_each_new_copy_the_same() -> None:
    """Copy 400 of a wire text (word for word, 350 outlets) costs no more SQLite work than
    copy 100 (before, each copy read every earlier one: 1,426 against 774 steps), joins
    the story, and the story's reach still counts each outlet once."""
    conn = index()
    cost = {}
    story = None
    for i in range(400):
        outlet = f"outlet{i % 350}.example"  # some outlets run it twice
        work, decision = steps(conn, item_id=f"c{i}", title=WIRE[0], summary=WIRE[1],
                               published=NOW + timedelta(minutes=i), outlet=outlet)
        cost[i] = work
        if i == 0:
            story = conn.execute("SELECT story_id FROM story_items").fetchone()[0]
        else:
            assert decision.story_id == story  # type: ignore[attr-defined]
            assert decision.compared <= HEADLINE_MATCHES  # type: ignore[attr-defined]
    assert cost[399] <= 1.1 * cost[100], cost
    reach, items = conn.execute("SELECT reach, items FROM stories").fetchone()
    assert (reach, items) == (350, 400)
    assert reach == conn.execute("SELECT count(DISTINCT outlet) FROM story_items").fetchone()[0]


def _crowd(n: int, seed: int = 3) -> list[tuple[str, str]]:
    """``n`` items on one topic: ten words in common, fourteen of their own each (Jaccard
    about 0.26 between two of them: under the threshold, so each starts a story, but they
    share a band three times in four)."""
    rng = random.Random(seed)
    common = "kabul moscow taliban envoy embassy trade talks recognition kabulov delegation"
    items = []
    for k in range(n):
        own = [f"w{k}x{j}{rng.choice('abcdefgh')}" for j in range(14)]
        words = common.split() + own
        rng.shuffle(words)
        items.append((" ".join(words[:9]), " ".join(words[9:])))
    return items


def test_a_crowded_window_bounds_the_candidates_of_each_new_item() -> None:
    """Hundreds of same-topic items in one window, each its own story: a new item still
    compares at most MAX_CANDIDATES of them, and the lookup returns no more."""
    conn = index()
    crowd = _crowd(400)
    compared = []
    for k, (title, summary) in enumerate(crowd):
        _, decision = steps(conn, item_id=f"i{k}", title=title, summary=summary,
                            published=NOW + timedelta(minutes=k), outlet=f"o{k}.example")
        compared.append(decision.compared)  # type: ignore[attr-defined]
    assert conn.execute("SELECT count(*) FROM stories").fetchone()[0] == 400
    assert max(compared) <= MAX_CANDIDATES
    assert max(compared[300:]) == MAX_CANDIDATES  # the window really is crowded
    fp = fingerprint(*crowd[0], S)
    found = candidates(conn, fp.bands, minutes(NOW + timedelta(minutes=400)), S)
    assert len(found) <= MAX_CANDIDATES
    # The earlier items sharing the most bands come first: the nearest copies are not lost.
    shared = [c.bands_shared for c in found]
    assert shared[0] == max(shared)


def test_a_copy_in_a_crowded_window_still_finds_its_original() -> None:
    """Among hundreds of look-alikes, a lightly edited copy of one of them joins its story."""
    conn = index()
    crowd = _crowd(300)
    for k, (title, summary) in enumerate(crowd):
        assign(conn, item_id=f"i{k}", title=title, summary=summary,
               published=NOW + timedelta(minutes=k), outlet=f"o{k}.example", settings=S,
               stamp="x")
    title, summary = crowd[40]
    edited = (title, summary.rsplit(" ", 1)[0] + " reported")  # one word changed
    decision = assign(conn, item_id="copy", title=edited[0], summary=edited[1],
                      published=NOW + timedelta(minutes=301), outlet="copy.example",
                      settings=S, stamp="x")
    original = conn.execute("SELECT story_id FROM story_items WHERE item_id = 'i40'"
                            ).fetchone()[0]
    assert decision.story_id == original and decision.via == "i40"


def test_the_headline_walks_return_the_nearest_items_as_a_full_sort_would() -> None:
    """The two index walks away from t return the same HEADLINE_MATCHES items, in the same
    order, as sorting every item with the headline by distance (then time, then the order
    they were stored in)."""
    conn = index()
    rng = random.Random(5)
    fp = fingerprint(*WIRE, S)
    base = minutes(NOW)
    for k in range(300):
        t = base + rng.randint(-3000, 3000)  # ties in t on purpose
        conn.execute("INSERT INTO story_items (item_id, story_id, outlet, t, terms, joined, "
                     "headline) VALUES (?, 's', 'o', ?, x'', 'x', ?)",
                     [f"i{rng.randint(0, 10**6):07d}-{k}", t, fp.headline])
    for t in (base, base - 2500, base + 2999, base + 5000):
        low, high = t - S.window_minutes, t + S.window_minutes
        expected = [r[0] for r in conn.execute(
            "SELECT item_id FROM story_items WHERE headline = ? AND t BETWEEN ? AND ? "
            "ORDER BY abs(t - ?), t, n LIMIT ?",
            [fp.headline, low, high, t, HEADLINE_MATCHES])]
        got = [c.item_id for c in headline_candidates(conn, fp.headline, t, S)]
        assert got == expected


def test_the_headline_lookup_stops_after_the_nearest_items() -> None:
    """The headline lookup walks the index in order and stops: it reads only the index (no
    row of each copy) and sorts nothing (no temporary B-tree)."""
    conn = index()
    import mediamon.store.stories as story_store

    sql = []
    conn.set_trace_callback(sql.append)
    story_store.headline_candidates(conn, "a b c d e", 1000, S)
    conn.set_trace_callback(None)
    walk = next(q for q in sql if "headline" in q)
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + walk))
    assert "USING COVERING INDEX story_items_headline" in plan
    assert "TEMP B-TREE" not in plan
