"""The fast parser gives exactly what feedparser gives, or declines.

The reference is ``parse.parse_feed`` (feedparser) followed by ``normalise``: for every
document the fast path accepts, the items (ids, hashes, text, HTML, dates, authors, tags,
language) and the feed's title, link, language, format and hints must be identical.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import pytest

from conftest import FEEDS, REPO
from mediamon.core.normalise import normalise_feed
from mediamon.core.parse import parse_body
from mediamon.core.parse.standard import parse_feed
from mediamon.types import ParsedFeed

CORPUS = REPO.parent / "shared" / "corpus" / "feeds"
NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)
URL = "https://example.org/feeds/news.xml"
RSS_TYPE = (("content-type", "application/rss+xml; charset=utf-8"),)

sys.path.insert(0, str(REPO / "benchmarks"))
import workload  # noqa: E402


def meta(feed: ParsedFeed) -> tuple[object, ...]:
    return (feed.title, feed.link, feed.language, feed.format, feed.warning, feed.ttl_minutes,
            feed.update_period, feed.update_frequency)


def same_as_feedparser(body: bytes, headers: tuple[tuple[str, str], ...] = RSS_TYPE,
                       url: str = URL) -> bool:
    """Assert the fast result equals feedparser's; False when the fast path declined."""
    from mediamon.core.parse.fast import fast_parse

    fast = fast_parse(body, url=url, headers=headers)
    if fast is None:
        return False
    slow = parse_feed(body, url=url, headers=headers)
    assert meta(fast) == meta(slow)
    assert normalise_feed(fast, feed_url=url, now=NOW) == normalise_feed(slow, feed_url=url,
                                                                         now=NOW)
    return True


def test_corpus_documents_the_fast_path_accepts_match_feedparser() -> None:
    """Over the shared corpus (every third file, both with and without headers), accepted
    documents give feedparser's exact items; most well-formed RSS 2.0/Atom is accepted."""
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    files = sorted(p for p in CORPUS.rglob("*") if p.is_file())[::3]
    accepted = 0
    for path in files:
        body = path.read_bytes()
        for headers in (RSS_TYPE, ()):
            try:
                accepted += same_as_feedparser(body, headers)
            except AssertionError as exc:
                raise AssertionError(f"{path}: {exc}") from None
    assert accepted >= 600  # measured: 745 of 2,058 (the rest is RSS 1.0, broken, exotic)


@pytest.mark.parametrize("shape", sorted(workload.SHAPES))
def test_benchmark_workload_is_accepted_and_identical(shape: str) -> None:
    """Realistic news feeds of every benchmark shape (RSS 2.0 with dc/content modules, Atom;
    the rich shape with Media RSS images, credits and captions, Atom threading and an
    outlet's own namespace) all take the fast path."""
    for doc in workload.generate(20, 30, seed=3, shape=shape):
        headers = (("content-type", doc.content_type),)
        assert same_as_feedparser(doc.body, headers, url="http://127.0.0.1:8080" + doc.path)


@pytest.mark.parametrize(("name", "accepted"), [("rss20.xml", True), ("atom10.xml", False)])
def test_fixture_feeds_match(name: str, accepted: bool) -> None:
    """The RSS 2.0 fixture is accepted and identical; the Atom one has XHTML content, which
    only feedparser reproduces, so it is declined."""
    assert same_as_feedparser((FEEDS / name).read_bytes()) is accepted


TRICKY = {
    "permalink guid, no link": '<item><guid>https://example.org/a</guid><title>A</title></item>',
    "guid then link": '<item><guid>http://e.org/g</guid><link>http://e.org/l?a=1&amp;b=2</link>'
                      '<title>B</title></item>',
    "author with e-mail": '<item><title>C</title><author>ed@example.org (Ed Lee)</author>'
                          '<dc:creator>Ana</dc:creator></item>',
    "categories with a domain": '<item><title>D</title><category domain="x">One</category>'
                                '<category>One</category><category>Two</category></item>',
    "content before description": '<item><title>E</title><content:encoded>&lt;p&gt;Long'
                                  '&lt;/p&gt;</content:encoded><description>Short</description>'
                                  '</item>',
    "content only": '<item><title>F</title><content:encoded><![CDATA[<p>Only</p>]]>'
                    '</content:encoded></item>',
    "languages per item": '<item xml:lang="ru"><title>Привет</title></item>'
                          '<item><title xml:lang="fa_AF">سلام</title></item>',
    "mojibake and cp1252": '<item><title>Caf\u00c3\u00a9 \u0093quoted\u0094</title></item>',
    "html-looking title": '<item><title>Tom &amp;amp; Jerry &lt;b&gt;bold&lt;/b&gt;</title>'
                          '</item>',
    "two titles": '<item><title></title><title>Second</title><title>Third</title></item>',
    "dates": '<item><title>G</title><pubDate>Sat, 05 Jul 2025 10:00:00 +0300</pubDate>'
             '<dc:date>2025-07-05T08:00:00Z</dc:date></item>',
    "source resets the title": '<item><title>H</title><source url="http://s">S</source>'
                               '<title>H2</title></item>',
    # An outlet's own namespace (declared on the root below as "nyx"): feedparser stores
    # its elements under "nyx_..." and never reads them.
    "outlet namespace": '<item><title>I</title><nyx:section>World</nyx:section>'
                        '<nyx:byline role="staff">Ann Lee</nyx:byline><description>D'
                        '</description><nyx:title>not the title</nyx:title></item>',
    # Media RSS: a caption after the description is a second summary, which feedparser
    # makes content; credits and thumbnails are kept aside.
    "caption after the description": '<item><title>J</title><description>Lead</description>'
                                     '<media:content url="http://e.org/i.jpg" medium="image">'
                                     '<media:credit scheme="urn:ebu">AP</media:credit>'
                                     '<media:description type="plain">A caption'
                                     '</media:description></media:content>'
                                     '<media:thumbnail url="http://e.org/t.jpg"/></item>',
    # With content already there, a nested caption keeps the summary's text but not its
    # details (feedparser's depth rule).
    "caption after content": '<item><title>K</title><description>Lead &lt;b&gt;x&lt;/b&gt;'
                             '</description><content:encoded>&lt;p&gt;Body&lt;/p&gt;'
                             '</content:encoded><media:group><media:content url="http://e.o/i">'
                             '<media:description>Caption</media:description></media:content>'
                             '</media:group></item>',
    "caption first": '<item><title>L</title><media:content url="http://e.org/i.jpg">'
                     '<media:description>Caption first</media:description></media:content>'
                     '<description>The lead</description></item>',
    "caption alone": '<item><title>M</title><media:description>Only a caption'
                     '</media:description></item>',
}


@pytest.mark.parametrize("case", sorted(TRICKY))
def test_feedparser_quirks_are_reproduced(case: str) -> None:
    """guid-as-link, author e-mails, tag de-duplication, content/summary order, languages,
    mojibake repair, titles: each quirk gives feedparser's result."""
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" '
            'xmlns:media="http://search.yahoo.com/mrss/" '
            'xmlns:nyx="https://nyx.example/namespaces/rss/2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel xml:lang="en">'
            '<title>T</title><link>http://example.org/</link><nyx:edition>US</nyx:edition>'
            + TRICKY[case] + "</channel></rss>")
    assert same_as_feedparser(body.encode("utf-8"))


def test_atom_quirks_are_reproduced() -> None:
    """Atom: the id stands in for a missing link, authors' e-mails, text vs html types."""
    body = b'''<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en-GB"><title>F</title>
<id>urn:uuid:60a76c80</id><updated>2025-07-05T10:00:00Z</updated>
<entry><id>tag:e.org,2025:1</id><title type="html">A &amp;lt;i&amp;gt;b&amp;lt;/i&amp;gt;</title>
<author><name>Ann</name><email>ann@e.org</email></author><author><name>Bob</name></author>
<summary>plain &lt;not html&gt;</summary><content type="html">&lt;p&gt;Body&lt;/p&gt;</content>
<link rel="alternate" href="/a"/><category term="x" label="X"/></entry>
<entry><id>https://e.org/b</id><title>B</title><updated>2025-07-05T09:00:00+02:00</updated></entry>
</feed>'''
    assert same_as_feedparser(body, (("content-type", "application/atom+xml"),))


def test_atom_threading_is_reproduced() -> None:
    """Atom threading (RFC 4685) under the prefix feedparser keeps for RSS threading: the
    replies link keeps its thr:count as "count", thr:total and thr:in-reply-to are aside."""
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0"
 xmlns:media="http://search.yahoo.com/mrss/"><title>F</title>
<entry><id>tag:e.org,2025:1</id><title>A</title><updated>2025-07-05T10:00:00Z</updated>
<link rel="alternate" type="text/html" href="https://e.org/a"/>
<link rel="replies" type="text/html" href="https://e.org/a#c" thr:count="4"
 thr:updated="2025-07-05T11:00:00Z"/>
<thr:total>4</thr:total><thr:in-reply-to ref="tag:e.org,2025:0" href="https://e.org/0"/>
<summary>The summary</summary><media:thumbnail url="https://e.org/t.jpg"/>
<media:content url="https://e.org/i.jpg"><media:description>Caption</media:description>
</media:content></entry></feed>"""
    assert same_as_feedparser(body, (("content-type", "application/atom+xml"),))
    from mediamon.core.parse.fast import fast_parse

    parsed = fast_parse(body, url=URL, headers=())
    assert parsed is not None
    replies = [link for link in parsed.entries[0].data["links"] if link["rel"] == "replies"]
    assert replies[0]["count"] == "4"


@pytest.mark.parametrize(("case", "body"), [
    ("unknown namespace as the default one",
     b'<rss version="2.0"><channel><item xmlns="urn:z"><title>x</title></item></channel>'
     b'</rss>'),
    ("one prefix, two namespaces",
     b'<rss version="2.0" xmlns:z="urn:z"><channel><item><z:a>1</z:a></item>'
     b'<item xmlns:z="urn:y"><z:a>2</z:a></item></channel></rss>'),
    ("whitespace in a namespace URI",
     b'<rss version="2.0" xmlns:z=" urn:z "><channel><item><z:a>1</z:a></item></channel>'
     b'</rss>'),
    ("an attribute name used twice",
     b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:z="urn:z"><entry><link href="a" '
     b'z:href="b"/></entry></feed>'),
    ("unknown namespace under a handled name",
     b'<rss version="2.0" xmlns:media="urn:z"><channel><item><media:title>x</media:title>'
     b'</item></channel></rss>'),
    ("RSS 1.0", b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                b'xmlns="http://purl.org/rss/1.0/"><item><title>x</title></item></rdf:RDF>'),
    ("RSS 0.91", b'<rss version="0.91"><channel><item><title>x</title></item></channel></rss>'),
    ("DOCTYPE", b'<!DOCTYPE rss [<!ENTITY n "&#160;">]><rss version="2.0"><channel>'
                b'<item><title>a&n;b</title></item></channel></rss>'),
    ("not well-formed", b'<rss version="2.0"><channel><item><title>x</titl></item></channel>'),
    ("xml:base", b'<rss version="2.0"><channel xml:base="http://b/"><item><link>a</link>'
                 b'</item></channel></rss>'),
    ("media:title", b'<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>'
                    b'<item><media:title>x</media:title></item></channel></rss>'),
    ("markup in a title", b'<rss version="2.0"><channel><item><title>a<b>c</b></title></item>'
                          b'</channel></rss>'),
    ("xhtml content", b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content '
                      b'type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">x</div>'
                      b'</content></entry></feed>'),
    ("JSON Feed", b'{"version": "https://jsonfeed.org/version/1.1", "items": []}'),
])
def test_what_it_does_not_reproduce_goes_to_feedparser(case: str, body: bytes) -> None:
    """Formats and constructs outside the fast path are declined, and parse_body still
    parses them with feedparser."""
    from mediamon.core.parse.fast import fast_parse

    assert fast_parse(body, url=URL, headers=RSS_TYPE) is None
    _parsed, fast = parse_body(body, url=URL, headers=RSS_TYPE)
    assert not fast
