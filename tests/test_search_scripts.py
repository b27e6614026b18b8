"""Search in every script: Chinese, Japanese and Korean words inside unspaced text (the
trigram index, store/scripts.py) and inflected Russian, Persian and Turkish forms (query
expansion, core/searchterms.py), through `mediamon search` on a real SQLite file."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import default_settings_text
from mediamon.cli import cli
from mediamon.core.searchterms import cjk_terms, expand_query, stem_prefix
from mediamon.errors import QueryError
from mediamon.store.sqlite import ScoredItem, Store
from mediamon.types import FeedSource, FetchResult, Item, Match, Validators

NOW = datetime(2025, 7, 4, 12, 0, tzinfo=UTC)
FEED = "https://example.org/feed.xml"
# Written for this test: (language, title, summary).
TEXTS = [
    ("zh", "俄罗斯正式承认塔利班政府", "莫斯科接受了阿富汗大使的国书。"),
    ("zh", "俄羅斯與塔利班簽署小麥協議", "喀布爾方面表示將進口俄羅斯小麥。"),
    ("ja", "ロシア、タリバン政権を正式に承認", "モスクワでアフガン大使が信任状を提出した。"),
    ("ko", "러시아, 탈레반 정부 공식 승인", "모스크바에서 아프간 대사가 신임장을 제출했다."),
    ("ru", "Россия признала власть талибов", "Посол талибов вручил верительные грамоты."),
    ("ru", "Талибы получили российскую пшеницу", "Поставки идут через Узбекистан."),
    ("fa", "روسیه حکومت طالبان را به رسمیت شناخت", "سفارت‌های دو کشور گفت‌وگو کردند."),
    ("tr", "Rusya, Taliban yönetimini tanıdı", "Büyükelçiliği Moskova'da açıldı."),
    ("en", "Russia recognises the Taliban government", "Moscow accepts the envoy's papers."),
]


def _item(n: int, language: str, title: str, summary: str) -> Item:
    return Item(
        id=f"{n:016x}", feed_url=FEED, guid=str(n), url=f"https://example.org/{n}",
        canonical_url=f"https://example.org/{n}", title=title, summary=summary, content="",
        summary_html=summary, content_html="", authors=(), categories=(),
        published=NOW - timedelta(hours=n), updated=None, first_seen=NOW, language=language,
        content_hash=f"h{n}")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("scripts") / "mediamon.db"
    with Store(path) as store:
        store.sync_config_feeds([FeedSource(FEED, "Example")], now=NOW)
        fetch = FetchResult(FEED, "ok", 200, FEED, b"<rss/>", (), Validators())
        scored = [ScoredItem(_item(n, *text), Match(kept=True, score=1.0, similarity=0.0,
                                                     topics=(), rule_matched=True))
                  for n, text in enumerate(TEXTS, 1)]
        store.save_feed_pass(FEED, fetch, scored, now=NOW, next_fetch=NOW, keep_all=True)
    return path


def found(db: Path, query: str, *options: str) -> set[int]:
    """The numbers (1-based, in TEXTS) of the items `mediamon search QUERY` lists."""
    config = db.parent / "mediamon.toml"
    config.write_text(default_settings_text(db), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "search", query, "--json",
                                      *options])
    assert result.exit_code == 0, result.output
    return {int(row["id"], 16) for row in json.loads(result.output)}


@pytest.mark.parametrize(("query", "expected"), [
    ("塔利班", {1, 2}),                 # inside unspaced Chinese, Simplified and Traditional
    ("俄羅斯 塔利班", {1, 2}),          # a Traditional query finds Simplified text too
    ("小麦", {2}),                      # two characters: a substring test; 小麥 too
    ("タリバン", {3}),
    ("탈레반", {4}),
    ("러시아 승인", {4}),
    ("талибы", {5, 6}),                 # талибов, Талибы
    ("Россия", {5, 6}),                 # росс*: Россия and российскую share the stem
    ("سفارت", {7}),                     # سفارت‌های
    ("طالبان", {7}),
    ("büyükelçiliği", {8}),             # Büyükelçiliği as written, and its stem's prefix
    ("Taliban", {8, 9}),                # Latin letters: as written, word for word
])
def test_search_finds_words_in_every_script(db: Path, query: str, expected: set[int]) -> None:
    assert found(db, query) == expected


def test_an_inflected_query_word_finds_its_other_forms(db: Path) -> None:
    assert found(db, "талибов") == found(db, "Талибы") == {5, 6}
    assert found(db, "посольство") == set()  # no form of it is stored
    # quoted, a word is searched as written
    assert found(db, '"талибы"') == {6}


def test_cjk_search_refuses_operators_it_cannot_honour_in_one_line(db: Path) -> None:
    config = db.parent / "mediamon.toml"
    config.write_text(default_settings_text(db), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "search", "塔利班 OR 俄罗斯"])
    assert result.exit_code == 1
    assert "takes plain words" in result.output and "Traceback" not in result.output


def test_the_trigram_index_follows_edits_and_deletes(db: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    copy.write_bytes(db.read_bytes())
    with Store(copy) as store:
        store.db.execute("UPDATE items SET title = '无关的标题' WHERE id = ?", [f"{1:016x}"])
        store.db.execute("DELETE FROM items WHERE id = ?", [f"{3:016x}"])
        store.db.conn.commit()
        cjk = store.db.execute("SELECT count(*) FROM items_cjk").fetchone()[0]
    assert cjk == 3  # zh x2 (one edited, still Chinese), ko; ja deleted
    assert found(copy, "塔利班") == {2}
    assert found(copy, "タリバン") == set()


def test_query_expansion_rules() -> None:
    assert expand_query("талибы AND Кабул") == "талиб* AND кабул*"
    assert expand_query("Taliban OR recognition") == "Taliban OR recognition"  # unchanged
    assert expand_query('"талибы" title:талибы талиб*') == '"талибы" title:талибы талиб*'
    assert expand_query("Rusya", "tr") == "rusya*"
    # --lang picks the language's stemmer from the one table PostgreSQL's search uses too
    assert expand_query("Verhandlungen", "de") == "verhandl*"
    assert expand_query("Verhandlungen") == "Verhandlungen"
    assert stem_prefix("سفارت‌ها") == "سفارت*"
    assert stem_prefix("büyükelçiliği") == "büyükelçili*"  # the stem's shared prefix
    assert stem_prefix("ab") is None
    assert cjk_terms('俄羅斯 "塔利班" AND Moscow') == [("俄羅斯", "俄罗斯"), ("塔利班",),
                                                      ("Moscow",)]
    with pytest.raises(QueryError, match="takes plain words"):
        cjk_terms("塔利班 NOT 俄罗斯")
