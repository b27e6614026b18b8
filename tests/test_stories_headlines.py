"""Stories, agency headline with own standfirst: the headline key (pure), the decision that
uses it, and the story index in SQLite with fixtures in the shapes found on real feeds
(written here; the real pairs are in test_stories_real.py)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from mediamon.core.stories import (
    Candidate,
    StorySettings,
    decide,
    describe,
    explain_pair,
    fingerprint,
    headline_content,
    headline_key,
    headline_series,
    jaccard,
    minutes,
    near_headlines,
    usable_headline,
)
from mediamon.store.sqlite import Store, migrations
from mediamon.store.stories import assign, create_schema, headline_candidates, reindex

S = StorySettings()
NOW = datetime(2025, 7, 8, 9, 0, tzinfo=UTC)

# One agency report and two outlets that keep its headline (typography aside) but write
# their own first paragraph.
WIRE = ("Taliban delegation signs wheat supply deal with Russian exporters",
        "A Taliban trade delegation on Tuesday signed an agreement with Russian exporters to "
        "buy one million tonnes of wheat a year, the Afghan commerce ministry said.")
COPY_A = ("Taliban Delegation Signs Wheat-Supply Deal With Russian Exporters",
          "Officials in Kabul hailed the contract as proof that Moscow will deepen economic "
          "ties despite Western sanctions.")
COPY_B = ("\u2018Taliban delegation signs wheat supply deal with Russian exporters\u2019",
          "Traders in Herat expect bread to get cheaper once the first trains cross the "
          "northern border in spring.")


# Two outlets' live blogs the same day and one the next day, each about something else.
LIVE = [("Ukraine war: live updates",
         "Overnight shelling damaged apartment blocks in Kharkiv, the regional governor said, "
         "as rescuers searched the rubble for survivors."),
        ("Ukraine war: live updates",
         "Negotiators from both sides are due to resume talks in Istanbul on prisoner "
         "exchanges and grain shipments."),
        ("Ukraine war - LIVE UPDATES",
         "Water levels downstream of a breached dam in the south kept rising as villages "
         "were evacuated by boat.")]


# One outlet's daily bulletin under a fixed title, on two days, and a relay of the second.
BULLETIN = "Frontline report from eastern Ukraine: shelling, drones and evacuations"
DAILY = [(BULLETIN, "Two villages near the river were hit overnight; volunteers cleared "
                    "glass from the school while engineers restored the water supply to "
                    "the northern districts by noon."),
         (BULLETIN, "Evacuation buses left the mining town under fire as officials urged "
                    "the remaining families with children to register at the railway "
                    "station before the weekend."),
         (BULLETIN, "A regional broadcaster relayed the bulletin and added an interview "
                    "with a field medic who described treating soldiers in a cellar "
                    "converted into a clinic.")]


def index() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    create_schema(conn)
    return conn


def put(conn: sqlite3.Connection, item_id: str, text: tuple[str, str], when: datetime,
        outlet: str, settings: StorySettings = S) -> str:
    assign(conn, item_id=item_id, title=text[0], summary=text[1], published=when,
           outlet=outlet, settings=settings, stamp="2026-01-01T00:00:00+00:00")
    return conn.execute("SELECT story_id FROM story_items WHERE item_id = ?",
                        [item_id]).fetchone()[0]


# --- the key (pure) ---------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    (WIRE[0], COPY_A[0]),
    (WIRE[0], COPY_B[0]),
    ("Moscow\u2019s \u201cgrain corridor\u201d offer \u2014 rejected by Kyiv",
     "Moscow's \"Grain Corridor\" Offer - Rejected by Kyiv"),
    ("U.S. envoy meets Taliban in Doha", "US envoy meets Taliban in Doha:"),
    ("Iran sent 3,500 drones to Russia, dossier says",
     "Iran sent 3500 drones to Russia: dossier says"),
    ("Rosja PRZERZUCIŁA sprzęt na Białoruś", "Rosja przerzuciła sprzęt na Białoruś."),
    ("Éric  Zemmour\u00a0visits  Kyiv", "eric zemmour visits kyiv"),
])
def test_headline_key_folds_case_quotes_dashes_and_punctuation(a: str, b: str) -> None:
    """Copies that differ only in case, accents, quotes, apostrophes, dashes, punctuation,
    thousands separators or spacing have one key."""
    assert headline_key(a) == headline_key(b)
    assert headline_key(a) == " ".join(headline_key(a).split())


@pytest.mark.parametrize(("a", "b"), [
    ("Taliban bans women from universities", "Taliban ban women from universities"),
    ("Russia and China hold naval drills", "China and Russia hold naval drills"),
    ("War in Ukraine: key events on day 300", "War in Ukraine: key events on day 301"),
    ("Putin will attend the summit", "Putin will not attend the summit"),
])
def test_headline_key_keeps_words_their_order_and_numbers(a: str, b: str) -> None:
    """Another word, another order or another number is another headline."""
    assert headline_key(a) != headline_key(b)


def test_live_blog_and_round_up_words_are_not_content() -> None:
    """Generic headlines have too few content words to count; a report's headline has enough."""
    for generic in ("Ukraine war: live updates", "Russia-Ukraine war latest: what we know",
                    "Wojna w Ukrainie. Relacja na żywo", "Breaking news", ""):
        assert not usable_headline(headline_key(generic), S), generic
    assert headline_content(headline_key(WIRE[0])) >= S.headline_min_terms
    assert usable_headline(headline_key(WIRE[0]), S)
    assert not usable_headline(headline_key(WIRE[0]), replace(S, headline_window=0))


def test_headline_series_masks_numbers() -> None:
    """Issues of a numbered series share a pattern; other headlines do not."""
    day = headline_series(headline_key("War in Ukraine: key events on day 300"))
    assert day == headline_series(headline_key("War in Ukraine: Key events on day 301"))
    assert day != headline_series(headline_key(WIRE[0]))


def test_fingerprint_keeps_the_headline_key() -> None:
    assert fingerprint(*COPY_B, S).headline == headline_key(WIRE[0])


# --- the decision (pure) ----------------------------------------------------------------------


def cand(item_id: str, text: tuple[str, str], when: datetime, outlet: str,
         bands_shared: int = 0, story: str | None = None) -> Candidate:
    fp = fingerprint(*text, S)
    return Candidate(item_id, story or f"s-{item_id}", minutes(when), fp.terms, bands_shared,
                     outlet, fp.headline)


def test_decide_joins_the_same_headline_despite_its_own_standfirst() -> None:
    """Too few shared words to join by similarity, the same headline: one story."""
    fp = fingerprint(*COPY_A, S)
    wire = cand("wire", WIRE, NOW, "wire.example")
    assert jaccard(fp.terms, wire.terms) < S.threshold
    d = decide(fp, minutes(NOW + timedelta(hours=2)), [wire], S, "a.example")
    assert (d.story_id, d.via, d.by) == ("s-wire", "wire", "headline")
    off = decide(fp, minutes(NOW + timedelta(hours=2)), [wire], replace(S, headline_window=0),
                 "a.example")
    assert off.story_id is None


def test_decide_prefers_the_nearest_match_then_the_earlier() -> None:
    fp = fingerprint(*COPY_A, S)
    t = NOW + timedelta(hours=10)
    far = cand("far", WIRE, NOW, "wire.example")
    near = cand("near", COPY_B, NOW + timedelta(hours=9), "b.example")
    after = cand("after", COPY_B, NOW + timedelta(hours=11), "c.example")
    for order in ([far, near, after], [after, near, far]):
        assert decide(fp, minutes(t), order, S, "a.example").via == "near"
    tie = decide(fp, minutes(t), [after, cand("before", WIRE, NOW + timedelta(hours=9),
                                              "d.example")], S, "a.example")
    assert tie.via == "before"


def test_decide_ignores_a_headline_one_outlet_repeats_half_a_day_apart() -> None:
    """A title an outlet used 12 h or more before is its recurring title, not a report."""
    copy = fingerprint(*DAILY[2], S)
    day1 = cand("day1", DAILY[0], NOW, "front.example")
    day2 = cand("day2", DAILY[1], NOW + timedelta(hours=24), "front.example")
    t = minutes(NOW + timedelta(hours=25))
    assert decide(copy, t, [day1, day2], S, "other.example").story_id is None
    # the same two items but only 6 hours apart: a re-sent report, so the copy joins
    resent = cand("day1b", DAILY[1], NOW + timedelta(hours=6), "front.example")
    t = minutes(NOW + timedelta(hours=7))
    assert decide(copy, t, [day1, resent], S, "other.example").via == "day1b"


def test_decide_never_joins_another_issue_of_a_numbered_series() -> None:
    """One outlet's "day 300" and "day 301" share a template standfirst, so their words are
    alike; they are still two stories. From different outlets, or hours apart, they are not
    a series."""
    d300 = ("War in Ukraine: key events on day 300",
            "As the war enters its 300th day, these are the main developments on the ground.")
    d301 = ("War in Ukraine: key events on day 301",
            "As the war enters its 301st day, these are the main developments on the ground.")
    fp = fingerprint(*d301, S)
    prev = cand("d300", d300, NOW, "wirewatch.example", bands_shared=5)
    assert jaccard(fp.terms, prev.terms) >= S.threshold
    t = minutes(NOW + timedelta(hours=24))
    assert decide(fp, t, [prev], S, "wirewatch.example").story_id is None
    assert decide(fp, t, [prev], replace(S, series_gap=0), "wirewatch.example").via == "d300"
    assert decide(fp, t, [prev], S, "elsewhere.example").via == "d300"
    hours = minutes(NOW + timedelta(hours=2))
    assert decide(fp, hours, [prev], S, "wirewatch.example").via == "d300"


def test_decide_keeps_the_headline_window() -> None:
    """The same headline more than ``headline_window`` apart is not evidence."""
    fp = fingerprint(*COPY_A, S)
    wire = cand("wire", WIRE, NOW, "wire.example")
    late = minutes(NOW + timedelta(hours=60))
    assert decide(fp, late, [wire], S, "a.example").story_id is None
    assert decide(fp, late, [wire], replace(S, headline_window=3 * 86400),
                  "a.example").via == "wire"


def test_explain_pair_says_when_the_headline_decides() -> None:
    exp = explain_pair(WIRE, COPY_A, S, minutes_apart=120)
    assert not exp.similar_enough and exp.same_headline
    lines = describe(exp)
    assert any(line.startswith("headline:    the same") for line in lines)
    assert lines[-1] == "verdict:     same story"
    generic = explain_pair(LIVE[0], LIVE[1], S)
    assert not generic.same_headline and describe(generic)[-1] == "verdict:     not grouped"
    series = explain_pair(("War in Ukraine: key events on day 300", ""),
                          ("War in Ukraine: key events on day 301", ""), S)
    assert series.series and any("series" in line for line in describe(series))


# --- near-copies of a headline ------------------------------------------------------------------

# One report under headlines the outlets edited a little, each with its own standfirst (or
# none: aggregators often carry the headline alone).
EDITED = [
    ("Kazakh court jails blogger for 6 years over posts on Russia war",
     "Kazakh court jails blogger over posts on Russia war"),  # a name and a number dropped
    ("Aid agencies pause work in Afghanistan after Taliban bar women staff",
     "Aid agencies pause work in Afghanistan after Taliban bar female staff"),  # one word
    ("Russia denies role in Kabul pipeline blast - Lavrov",
     "Lavrov: Russia denies role in Kabul pipeline blast"),  # a clause moved
    ("Taliban envoy to address Moscow trade forum next week",
     "Taliban envoy to address Moscow trade forum next week | Example News"),  # outlet added
]
# Different events whose headlines share most of their words, in another order.
APART = [
    ("Taliban ban women from universities in Afghanistan",
     "Afghanistan: Taliban detain women protesting against university ban"),
    ("Russia-Ukraine war: list of key events, day 301",
     "Russia-Ukraine war at a glance: what we know on day 301 of the invasion"),  # round-ups
]


# A report with its standfirst, and an aggregator's copy: the edited headline alone.
NEAR_FIRST = ("Aid agencies pause work in Afghanistan after Taliban bar women staff",
              "Four international charities said on Sunday they could not run clinics, "
              "schools and food distributions without their female employees, and would "
              "stop until further notice once the decree reached their offices in Kabul, "
              "Herat and Mazar-i-Sharif, leaving millions without winter assistance.")
NEAR_COPY = ("Aid agencies pause work in Afghanistan after Taliban bar female staff", "")


@pytest.mark.parametrize(("a", "b"), EDITED)
def test_near_headlines_are_edited_copies_of_one_headline(a: str, b: str) -> None:
    assert near_headlines(headline_key(a), headline_key(b), S)
    assert near_headlines(headline_key(b), headline_key(a), S)
    assert not near_headlines(headline_key(a), headline_key(b), replace(S, headline_window=0))


@pytest.mark.parametrize(("a", "b"), APART)
def test_near_headlines_are_not_the_same_words_in_another_order_nor_round_ups(
        a: str, b: str) -> None:
    assert not near_headlines(headline_key(a), headline_key(b), S)


def test_near_headlines_need_enough_content_words() -> None:
    """Two short headlines ("Putin meets Xi" / "Xi meets Putin again") say too little."""
    assert not near_headlines(headline_key("Putin meets Xi in Moscow"),
                              headline_key("Putin meets Xi in Moscow again"), S)


def test_decide_joins_a_near_copy_of_the_headline_when_no_item_is_similar_by_terms() -> None:
    """An aggregator's copy with the edited headline alone: too few shared terms to join by
    similarity, a near-copy of the headline, bands in common: one story. Not when the bands
    never met, outside the headline window, or from the same outlet half a day later."""
    first = NEAR_FIRST
    copy = NEAR_COPY
    fp = fingerprint(*copy, S)
    earlier = cand("first", first, NOW, "wire.example", bands_shared=1)
    assert jaccard(fp.terms, earlier.terms) < S.threshold
    t = minutes(NOW + timedelta(hours=3))
    d = decide(fp, t, [earlier], S, "aggregator.example")
    assert (d.story_id, d.via, d.by) == ("s-first", "first", "headline")
    assert decide(fp, t, [earlier._replace(bands_shared=0)], S, "a.example").story_id is None
    late = minutes(NOW + timedelta(hours=60))
    assert decide(fp, late, [earlier], replace(S, window=4 * 86400),
                  "a.example").story_id is None
    same_outlet = minutes(NOW + timedelta(hours=13))
    assert decide(fp, same_outlet, [earlier], S, "wire.example").story_id is None
    # an item similar by its terms wins over a near-copy of the headline
    similar = cand("similar", ("Charities halt Afghan programmes", first[1]),
                   NOW + timedelta(hours=1), "b.example", bands_shared=3)
    assert decide(fingerprint(copy[0], first[1], S), t, [earlier._replace(
        terms=fingerprint(first[0], "", S).terms), similar], S, "c.example").via == "similar"


def test_near_copies_meet_through_their_headlines_own_bands() -> None:
    """Two outlets' versions of one report under near-copies of a headline, each with a long
    standfirst of its own: the texts share no band, the headlines do, and the store puts the
    second in the first's story. A round-up's headline gets no bands of its own."""
    first = ("Aid agencies pause work in Afghanistan after Taliban bar women staff",
             "Charities running clinics in Herat and Kandahar said they had no choice once "
             "the decree reached their offices, and donors in Geneva called an urgent "
             "meeting on winter assistance for millions of families. Several groups warned "
             "that vaccination campaigns, mobile health teams and nutrition programmes for "
             "infants would stop within days, and that thousands of local employees would "
             "lose their only income.")
    second = ("Aid agencies pause work in Afghanistan after Taliban bar female staff",
              "Programme managers described empty schools and closed food distribution "
              "points across the northern provinces, while officials in Kabul refused to "
              "comment on the order published by the economy ministry. Diplomats in Doha "
              "said the decision complicated talks on frozen central bank reserves, and "
              "traders in Mazar-i-Sharif reported queues outside bakeries as prices of flour "
              "and cooking oil climbed again.")
    a, b = fingerprint(*first, S), fingerprint(*second, S)
    assert not set(a.bands) & set(b.bands) and set(a.headline_bands) & set(b.headline_bands)
    assert not set(a.headline_bands) & set(a.bands)  # apart from the text's key space
    assert fingerprint("Russia-Ukraine war: list of key events, day 301", "", S)\
        .headline_bands == ()
    conn = index()
    s1 = put(conn, "first", first, NOW, "wire.example")
    assert put(conn, "second", second, NOW + timedelta(hours=3), "other.example") == s1
    # a day and more apart, the same two are not joined (an equal headline would be)
    conn = index()
    s1 = put(conn, "first", first, NOW, "wire.example")
    assert put(conn, "late", second, NOW + timedelta(hours=30), "other.example") != s1


def test_one_outlets_own_headline_joins_only_when_shortened_or_lengthened() -> None:
    """An outlet lengthens or shortens its own headline as a report develops: one story. Its
    template with one word exchanged is its next report."""
    base = "Russian forces carry out another missile attack on Lviv overnight"
    assert near_headlines(headline_key(base), headline_key(base + " officials say"), S,
                          same_outlet=True)
    other_city = "Russian forces carry out another missile attack on Zaporizhzhia overnight"
    assert near_headlines(headline_key(base), headline_key(other_city), S)
    assert not near_headlines(headline_key(base), headline_key(other_city), S,
                              same_outlet=True)


def test_explain_pair_says_when_a_near_copy_of_the_headline_decides() -> None:
    a, b = NEAR_FIRST, NEAR_COPY
    exp = explain_pair(a, b, S, minutes_apart=90)
    assert exp.headlines_near and not exp.same_headline and not exp.similar_enough
    lines = describe(exp)
    if exp.candidates:
        assert any(line.startswith("headline:    a near-copy (") for line in lines)
        assert lines[-1] == "verdict:     same story"
    else:
        assert any("never compared" in line for line in lines)
    far = explain_pair(a, b, S, minutes_apart=60 * 60)
    assert describe(far)[-1] == "verdict:     not grouped"


# --- the index in SQLite ------------------------------------------------------------------------


def test_agency_headline_copies_share_a_story() -> None:
    """The wire report and two outlets' copies with their own first paragraph are one
    story, whatever order they arrive in; an unrelated report is not."""
    for order in ((0, 1, 2), (2, 1, 0), (1, 0, 2)):
        conn = index()
        texts = [("wire", WIRE, NOW, "wire.example"),
                 ("a", COPY_A, NOW + timedelta(hours=3), "a.example"),
                 ("b", COPY_B, NOW + timedelta(hours=20), "b.example")]
        stories = {item_id: put(conn, item_id, text, when, outlet)
                   for item_id, text, when, outlet in (texts[i] for i in order)}
        assert len(set(stories.values())) == 1, order
        other = ("Pakistan reopens Torkham crossing after three days of talks",
                 "Trucks queued for kilometres as the border crossing reopened on Sunday.")
        assert put(conn, "other", other, NOW + timedelta(hours=1), "a.example") \
            not in stories.values()


def test_a_short_headline_copied_without_its_standfirst_shares_the_story() -> None:
    """A four-word headline (an aggregator carries it without a standfirst) joins the
    original within the hour; with five content words asked, as before, it did not. Three
    words ("Ukraine war: live updates" has two) still do not count."""
    original = ("Speaker to address Knesset in Jerusalem",
                "The Speaker announced on Tuesday that he will address the parliament during "
                "a trip next month, the second to do so.")
    copy = ("Speaker to address Knesset in Jerusalem", "")
    assert headline_content(headline_key(original[0])) == 4
    conn = index()
    first = put(conn, "hill", original, NOW, "hill.example")
    assert put(conn, "msn", copy, NOW + timedelta(minutes=40), "msn.example") == first
    conn = index()
    five = replace(S, headline_min_terms=5)
    first = put(conn, "hill", original, NOW, "hill.example", five)
    assert put(conn, "msn", copy, NOW + timedelta(minutes=40), "msn.example", five) != first
    conn = index()
    three = ("Trump visits Ohio", "The former president held a rally in Dayton.")
    first = put(conn, "x", three, NOW, "x.example")
    assert put(conn, "y", (three[0], "He toured a flood-hit town."),
               NOW + timedelta(minutes=40), "y.example") != first


def test_agency_headline_copies_stay_apart_without_headline_identity() -> None:
    """The same fixture with headline identity off: the words alone do not group it (so the
    test above measures the headline, not the words)."""
    conn = index()
    off = replace(S, headline_window=0)
    wire = put(conn, "wire", WIRE, NOW, "wire.example", off)
    assert put(conn, "a", COPY_A, NOW + timedelta(hours=3), "a.example", off) != wire


def test_distinct_events_a_day_apart_stay_apart() -> None:
    """Generic live-blog titles, one outlet's daily title, a numbered daily series and a
    copy outside the headline window: none of them merges two events."""
    conn = index()
    live = {put(conn, f"live{n}", text, NOW + timedelta(hours=hours), outlet)
            for n, (text, hours, outlet) in enumerate(zip(LIVE, (0, 3, 26),
                                                          ("x.example", "y.example", "x.example"),
                                                          strict=True))}
    assert len(live) == 3

    day1 = put(conn, "day1", DAILY[0], NOW, "front.example")
    day2 = put(conn, "day2", DAILY[1], NOW + timedelta(hours=24), "front.example")
    copy = put(conn, "copy", DAILY[2], NOW + timedelta(hours=25), "relay.example")
    assert day1 != day2 and copy not in (day1, day2)

    series = [put(conn, f"d{n}", (f"War in Ukraine: key events on day {n}",
                                  f"As the war enters day {n}, these are the main "
                                  f"developments on the ground and in diplomacy."),
                  NOW + timedelta(days=n - 300), "wirewatch.example") for n in (300, 301, 302)]
    assert len(set(series)) == 3

    wire = put(conn, "w", WIRE, NOW, "wire.example")
    assert put(conn, "late", COPY_A, NOW + timedelta(hours=60), "a.example") != wire


def test_numbered_series_merges_without_the_series_rule() -> None:
    """Control for the test above: without the series rule the template standfirst chains
    the daily issues into one story, as it did on the real Al Jazeera series."""
    conn = index()
    off = replace(S, series_gap=0)
    series = {put(conn, f"d{n}", (f"War in Ukraine: key events on day {n}",
                                  f"As the war enters day {n}, these are the main "
                                  f"developments on the ground and in diplomacy."),
                  NOW + timedelta(days=n - 300), "wirewatch.example", off)
              for n in (300, 301, 302)}
    assert len(series) == 1


def test_headline_lookup_is_an_index_range_scan() -> None:
    """Finding earlier items with a headline reads the (headline, t) index, not the table."""
    conn = index()
    plan = " ".join(str(r) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT item_id, story_id, t, terms, outlet FROM story_items "
        "WHERE headline = 'x' AND t BETWEEN 1 AND 9 ORDER BY abs(t - 5), t, item_id LIMIT 64"))
    assert "USING INDEX story_items_headline" in plan and "SCAN story_items" not in plan
    put(conn, "wire", WIRE, NOW, "wire.example")
    found = headline_candidates(conn, headline_key(COPY_A[0]), minutes(NOW), S)
    assert [(c.item_id, c.outlet, c.bands_shared) for c in found] == [("wire", "wire.example", 0)]


def test_an_edited_headline_is_found_under_its_new_key() -> None:
    """After an edit the item is indexed under its new headline."""
    conn = index()
    first = put(conn, "wire", ("Talks in Doha end without a deal", "Delegations left."), NOW,
                "wire.example")
    reindex(conn, item_id="wire", title=WIRE[0], summary=WIRE[1], settings=S)
    assert put(conn, "a", COPY_A, NOW + timedelta(hours=1), "a.example") == first


# --- the migration ------------------------------------------------------------------------


def test_migration_gives_stored_items_their_headline_key(tmp_path: Path) -> None:
    """A database from before m010 (story_items without the headline column) gets the column,
    its index and every stored item's key; a later copy with the same headline joins."""
    path = tmp_path / "old.db"
    db = sqlite_utils.Database(path)
    migrations.apply(db, stop_before="m010_story_headlines")
    db.execute("INSERT INTO feeds (url, name, added) VALUES ('https://wire.example/rss', "
               "'Wire', '2025')")
    db.execute(
        "INSERT INTO items (id, feed_id, url, canonical_url, title, summary, content, "
        "summary_html, content_html, authors, categories, published, published_from_feed, "
        "first_seen, last_seen, content_hash, kept, score, similarity, topics, explanation) "
        "VALUES ('wire1', 1, 'https://wire.example/1', 'https://wire.example/1', ?, ?, '', '', "
        "'', '[]', '[]', ?, 1, '2025', '2025', 'h', 1, 1, 1, '[]', '{}')",
        [WIRE[0], WIRE[1], NOW.isoformat()])
    assign(db.conn, item_id="wire1", title=WIRE[0], summary=WIRE[1], published=NOW,
           outlet="wire.example", settings=S, stamp="2025")
    # as the previous release left it: no headline column, no index
    db.execute("DROP INDEX story_items_headline")
    db.execute("ALTER TABLE story_items DROP COLUMN headline")
    db.conn.commit()
    db.close()
    with Store(path) as store:
        conn = store.db.conn
        assert conn.execute("SELECT headline FROM story_items").fetchall() == [
            (headline_key(WIRE[0]),)]
        story = conn.execute("SELECT story_id FROM story_items").fetchone()[0]
        decision = assign(conn, item_id="a1", title=COPY_A[0], summary=COPY_A[1],
                          published=NOW + timedelta(hours=2), outlet="a.example",
                          settings=S, stamp="2025")
        assert (decision.story_id, decision.by) == (story, "headline")
