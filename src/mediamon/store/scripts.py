"""Search in Chinese, Japanese and Korean: a character-trigram index beside the word index.

SQLite's word index (``items_fts``, FTS5 ``unicode61``) splits text at spaces and
punctuation. Chinese and Japanese have none between words, and a Korean word carries its
particles, so a run such as ``俄罗斯承认塔利班政府`` is one "word" there and ``塔利班`` never
matches. ``items_cjk`` (FTS5 ``trigram``) indexes every three characters of the items that
contain CJK text, and only those: a few percent of a multilingual database, nothing for an
English one. Triggers keep it in step with ``items`` (insert, text edits, deletes).

A CJK search term of three characters or more is a trigram phrase (indexed, ranked by
bm25); a shorter one (``阿塔``, ``러``) is a substring test on the same rows. ``search_sql``
gives ``store.query.search`` the pieces. Created by ``sqlite.m015_cjk_search``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite_utils

# The CJK ranges of core.text (kana, ideographs, hangul) as a GLOB class.
_CJK_GLOB = "'*[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af]*'"
_TEXT = "coalesce({0}.title, '') || ' ' || coalesce({0}.summary, '') || ' ' || " \
        "coalesce({0}.content, '')"
MIN_TRIGRAM = 3  # characters a trigram MATCH needs; shorter terms are substring tests


def create_schema(db: sqlite_utils.Database) -> None:
    """``m015_cjk_search``: the trigram index, its triggers, and the stored items with CJK
    text indexed once (a full scan of ``items``)."""
    db.execute("CREATE VIRTUAL TABLE items_cjk USING fts5(text, tokenize='trigram')")
    new = _TEXT.format("new")
    db.execute(
        f"CREATE TRIGGER items_cjk_ai AFTER INSERT ON items WHEN ({new}) GLOB {_CJK_GLOB} "
        f"BEGIN INSERT INTO items_cjk (rowid, text) VALUES (new.rowid, {new}); END")
    db.execute(
        "CREATE TRIGGER items_cjk_ad AFTER DELETE ON items "
        "BEGIN DELETE FROM items_cjk WHERE rowid = old.rowid; END")
    db.execute(
        f'CREATE TRIGGER items_cjk_au AFTER UPDATE OF "title", "summary", "content" ON items '
        f"BEGIN DELETE FROM items_cjk WHERE rowid = old.rowid; "
        f"INSERT INTO items_cjk (rowid, text) SELECT new.rowid, {new} "
        f"WHERE ({new}) GLOB {_CJK_GLOB}; END")
    db.execute(
        f"INSERT INTO items_cjk (rowid, text) SELECT rowid, {_TEXT.format('items')} "
        f"FROM items WHERE ({_TEXT.format('items')}) GLOB {_CJK_GLOB}")


def search_sql(terms: list[tuple[str, ...]]) -> tuple[str, list[Any], bool]:
    """The WHERE clause over ``items_cjk`` for ``terms`` (each a word and its other
    spellings: every term must occur, in one of its spellings), its parameters, and whether
    it has a MATCH (then ``bm25(items_cjk)`` ranks; otherwise nothing does)."""
    long = [t for t in terms if min(map(len, t)) >= MIN_TRIGRAM]
    short = [t for t in terms if min(map(len, t)) < MIN_TRIGRAM]
    clauses: list[str] = []
    params: list[Any] = []
    if long:
        clauses.append("items_cjk MATCH ?")
        params.append(" AND ".join(
            "(" + " OR ".join('"' + s.replace('"', '""') + '"' for s in t) + ")"
            for t in long))
    for spellings in short:
        clauses.append("(" + " OR ".join("instr(items_cjk.text, ?) > 0" for _ in spellings)
                       + ")")
        params.extend(spellings)
    return " AND ".join(clauses) or "1", params, bool(long)
