"""Each stored item's language is the detected one, the feed's declared tag kept beside it:
`--lang`, `stats` and the stored columns, through a real feed pass on loopback and the CLI on
a real SQLite file; and the migration that brings older databases along."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedserver import FeedServer, config_text
from mediamon.cli import cli
from mediamon.core.language import backend, item_language
from mediamon.store.sqlite import Store, schema_version

pytestmark = pytest.mark.skipif(backend() != "py3langid",
                                reason="needs py3langid (the languages extra)")

# (guid, the language it is in, title, summary): one feed declaring "ru" carries them all.
ITEMS = [
    ("en", "en", "Russia recognises the Taliban government",
     "Moscow became the first country to formally recognise the Islamic Emirate, the "
     "foreign ministry said on Thursday."),
    ("ru", "ru", "Россия признала правительство талибов",
     "Москва первой официально признала Исламский Эмират, сообщил МИД в четверг."),
    ("ps", "ps", "روسیې د طالبانو حکومت په رسمیت وپېژانده",
     "مسکو لومړنی هیواد شو چې اسلامي امارت یې په رسمي ډول په رسمیت وپېژانده."),
    ("fa", "fa", "روسیه حکومت طالبان را به رسمیت شناخت",
     "مسکو نخستین کشوری شد که امارت اسلامی را به گونه رسمی به رسمیت می‌شناسد."),
    ("uz-latn", "uz", "Rossiya Tolibon hukumatini rasman tan oldi",
     "Moskva Islom amirligini rasman tan olgan birinchi davlat bo'ldi, deb xabar berdi "
     "tashqi ishlar vazirligi."),
    ("uz-cyrl", "uz", "Россия Толибон ҳукуматини расман тан олди",
     "Москва Ислом амирлигини расман тан олган биринчи давлат бўлди, деб хабар берди "
     "ташқи ишлар вазирлиги."),
    ("kk", "kk", "Ресей Талибан үкіметін ресми түрде мойындады",
     "Мәскеу Ислам әмірлігін ресми түрде мойындаған алғашқы мемлекет болды, деп хабарлады "
     "сыртқы істер министрлігі."),
    ("ur", "ur", "روس نے طالبان حکومت کو باضابطہ طور پر تسلیم کر لیا",
     "ماسکو اسلامی امارت کو باضابطہ طور پر تسلیم کرنے والا پہلا ملک بن گیا، وزارت خارجہ نے "
     "جمعرات کو بتایا۔"),
    ("pl", "pl", "Rosja jako pierwsza uznała rząd talibów",
     "Moskwa jako pierwsze państwo oficjalnie uznała Islamski Emirat, poinformowało w "
     "czwartek ministerstwo spraw zagranicznych."),
    ("zh", "zh", "俄罗斯成为首个承认塔利班政府的国家",
     "俄罗斯外交部周四表示，莫斯科正式承认阿富汗伊斯兰酋长国。"),
]


def feed_declaring(language: str, items: list[tuple[str, str, str, str]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>https://example.org/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid><description>{summary} about</description>'
        f"<pubDate>Thu, 03 Jul 2025 12:00:00 GMT</pubDate></item>"
        for guid, _, title, summary in items)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>Mixed</title><link>https://example.org/</link>"
            f"<language>{language}</language>{entries}</channel></rss>").encode()


def mediamon(config: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error", *args])


@pytest.fixture
def polled(feed_server: FeedServer, tmp_path: Path) -> Path:
    """A database with ITEMS stored through one `run --once` of a feed that declares "ru"."""
    feed_server.add("/mixed.xml", feed_declaring("ru", ITEMS),
                    content_type="application/rss+xml")
    config = tmp_path / "m.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), [feed_server.url("/mixed.xml")]),
                      encoding="utf-8")
    result = mediamon(config, "run", "--once")
    assert result.exit_code == 0, result.output
    return config


def test_lang_returns_the_items_in_that_language_whatever_the_feed_declares(
        polled: Path) -> None:
    """`items --lang X` lists the items detected in X: English text in a feed declaring
    "ru" is English, and "ru" lists only the Russian item, not the whole feed."""
    expected: dict[str, set[str]] = {}
    for guid, language, _, _ in ITEMS:
        expected.setdefault(language, set()).add(f"https://example.org/{guid}")
    for language, urls in expected.items():
        result = mediamon(polled, "items", "--lang", language, "--json")
        assert result.exit_code == 0, result.output
        rows = json.loads(result.output)
        assert {row["url"] for row in rows} == urls, language
        assert {row["language"] for row in rows} == {language}


def test_the_declared_language_is_stored_beside_the_detected_one(polled: Path) -> None:
    """Every item keeps the feed's "ru" in language_declared; language is the detected one."""
    with sqlite3.connect(polled.parent / "m.db") as conn:
        rows = dict(conn.execute("SELECT guid, language FROM items").fetchall())
        declared = {r[0] for r in conn.execute("SELECT language_declared FROM items")}
    assert rows == {guid: language for guid, language, _, _ in ITEMS}
    assert declared == {"ru"}
    (english,) = json.loads(mediamon(polled, "items", "--lang", "en", "--json").stdout)
    shown = mediamon(polled, "show", english["id"])
    assert "language:   en (the feed declares ru)" in shown.output


def test_stats_counts_items_by_detected_language(polled: Path) -> None:
    """`stats` lists the detected languages (two Uzbek items, one of each other), not one
    "ru" for the whole feed."""
    result = mediamon(polled, "stats", "--since", "2025-07-01", "--until", "2025-07-05",
                      "--json")
    assert result.exit_code == 0, result.output
    counts = {row["language"]: row["items"] for row in json.loads(result.output)["languages"]}
    assert counts == {"uz": 2, **{code: 1 for code in
                                  ("en", "ru", "ps", "fa", "kk", "ur", "pl", "zh")}}


@pytest.mark.parametrize(("declared", "text", "stored"), [
    ("ru", "Russia recognises the Taliban government", "en"),  # unsure, but not Cyrillic
    ("en", "Konflikt Rosja - Ukraina. O co może chodzić Putinowi?", "pl"),  # sure
    ("en", "Kabul", "en"),  # one word: the feed's tag stands
    (None, "OK", None),  # nothing declared, nothing sure
    ("ps", "12 34", "ps"),  # no letters
    (None, "Россия признала правительство талибов", "ru"),
])
def test_item_language_weighs_the_declared_tag_against_the_detection(
        declared: str | None, text: str, stored: str | None) -> None:
    """The one rule for the stored language (core/language.item_language)."""
    assert item_language(declared, text) == stored


def test_the_migration_keeps_declared_languages_and_merges_host_outlets(
        tmp_path: Path) -> None:
    """A database from before: its items' language becomes the declared one too, and a
    story whose outlets were stored as hosts (news.bbc.co.uk, www.bbc.co.uk) counts that
    outlet once."""
    db = tmp_path / "old.db"
    Store(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute("INSERT INTO feeds (id, url, added) VALUES (1, 'https://x.org/f', '')")
        for n, outlet in enumerate(["news.bbc.co.uk", "bbc.co.uk", "tass.ru"]):
            conn.execute(
                "INSERT INTO items (id, feed_id, title, summary, content, summary_html, "
                "content_html, authors, categories, published, published_from_feed, "
                "first_seen, last_seen, language, content_hash, kept, score, similarity, "
                "topics, explanation) VALUES (?, 1, 't', '', '', '', '', '[]', '[]', "
                "'2025-07-03T12:00:00+00:00', 1, '', '', 'en', '', 1, 1, 0, '[]', '{}')",
                [f"i{n}"])
            conn.execute("INSERT INTO story_items (item_id, story_id, outlet, t, terms, "
                         "joined) VALUES (?, 's', ?, 0, x'', '')", [f"i{n}", outlet])
        conn.execute("INSERT INTO stories (id, first_published, first_item_id, first_outlet, "
                     "title, last_published, items, reach, created, updated) VALUES "
                     "('s', '2025-07-03T12:00:00+00:00', 'i0', 'news.bbc.co.uk', 't', "
                     "'2025-07-03T12:00:00+00:00', 3, 3, '', '')")
        # As the database was before m014: no column, no record, one version less.
        conn.execute("ALTER TABLE items DROP COLUMN language_declared")
        conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm014_languages_and_outlets'")
        conn.execute(f"PRAGMA user_version = {schema_version() - 1}")
    Store(db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT reach, first_outlet FROM stories").fetchone() == \
            (2, "bbc.co.uk")
        assert {r[0] for r in conn.execute("SELECT outlet FROM story_items")} == \
            {"bbc.co.uk", "tass.ru"}
        assert set(conn.execute("SELECT language, language_declared FROM items")) == \
            {("en", "en")}


def test_relang_detects_the_language_of_items_stored_before(polled: Path) -> None:
    """Items stored with only the feed's language (as before detection, or as the migration
    leaves them) get their detected one from `mediamon relang`; a second run changes none."""
    db = polled.parent / "m.db"
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE items SET language = language_declared")
    assert {r["language"] for r in json.loads(
        mediamon(polled, "items", "--json").stdout)} == {"ru"}
    result = mediamon(polled, "relang")
    assert result.exit_code == 0, result.output
    assert "10 items read (py3langid), 9 changed language" in result.output
    assert "ru -> uz 2" in result.output
    with sqlite3.connect(db) as conn:
        rows = dict(conn.execute("SELECT guid, language FROM items").fetchall())
    assert rows == {guid: language for guid, language, _, _ in ITEMS}
    again = mediamon(polled, "relang")
    assert again.exit_code == 0 and "0 changed language" in again.output


def test_postgresql_stores_both_languages_too(feed_server: FeedServer, pg_url: str,
                                              tmp_path: Path) -> None:
    """On PostgreSQL the same feed pass stores the detected language and the declared one
    (p004), and `items --lang` lists the same items as on SQLite."""
    feed_server.add("/mixed.xml", feed_declaring("ru", ITEMS),
                    content_type="application/rss+xml")
    config = tmp_path / "pg.toml"
    config.write_text(config_text(str(tmp_path / "unused.db"),
                                  [feed_server.url("/mixed.xml")]), encoding="utf-8")
    assert mediamon(config, "--db", pg_url, "run", "--once").exit_code == 0
    for language in ("en", "ru", "uz", "ps", "zh"):
        result = mediamon(config, "--db", pg_url, "items", "--lang", language, "--json")
        assert result.exit_code == 0, result.output
        assert {row["url"].rsplit("/", 1)[1] for row in json.loads(result.stdout)} == \
            {guid for guid, lang, _, _ in ITEMS if lang == language}
    import psycopg

    with psycopg.connect(pg_url) as conn:
        assert {r[0] for r in conn.execute("SELECT language_declared FROM items")} == {"ru"}
