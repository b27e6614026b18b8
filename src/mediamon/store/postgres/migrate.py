"""Move a SQLite database into a new PostgreSQL one, and check that nothing was lost.

``migrate(sqlite_path, url)`` copies every table the two backends share (``schema``), row
for row with ``COPY``, in ONE PostgreSQL transaction, into a database that holds no
mediamon data yet; ids keep their values (feeds, fetch log, story members), and the
identity sequences continue after them. The full-text index is PostgreSQL's own: each
item's ``search`` vector is generated as the item is copied.

Then, before committing, it checks (``Report``): every table has as many rows as in SQLite;
the story memberships (item -> story) are the same, pair for pair; and a sample of search
probes finds on PostgreSQL what it finds on SQLite: for each sampled item, the longest word
of its title, searched in the item's language, finds the item on both. Any difference
rolls the copy back and says which check failed. The SQLite file is only read.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from mediamon.errors import StoreError
from mediamon.store.postgres import schema
from mediamon.store.postgres.store import PostgresStore, redact
from mediamon.store.sqlite import Store

# Parents before children (foreign keys), then the rest.
TABLE_ORDER = ("feeds", "items", "articles", "item_feeds", "item_topics", "seen", "fetch_log",
               "background_df", "background_size", "labels", "stories", "story_items",
               "story_bands", "item_aliases", "item_versions", "hosts", "alerts",
               "alert_sent", "spikes")
IDENTITIES = (("feeds", "id"), ("fetch_log", "id"), ("story_items", "n"))
SEARCH_PROBES = 200
WORD = re.compile(r"[^\W\d_]{5,}")


@dataclass
class Report:
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    memberships: int = 0
    probes: int = 0
    problems: list[str] = field(default_factory=list)

    def rows(self) -> list[dict[str, Any]]:
        return [{"table": name, "rows": n} for name, n in self.tables.items()]


def _sqlite_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({table})")]


def _pg_columns(conn: psycopg.Connection[Any], table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = "
        "current_schema() AND table_name = %s AND is_generated = 'NEVER' "
        "ORDER BY ordinal_position", [table])]


def migrate(sqlite_path: str | Path, url: str) -> Report:
    """Copy the SQLite database at ``sqlite_path`` into the PostgreSQL database at ``url``
    (created schema and all if empty) and check it; raises StoreError, with the reason,
    when the target already holds data or a check fails (nothing is then written)."""
    Store(sqlite_path, readonly=True).close()  # ours, and at this code's schema version
    PostgresStore(url).close()  # the schema, if not there yet
    report = Report()
    source = sqlite3.connect(f"{Path(sqlite_path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        with psycopg.connect(url) as target:
            held = target.execute(
                "SELECT (SELECT count(*) FROM feeds) + (SELECT count(*) FROM items)"
            ).fetchone()
            if held and held[0]:
                raise StoreError(f"{redact(url)} already holds feeds or "
                                 "items: migrate into an empty database")
            shared = [t for t in TABLE_ORDER if _exists(source, t)]
            for table in shared:
                report.tables[table] = _copy_table(source, target, table)
            for table, column in IDENTITIES:
                target.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                    f"coalesce((SELECT max({column}) FROM {table}), 0) + 1, false)")
            _check(source, target, report)
            if report.problems:
                target.rollback()
                raise StoreError("the copy does not match, so nothing was written: "
                                 + "; ".join(report.problems))
    except psycopg.Error as exc:
        raise StoreError(f"{redact(url)}: {exc}") from exc
    finally:
        source.close()
    return report


def _exists(conn: sqlite3.Connection, table: str) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        [table]).fetchone() is not None


def _copy_table(source: sqlite3.Connection, target: psycopg.Connection[Any],
                table: str) -> int:
    target_columns = set(_pg_columns(target, table))
    columns = [c for c in _sqlite_columns(source, table) if c in target_columns]
    missing = target_columns - set(columns) - {c for t, c in schema.PG_ONLY_COLUMNS
                                               if t == table}
    if missing:
        raise StoreError(f"table {table}: the SQLite database lacks {sorted(missing)}")
    if table == "background_size":  # the schema's own row, updated rather than copied
        row = source.execute("SELECT documents FROM background_size WHERE id = 1").fetchone()
        target.execute("UPDATE background_size SET documents = %s WHERE id = 1",
                       [row[0] if row else 0])
        return 1 if row else 0
    names = ", ".join(columns)
    copied = 0
    with target.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        for row in source.execute(f"SELECT {names} FROM {table}"):
            copy.write_row(row)
            copied += 1
    return copied


def _check(source: sqlite3.Connection, target: psycopg.Connection[Any],
           report: Report) -> None:
    for table, copied in report.tables.items():
        lite = source.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        pg = target.execute(f"SELECT count(*) FROM {table}").fetchone()
        if not (lite == copied == (pg[0] if pg else -1)):
            report.problems.append(f"{table}: {lite} rows in SQLite, {pg} in PostgreSQL")
    lite_members = sorted(source.execute("SELECT item_id, story_id FROM story_items"))
    pg_members = sorted(tuple(r) for r in target.execute(
        "SELECT item_id, story_id FROM story_items"))
    report.memberships = len(pg_members)
    if lite_members != pg_members:
        report.problems.append("story memberships differ")
    _check_search(source, target, report)


def _check_search(source: sqlite3.Connection, target: psycopg.Connection[Any],
                  report: Report) -> None:
    """For a sample of items (every n-th by id), the longest word of the title: SQLite's
    full-text index finds the item by it, and so must PostgreSQL's (in the item's
    language; a word that language's configuration drops as a stop word is skipped)."""
    total = source.execute("SELECT count(*) FROM items").fetchone()[0]
    step = max(1, total // SEARCH_PROBES)
    rows = source.execute(
        "SELECT id, title, language FROM (SELECT id, title, language, "
        "row_number() OVER (ORDER BY id) AS n FROM items) WHERE n % ? = 0", [step])
    missed: list[str] = []
    for item_id, title, language in rows:
        words = sorted(WORD.findall(title or ""), key=lambda w: (-len(w), w))
        if not words:
            continue
        word = words[0]
        lite = source.execute(
            "SELECT 1 FROM items_fts JOIN items ON items.rowid = items_fts.rowid "
            "WHERE items_fts MATCH ? AND items.id = ?", [f'"{word}"', item_id]).fetchone()
        query = target.execute(
            "SELECT numnode(plainto_tsquery(mediamon_ts_config(%s), %s)) > 0, EXISTS ("
            "SELECT 1 FROM items WHERE id = %s AND "
            "search @@ plainto_tsquery(mediamon_ts_config(%s), %s))",
            [language, word, item_id, language, word]).fetchone()
        if lite is None or query is None or not query[0]:
            continue  # not a probe SQLite answers, or a stop word there
        report.probes += 1
        if not query[1]:
            missed.append(f"{item_id} ({word!r})")
    if missed:
        report.problems.append(f"search finds {len(missed)} sampled item(s) on SQLite but "
                               f"not on PostgreSQL: {', '.join(missed[:5])}")
