"""`mediamon import` in batches (desk.export.import_records): a statement per batch rather
than per item, with the same result as before, the same one-transaction guarantee, and a
bad line still named (docs/benchmarks.md, "Bulk paths")."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import DEMO_CONFIG, REPO
from conftest import invoke_demo as invoke
from mediamon.clock import utc_iso
from mediamon.config import load_config
from mediamon.core.stories import Fingerprint, StorySettings, grouping_key
from mediamon.desk import export
from mediamon.pipeline import scorer_for
from mediamon.process import process_body
from mediamon.store.exchange import IMPORT_DEFERRED_INDEXES
from mediamon.store.sqlite import Store
from mediamon.store.stories import INDEXED_PER_STORY
from mediamon.types import FetchResult

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def exported(demo_db: Path, tmp_path: Path) -> list[dict]:
    path = tmp_path / "a.jsonl"
    assert invoke(demo_db, "export", "-o", str(path)).exit_code == 0
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_import(db: Path, records: list[dict], stories: StorySettings | None = None,
               **kwargs: object) -> dict[str, int]:
    with Store(db, stories=stories) as store:
        return export.import_records(store, records, now=NOW, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("workers", [0, 2])
def test_small_batches_give_the_same_database_as_one(exported: list[dict], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      workers: int) -> None:
    """Items, feeds, topics, seen rows, stories and the search index are the same whether
    the file is written in one batch or in batches of five, their story fingerprints
    computed here or in two worker processes (records without their stories: every story
    is found, so every fingerprint counts)."""
    records = [{k: v for k, v in r.items() if k != "story"} for r in exported]
    one, many = tmp_path / "one.db", tmp_path / "many.db"
    assert run_import(one, records)["imported"] == len(records)
    monkeypatch.setattr(export, "IMPORT_BATCH", 5)
    assert run_import(many, records, workers=workers)["imported"] == len(records)
    for sql in ("SELECT id, feed_id, title, kept, score FROM items ORDER BY id",
                "SELECT item_id, topic, terms FROM item_topics ORDER BY 1, 2",
                "SELECT i.id, f.url, x.first_seen FROM item_feeds x JOIN items i ON "
                "i.id = x.item_id JOIN feeds f ON f.id = x.feed_id ORDER BY 1, 2",
                "SELECT id, content_hash FROM seen ORDER BY id",
                "SELECT item_id, story_id, via, similarity, terms FROM story_items ORDER BY 1",
                "SELECT key, t, n FROM story_bands ORDER BY 1, 2, 3",
                "SELECT id, items, reach, title FROM stories ORDER BY id",
                "SELECT rowid FROM items_fts WHERE items_fts MATCH 'taliban' ORDER BY 1"):
        assert rows(one, sql) == rows(many, sql), sql
    assert rows(many, "SELECT count(*) FROM story_items")[0][0] == len(exported)


def test_progress_is_reported_after_each_batch(exported: list[dict], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``progress`` hears the number of records read after every batch, up to all of them."""
    monkeypatch.setattr(export, "IMPORT_BATCH", 10)
    seen: list[int] = []
    run_import(tmp_path / "t.db", exported, progress=seen.append)
    assert seen == [*range(10, len(exported), 10), len(exported)]


def test_a_record_twice_in_one_file_is_imported_once(exported: list[dict],
                                                     tmp_path: Path) -> None:
    """The second copy of a line in the same batch counts as already here."""
    stats = run_import(tmp_path / "t.db", [*exported, exported[3]])
    assert (stats["imported"], stats["skipped"]) == (len(exported), 1)


def test_a_refused_record_is_named_and_nothing_is_stored(exported: list[dict], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """A line SQLite refuses (no title) in the third batch fails the import with that item's
    id and the reason, and leaves the database without any of the file's items."""
    monkeypatch.setattr(export, "IMPORT_BATCH", 5)
    bad = dict(exported[12], title=None)
    records = [*exported[:12], bad, *exported[13:]]
    db = tmp_path / "t.db"
    with pytest.raises(export.ExportFormatError, match=rf"item {bad['id']}: NOT NULL"):
        run_import(db, records)
    for table in ("items", "item_topics", "seen", "story_items", "stories"):
        assert rows(db, f"SELECT count(*) FROM {table}")[0][0] == 0, table


def schema(db: Path) -> list[tuple]:
    return rows(db, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name")


def test_a_large_import_makes_its_indexes_once_at_the_end(
        exported: list[dict], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than one batch into a database of less than one: the indexes no step of the
    import reads are dropped while it writes and made again at the end, so the database
    ends with the schema of a new one; into a fuller database they stay; and an import
    that fails gets them back with its rollback."""
    deferred: list[list[tuple]] = []
    real = Store.indexes_deferred

    def spying(store: Store):  # type: ignore[no-untyped-def]
        with real(store):
            deferred.append(store.db.conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index'").fetchall())
            yield

    monkeypatch.setattr(Store, "indexes_deferred", contextlib.contextmanager(spying))
    monkeypatch.setattr(export, "IMPORT_BATCH", 5)
    empty, bulk = tmp_path / "empty.db", tmp_path / "bulk.db"
    Store(empty).close()
    assert run_import(bulk, exported)["imported"] == len(exported)
    (during,) = deferred
    dropped = set(IMPORT_DEFERRED_INDEXES) - {name for (name,) in during}
    assert dropped == set(IMPORT_DEFERRED_INDEXES)
    assert schema(bulk) == schema(empty)
    assert rows(bulk, "PRAGMA integrity_check") == [("ok",)]
    # A database that holds a batch already keeps its indexes through the next import.
    with Store(tmp_path / "again.db") as store:
        export.import_records(store, exported[:5], now=NOW)
        export.import_records(store, exported[5:], now=NOW)
    assert len(deferred) == 1
    # A refused record in the third batch: nothing stored, every index back.
    failed = tmp_path / "failed.db"
    with pytest.raises(export.ExportFormatError):
        run_import(failed, [*exported[:12], dict(exported[12], title=None), *exported[13:]])
    assert len(deferred) == 2
    assert schema(failed) == schema(empty)
    assert rows(failed, "SELECT count(*) FROM items") == [(0,)]


def test_updating_a_verdict_leaves_the_full_text_index_alone(demo_db: Path,
                                                             tmp_path: Path) -> None:
    """`rescore`, labels and re-polls update an item's verdict or sighting: the full-text
    index is rewritten only when the title, summary or content changes (m012)."""
    db = tmp_path / "copy.db"
    db.write_bytes(demo_db.read_bytes())
    with Store(db) as store:  # migrated
        conn = store.db.conn
        item = conn.execute("SELECT id FROM items WHERE title LIKE '%Taliban%' LIMIT 1"
                            ).fetchone()[0]
        traced: list[str] = []
        conn.set_trace_callback(traced.append)
        conn.execute("UPDATE items SET kept = 0, score = 0.1, topics = '[]', last_seen = ? "
                     "WHERE id = ?", [NOW.isoformat(), item])
        assert not [s for s in traced if "items_fts" in s], traced
        conn.execute("UPDATE items SET title = 'Kabul talks resume' WHERE id = ?", [item])
        conn.set_trace_callback(None)
        assert [s for s in traced if "items_fts" in s]
        found = conn.execute("SELECT rowid FROM items_fts WHERE items_fts MATCH 'resume'"
                             ).fetchall()
        assert found == conn.execute("SELECT rowid FROM items WHERE id = ?", [item]).fetchall()


STORY_TABLES = (
    "SELECT item_id, story_id, via, similarity, outlet, t, headline, terms FROM story_items "
    "ORDER BY item_id",
    "SELECT id, first_published, first_item_id, first_outlet, title, last_published, items, "
    "reach FROM stories ORDER BY id",
    "SELECT b.key, b.t, s.item_id FROM story_bands b JOIN story_items s ON s.n = b.n "
    "ORDER BY 1, 2, 3",
)


def wire_records(tmp_path: Path) -> list[dict]:
    """An export of a database that grouped wire copies in the order its feeds came (the
    benchmark's wire shape: a few agency texts across many feeds), oldest first."""
    sys.path.insert(0, str(REPO / "benchmarks"))
    import bulk  # benchmarks/bulk.py: export-shaped records
    import workload

    config = load_config(REPO / "config" / "mediamon.toml")
    scorer, _ = scorer_for(config, None)
    records, ids = [], set()
    for doc in workload.generate(30, 20, seed=5, shape="wire"):
        url = f"https://feeds.example{doc.path}"
        fetch = FetchResult(url=url, status="ok", http_status=200, final_url=url,
                            body=doc.body, headers=(("content-type", doc.content_type),))
        for scored in process_body(fetch, feed_url=url, scorer=scorer, now=NOW,
                                   keep_all=True).scored:
            if scored.item.id not in ids:
                ids.add(scored.item.id)
                records.append(bulk._record(scored.item, scored.match, url, utc_iso(NOW)))
    source = tmp_path / "source.db"
    run_import(source, records)  # feed by feed: not the order of an export
    with Store(source) as store:
        return list(export.export_records(store))


def test_an_import_into_a_database_without_stories_copies_the_files_grouping(
        tmp_path: Path) -> None:
    """Every record of an export carries its story; imported into a database with no
    stories (and the same [stories] settings), the stories, their members, counters and
    band index are the source's exactly, and exporting again gives the same lines."""
    records = wire_records(tmp_path)
    assert all(r["story"]["grouping"] == grouping_key(StorySettings()) for r in records)
    shared = {r["story"]["id"] for r in records}
    assert len(shared) < len(records) / 2  # wire copies: many items per story
    target = tmp_path / "target.db"
    assert run_import(target, records)["imported"] == len(records)
    for sql in STORY_TABLES[:2]:
        assert rows(tmp_path / "source.db", sql) == rows(target, sql), sql
    # The band index holds each story's first members as this database stored them (the
    # file's order, not the source's feed order): as many of them.
    per_story = ("SELECT s.story_id, count(DISTINCT b.n) FROM story_bands b JOIN story_items s "
                 "ON s.n = b.n GROUP BY 1 ORDER BY 1")
    assert rows(tmp_path / "source.db", per_story) == rows(target, per_story)
    with Store(target) as store:
        assert list(export.export_records(store)) == records


def test_a_copied_story_indexes_its_first_stored_members_whatever_the_file_skips(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past a carried story's first INDEXED_PER_STORY records the import leaves the band
    keys out of the fingerprints; when records of that story were skipped (stored already),
    the members it does index get theirs made after all: the same stories and band index as
    an import that makes every fingerprint whole."""
    records = wire_records(tmp_path)
    story = Counter(r["story"]["id"] for r in records).most_common(1)[0][0]
    members = [r for r in records if r["story"]["id"] == story]
    assert len(members) > 2 * INDEXED_PER_STORY
    left_out = []
    real = export.story_fingerprint

    def spying(title: str, summary: str, settings: StorySettings,
               bands: bool = True) -> Fingerprint:
        fp = real(title, summary, settings, bands)
        left_out.append(not fp.complete)
        return fp

    monkeypatch.setattr(export, "story_fingerprint", spying)
    monkeypatch.setattr(export, "IMPORT_BATCH", 25)
    results = []
    for name, cutoff in (("lean", INDEXED_PER_STORY), ("whole", 10**9)):
        monkeypatch.setattr(export, "INDEXED_PER_STORY", cutoff)
        db = tmp_path / f"{name}.db"
        run_import(db, members[:20])  # stored already, and then without any story
        with sqlite3.connect(db) as conn:
            conn.execute("PRAGMA foreign_keys = ON")
            for table in ("story_bands", "story_items", "stories"):
                conn.execute(f"DELETE FROM {table}")
        left_out.clear()
        assert run_import(db, records)["skipped"] == 20
        results.append(([rows(db, sql) for sql in STORY_TABLES], any(left_out)))
    (lean, lean_left_out), (whole, whole_left_out) = results
    assert lean_left_out and not whole_left_out
    assert lean == whole
    with sqlite3.connect(tmp_path / "lean.db") as conn:
        indexed = conn.execute("SELECT count(DISTINCT b.n) FROM story_bands b JOIN story_items "
                               "s ON s.n = b.n WHERE s.story_id = ?", [story]).fetchone()
    assert indexed == (INDEXED_PER_STORY,)


def test_stories_are_found_again_unless_the_file_can_be_trusted(exported: list[dict],
                                                                tmp_path: Path) -> None:
    """A story carried under other settings, one carried into a database that already has
    stories, and a damaged one are not copied: the items get their stories as new items
    do. Copied, a story keeps the id the file gives it."""
    settings = load_config(DEMO_CONFIG).stories  # the demo database's (outlets included)
    made_up = "0123456789abcdef"
    twisted = [dict(r, story=dict(r["story"], id=made_up)) if n < 2 else r
               for n, r in enumerate(exported)]
    copied = tmp_path / "copied.db"
    run_import(copied, twisted, settings)
    assert rows(copied, f"SELECT count(*) FROM story_items WHERE story_id = '{made_up}'") == \
        [(2,)]

    elsewhere = [dict(r, story=dict(r["story"], grouping="settings-of-another-db"))
                 for r in twisted]
    damaged = [dict(r, story={"id": 7, "similarity": "high"}) if n < 2 else r
               for n, r in enumerate(twisted)]
    for name, records, first in (("elsewhere", elsewhere, []), ("damaged", damaged, []),
                                 ("not-empty", twisted[2:], twisted[:2])):
        db = tmp_path / f"{name}.db"
        if first:  # the database already has stories: those two, found as new items are
            run_import(db, [dict(r, story=None) for r in first], settings)
            assert rows(db, "SELECT count(*) FROM story_items")[0][0] == 2
            records = [*records, *[dict(r, id=r["id"][::-1]) for r in first]]
        run_import(db, records, settings)
        assert rows(db, f"SELECT count(*) FROM story_items WHERE story_id = '{made_up}'") == \
            [(0,)], name
