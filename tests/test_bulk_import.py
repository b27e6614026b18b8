"""`mediamon import` in batches (desk.export.import_records): a statement per batch rather
than per item, with the same result as before, the same one-transaction guarantee, and a
bad line still named (docs/benchmarks.md, "Bulk paths")."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import invoke_demo as invoke
from mediamon.desk import export
from mediamon.store.sqlite import Store

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def exported(demo_db: Path, tmp_path: Path) -> list[dict]:
    path = tmp_path / "a.jsonl"
    assert invoke(demo_db, "export", "-o", str(path)).exit_code == 0
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run_import(db: Path, records: list[dict], **kwargs: object) -> dict[str, int]:
    with Store(db) as store:
        return export.import_records(store, records, now=NOW, **kwargs)  # type: ignore[arg-type]


def test_small_batches_give_the_same_database_as_one(exported: list[dict], tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Items, feeds, topics, seen rows, stories and the search index are the same whether
    the file is written in one batch or in batches of five."""
    one, many = tmp_path / "one.db", tmp_path / "many.db"
    assert run_import(one, exported)["imported"] == len(exported)
    monkeypatch.setattr(export, "IMPORT_BATCH", 5)
    assert run_import(many, exported)["imported"] == len(exported)
    for sql in ("SELECT id, feed_id, title, kept, score FROM items ORDER BY id",
                "SELECT item_id, topic, terms FROM item_topics ORDER BY 1, 2",
                "SELECT i.id, f.url, x.first_seen FROM item_feeds x JOIN items i ON "
                "i.id = x.item_id JOIN feeds f ON f.id = x.feed_id ORDER BY 1, 2",
                "SELECT id, content_hash FROM seen ORDER BY id",
                "SELECT item_id, story_id, via, similarity FROM story_items ORDER BY 1",
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
