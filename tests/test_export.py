"""Housekeeping: export/import round trips, retention and vacuum."""

from __future__ import annotations

import asyncio
import csv
import json
import sqlite3
from pathlib import Path

import pytest

from conftest import DEMO_CONFIG as DEMO
from conftest import REPO
from conftest import invoke_demo as invoke
from mediamon.config import load_config
from mediamon.desk import housekeeping

ITEM_COLUMNS = "id, title, summary, content, summary_html, content_html, authors, " \
               "categories, published, updated, first_seen, last_seen, language, " \
               "content_hash, kept, score, similarity, topics, explanation, dedup_key, guid, url"


def rows(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_export_import_export_is_lossless(demo_db: Path, tmp_path: Path) -> None:
    """Items, topics and feeds survive export -> import -> export byte for byte."""
    first, second, target = tmp_path / "a.jsonl", tmp_path / "b.jsonl", tmp_path / "t.db"
    assert invoke(demo_db, "export", "-o", str(first)).exit_code == 0
    result = invoke(target, "import", str(first))
    assert result.exit_code == 0 and "24 item(s) imported" in result.output
    assert invoke(target, "export", "-o", str(second)).exit_code == 0
    assert first.read_text(encoding="utf-8") == second.read_text(encoding="utf-8")
    order = " ORDER BY id"
    assert rows(demo_db, f"SELECT {ITEM_COLUMNS} FROM items{order}") == \
        rows(target, f"SELECT {ITEM_COLUMNS} FROM items{order}")
    assert rows(demo_db, "SELECT * FROM item_topics ORDER BY 1, 2") == \
        rows(target, "SELECT * FROM item_topics ORDER BY 1, 2")
    # Every imported item has a story, a seen row, and full-text search works on it.
    assert rows(target, "SELECT count(*) FROM story_items")[0][0] == 24
    assert rows(target, "SELECT count(*) FROM seen")[0][0] == 24
    assert invoke(target, "search", "taliban", "--format", "jsonl").output.strip()
    # Feeds the target did not know are added, but not polled.
    assert rows(target, "SELECT DISTINCT active FROM feeds") == [(0,)]


def test_importing_twice_skips_what_is_there(demo_db: Path, tmp_path: Path) -> None:
    """A second import of the same file adds nothing."""
    path, target = tmp_path / "a.jsonl", tmp_path / "t.db"
    invoke(demo_db, "export", "-o", str(path))
    invoke(target, "import", str(path))
    result = invoke(target, "import", str(path))
    assert "0 item(s) imported, 24 already here" in result.output


def test_a_bad_line_names_its_number_and_changes_nothing(demo_db: Path, tmp_path: Path) -> None:
    """An import with a broken line fails with file:line and leaves the database as it was."""
    path, target = tmp_path / "a.jsonl", tmp_path / "t.db"
    invoke(demo_db, "export", "-o", str(path))
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([*lines[:3], '{"id": "x"}', *lines[3:]]) + "\n", encoding="utf-8")
    result = invoke(target, "import", str(path))
    assert result.exit_code == 1
    assert f"{path}:4: not a mediamon export record" in result.output
    assert rows(target, "SELECT count(*) FROM items")[0][0] == 0


def test_export_since_and_csv(demo_db: Path, tmp_path: Path) -> None:
    """--since limits the export and a .csv name writes CSV with one row per item."""
    path = tmp_path / "items.csv"
    assert invoke(demo_db, "export", "--kept-only", "-o", str(path)).exit_code == 0
    with path.open(encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert len(records) == rows(demo_db, "SELECT count(*) FROM items WHERE kept = 1")[0][0]
    assert json.loads(records[0]["topics"])
    result = invoke(demo_db, "export", "--since", "2099-01-01", "-o", "-")
    assert result.exit_code == 0 and result.stdout == ""  # stderr says it is in the future


def retention_config(tmp_path: Path, body: str) -> Path:
    """The default config (no feeds needed to vacuum) with a [retention] section."""
    path = tmp_path / "retention.toml"
    path.write_text(f'extends = "{REPO / "config" / "mediamon.toml"}"\n\n[retention]\n'
                    f'{body}\n', encoding="utf-8")
    return path


def test_retention_deletes_old_unkept_items_and_logs_but_never_kept_ones(
        demo_db: Path, tmp_path: Path) -> None:
    """vacuum deletes expired not-kept items and fetch logs; kept items stay by default."""
    db = tmp_path / "copy.db"
    with sqlite3.connect(demo_db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE items SET first_seen = '2020-01-01T00:00:00+00:00'")
        conn.execute("UPDATE fetch_log SET started = '2020-01-01T00:00:00+00:00'")
    kept = rows(db, "SELECT count(*) FROM items WHERE kept = 1")[0][0]
    unkept = rows(db, "SELECT count(*) FROM items WHERE kept = 0")[0][0]
    config = retention_config(tmp_path, 'unkept_after = "30d"\nfetch_log_after = "90d"')
    dry = invoke(db, "vacuum", "--dry-run", config=config)
    assert f"would delete: {unkept} not-kept item(s), 0 kept" in dry.output
    assert rows(db, "SELECT count(*) FROM items")[0][0] == kept + unkept
    result = invoke(db, "vacuum", config=config)
    assert result.exit_code == 0, result.output
    assert rows(db, "SELECT kept, count(*) FROM items GROUP BY kept") == [(1, kept)]
    assert rows(db, "SELECT count(*) FROM fetch_log")[0][0] == 0
    assert rows(db, "SELECT count(*) FROM story_items WHERE item_id NOT IN "
                    "(SELECT id FROM items)")[0][0] == 0
    assert rows(db, "SELECT count(*) FROM stories WHERE items != (SELECT count(*) FROM "
                    "story_items si WHERE si.story_id = stories.id)")[0][0] == 0
    assert rows(db, "SELECT count(*) FROM items_fts")[0][0] == kept


def test_daemon_retention_job_deletes_expired_unkept_items(demo_db: Path, tmp_path: Path) -> None:
    """The daemon's daily job applies [retention] like vacuum, and does nothing without it."""
    db = tmp_path / "copy.db"
    with sqlite3.connect(demo_db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE items SET first_seen = '2020-01-01T00:00:00+00:00'")
    kept = rows(db, "SELECT count(*) FROM items WHERE kept = 1")[0][0]
    total = rows(db, "SELECT count(*) FROM items")[0][0]
    plain = load_config(DEMO, db_override=str(db))
    asyncio.run(housekeeping.daemon_job(lambda: plain))
    assert rows(db, "SELECT count(*) FROM items")[0][0] == total > kept
    config = load_config(retention_config(tmp_path, 'unkept_after = "30d"'),
                         db_override=str(db))
    asyncio.run(housekeeping.daemon_job(lambda: config))
    assert rows(db, "SELECT kept, count(*) FROM items GROUP BY kept") == [(1, kept)]


def test_vacuum_without_retention_deletes_nothing(demo_db: Path, tmp_path: Path) -> None:
    """With no [retention] section, vacuum only compacts."""
    db = tmp_path / "copy.db"
    with sqlite3.connect(demo_db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    before = rows(db, "SELECT count(*) FROM items")[0][0]
    result = invoke(db, "vacuum")
    assert result.exit_code == 0 and "deleted: 0 not-kept" in result.output
    assert rows(db, "SELECT count(*) FROM items")[0][0] == before


def _on_disk(db: Path) -> int:
    wal = db.with_name(db.name + "-wal")
    return db.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _megabytes(text: str) -> float:
    number, unit = text.split()
    return float(number) * {"B": 1e-6, "kB": 1e-3, "MB": 1.0, "GB": 1e3}[unit]


def test_vacuum_leaves_the_database_no_larger_while_another_process_has_it_open(
        demo_db: Path, tmp_path: Path) -> None:
    """vacuum with the daemon's connection open: the file and its -wal together end no larger
    than they began (VACUUM writes the whole database into the WAL, which is checkpointed and
    truncated), and the sizes reported, WAL included, are the real ones."""
    import re

    db = tmp_path / "copy.db"
    with sqlite3.connect(demo_db) as src, sqlite3.connect(db) as dst:
        src.backup(dst)
    daemon = sqlite3.connect(db)
    try:
        daemon.execute("PRAGMA journal_mode = WAL")
        daemon.execute("UPDATE feeds SET last_error = last_error")  # a write left in the WAL
        daemon.commit()
        assert daemon.execute("SELECT count(*) FROM items").fetchone()[0] > 0
        before = _on_disk(db)
        result = invoke(db, "vacuum")
        assert result.exit_code == 0, result.output
        after = _on_disk(db)
        assert after <= before, (before, after, result.output)
        line = next(x for x in result.output.splitlines() if x.startswith("database "))
        sizes = re.findall(r"[\d.]+ [kMG]?B", line)
        assert "WAL" in line and len(sizes) >= 2, line
        assert _megabytes(sizes[1]) <= _megabytes(sizes[0])
        assert abs(_megabytes(sizes[0]) - before / 1e6) < 0.001
        assert abs(_megabytes(sizes[1]) - after / 1e6) < 0.001
        assert daemon.execute("SELECT count(*) FROM items").fetchone()[0] > 0
    finally:
        daemon.close()


def test_retention_config_errors_name_the_key(tmp_path: Path) -> None:
    """A bad retention value is a config error naming file, key and reason."""
    config = retention_config(tmp_path, 'unkept_after = "soon"')
    result = invoke(tmp_path / "x.db", "vacuum", config=config)
    assert result.exit_code == 1
    assert 'retention.unkept_after: "soon" is not a duration' in result.output


def test_json_lines_errors_name_the_file_and_line_for_import_and_score() -> None:
    """Import and score/eval read JSON Lines through one reader: blank lines are skipped,
    and a line that is not JSON, or not an object, is an error naming file and line."""
    from mediamon.desk.export import ExportFormatError, read_export
    from mediamon.desk.relevance import RelevanceError, read_jsonl
    from mediamon.output import read_json_lines

    lines = ['{"id": "a", "title": "t"}\n', "\n", "[1, 2]\n", "{oops\n"]
    assert [w for w, _ in read_json_lines(lines[:2], name="f", error=ValueError)] == ["f:1"]
    with pytest.raises(RelevanceError, match=r"^in\.jsonl:3: not a JSON object"):
        list(read_jsonl(iter(lines), name="in.jsonl"))
    with pytest.raises(ExportFormatError, match=r"^dump\.jsonl:4: not JSON"):
        list(read_export([lines[1], lines[1], lines[1], lines[3]], name="dump.jsonl"))
