"""normalise_entry / normalise_feed: text, HTML, dates, language, links and ids."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediamon.core.normalise import (
    html_to_text,
    normalise_entry,
    normalise_feed,
    normalise_feed_counted,
    normalise_language,
    plain_title,
    sanitise_html,
    with_markup,
)
from mediamon.core.parse import parse_body
from mediamon.core.parse.standard import parse_feed
from mediamon.core.urls import canonical_url, is_http_url
from mediamon.errors import ParseError
from mediamon.types import ParsedFeed, RawEntry

FEEDS = Path(__file__).resolve().parent / "data" / "feeds"
SHARED_FEEDS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "feeds"
NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)
TASS = "https://tass.com/rss/v2.xml"
FEED = ParsedFeed(
    title="TASS", link="https://tass.com", language="en-US", entries=(), format="rss20"
)


def item(data: dict, *, feed_url: str = TASS, feed: ParsedFeed = FEED, now: datetime = NOW, **kw):
    return normalise_entry(RawEntry(data), feed_url=feed_url, feed=feed, now=now, **kw)


def fixture_items(name: str, url: str):
    feed = parse_feed((FEEDS / name).read_bytes(), url=url)
    return normalise_feed(feed, feed_url=url, now=NOW)


# --- plain text -----------------------------------------------------------------------------


def test_html_to_text_blocks_become_lines():
    """Block elements and <br> break lines; inline elements do not."""
    html = (
        "<div><p>Kabul, <b>July 3</b>.</p><p>Second<br>line</p>"
        "<ul><li>one</li><li>two</li></ul></div>"
    )
    assert html_to_text(html) == "Kabul, July 3.\nSecond\nline\none\ntwo"


def test_html_to_text_drops_script_and_style():
    """Script and style contents never reach the text."""
    html = (
        "<p>News</p><script>alert('x')</script><style>p{color:red}</style>"
        "<noscript>nojs</noscript>"
    )
    assert html_to_text(html) == "News"


def test_html_to_text_decodes_entities_and_folds_whitespace():
    """Entities are decoded; runs of spaces, tabs and nbsp fold into one space."""
    text = html_to_text("Russia&nbsp;&amp;\t  Afghanistan&#8212;talks")
    assert text == "Russia & Afghanistan—talks"


def test_html_to_text_removes_control_characters():
    """NUL and other control characters are removed; Persian ZWNJ is kept."""
    assert html_to_text("Ka\x00bul\x1b \x7fnews\u200cها") == "Kabul news\u200cها"


def test_html_to_text_table_cells_stay_apart():
    """Cells of one row are separated by a space."""
    assert html_to_text("<table><tr><td>Kabul</td><td>32°C</td></tr></table>") == "Kabul 32°C"


def test_plain_title_is_one_line():
    """Titles lose line breaks and surrounding space."""
    assert plain_title("  Taliban\n  delegation\tarrives  ") == "Taliban delegation arrives"


def test_plain_title_double_escaped_entities():
    """&amp;amp; in the XML (``&amp;`` after parsing) becomes ``&``."""
    assert plain_title("Russia &amp; Islamic World") == "Russia & Islamic World"
    assert plain_title("Russia&amp;#39;s envoy") == "Russia's envoy"


def test_plain_title_html_and_escaped_html():
    """Markup in a title is removed, even when it was escaped twice."""
    assert plain_title("<b>Breaking:</b> Taliban meet envoy") == "Breaking: Taliban meet envoy"
    assert plain_title("&lt;b&gt;Breaking:&lt;/b&gt; Taliban") == "Breaking: Taliban"


def test_plain_title_keeps_literal_ampersands_and_comparisons():
    """Plain ampersands and a lone ``<`` survive."""
    assert plain_title("AT&T profit < forecast") == "AT&T profit < forecast"


# --- sanitised HTML -------------------------------------------------------------------------


def test_sanitise_html_removes_script_and_event_handlers():
    """Script elements and on* attributes are removed."""
    out = sanitise_html('<p onclick="steal()">Hi<script>alert(1)</script></p>', TASS)
    assert out == "<p>Hi</p>"


def test_sanitise_html_link_rel_and_schemes():
    """Links get rel=noopener noreferrer nofollow; only http, https and mailto survive."""
    out = sanitise_html(
        '<a href="https://tass.com/a">a</a><a href="javascript:alert(1)">b</a>'
        '<a href="mailto:desk@tass.com">c</a><a href="ftp://tass.com/f">d</a>',
        TASS,
    )
    assert '<a href="https://tass.com/a" rel="noopener noreferrer nofollow">a</a>' in out
    assert "javascript" not in out and "ftp:" not in out
    assert 'href="mailto:desk@tass.com"' in out


def test_sanitise_html_resolves_relative_urls():
    """Relative href/src resolve against the base URL."""
    out = sanitise_html('<a href="/world/1">x</a><img src="img/a.jpg">', TASS)
    assert 'href="https://tass.com/world/1"' in out
    assert 'src="https://tass.com/rss/img/a.jpg"' in out


def test_sanitise_html_drops_relative_urls_without_http_base():
    """Without an http(s) base a relative URL cannot be made safe, so it is dropped."""
    out = sanitise_html('<a href="/world/1">x</a>', "/local/feed.xml")
    assert "href" not in out and ">x</a>" in out


def test_item_html_fields_are_sanitised():
    """The TASS fixture's script and onclick never reach summary_html."""
    first = fixture_items("rss20.xml", TASS)[0]
    assert "<script" not in first.summary_html and "onclick" not in first.summary_html
    assert 'rel="noopener noreferrer nofollow"' in first.summary_html
    assert "document.cookie" not in first.summary
    assert first.summary.endswith("the Foreign Ministry said.\nRead more")


def test_plain_text_summary_is_escaped_in_html():
    """A text/plain summary is shown literally: its markup is escaped."""
    it = item({"title": "t", "summary": "a <b> c\nd", "summary_detail": {"type": "text/plain"}})
    assert it.summary == "a <b> c\nd"
    assert it.summary_html == "a &lt;b&gt; c<br>\nd"


def test_double_escaped_html_summary_is_rendered():
    """HTML escaped twice shows as text, not as visible tags."""
    data = {
        "title": "t",
        "summary": "&lt;p&gt;Kabul &lt;b&gt;today&lt;/b&gt;&lt;/p&gt;",
        "summary_detail": {"type": "text/html"},
    }
    it = item(data)
    assert it.summary == "Kabul today"
    assert it.summary_html == "<p>Kabul <b>today</b></p>"


def test_content_is_the_longest_content_value():
    """Of several contents the longest wins."""
    data = {
        "title": "t",
        "content": [
            {"type": "text/plain", "value": "short"},
            {"type": "text/html", "value": "<p>the longer one</p>"},
        ],
    }
    it = item(data)
    assert it.content == "the longer one" and it.content_html == "<p>the longer one</p>"


def test_content_identical_to_summary_is_dropped():
    """When summary and content say the same, the summary is kept and content is empty."""
    data = {
        "title": "t",
        "summary": "<p>Same text</p>",
        "content": [{"type": "text/html", "value": "<p>Same  text</p>"}],
    }
    it = item(data)
    assert it.summary == "Same text" and it.content == "" and it.content_html == ""


def test_non_text_content_is_ignored():
    """A binary payload (an Atom content of type image/png) is not text."""
    it = item({"title": "t", "content": [{"type": "image/png", "value": "iVBORw0KGgo="}]})
    assert it.content == ""


def test_item_text_joins_title_summary_content():
    """Item.text is what topics are matched against."""
    it = fixture_items("rss20.xml", TASS)[3]
    assert it.text.startswith(
        "Russia, Afghanistan discuss wheat supplies via Uzbekistan\nMOSCOW, July 1."
    )
    assert "Tashkent" in it.content


# --- dates ----------------------------------------------------------------------------------


def test_published_from_feed_in_utc():
    """published_parsed becomes an aware UTC datetime and is flagged as from the feed."""
    it = item({"title": "t", "published_parsed": datetime(2025, 7, 3, 15, 47, tzinfo=UTC)})
    assert it.published == datetime(2025, 7, 3, 15, 47, tzinfo=UTC)
    assert it.published.tzinfo is UTC and it.published_from_feed


def test_published_accepts_struct_time_and_other_offsets():
    """A raw struct_time (UTC) or a datetime with another offset is converted."""
    st = time.struct_time((2025, 7, 3, 15, 47, 0, 3, 184, 0))
    expected = datetime(2025, 7, 3, 15, 47, tzinfo=UTC)
    assert item({"title": "t", "published_parsed": st}).published == expected
    kabul = timezone(timedelta(hours=4, minutes=30))
    it = item({"title": "t", "published_parsed": datetime(2025, 7, 3, 20, 17, tzinfo=kabul)})
    assert it.published == datetime(2025, 7, 3, 15, 47, tzinfo=UTC)


def test_published_falls_back_to_updated_then_created():
    """Without a published date, updated and then created are used."""
    d1 = datetime(2025, 7, 1, tzinfo=UTC)
    d2 = datetime(2025, 7, 2, tzinfo=UTC)
    assert item({"title": "t", "updated_parsed": d1, "created_parsed": d2}).published == d1
    assert item({"title": "t", "created_parsed": d2}).published == d2


def test_missing_date_is_now_not_from_feed():
    """No date at all gives now, flagged as not from the feed."""
    it = item({"title": "t"})
    assert it.published == NOW and not it.published_from_feed
    assert it.first_seen == NOW and it.updated is None


def test_future_date_is_clamped_to_now():
    """A date beyond now + max_skew is replaced by now and not trusted."""
    it = item({"title": "t", "published_parsed": NOW + timedelta(days=365)})
    assert it.published == NOW and not it.published_from_feed


def test_small_clock_skew_is_tolerated():
    """A date a few minutes ahead (within max_skew) is kept as the feed's."""
    ahead = NOW + timedelta(minutes=5)
    it = item({"title": "t", "published_parsed": ahead})
    assert it.published == ahead and it.published_from_feed
    strict = item({"title": "t", "published_parsed": ahead}, max_skew=timedelta(minutes=1))
    assert strict.published == NOW and not strict.published_from_feed


def test_dates_before_1970_or_unparsable_are_now():
    """Pre-epoch and unusable dates give now, flagged as not from the feed."""
    for value in (datetime(1969, 12, 31, tzinfo=UTC), None, "yesterday", (0, 0, 0)):
        it = item({"title": "t", "published": "garbage", "published_parsed": value})
        assert it.published == NOW and not it.published_from_feed


def test_invalid_published_falls_through_to_valid_updated():
    """An unusable published date does not hide a usable updated one."""
    d = datetime(2025, 7, 2, tzinfo=UTC)
    old = datetime(1900, 1, 1, tzinfo=UTC)
    it = item({"title": "t", "published_parsed": old, "updated_parsed": d})
    assert it.published == d and it.published_from_feed


def test_updated_is_none_when_absent_and_clamped_when_future():
    """updated is None without a date, the feed's date when sane, now when in the future."""
    d = datetime(2025, 7, 4, tzinfo=UTC)
    assert item({"title": "t"}).updated is None
    assert item({"title": "t", "updated_parsed": d}).updated == d
    assert item({"title": "t", "updated_parsed": NOW + timedelta(days=2)}).updated == NOW
    assert item({"title": "t", "updated_parsed": datetime(1950, 1, 1, tzinfo=UTC)}).updated is None


def test_fixture_dates():
    """The TASS fixture: dated items from the feed, undated and future ones at now."""
    items = fixture_items("rss20.xml", TASS)
    assert items[0].published == datetime(2025, 7, 3, 15, 47, 12, tzinfo=UTC)
    assert [i.published_from_feed for i in items] == [True, True, True, True, False, False]
    assert items[4].published == items[5].published == NOW


# --- language -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("en-US", "en"),
        ("ru_RU", "ru"),
        ("FA-af", "fa"),
        ("ps", "ps"),
        ("fil", "fil"),
        ("zh-Hans-CN", "zh"),
        ("english", None),
        ("x-klingon", None),
        ("", None),
        ("e", None),
        ("12", None),
        (None, None),
    ],
)
def test_normalise_language(tag, expected):
    """Language tags reduce to a lower-case 2-3 letter primary subtag, else None."""
    assert normalise_language(tag) == expected


def test_language_precedence():
    """Entry language beats content language, which beats the feed's."""
    content = [{"value": "x", "language": "fa"}]
    assert item({"title": "t", "language": "ps-AF", "content": content}).language == "ps"
    assert item({"title": "t", "content": [{"value": "x", "language": "fa-AF"}]}).language == "fa"
    assert item({"title": "t", "title_detail": {"language": "ru"}}).language == "ru"
    assert item({"title": "t"}).language == "en"
    no_lang = ParsedFeed(title=None, link=None, language=None, entries=(), format="rss20")
    assert item({"title": "t"}, feed=no_lang).language is None


def test_invalid_entry_language_falls_back_to_feed():
    """A malformed entry language does not win over a valid feed language."""
    assert item({"title": "t", "language": "English"}).language == "en"


def test_fixture_languages():
    """Russian, Dari and Pashto items are recognised from xml:lang and JSON language."""
    assert fixture_items("rss20.xml", TASS)[1].language == "ru"
    assert fixture_items("atom10.xml", "https://tolonews.com/rss/atom.xml")[1].language == "fa"
    assert fixture_items("jsonfeed11.json", "https://pajhwok.com/feed.json")[1].language == "ps"
    assert fixture_items("rss10.rdf", "https://www.reuters.com/rss")[0].language == "en"


# --- authors and categories ------------------------------------------------------------------


def test_authors_from_list_deduplicated():
    """Author names come from the authors list, stripped and de-duplicated."""
    authors = [{"name": " Fidel Rahmati "}, {"name": "TOLOnews"}, {"name": "fidel rahmati"}, {}]
    data = {"title": "t", "authors": authors}
    assert item(data).authors == ("Fidel Rahmati", "TOLOnews")


def test_authors_fall_back_to_author_detail_and_email():
    """Without names, author_detail, author or the e-mail address is used."""
    assert item({"title": "t", "author_detail": {"name": "TASS"}}).authors == ("TASS",)
    assert item({"title": "t", "author": "desk@tass.com"}).authors == ("desk@tass.com",)
    by_email = item({"title": "t", "authors": [{"email": "desk@tass.com"}]})
    assert by_email.authors == ("desk@tass.com",)
    assert item({"title": "t"}).authors == ()


def test_categories_deduplicated_and_stripped():
    """Tag terms are stripped, entity-decoded and de-duplicated case-insensitively."""
    tags = [
        {"term": " Politics "},
        {"term": "politics"},
        {"term": "Russia &amp; CIS"},
        {"term": ""},
        {"label": "Asia"},
    ]
    data = {"title": "t", "tags": tags}
    assert item(data).categories == ("Politics", "Russia & CIS", "Asia")


def test_fixture_json_authors_and_tags():
    """JSON Feed authors (own or the feed's) and tags reach the item."""
    first, pashto, _ = fixture_items("jsonfeed11.json", "https://pajhwok.com/feed.json")
    assert first.authors == ("Abdul Qadir Siddiqui",)
    assert first.categories == ("Russia", "Afghanistan", "diplomacy")
    assert pashto.authors == ("Pajhwok Newsroom",)


# --- links and guids ------------------------------------------------------------------------


def test_relative_link_is_resolved_against_feed_url():
    """A relative entry link becomes absolute; canonical_url follows."""
    it = fixture_items("rss20.xml", TASS)[2]
    assert it.url == "https://tass.com/world/1982711"
    assert it.canonical_url == "https://tass.com/world/1982711"


def test_url_keeps_tracking_parameters_canonical_url_drops_them():
    """Item.url is the link as given; canonical_url is urls.canonical_url of it."""
    it = fixture_items("rss20.xml", TASS)[3]
    assert "utm_source=rss" in it.url
    assert it.canonical_url == canonical_url(it.url) == "https://tass.com/economy/1982540?page=2"


def test_non_http_link_gives_no_url():
    """javascript:, mailto: and relative links without an http base give no URL."""
    assert item({"title": "t", "link": "javascript:alert(1)"}).url is None
    assert item({"title": "t", "link": "mailto:a@b.c"}).url is None
    local = item({"title": "t", "link": "/a"}, feed_url="tests/data/feeds/rss20.xml")
    assert local.url is None and local.canonical_url is None


def test_link_falls_back_to_alternate_links_and_external_url():
    """Without ``link``, the alternate link and then JSON Feed's external_url are used."""
    links = [
        {"rel": "enclosure", "href": "https://x/a.mp3"},
        {"rel": "alternate", "href": "https://tass.com/1"},
    ]
    data = {"title": "t", "links": links}
    assert item(data).url == "https://tass.com/1"
    external = item({"title": "t", "external_url": "https://mfa.gov.af/x"})
    assert external.url == "https://mfa.gov.af/x"


def test_bare_guid_copied_into_link_is_not_a_url():
    """feedparser copies <guid>1234</guid> into ``link``; that is not a link."""
    it = item({"title": "t", "id": "1234", "link": "1234", "guidislink": True})
    assert it.url is None and it.guid == "1234"
    path = item({"title": "t", "id": "/news/5", "link": "/news/5", "guidislink": True})
    assert path.url == "https://tass.com/news/5"


def test_guid_is_stripped_and_empty_guid_is_none():
    """Whitespace around guids is noise; a blank guid is no guid."""
    assert item({"title": "t", "id": "  tass-1  "}).guid == "tass-1"
    assert item({"title": "t", "id": "   "}).guid is None


# --- ids and hashes -------------------------------------------------------------------------


def _id(data: dict, feed_url: str = TASS, now: datetime = NOW) -> str:
    return item(data, feed_url=feed_url, now=now).id


def test_id_is_16_hex_chars():
    """Ids are 16 lower-case hex digits."""
    value = _id({"title": "t"})
    assert len(value) == 16 and int(value, 16) >= 0 and value == value.lower()


@pytest.mark.parametrize(
    "guid", ["https://tass.com/politics/1983095", "urn:uuid:2f1c", "tag:tolonews.com,2025:194312"]
)
def test_global_guid_id_is_the_same_in_every_feed(guid):
    """A URI guid identifies the item everywhere, so two feeds agree on its id."""
    one = _id({"id": guid}, "https://tass.com/rss/v2.xml")
    assert one == _id({"id": guid}, "https://tass.com/rss/politics.xml")


def test_bare_guid_id_is_scoped_to_its_feed():
    """Bare guids like "1" collide across feeds, so the feed URL is part of the key."""
    assert _id({"id": "1"}, "https://a.example/feed") != _id({"id": "1"}, "https://b.example/feed")
    same_feed = _id({"id": "1", "title": "other"}, "https://a.example/feed")
    assert _id({"id": "1"}, "https://a.example/feed") == same_feed


def test_bare_guids_from_two_feeds_on_one_host_do_not_collide():
    """End to end: <guid>1</guid> in two feeds of one site gives two ids."""
    body = (
        b"<rss version='2.0'><channel><title>c</title>"
        b"<item><title>t</title><guid>1</guid></item></channel></rss>"
    )
    ids = set()
    for url in ("https://e.com/news/world.xml", "https://e.com/news/asia.xml"):
        ids.add(normalise_feed(parse_feed(body, url=url), feed_url=url, now=NOW)[0].id)
    assert len(ids) == 2


def test_url_id_without_guid_ignores_tracking_and_feed():
    """Without a guid the canonical URL is the key: tracking tags and the feed do not matter."""
    a = _id({"link": "https://tass.com/world/1?utm_source=rss"}, "https://tass.com/rss/v2.xml")
    b = _id({"link": "https://tass.com/world/1#top"}, "https://other.example/feed")
    assert a == b


def test_hash_id_uses_title_and_date_as_given():
    """Without guid or link: feed URL, title and the date string as written."""
    base = {
        "title": "Earthquake felt in Badakhshan",
        "published": "Mon, 07 Jul 2025 04:00:00 +0000",
    }
    assert _id(base) == _id(dict(base))
    assert _id(base) != _id({**base, "published": "Tue, 08 Jul 2025 04:00:00 +0000"})
    assert _id(base) != _id(base, feed_url="https://other.example/feed")


def test_hash_id_without_title_or_date_uses_text():
    """Untitled, undated, link-less items are told apart by their text."""
    assert _id({"summary": "first note"}) != _id({"summary": "second note"})


@pytest.mark.parametrize(
    "data",
    [
        {"id": "tag:tolonews.com,2025:1"},
        {"id": "42"},
        {"link": "https://tass.com/world/1"},
        {"title": "No date, no link"},
        {"summary": "only text"},
    ],
)
def test_id_never_depends_on_now(data):
    """Polling again later (a different now) gives the same id."""
    assert _id(data, now=NOW) == _id(data, now=NOW + timedelta(days=3))


def test_fixture_ids_are_unique_and_stable():
    """Every fixture item has its own id, and parsing again gives the same ids."""
    sources = [
        ("rss20.xml", TASS),
        ("atom10.xml", "https://tolonews.com/rss/atom.xml"),
        ("rss10.rdf", "https://www.reuters.com/rss"),
        ("rss091.xml", "https://www.khaama.com/feed/"),
        ("jsonfeed11.json", "https://pajhwok.com/feed.json"),
        ("jsonfeed10.json", "https://amu.tv/feed.json"),
        ("broken.xml", "https://www.ariananews.af/feed/"),
    ]
    first = [i.id for name, url in sources for i in fixture_items(name, url)]
    again = [i.id for name, url in sources for i in fixture_items(name, url)]
    assert first == again and len(set(first)) == len(first)


def test_content_hash_covers_visible_fields_only():
    """The hash changes with what a reader sees, not with first_seen."""
    data = {"title": "t", "summary": "s", "link": "https://tass.com/1"}
    h = item(data).content_hash
    assert len(h) == 16
    assert item(data, now=NOW + timedelta(days=1)).content_hash == h
    assert item({**data, "title": "t2"}).content_hash != h
    assert item({**data, "summary": "s2"}).content_hash != h
    assert item({**data, "link": "https://tass.com/2"}).content_hash != h


# --- whole feeds ----------------------------------------------------------------------------


def test_normalise_feed_skips_and_counts_empty_entries():
    """Entries without title, link or text are skipped and counted."""
    feed = ParsedFeed(
        title=None,
        link=None,
        language=None,
        entries=(
            RawEntry({}),
            RawEntry({"title": "kept"}),
            RawEntry({"summary": "<script>x</script>"}),
        ),
        format="rss20",
    )
    result = normalise_feed_counted(feed, feed_url=TASS, now=NOW)
    assert [i.title for i in result.items] == ["kept"] and result.skipped == 2
    assert normalise_feed(feed, feed_url=TASS, now=NOW) == list(result.items)


def test_truncated_fixture_keeps_its_two_complete_items():
    """broken.xml: two items, the cut-off third is skipped."""
    feed = parse_feed((FEEDS / "broken.xml").read_bytes(), url="https://www.ariananews.af/feed/")
    result = normalise_feed_counted(feed, feed_url="https://www.ariananews.af/feed/", now=NOW)
    assert len(result.items) == 2 and result.skipped == 1


def test_feed_items_carry_feed_url_and_first_seen():
    """Every item records its feed URL and first_seen = now."""
    for it in fixture_items("atom10.xml", "https://tolonews.com/rss/atom.xml"):
        assert it.feed_url == "https://tolonews.com/rss/atom.xml" and it.first_seen == NOW


def test_atom_fixture_details():
    """Atom: html titles decoded, xhtml summaries, relative img src resolved, authors."""
    items = fixture_items("atom10.xml", "https://tolonews.com/rss/atom.xml")
    assert items[0].title == "Islamic Emirate welcomes Russia's recognition decision"
    assert items[0].authors == ("Fidel Rahmati", "TOLOnews")
    assert 'src="https://tolonews.com/images/muttaqi-zhirnov.jpg"' in items[0].content_html
    assert items[2].summary == "The UN mission said 23.7 million people need assistance this year."
    assert items[2].canonical_url == "https://tolonews.com/afghanistan-194290?ref=home"
    assert items[3].title == "Breaking: Taliban officials meet Chinese envoy in Kabul"
    assert items[3].canonical_url == "https://tolonews.com/afghanistan-194270"


def test_naive_now_is_taken_as_utc():
    """A naive ``now`` is read as UTC rather than raising."""
    it = item({"title": "t"}, now=datetime(2025, 7, 5, 12, 0))
    assert it.first_seen == NOW


_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=30)
    | st.datetimes(timezones=st.just(UTC))
    | st.datetimes()
)
_subkeys = st.sampled_from(
    ["value", "type", "language", "base", "href", "rel", "name", "email", "term", "label"]
)
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(_subkeys, children, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(
    [
        "title", "title_detail", "summary", "summary_detail", "content", "link", "links",
        "id", "guidislink", "published", "published_parsed", "updated_parsed",
        "created_parsed", "authors", "author", "author_detail", "tags", "language",
        "external_url",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=8), st.text(max_size=30))
def test_property_normalise_entry_never_raises(data, feed_url):
    """Whatever shape the fields have, normalise_entry returns an Item."""
    it = item(data, feed_url=feed_url)
    assert it.published.tzinfo is UTC and len(it.id) == 16
    assert it.url is None or is_http_url(it.url)


# --- the feed pass's two steps: text first, HTML and language for what it stores ------------


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_keys, _values, max_size=8), st.text(max_size=30))
def test_property_with_markup_completes_the_text_only_item(data, feed_url):
    """An item normalised without HTML and detection, then given them (``with_markup``), is
    the item ``normalise_entry`` gives at once, whatever the fields."""
    whole = item(data, feed_url=feed_url)
    assert with_markup(item(data, feed_url=feed_url, html=False, detect=False),
                       RawEntry(data)) == whole


def test_with_markup_gives_the_whole_item_on_every_real_feed():
    """The same on every entry of the shared corpus's real feeds (read from ../shared)."""
    if not SHARED_FEEDS.is_dir():
        pytest.skip(f"{SHARED_FEEDS} is absent (the shared corpus of real feeds)")
    compared = 0
    for path in sorted(p for p in SHARED_FEEDS.rglob("*") if p.is_file()):
        url = "https://corpus.example/" + path.relative_to(SHARED_FEEDS).as_posix()
        try:
            parsed, _fast = parse_body(path.read_bytes(), url=url, headers=())
        except ParseError:
            continue
        for entry in parsed.entries:
            whole = normalise_entry(entry, feed_url=url, feed=parsed, now=NOW)
            text_only = normalise_entry(entry, feed_url=url, feed=parsed, now=NOW, html=False,
                                        detect=False)
            assert with_markup(text_only, entry) == whole, (path.name, whole.id)
            compared += 1
    assert compared > 2000
