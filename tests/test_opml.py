"""Tests for mediamon.opml: reading real-world OPML, refusing hostile input, writing OPML."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mediamon.errors import OpmlError
from mediamon.opml import OpmlFeeds, _parse, normalize_tag, read_opml, write_opml
from mediamon.types import FeedSource

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "opml"


def corpus_dir(name: str) -> Path:
    path = CORPUS / name
    if not path.is_dir():
        pytest.skip(f"OPML corpus not found at {path} (expected ../shared/corpus beside the repo)")
    return path


def opml(body: str, *, head: str = "<title>t</title>", version: str = "2.0") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<opml version="{version}">\n'
        f"<head>{head}</head>\n<body>\n{body}\n</body>\n</opml>\n"
    ).encode()


def is_feed_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and url == url.strip()


# --- the corpus ------------------------------------------------------------------------


def test_awesome_rss_feeds_corpus_imports() -> None:
    """Every awesome-rss-feeds file imports and yields at least one feed with an absolute URL."""
    root = corpus_dir("awesome-rss-feeds")
    files = sorted(root.rglob("*.opml"))
    assert len(files) >= 100, f"expected ~118 OPML files under {root}, found {len(files)}"
    total = 0
    for path in files:
        feeds = read_opml(path.read_bytes(), source=str(path))
        assert feeds, f"{path}: no feeds"
        bad = [feed.url for feed in feeds if not is_feed_url(feed.url)]
        assert not bad, f"{path}: invalid URLs {bad}"
        assert all(feed.origin == "db" for feed in feeds)
        total += len(feeds)
    print(f"awesome-rss-feeds: {total} feeds from {len(files)} files")
    assert total >= len(files), f"only {total} feeds from {len(files)} files"


def test_awesome_rss_feeds_folders_become_tags() -> None:
    """In the with_category files, the folder outline becomes the feeds' tag."""
    folder = corpus_dir("awesome-rss-feeds") / "recommended" / "with_category"
    path = folder / "Business & Economy.opml"
    if not path.exists():
        pytest.skip(f"{path} not in this corpus")
    feeds = read_opml(path.read_bytes(), source=path.name)
    assert feeds and all(feed.tags == ("business & economy",) for feed in feeds)


def test_awesome_rss_feeds_repaired_quotes_keep_names() -> None:
    """Unescaped quotes inside attribute values are repaired without losing the feed or its name."""
    path = corpus_dir("awesome-rss-feeds") / "countries" / "with_category" / "Russia.opml"
    if not path.exists():
        pytest.skip(f"{path} not in this corpus")
    feeds = read_opml(path.read_bytes(), source=path.name)
    assert isinstance(feeds, OpmlFeeds) and feeds.warning
    names = {feed.url: feed.name for feed in feeds}
    kommersant = names["https://www.kommersant.ru/RSS/main.xml"]
    assert kommersant == 'Газета "Коммерсантъ". Главное'
    raw_count = len(re.findall(rb"xmlUrl=", path.read_bytes()))
    assert len(feeds) + feeds.duplicates + len(feeds.skipped) == raw_count


@pytest.mark.parametrize("name", ["Subs.opml", "SubsNoTitleAttributes.opml"])
def test_rsparser_corpus_imports(name: str) -> None:
    """The rsparser sample subscription lists import with names for every feed."""
    path = corpus_dir("rsparser") / name
    feeds = read_opml(path.read_bytes(), source=name)
    assert len(feeds) > 100
    assert all(is_feed_url(feed.url) and feed.name for feed in feeds)
    assert feeds[0] == FeedSource(
        url="http://daringfireball.net/feeds/main", name="Daring Fireball", origin="db"
    )


def _feedvalidator_files() -> list[Path]:
    root = CORPUS / "feedvalidator-testcases"
    return sorted(root.rglob("*.opml")) if root.is_dir() else []


@pytest.mark.parametrize(
    "path",
    _feedvalidator_files() or [None],
    ids=lambda p: f"{p.parent.name}/{p.name}" if p else "missing",
)
def test_feedvalidator_corpus_imports_or_raises_opml_error(path: Path | None) -> None:
    """Each feedvalidator test case either imports or raises OpmlError, never anything else."""
    if path is None:
        corpus_dir("feedvalidator-testcases")
        pytest.skip("no feedvalidator test cases")
    try:
        feeds = read_opml(path.read_bytes(), source=path.name)
    except OpmlError as exc:
        assert str(exc).startswith(f"{path.name}: ")
    else:
        assert all(is_feed_url(feed.url) for feed in feeds)


def test_feedvalidator_known_outcomes() -> None:
    """Specific feedvalidator cases give the expected feeds or errors."""
    root = corpus_dir("feedvalidator-testcases")
    feeds = read_opml((root / "clean" / "subscriptionList.opml").read_bytes())
    assert len(feeds) == 13
    with pytest.raises(OpmlError, match=r"^x: not an OPML document \(root element is <haha>\)$"):
        read_opml((root / "errors" / "missingOpml.opml").read_bytes(), source="x")
    with pytest.raises(OpmlError, match=r"^x: not well-formed XML: line \d+, column \d+$"):
        read_opml((root / "errors" / "invalidCharacters.opml").read_bytes(), source="x")
    # Five outlines, four with the same URL (one spelled xmlurl): kept once.
    feeds = read_opml((root / "errors" / "subscriptionListErrors1.opml").read_bytes())
    assert [feed.name for feed in feeds] == ["Feed 2"] and feeds.duplicates == 3


# --- reading ---------------------------------------------------------------------------


def test_nested_folders_become_tags() -> None:
    """The texts of enclosing folder outlines become lower-cased, stripped tags, outermost first."""
    data = opml(
        '<outline text="  News  " title="ignored">'
        '  <outline text="World Affairs">'
        '    <outline text="BBC" xmlUrl="https://feeds.bbci.co.uk/news/world/rss.xml"/>'
        "  </outline>"
        '  <outline title="Tech" >'
        '    <outline text="Ars" xmlUrl="https://arstechnica.com/feed/"/>'
        "  </outline>"
        "</outline>"
        '<outline text="Top" xmlUrl="https://example.com/top.xml"/>'
    )
    feeds = read_opml(data)
    assert [(feed.name, feed.tags) for feed in feeds] == [
        ("BBC", ("news", "world affairs")),
        ("Ars", ("news", "tech")),
        ("Top", ()),
    ]


def test_category_attribute_adds_tags() -> None:
    """Comma-separated categories add tags; slash paths stay one tag without outer slashes."""
    data = opml(
        '<outline text="Folder">'
        '<outline text="Mets" xmlUrl="http://mets.example/rss" '
        'category="/Philosophy/Baseball/Mets,/Tourism/New York, folder ,,/"/>'
        "</outline>"
    )
    (feed,) = read_opml(data)
    assert feed.tags == ("folder", "philosophy/baseball/mets", "tourism/new york")


def test_normalize_tag() -> None:
    """Tags are lower-cased, trimmed per slash segment, and never contain commas."""
    assert normalize_tag("  /News/ World  Affairs/") == "news/world affairs"
    assert normalize_tag("A, B") == "a b"
    assert normalize_tag(" / ") == ""


def test_attribute_names_are_case_insensitive() -> None:
    """xmlurl and XMLURL are read like xmlUrl; an empty xmlUrl does not hide a filled-in one."""
    data = opml(
        '<outline TEXT="One" xmlurl="https://one.example/feed"/>'
        '<outline Title="Two" XMLURL="https://two.example/feed"/>'
        '<outline text="Three" xmlUrl="" xmlurl="https://three.example/feed"/>'
    )
    assert [(feed.name, feed.url) for feed in read_opml(data)] == [
        ("One", "https://one.example/feed"),
        ("Two", "https://two.example/feed"),
        ("Three", "https://three.example/feed"),
    ]


def test_invalid_urls_are_skipped_and_counted() -> None:
    """Outlines whose xmlUrl is not an absolute http(s) URL are skipped without failing the file."""
    bad = [
        "/relative/feed.xml",
        "ftp://example.com/feed",
        "javascript:alert(1)",
        "http://",
        "feed.xml",
        "https://exa mple.com/x",
        "http://[::1/x",
    ]
    body = "".join(f'<outline text="bad" xmlUrl="{url}"/>' for url in bad)
    body += '<outline text="good" xmlUrl="  HTTPS://Example.com/ok  "/>'
    feeds = read_opml(opml(body))
    assert [feed.url for feed in feeds] == ["HTTPS://Example.com/ok"]
    assert feeds.skipped == tuple(bad)


def test_duplicates_keep_first_and_merge_tags() -> None:
    """A repeated URL keeps its first name and position and gains the later tags."""
    data = opml(
        '<outline text="A"><outline text="First" xmlUrl="https://example.com/f"/></outline>'
        '<outline text="Other" xmlUrl="https://example.com/other"/>'
        '<outline text="B">'
        '<outline text="Second" xmlUrl="https://EXAMPLE.com/f" category="c"/>'
        "</outline>"
    )
    feeds = read_opml(data)
    assert feeds == [
        FeedSource(url="https://example.com/f", name="First", tags=("a", "b", "c"), origin="db"),
        FeedSource(url="https://example.com/other", name="Other", origin="db"),
    ]
    assert feeds.duplicates == 1
    # Only scheme and host are compared case-insensitively; an empty query is still different.
    data = opml(
        '<outline xmlUrl="https://e.example/A"/><outline xmlUrl="https://e.example/a"/>'
        '<outline xmlUrl="https://e.example/a?"/>'
    )
    assert len(read_opml(data)) == 3


def test_names_prefer_title_then_text() -> None:
    """The name is title, else text, whitespace collapsed; no name, or the URL itself, is None."""
    data = opml(
        '<outline text="Text" title=" The\n  Title " xmlUrl="https://a.example/"/>'
        '<outline text="Only text" title="" xmlUrl="https://b.example/"/>'
        '<outline xmlUrl="https://c.example/"/>'
        '<outline text="https://d.example/" xmlUrl="https://d.example/"/>'
    )
    assert [feed.name for feed in read_opml(data)] == ["The Title", "Only text", None, None]


def test_outlines_in_head_are_ignored_and_empty_opml_gives_empty_list() -> None:
    """Outlines inside <head> are not feeds, and OPML without feeds reads as an empty list."""
    head = '<title>t</title><outline xmlUrl="https://h.example/"/>'
    data = opml('<outline text="x"/>', head=head)
    assert read_opml(data) == []
    assert read_opml(b'<opml version="1.0"><head/><body/></opml>') == []
    assert read_opml(b"<outlineDocument><body/></outlineDocument>") == []


def test_encodings_and_boms() -> None:
    """Encodings come from the BOM or the XML declaration, including ones expat lacks."""
    body = '<outline text="Größe – 東京" xmlUrl="https://example.com/f"/>'
    template = (
        '<?xml version="1.0" encoding="{enc}"?><opml version="2.0"><body>{body}</body></opml>'
    )
    cases = {
        "utf-8-sig": template.format(enc="UTF-8", body=body).encode("utf-8-sig"),
        "utf-16": template.format(enc="UTF-16", body=body).encode("utf-16"),
    }
    for label, data in cases.items():
        (feed,) = read_opml(data, source=label)
        assert feed.name == "Größe – 東京", label
    japanese = body.replace("Größe –", "ニュース")
    for encoding in ("Shift_JIS", "EUC-JP"):  # multi-byte: expat cannot read these itself
        (feed,) = read_opml(template.format(enc=encoding, body=japanese).encode(encoding))
        assert feed.name == "ニュース 東京", encoding
    outline = '<outline text="{}" xmlUrl="http://e.example/"/>'
    latin = template.format(enc="ISO-8859-1", body=outline.format("café"))
    assert read_opml(latin.encode("latin-1"))[0].name == "café"
    cp1252 = template.format(enc="windows-1252", body=outline.format("“q”"))
    assert read_opml(cp1252.encode("cp1252"))[0].name == "“q”"
    with pytest.raises(OpmlError, match="unsupported character encoding"):
        read_opml(template.format(enc="no-such-codec", body="").encode())


def test_common_mistakes_are_repaired_with_a_warning() -> None:
    """Bare ampersands, HTML entities and stray quotes or markup in attributes are repaired."""
    data = (
        b'\n\n<?xml version="1.0" encoding="UTF-8"?>\n<opml version="1.0"><body>\n'
        b'<outline text="Tom & Jerry&nbsp;Daily" '
        b'description="see <a href="https://x.example/">here</a>" '
        b'xmlUrl="https://example.com/rss?a=1&b=2" text="dup attr"/>\n'
        b'<outline text="Say "hi"" xmlUrl="https://example.com/hi"/>\n'
        b"</body></opml>"
    )
    feeds = read_opml(data, source="broken.opml")
    assert [(feed.name, feed.url) for feed in feeds] == [
        ("Tom & Jerry Daily", "https://example.com/rss?a=1&b=2"),
        ('Say "hi"', "https://example.com/hi"),
    ]
    assert feeds.warning == (
        "broken.opml: not well-formed XML: line 5, column 21; read after repairing it"
    )
    assert read_opml(opml('<outline text="ok" xmlUrl="https://ok.example/"/>')).warning is None


# --- hostile and broken input ----------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<opml version="2.0"><body><outline text="&lol9;" xmlUrl="https://example.com/"/></body></opml>"""

DTD_MESSAGE = r"^evil\.opml: DTDs and entities are not allowed in OPML$"


def xxe(path: Path) -> bytes:
    return (
        '<?xml version="1.0"?>\n'
        f'<!DOCTYPE opml [<!ENTITY xxe SYSTEM "{path.as_uri()}">]>\n'
        '<opml version="2.0"><body>'
        '<outline text="&xxe;" xmlUrl="https://example.com/"/>'
        "</body></opml>"
    ).encode()


def test_billion_laughs_is_refused() -> None:
    """An entity-expansion bomb raises OpmlError at once instead of expanding."""
    started = time.perf_counter()
    with pytest.raises(OpmlError, match=DTD_MESSAGE):
        read_opml(BILLION_LAUGHS, source="evil.opml")
    assert time.perf_counter() - started < 1


def test_xxe_is_refused_and_reads_no_file(tmp_path: Path) -> None:
    """An external entity raises OpmlError and the referenced file's content appears nowhere."""
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    with pytest.raises(OpmlError, match=DTD_MESSAGE) as caught:
        read_opml(xxe(secret), source="evil.opml")
    assert "TOP-SECRET" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__context__ is None


def test_dtd_is_refused_in_other_encodings(tmp_path: Path) -> None:
    """A DTD hidden by UTF-16 or UTF-7 encoding, or in lower case, is still refused."""
    text = xxe(tmp_path / "secret.txt").decode()
    utf16 = text.replace('<?xml version="1.0"?>', '<?xml version="1.0" encoding="UTF-16"?>')
    # In UTF-7, "<!" may be written "+ADwAIQ-", which no byte search for "<!DOCTYPE" finds.
    utf7_bytes = b'<?xml version="1.0" encoding="UTF-7"?>' + text.split("?>", 1)[1].replace(
        "<!", "+ADwAIQ-"
    ).encode("ascii")
    assert b"<!DOCTYPE" not in utf7_bytes
    hidden = (utf16.encode("utf-16"), utf16.encode("utf-16-le"), utf7_bytes, BILLION_LAUGHS.lower())
    for data in hidden:
        with pytest.raises(OpmlError, match=DTD_MESSAGE):
            read_opml(data, source="evil.opml")


def test_parser_itself_refuses_dtds() -> None:
    """The expat handlers refuse a DTD even when the text check before parsing is bypassed."""
    with pytest.raises(OpmlError, match=DTD_MESSAGE):
        _parse(BILLION_LAUGHS, "evil.opml", 0)
    with pytest.raises(OpmlError, match=DTD_MESSAGE):
        _parse(b"<!DOCTYPE opml><opml/>", "evil.opml", 0)


def test_malformed_xml_reports_line_and_column() -> None:
    """Errors the repair cannot fix name the line and column of the first problem."""
    data = (
        b'<?xml version="1.0"?>\n<opml version="2.0">\n<body>\n'
        b'  <outline text="a">\n</body>\n</opml>\n'
    )
    with pytest.raises(OpmlError) as caught:
        read_opml(data, source="feeds.opml")
    assert str(caught.value) == "feeds.opml: not well-formed XML: line 5, column 3"
    assert (caught.value.line, caught.value.column) == (5, 3)  # type: ignore[attr-defined]
    # Blank lines before the declaration are tolerated and still counted.
    with pytest.raises(OpmlError, match=r"^f: not well-formed XML: line 7, column 3$"):
        read_opml(b"\r\n\n" + data, source="f")
    for data in (b"", b"<opml", b"not xml at all", b"<opml><body></opml>", b"\xff\xfe\x00garbage"):
        with pytest.raises(OpmlError, match=r"not well-formed XML: line \d+, column \d+$"):
            read_opml(data)


_SAMPLE = opml(
    '<outline text="News &amp; more"><outline text="A" xmlUrl="https://a.example/?x=1&amp;y=2" '
    'category="/x/y"/></outline><!-- c --><outline title="B" xmlurl="http://b.example/"/>'
)


@settings(max_examples=200, deadline=None)
@given(
    edits=st.lists(
        st.tuples(
            st.integers(0, len(_SAMPLE)),
            st.integers(0, 8),
            st.binary(max_size=4)
            | st.sampled_from(
                [b"<", b">", b"&", b'"', b"'", b"</", b"<!--", b"\xff", b"<!DOCTYPE"]
            ),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_damaged_documents_raise_only_opml_error(edits: list[tuple[int, int, bytes]]) -> None:
    """A randomly damaged OPML document either reads as feeds or raises OpmlError."""
    data = bytearray(_SAMPLE)
    for position, length, replacement in edits:
        data[position : position + length] = replacement
    try:
        feeds = read_opml(bytes(data))
    except OpmlError:
        return
    assert all(is_feed_url(feed.url) for feed in feeds)


def test_pathological_broken_input_fails_fast() -> None:
    """Large documents full of unclosed or quote-riddled tags are refused in linear time."""
    for line in (b'<outline text="a \n', b'<outline text="a " " " " " x\n', b"<a<a<a<a\n"):
        data = b"<opml><body>" + line * 30000 + b"</body></opml>"
        started = time.perf_counter()
        with pytest.raises(OpmlError, match="not well-formed XML"):
            read_opml(data)
        assert time.perf_counter() - started < 2


def test_non_opml_root_is_refused() -> None:
    """A document whose root is not <opml> names the root element it found."""
    rss = b'<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'
    with pytest.raises(OpmlError) as caught:
        read_opml(rss, source="feed.xml")
    assert str(caught.value) == "feed.xml: not an OPML document (root element is <rss>)"
    html_root = r"^<opml>: not an OPML document \(root element is <html>\)$"
    with pytest.raises(OpmlError, match=html_root):
        read_opml(b"<html><body><p>hello</p></body></html>")


# --- writing ---------------------------------------------------------------------------


def test_write_opml_structure() -> None:
    """write_opml emits OPML 2.0 with head, RFC 822 date, folders by first tag, and categories."""
    feeds = [
        FeedSource("https://a.example/rss", "A & <B>", ("News", "world")),
        FeedSource("https://b.example/rss", None),
        FeedSource("https://c.example/rss", "C", ("news",)),
        FeedSource("https://a.example/rss", "dup", ("extra",)),
    ]
    created = datetime(2024, 3, 5, 7, 8, 9, tzinfo=UTC)
    data = write_opml(feeds, title='My "feeds"', created=created)
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(data)
    assert root.tag == "opml" and root.get("version") == "2.0"
    assert root.findtext("head/title") == 'My "feeds"'
    assert root.findtext("head/dateCreated") == "Tue, 05 Mar 2024 07:08:09 GMT"
    folder, unnamed = list(root.find("body"))
    assert folder.get("text") == "news" and folder.get("xmlUrl") is None
    assert [child.attrib for child in folder] == [
        {"type": "rss", "text": "A & <B>", "title": "A & <B>", "xmlUrl": "https://a.example/rss",
         "category": "news,world,extra"},
        {
            "type": "rss",
            "text": "C",
            "title": "C",
            "xmlUrl": "https://c.example/rss",
            "category": "news",
        },
    ]
    url = "https://b.example/rss"
    assert unnamed.attrib == {"type": "rss", "text": url, "xmlUrl": url}
    default = ET.fromstring(write_opml([]))
    assert default.findtext("head/title") == "mediamon feeds"
    rfc822 = r"\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT"
    assert re.fullmatch(rfc822, default.findtext("head/dateCreated") or "")


def test_write_opml_drops_characters_xml_cannot_carry() -> None:
    """Control characters in names and tags are dropped so the output stays well-formed."""
    feeds = [FeedSource("https://a.example/\x00", "bell\x07 name", ("t\x1bag",))]
    data = write_opml(feeds, title="x\x00")
    (feed,) = read_opml(data)
    assert feed == FeedSource("https://a.example/", "bell name", ("tag",), origin="db")


_tld = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6)
_path = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/?=&%+;",
    max_size=30,
)
_chars = st.characters(exclude_categories=("Cc", "Cs", "Cn")) | st.sampled_from("&<>\"' \t\n")
_feeds = st.lists(
    st.builds(
        lambda tld, path, name, tags: FeedSource(
            f"https://example.{tld}/{path}", name, tuple(tags)
        ),
        _tld,
        _path,
        st.none() | st.text(alphabet=_chars, max_size=30),
        st.lists(st.text(alphabet=_chars, max_size=12), max_size=4),
    ),
    max_size=8,
    unique_by=lambda feed: feed.url,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feeds=_feeds, title=st.text(alphabet=_chars, max_size=20))
@example(feeds=[FeedSource("https://example.aa/"), FeedSource("https://example.aa/?")], title="")
def test_write_then_read_round_trips(feeds: list[FeedSource], title: str) -> None:
    """read_opml(write_opml(feeds)) gives back every URL, name and (normalised) tag set."""
    result = read_opml(write_opml(feeds, title=title))
    expected = {}
    for feed in feeds:
        name = " ".join((feed.name or "").split())
        tags = {normalize_tag(tag) for tag in feed.tags} - {""}
        expected[feed.url] = (name if name and name != feed.url else None, tags)
    assert {feed.url: (feed.name, set(feed.tags)) for feed in result} == expected
    assert all(feed.origin == "db" for feed in result)
    # Tags already in normal form come back exactly, in order within the document.
    assert read_opml(write_opml(result)) == result
