"""parse_feed and discover_feed_links: formats, headers, malformed input, JSON Feed."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediamon.core.parse.standard import discover_feed_links, parse_feed
from mediamon.errors import ParseError
from mediamon.types import ParsedFeed

FEEDS = Path(__file__).resolve().parent / "data" / "feeds"
TASS = "https://tass.com/rss/v2.xml"


def load(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def rss(items: str = "", channel: str = "") -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>Test</title><link>https://tass.com/</link>{channel}{items}</channel></rss>"
    ).encode()


def _assert_plain(value, path="data"):
    """No FeedParserDict, struct_time or other exotic type anywhere in the tree."""
    if isinstance(value, dict):
        assert type(value) is dict, path
        for key, item in value.items():
            assert isinstance(key, str), path
            _assert_plain(item, f"{path}.{key}")
    elif isinstance(value, list):
        assert type(value) is list, path
        for i, item in enumerate(value):
            _assert_plain(item, f"{path}[{i}]")
    else:
        assert value is None or isinstance(value, str | int | float | datetime), (path, value)


# --- formats ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt", "count"),
    [
        ("rss20.xml", "rss20", 6),
        ("atom10.xml", "atom10", 4),
        ("rss10.rdf", "rss10", 3),
        ("rss091.xml", "rss091u", 3),
        ("jsonfeed10.json", "json10", 3),
        ("jsonfeed11.json", "json11", 3),
    ],
)
def test_fixture_formats_and_entry_counts(name, fmt, count):
    """Each fixture is recognised as its format with all its entries and no warning."""
    feed = parse_feed(load(name), url="https://example.org/feed")
    assert isinstance(feed, ParsedFeed)
    assert feed.format == fmt
    assert len(feed.entries) == count
    assert feed.warning is None


@pytest.mark.parametrize(
    "name",
    ["rss20.xml", "atom10.xml", "rss10.rdf", "rss091.xml", "jsonfeed10.json", "jsonfeed11.json"],
)
def test_entry_data_is_plain_python(name):
    """RawEntry.data holds only plain dicts, lists, scalars and datetimes."""
    for entry in parse_feed(load(name), url="https://example.org/feed").entries:
        _assert_plain(entry.data)


def test_parsed_dates_are_aware_utc_datetimes():
    """*_parsed values are converted from struct_time to aware UTC datetimes."""
    entry = parse_feed(load("rss20.xml"), url=TASS).entries[0].data
    assert entry["published"] == "Thu, 03 Jul 2025 18:47:12 +0300"
    assert entry["published_parsed"] == datetime(2025, 7, 3, 15, 47, 12, tzinfo=UTC)


def test_parsed_feed_pickles():
    """A ParsedFeed crosses process boundaries (worker pools)."""
    feed = parse_feed(load("atom10.xml"), url="https://tolonews.com/rss/atom.xml")
    assert pickle.loads(pickle.dumps(feed)) == feed


def test_feed_metadata():
    """Title, home-page link and language come from the channel."""
    feed = parse_feed(load("rss20.xml"), url=TASS)
    assert feed.title == "TASS — World"
    assert feed.link == "https://tass.com/world"
    assert feed.language == "en-US"


def test_latin1_feed_is_decoded_by_its_declaration():
    """The XML declaration's ISO-8859-1 is honoured (Café, not mojibake)."""
    feed = parse_feed(load("rss091.xml"), url="https://www.khaama.com/feed/")
    assert "Café owners" in feed.entries[1].data["summary"]


# --- bytes, never a URL ---------------------------------------------------------------------


def test_body_that_looks_like_a_url_is_not_fetched(monkeypatch):
    """A body holding a URL is parsed as text, never handed to feedparser's HTTP client."""

    def no_network(*args, **kwargs):
        raise AssertionError("feedparser tried to fetch a URL")

    monkeypatch.setattr(feedparser.http, "get", no_network)
    with pytest.raises(ParseError):
        parse_feed(b"https://tass.com/rss/v2.xml", url=TASS)


def test_body_that_looks_like_a_path_is_not_opened():
    """A body holding a file path is parsed as text, not read from disk."""
    path = str(FEEDS / "rss20.xml").encode()
    with pytest.raises(ParseError):
        parse_feed(path, url=TASS)


# --- headers --------------------------------------------------------------------------------


def test_content_type_charset_is_used():
    """A charset in Content-Type decodes a feed whose XML declaration has none."""
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>ТАСС</title>'
        "<item><title>Лавров и Муттаки</title><link>https://tass.ru/1</link></item>"
        "</channel></rss>"
    ).encode("windows-1251")
    headers = {"Content-Type": "application/rss+xml; charset=windows-1251"}
    feed = parse_feed(body, url=TASS, headers=headers)
    assert feed.entries[0].data["title"] == "Лавров и Муттаки"


def test_headers_accept_pairs_and_any_case():
    """Headers may be a sequence of pairs (FetchResult.headers) with any name case."""
    body = (
        "<?xml version='1.0'?><rss version='2.0'><channel>"
        "<item><title>Кабул</title></item></channel></rss>"
    )
    headers = (("CONTENT-TYPE", "text/xml; charset=koi8-r"),)
    feed = parse_feed(body.encode("koi8-r"), url=TASS, headers=headers)
    assert feed.entries[0].data["title"] == "Кабул"


def test_content_language_header_is_the_fallback_language():
    """Content-Language fills in when the feed names no language."""
    body = rss("<item><title>x</title></item>")
    feed = parse_feed(body, url=TASS, headers={"Content-Language": "ru-RU"})
    assert feed.language == "ru-RU"


def test_wrong_content_type_is_not_a_warning():
    """A feed served as text/html (or with no type) parses without a warning."""
    feed = parse_feed(load("rss20.xml"), url=TASS, headers={"content-type": "text/html"})
    assert len(feed.entries) == 6 and feed.warning is None
    assert parse_feed(load("rss20.xml"), url=TASS).warning is None


# --- links, guids and the sanitiser ---------------------------------------------------------


def test_relative_entry_link_is_resolved_against_the_url():
    """Relative entry links are made absolute against the URL the body came from."""
    feed = parse_feed(load("rss20.xml"), url=TASS)
    assert feed.entries[2].data["link"] == "https://tass.com/world/1982711"
    assert feed.entries[2].data["links"][0]["href"] == "https://tass.com/world/1982711"
    json10 = parse_feed(load("jsonfeed10.json"), url="https://amu.tv/feed.json")
    assert json10.entries[1].data["link"] == "https://amu.tv/171990/"


def test_text_constructs_record_the_url_as_base():
    """The URL becomes the base for relative href/src in summaries and contents."""
    entry = parse_feed(load("atom10.xml"), url="https://tolonews.com/rss/atom.xml").entries[0].data
    assert entry["content"][0]["base"] == "https://tolonews.com/rss/atom.xml"
    assert entry["summary_detail"]["base"] == "https://tolonews.com/rss/atom.xml"


def test_xml_base_in_the_document_wins():
    """An xml:base given by the feed itself is kept."""
    body = b"""<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://tolonews.com/fa/">
      <title>t</title><entry><title>x</title><id>tag:t,2025:1</id><link href="news/1"/>
      <content type="html">&lt;a href="a"&gt;a&lt;/a&gt;</content></entry></feed>"""
    entry = parse_feed(body, url="https://mirror.example/atom.xml").entries[0].data
    assert entry["link"] == "https://tolonews.com/fa/news/1"
    assert entry["content"][0]["base"] == "https://tolonews.com/fa/"


def test_non_http_url_leaves_links_alone():
    """A local path as the URL resolves nothing (normalise then finds no http link)."""
    feed = parse_feed(load("rss20.xml"), url="tests/data/feeds/rss20.xml")
    assert feed.entries[2].data["link"] == "/world/1982711"


def test_bare_guid_is_not_turned_into_a_url():
    """<guid>1234</guid> stays "1234": it must not become https://host/1234."""
    body = rss("<item><title>t</title><guid>1234</guid></item>")
    feed = parse_feed(body, url="https://e.com/news/feed")
    assert feed.entries[0].data["id"] == "1234"
    assert feed.entries[0].data["link"] == "1234"  # feedparser's copy, left for normalise to drop


def test_feed_link_is_resolved_against_the_feed_url():
    """The channel's own relative link is made absolute."""
    body = b"<rss version='2.0'><channel><title>t</title><link>/world</link></channel></rss>"
    assert parse_feed(body, url=TASS).link == "https://tass.com/world"


def test_feedparser_sanitiser_is_off():
    """Raw HTML (script included) reaches normalise, which sanitises it with nh3."""
    summary = parse_feed(load("rss20.xml"), url=TASS).entries[0].data["summary"]
    assert "<script>" in summary and "onclick" in summary


# --- ttl ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl", "expected"),
    [
        ("15", 15),
        (" 60 ", 60),
        ("1", 1),
        ("10080", 10080),
        ("0", None),
        ("10081", None),
        ("-5", None),
        ("soon", None),
    ],
)
def test_ttl_is_taken_only_when_sane(ttl, expected):
    """<ttl> between 1 minute and one week is kept, anything else is None."""
    feed = parse_feed(rss("<item><title>x</title></item>", f"<ttl>{ttl}</ttl>"), url=TASS)
    assert feed.ttl_minutes == expected


def test_ttl_absent_is_none():
    """No <ttl> means no hint."""
    assert parse_feed(load("atom10.xml"), url="https://tolonews.com/").ttl_minutes is None


def test_fixture_ttl():
    """The TASS fixture asks for 15 minutes."""
    assert parse_feed(load("rss20.xml"), url=TASS).ttl_minutes == 15


# --- malformed input ------------------------------------------------------------------------


def test_truncated_feed_with_entries_gives_a_warning():
    """A truncated feed still yields its complete items, with a one-line warning."""
    feed = parse_feed(load("broken.xml"), url="https://www.ariananews.af/feed/")
    titles = [e.data.get("title") for e in feed.entries]
    assert titles[:2] == [
        "Russia to open trade house in Kabul",
        "Islamic Emirate and Uzbekistan sign railway agreement",
    ]
    assert feed.warning == "not well-formed XML: no element found at line 22"


def test_mismatched_tag_warning_names_the_line():
    """The warning says what was wrong and where."""
    body = rss("<item><title>a</title></item><item><title>b</i></item>")
    feed = parse_feed(body, url=TASS)
    assert feed.warning is not None
    assert feed.warning.startswith("not well-formed XML: mismatched tag at line 1")
    assert "\n" not in feed.warning


def test_broken_xml_without_entries_is_a_parse_error():
    """No entries and an XML error: nothing usable, so ParseError with the reason."""
    with pytest.raises(ParseError) as info:
        parse_feed(b"<rss version='2.0'><channel><title>&nbsp;</title></channel></rss>", url=TASS)
    assert info.value.reason == "not well-formed XML: undefined entity at line 1"
    assert info.value.url == TASS


def test_valid_feed_without_entries_is_fine():
    """An empty but valid feed is a ParsedFeed with no entries."""
    feed = parse_feed(rss(), url=TASS)
    assert feed.entries == () and feed.format == "rss20" and feed.warning is None


@pytest.mark.parametrize("body", [b"", b"   \n\t ", b"\xef\xbb\xbf  \n"])
def test_empty_body(body):
    """An empty (or whitespace-only) body is a ParseError."""
    with pytest.raises(ParseError, match="empty response body"):
        parse_feed(body, url=TASS)


def test_plain_text_is_not_a_feed():
    """A text error page is reported as not a feed."""
    with pytest.raises(ParseError) as info:
        parse_feed(load("not_a_feed.txt"), url=TASS)
    assert info.value.reason == "not a feed (the body is neither XML nor JSON)"


def test_xml_that_is_not_a_feed():
    """Well-formed XML with an unknown root element is not a feed."""
    with pytest.raises(ParseError, match="not a feed"):
        parse_feed(b"<?xml version='1.0'?><catalog><book/></catalog>", url=TASS)


def test_html_page_names_the_feed_it_advertises():
    """An HTML page is an error that points at its advertised feed, made absolute."""
    with pytest.raises(ParseError) as info:
        parse_feed(load("html_page.html"), url="https://www.afintl.com/en/")
    assert info.value.reason == (
        "an HTML page, not a feed (it links to a feed at https://www.afintl.com/feed.xml)"
    )


def test_html_page_without_feed_link():
    """An HTML page that advertises nothing gets the short reason."""
    with pytest.raises(ParseError) as info:
        parse_feed(
            b"<!DOCTYPE html><html><head><title>Login</title></head><body>x</body></html>",
            url=TASS,
        )
    assert info.value.reason == "an HTML page, not a feed"


def test_deeply_nested_garbage_is_a_parse_error():
    """Pathological nesting raises ParseError, not RecursionError."""
    with pytest.raises(ParseError):
        parse_feed(b"[" * 100_000, url=TASS)


# --- discover_feed_links --------------------------------------------------------------------


def test_discover_feed_links_fixture():
    """Only the RSS alternate is found; the JSON REST link and hreflang alternate are not."""
    assert discover_feed_links(load("html_page.html"), "https://www.afintl.com/en/") == [
        "https://www.afintl.com/feed.xml"
    ]


def test_discover_feed_links_types_base_and_duplicates():
    """RSS, Atom and JSON Feed links are found in order, via <base>, without duplicates."""
    page = b"""<html><head><base href="https://tolonews.com/en/">
      <link rel="alternate" type="application/atom+xml" href="atom.xml">
      <link rel="Alternate Feed" type="application/rss+xml; charset=utf-8" href="/rss">
      <link rel="alternate" type="application/feed+json" href="https://tolonews.com/feed.json">
      <link rel="alternate" type="application/rss+xml" href="/rss">
      <link rel="stylesheet" type="application/rss+xml" href="/not-a-feed">
      <link rel="alternate" type="application/rss+xml" href="javascript:alert(1)">
    </head></html>"""
    assert discover_feed_links(page, "https://tolonews.com/") == [
        "https://tolonews.com/en/atom.xml",
        "https://tolonews.com/rss",
        "https://tolonews.com/feed.json",
    ]


def test_discover_feed_links_accepts_str_and_finds_nothing_in_plain_pages():
    """A page without alternates gives an empty list."""
    assert discover_feed_links("<html><body>hello</body></html>", "https://e.com/") == []


# --- JSON Feed ------------------------------------------------------------------------------


def test_json_feed_11_mapping():
    """JSON Feed 1.1 items map onto feedparser's field names."""
    feed = parse_feed(load("jsonfeed11.json"), url="https://pajhwok.com/feed.json")
    assert feed.title == "Pajhwok Afghan News"
    assert (feed.link, feed.language) == ("https://pajhwok.com/", "en")
    first = feed.entries[0].data
    assert first["id"] == first["link"]
    assert first["link"] == "https://pajhwok.com/2025/07/04/russia-recognition-reaction/"
    assert first["summary"].startswith("Residents said")
    assert first["summary_detail"]["type"] == "text/plain"
    assert first["content"][0]["type"] == "text/html"
    assert first["published_parsed"] == datetime(2025, 7, 4, 5, 45, tzinfo=UTC)
    assert first["updated_parsed"] == datetime(2025, 7, 4, 6, 30, tzinfo=UTC)
    assert first["authors"] == [{"name": "Abdul Qadir Siddiqui"}]
    assert [t["term"] for t in first["tags"]] == ["Russia", "Afghanistan", "diplomacy", "Russia"]
    assert first["external_url"] == "https://www.mfa.gov.af/en/statement-2025-07-03"
    assert first["language"] == "en"


def test_json_feed_11_item_language_and_inherited_authors():
    """An item's own language wins; an item without authors has the feed's."""
    feed = parse_feed(load("jsonfeed11.json"), url="https://pajhwok.com/feed.json")
    pashto = feed.entries[1].data
    assert pashto["language"] == "ps-AF"
    content = pashto["content"][0]
    assert (content["type"], content["language"]) == ("text/plain", "ps-AF")
    assert pashto["authors"][0]["name"] == "Pajhwok Newsroom"


def test_json_feed_numeric_id_is_coerced_to_text():
    """The spec asks readers to accept numeric ids as strings."""
    entry = parse_feed(load("jsonfeed11.json"), url="https://pajhwok.com/feed.json").entries[2].data
    assert entry["id"] == "9182"


def test_json_feed_10_author():
    """JSON Feed 1.0's single ``author`` object becomes ``authors``."""
    feed = parse_feed(load("jsonfeed10.json"), url="https://amu.tv/feed.json")
    assert feed.entries[0].data["authors"] == [
        {"name": "Amu TV staff", "href": "https://amu.tv/staff/"}
    ]
    assert feed.entries[1].data["authors"] == [{"name": "Amu TV"}]  # from the feed
    assert "published_parsed" not in feed.entries[2].data


def test_json_feed_detected_by_content_type_despite_leading_space():
    """application/feed+json and a BOM or whitespace before ``{`` are handled."""
    body = b"\xef\xbb\xbf \n" + json.dumps(
        {"version": "https://jsonfeed.org/version/1.1", "items": [{"id": "1", "content_text": "x"}]}
    ).encode()
    feed = parse_feed(body, url=TASS, headers={"content-type": "application/feed+json"})
    assert feed.format == "json11" and len(feed.entries) == 1


def test_xml_labelled_as_json_is_parsed_as_xml():
    """The body decides: an RSS document served as application/json is still RSS."""
    feed = parse_feed(load("rss20.xml"), url=TASS, headers={"content-type": "application/json"})
    assert feed.format == "rss20"


def test_invalid_json_is_a_one_line_parse_error():
    """Invalid JSON names the problem and its position on one line."""
    with pytest.raises(ParseError) as info:
        parse_feed(b'{"version": "https://jsonfeed.org/version/1.1",\n "items": [}', url=TASS)
    assert info.value.reason.startswith("invalid JSON: ")
    assert "line 2" in info.value.reason and "\n" not in info.value.reason


def test_json_without_jsonfeed_version_is_rejected():
    """Some other JSON document is not a feed."""
    with pytest.raises(ParseError, match="not a JSON Feed"):
        parse_feed(b'{"rss": {"channel": {}}}', url=TASS)


def test_json_feed_items_must_be_a_list():
    """``items`` of the wrong type is an error; missing ``items`` is an empty feed."""
    with pytest.raises(ParseError, match="'items' is not a list"):
        parse_feed(b'{"version": "https://jsonfeed.org/version/1", "items": {}}', url=TASS)
    assert parse_feed(b'{"version": "https://jsonfeed.org/version/1"}', url=TASS).entries == ()


def test_json_feed_skips_non_object_items_and_odd_types():
    """Items that are not objects are skipped; fields of the wrong type are ignored."""
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1.1",
            "items": [
                "junk",
                3,
                {"id": True, "title": 5, "url": "/a", "tags": "x", "date_published": "soon"},
            ],
        }
    ).encode()
    feed = parse_feed(body, url=TASS)
    assert len(feed.entries) == 1
    data = feed.entries[0].data
    assert "id" not in data and "title" not in data and "tags" not in data
    assert data["published"] == "soon" and data["published_parsed"] is None


def test_json_feed_dates_in_rfc822_and_without_offset():
    """RFC 822 dates are read, and a date without an offset is taken as UTC."""
    body = json.dumps(
        {
            "version": "https://jsonfeed.org/version/1",
            "items": [
                {"id": "a", "date_published": "Thu, 03 Jul 2025 18:47:12 +0300"},
                {"id": "b", "date_published": "2025-07-03T10:00:00"},
            ],
        }
    ).encode()
    a, b = (e.data["published_parsed"] for e in parse_feed(body, url=TASS).entries)
    assert a == datetime(2025, 7, 3, 15, 47, 12, tzinfo=UTC)
    assert b == datetime(2025, 7, 3, 10, 0, tzinfo=UTC)


_prefixes = st.sampled_from(
    [
        b"",
        b"<?xml version='1.0'?>",
        b"<rss version='2.0'><channel>",
        b"<feed xmlns='http://www.w3.org/2005/Atom'>",
        b'{"version": "https://jsonfeed.org/version/1.1", "items": ',
        b"<html>",
        b"\xef\xbb\xbf",
    ]
)


@settings(max_examples=200, deadline=None)
@given(_prefixes, st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_property_only_parse_error_escapes(prefix, tail):
    """Arbitrary bytes give a ParsedFeed or a ParseError, never anything else."""
    try:
        feed = parse_feed(prefix + tail, url=TASS)
    except ParseError as exc:
        assert exc.reason and "\n" not in exc.reason
    else:
        assert isinstance(feed, ParsedFeed)
