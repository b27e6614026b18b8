"""Stories: the pure core (terms, similarity, LSH bands, the decision), the story index in
SQLite, edits kept as versions, the config section and the CLI."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from click.testing import CliRunner

from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.core.stories import (
    Candidate,
    StorySettings,
    band_keys,
    decide,
    explain_pair,
    fingerprint,
    jaccard,
    minutes,
    pack_terms,
    term_hash,
    terms,
    unpack_terms,
)
from mediamon.errors import ConfigError
from mediamon.store.sqlite import ScoredItem, Store
from mediamon.store.stories import assign, create_schema
from mediamon.types import FeedSource, FetchResult, Item, Match, TopicHit, Validators
from pg_fixtures import BACKENDS, config_on, store_of

S = StorySettings()
NOW = datetime(2025, 7, 3, 16, 0, tzinfo=UTC)

TASS = ("Russia recognizes Islamic Emirate of Afghanistan - Foreign Ministry",
        "Russia has officially recognized the Islamic Emirate of Afghanistan, the Russian "
        "Foreign Ministry said on Thursday, saying it would give impetus to productive "
        "bilateral cooperation in various fields.")
REPRINT = ("Russia officially recognises Islamic Emirate of Afghanistan",
           "Russia has officially recognised the Islamic Emirate of Afghanistan, Russia's "
           "Foreign Ministry said on Thursday, according to TASS, saying it would give impetus "
           "to productive bilateral cooperation in various fields.")
OTHER = ("Pakistan and Afghanistan agree to immediate ceasefire after Doha talks",
         "Pakistan and Afghanistan agreed to an immediate ceasefire during talks in Doha "
         "mediated by Qatar and Turkey, the Qatari foreign ministry said on Sunday.")


# --- pure core ----------------------------------------------------------------------------


def test_terms_fold_spelling_stopwords_and_wire_credits() -> None:
    """British and American spellings meet, and 'said', 'the' and '(Reuters)' are dropped."""
    found = terms("Russia recognises the Taliban (Reuters)", "Moscow recognized them, it said")
    assert "recogn" in found and found["recogn"] == "recognises"
    assert not {"the", "reuters", "said", "it"} & set(found)


def test_jaccard_and_packing() -> None:
    """Jaccard is |A&B|/|A|B|, and term hashes survive the blob round trip."""
    a, b = frozenset({1, 2, 3}), frozenset({2, 3, 4})
    assert jaccard(a, b) == 0.5
    assert jaccard(frozenset(), b) == 0.0
    hashes = frozenset(term_hash(t) for t in terms(*TASS))
    assert frozenset(unpack_terms(pack_terms(hashes))) == hashes
    assert jaccard(a, unpack_terms(pack_terms(b))) == 0.5


def test_copies_share_bands_and_unrelated_reports_do_not() -> None:
    """A reprint lands in at least one common band; an unrelated report in none."""
    tass, reprint, other = (fingerprint(*t, S) for t in (TASS, REPRINT, OTHER))
    assert any(x == y for x, y in zip(tass.bands, reprint.bands, strict=True))
    assert not any(x == y for x, y in zip(tass.bands, other.bands, strict=True))
    assert len(tass.bands) == S.bands


def test_band_keys_depend_on_the_setting() -> None:
    """Keys made with other bands x rows never collide with the current ones."""
    hashes = fingerprint(*TASS, S).terms
    assert not set(band_keys(hashes, 20, 2)) & set(band_keys(hashes, 10, 4))


def test_short_items_get_no_bands() -> None:
    """Fewer than min_terms terms: too short to group (a bare 'Breaking news')."""
    assert not fingerprint("Breaking news", "", S).usable


def cand(item_id: str, text: tuple[str, str], t: int, story: str = "s1") -> Candidate:
    return Candidate(item_id, story, t, fingerprint(*text, S).terms)


def test_decide_joins_the_most_similar_candidate_in_the_window() -> None:
    """The best candidate above the threshold wins; one outside the window is ignored."""
    t = minutes(NOW)
    fp = fingerprint(*REPRINT, S)
    near = cand("a", TASS, t - 60, "story-a")
    far = cand("b", REPRINT, t - S.window_minutes - 1, "story-b")  # identical text, too old
    unrelated = cand("c", OTHER, t - 10, "story-c")
    decision = decide(fp, t, [far, unrelated, near], S)
    assert (decision.story_id, decision.via) == ("story-a", "a")
    assert decision.similarity >= S.threshold
    assert decide(fp, t, [far, unrelated], S).story_id is None


def test_decide_breaks_ties_by_time_then_id_whatever_the_order() -> None:
    """Equal similarity: the earlier item wins, so the result is order independent."""
    t = minutes(NOW)
    fp = fingerprint(*TASS, S)
    first, second = cand("z", TASS, t - 90, "early"), cand("a", TASS, t - 30, "late")
    assert decide(fp, t, [first, second], S).story_id == "early"
    assert decide(fp, t, [second, first], S).story_id == "early"


def test_explain_pair_names_shared_words_and_bands() -> None:
    """The explanation lists the shared words as written and the equal bands."""
    exp = explain_pair(TASS, REPRINT, S, minutes_apart=55)
    assert exp.similar_enough and exp.in_window and exp.candidates
    assert "Islamic" in exp.shared or "islamic" in [w.lower() for w in exp.shared]
    assert not explain_pair(TASS, OTHER, S).similar_enough


# --- the index in SQLite ------------------------------------------------------------------


def index() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    return conn


def put(conn: sqlite3.Connection, item_id: str, text: tuple[str, str], when: datetime,
        outlet: str) -> str:
    assign(conn, item_id=item_id, title=text[0], summary=text[1], published=when,
           outlet=outlet, settings=S, stamp="2026-01-01T00:00:00+00:00")
    return conn.execute("SELECT story_id FROM story_items WHERE item_id = ?",
                        [item_id]).fetchone()[0]


def test_story_keeps_first_outlet_title_and_reach() -> None:
    """An earlier copy arriving late becomes the first mention; reach counts outlets once."""
    conn = index()
    story = put(conn, "reprint", REPRINT, NOW + timedelta(hours=1), "ariananews.af")
    assert put(conn, "tass", TASS, NOW, "tass.com") == story
    assert put(conn, "again", REPRINT, NOW + timedelta(hours=2), "ariananews.af") == story
    row = conn.execute("SELECT first_outlet, title, reach, items, first_item_id FROM stories"
                       ).fetchone()
    assert row == ("tass.com", TASS[0], 2, 3, "tass")
    assert put(conn, "other", OTHER, NOW, "reuters.com") != story


def test_a_spike_of_copies_indexes_only_the_first_members() -> None:
    """Hundreds of reprints join one story, but only its first members enter the band index."""
    from mediamon.store.stories import INDEXED_PER_STORY

    conn = index()
    story = put(conn, "c0", TASS, NOW, "tass.com")
    for i in range(1, 3 * INDEXED_PER_STORY):
        assert put(conn, f"c{i}", TASS, NOW + timedelta(minutes=i), f"outlet{i}.example") == story
    indexed = conn.execute("SELECT count(DISTINCT n) FROM story_bands").fetchone()[0]
    assert indexed == INDEXED_PER_STORY
    assert conn.execute("SELECT items, reach FROM stories").fetchone() == (
        3 * INDEXED_PER_STORY, 3 * INDEXED_PER_STORY)


def test_year_apart_copies_start_new_stories() -> None:
    """The same words a year later are a new event: outside the window, a new story."""
    conn = index()
    first = put(conn, "2024", TASS, NOW - timedelta(days=365), "tass.com")
    assert put(conn, "2025", TASS, NOW, "tass.com") != first


def test_lookup_reads_only_band_rows_in_the_window() -> None:
    """The candidate query is an index range scan on (key, t), not a table scan."""
    conn = index()
    plan = " ".join(str(r) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT n FROM story_bands WHERE key IN (1, 2) AND t BETWEEN 1 AND 9"))
    assert "SEARCH" in plan and "SCAN" not in plan


# --- through the store: stories, edits, CLI ---------------------------------------------------

FEEDS = {"https://tass.com/rss/v2.xml": "TASS",
         "https://www.ariananews.af/feed/": "Ariana News",
         "https://www.reuters.com/rss": "Reuters"}


def make_item(n: int, feed: str, text: tuple[str, str], when: datetime, **changes: object) -> Item:
    site = feed.split("/")[2]
    url = f"https://{site}/news/{n}"
    base = Item(id=f"{n:016x}", feed_url=feed, guid=url, url=url, canonical_url=url,
                title=text[0], summary=text[1], content="", summary_html="", content_html="",
                authors=(), categories=(), published=when, updated=None, first_seen=NOW,
                language="en", content_hash=f"h{n}")
    return replace(base, **changes)


def match(*topics: str) -> Match:
    return Match(kept=True, score=0.8, similarity=0.3,
                 topics=tuple(TopicHit(t, (t,)) for t in topics), rule_matched=True)


def save(store: Store, feed: str, *items: Item, topics: tuple[str, ...] = ("russia",)) -> None:
    store.save_feed_pass(feed, FetchResult(feed, "ok", 200, feed, b"x", (), Validators()),
                         [ScoredItem(i, match(*topics)) for i in items], now=NOW,
                         next_fetch=NOW)


@pytest.fixture(params=BACKENDS)
def populated(request: pytest.FixtureRequest, make_config) -> Path:
    """A config and a database with one two-outlet story, one single story and an edit, on
    each backend."""
    path = make_config([])
    config_on(request, path)
    config = load_config(path)
    with cast(Store, store_of(config, stories=config.stories)) as store:
        store.sync_config_feeds([FeedSource(u, n) for u, n in FEEDS.items()], now=NOW)
        tass, ariana, reuters = FEEDS
        save(store, tass, make_item(1, tass, TASS, NOW), topics=("russia", "recognition"))
        save(store, ariana, make_item(2, ariana, REPRINT, NOW + timedelta(hours=1)))
        save(store, reuters, make_item(3, reuters, OTHER, NOW + timedelta(days=1)),
             topics=("pakistan",))
        edited = make_item(3, reuters, OTHER, NOW + timedelta(days=1), content_hash="h3b",
                           title="Pakistan, Afghanistan agree ceasefire in Doha, Qatar says")
        save(store, reuters, edited, topics=("pakistan",))
    return path


def run(path: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(path), *args])
    assert result.exit_code == 0, result.output
    return result.output


def story_of(path: Path, item_id: str) -> str:
    data = json.loads(run(path, "show", item_id, "--json"))
    return data["story"]["story_id"]


def test_items_are_stored_with_their_story_in_the_same_pass(populated: Path) -> None:
    """Every stored item has a story; the copy joined the original's."""
    config = load_config(populated)
    with cast(Store, store_of(config)) as store:
        missing = store.db.execute("SELECT count(*) FROM items WHERE id NOT IN "
                                   "(SELECT item_id FROM story_items)").fetchone()[0]
    assert missing == 0
    assert story_of(populated, f"{1:016x}") == story_of(populated, f"{2:016x}")


def test_stories_command_lists_newest_first_with_reach_and_topics(populated: Path) -> None:
    """`mediamon stories` shows reach, the first outlet and the kept topics, newest first."""
    rows = json.loads(run(populated, "stories", "--json"))
    assert [r["reach"] for r in rows] == [1, 2]
    # tass.com counts under tass.ru, the first domain of TASS in the source registry
    assert rows[1]["first_outlet"] == "tass.ru"
    assert rows[1]["topics"] == ["recognition", "russia"]
    assert [r["reach"] for r in json.loads(run(populated, "stories", "--min-reach", "2",
                                               "--json"))] == [2]
    assert len(json.loads(run(populated, "stories", "--topic", "pakistan", "--json"))) == 1
    assert "tass.ru" in run(populated, "stories")
    assert "reach" in run(populated, "stories", "--format", "csv").splitlines()[0]


def test_stories_show_lists_every_mention(populated: Path) -> None:
    """`stories show` gives outlet, feed, time and URL of each mention."""
    story = story_of(populated, f"{1:016x}")
    data = json.loads(run(populated, "stories", "show", story[:8], "--json"))
    assert [(m["outlet"], m["feed_name"]) for m in data["mentions"]] == [
        ("tass.ru", "TASS"), ("ariananews.af", "Ariana News")]  # tass.com counts as tass.ru
    assert "https://www.ariananews.af/news/2" in run(populated, "stories", "show", f"{2:016x}")


def test_stories_explain_says_why_items_were_grouped(populated: Path) -> None:
    """Explaining a story or a pair gives the similarity, shared words and bands."""
    story = story_of(populated, f"{1:016x}")
    text = run(populated, "stories", "explain", story)
    assert "similarity:" in text and "LSH bands:" in text and "same story" in text
    data = json.loads(run(populated, "stories", "explain", f"{1:016x}", f"{3:016x}", "--json"))
    assert not data["pairs"][0]["same_story"]
    assert data["pairs"][0]["similarity"] < S.threshold


def test_show_history_keeps_the_previous_headline(populated: Path) -> None:
    """An edited headline is kept as a version with what changed."""
    text = run(populated, "show", f"{3:016x}", "--history")
    assert "History (1 earlier version(s)" in text
    assert "changed: title" in text and OTHER[0] in text


def test_items_and_search_collapse_to_one_row_per_story(populated: Path) -> None:
    """--collapse gives one row per story, with how many of its items matched."""
    rows = json.loads(run(populated, "items", "--json"))
    assert len(rows) == 3 and all(r["story"] for r in rows)
    rows = json.loads(run(populated, "items", "--collapse", "--json"))
    assert sorted(r["story_matches"] for r in rows) == [1, 2]
    rows = json.loads(run(populated, "search", "afghanistan", "--collapse", "--json"))
    assert len(rows) == 2
    assert "story" in run(populated, "items", "--collapse").splitlines()[0]


def test_migration_gives_older_items_keys_and_stories(tmp_path: Path) -> None:
    """Opening a database from before stories gives its items a dedup key and a story."""
    import sqlite_utils

    from mediamon.store.sqlite import migrations

    db = sqlite_utils.Database(tmp_path / "old.db")
    migrations.apply(db, stop_before="m003_stories")
    db.execute("INSERT INTO feeds (url, name, added) VALUES ('https://tass.com/rss', 'TASS', "
               "'2025')")
    for n, (title, summary) in enumerate((TASS, REPRINT)):
        url = f"https://www.tass.com/politics/{n}/"
        db.execute(
            "INSERT INTO items (id, feed_id, url, canonical_url, title, summary, content, "
            "summary_html, content_html, authors, categories, published, published_from_feed, "
            "first_seen, last_seen, content_hash, kept, score, similarity, topics, explanation) "
            "VALUES (?, 1, ?, ?, ?, ?, '', '', '', '[]', '[]', ?, 1, '2025', '2025', 'h', 1, 1, "
            "1, '[]', '{}')",
            [f"item{n}", url, url, title, summary, f"2025-07-03T1{n}:00:00+00:00"])
    db.conn.commit()
    db.close()
    with Store(tmp_path / "old.db") as store:
        keys = [r[0] for r in store.db.execute("SELECT dedup_key FROM items ORDER BY id")]
        assert keys == ["https://tass.com/politics/0", "https://tass.com/politics/1"]
        row = store.db.execute("SELECT items, reach, first_item_id FROM stories").fetchall()
        assert row == [(2, 1, "item0")]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("treshold = 0.5", "stories.treshold: unknown key (did you mean 'threshold'?)"),
        ("threshold = 1.5", "stories.threshold: must be between 0 and 1, not 1.5"),
        ('window = "5x"', 'stories.window: "5x" is not a duration'),
        ("bands = 0", "stories.bands: must be at least 1, not 0"),
        ("rows = 99", "stories.rows: must be at most 16, not 99"),
    ],
)
def test_stories_config_errors_name_file_key_and_reason(make_config, body: str,
                                                        message: str) -> None:
    """A bad [stories] value stops loading with the file, the key and the reason."""
    path = make_config([], extra=f"[stories]\n{body}\n")
    with pytest.raises(ConfigError, match="mediamon.toml: " + message.replace("(", r"\(")
                       .replace(")", r"\)").replace("?", r"\?")):
        load_config(path)


def test_stories_config_is_read(make_config) -> None:
    """Valid [stories] values reach the settings."""
    path = make_config([], extra='[stories]\nthreshold = 0.5\nwindow = "2d"\nbands = 10\n')
    assert load_config(path).stories == StorySettings(threshold=0.5, window=172800.0, bands=10)


def test_minhash_is_the_minimum_of_each_permutation_over_the_terms() -> None:
    """The cached, column-wise minhash equals its definition: for each permutation
    h(x) = ((a x + b) mod 2^64) >> 32, the minimum over the set's term hashes."""
    import random

    from mediamon.core.stories import _permutations, minhash

    rng = random.Random(11)
    for _ in range(300):
        values = {rng.getrandbits(32) for _ in range(rng.randint(1, 60))}
        expected = tuple(min(((a * x + b) % 2**64) >> 32 for x in values)
                         for a, b in _permutations(40))
        assert minhash(values, 40) == expected
    assert minhash(set(), 40) == (1 << 32,) * 40
