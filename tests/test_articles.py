"""Article pages: fetched politely from a real loopback server, their text extracted.

The pages are in tests/data/articles (written for these tests in the shapes news sites use;
see its README.md); the quality check at the end runs on the real pages of
../shared/corpus/articles when they are there.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import DATA, REPO, SHARED
from feedserver import FeedServer, Handler
from mediamon import USER_AGENT
from mediamon.article import ArticleFetcher, MemoryHolds
from mediamon.config import ArticleSettings, load_config
from mediamon.core.extract import Article, decode_html, extract_article, not_html
from mediamon.errors import ConfigError
from mediamon.fetch import make_client

pytest.importorskip("trafilatura", reason="needs the articles extra (trafilatura)")

PAGES = DATA / "articles"
HTML = "text/html; charset=utf-8"
NOW = datetime(2025, 7, 8, 12, 0, tzinfo=UTC)


def page(name: str) -> bytes:
    return (PAGES / name).read_bytes()


def fetch_all(urls: Sequence[str], *, settings: ArticleSettings | None = None,
              holds: MemoryHolds | None = None,
              between: Callable[[ArticleFetcher], None] | None = None) -> list[Article]:
    """Fetch ``urls`` one after another with one fetcher and one client, as a pass does."""

    async def run() -> list[Article]:
        async with make_client(per_host=2) as client:
            fetcher = ArticleFetcher(client, settings or ArticleSettings(enabled=True),
                                     holds=holds, clock=lambda: NOW)
            fetcher.start_pass()
            out = []
            for url in urls:
                out.append(await fetcher.fetch(url))
                if between is not None:
                    between(fetcher)
            return out

    return asyncio.run(run())


def fetch_one(url: str, **kwargs: object) -> Article:
    return fetch_all([url], **kwargs)[0]  # type: ignore[arg-type]


# -- ordinary articles ---------------------------------------------------------------


def test_an_article_gives_its_text_without_menus_boxes_or_comments(
        feed_server: FeedServer) -> None:
    """An ordinary article page: its paragraphs, none of the navigation, related links,
    newsletter box, comments or footer, and its metadata."""
    feed_server.add("/world/2025/07/transit-accord", page("article.html"), HTML)
    article = fetch_one(feed_server.url("/world/2025/07/transit-accord"))
    assert article.status == "ok", article.reason
    assert article.reason is None
    text = article.text or ""
    assert text.count("\n") >= 4  # paragraphs stay apart
    assert "lets Russian freight cross Afghanistan" in text
    assert "first session in Kazan in September" in text
    for boilerplate in ("Business", "Related stories", "Get the morning briefing",
                        "Reader 1", "All rights reserved", "tracking", "color: #333"):
        assert boilerplate not in text
    assert article.title == "Moscow and Kabul sign a transit accord"
    assert article.author == "Dana Ostrova"
    assert article.published == "2025-07-08"
    assert article.language == "en"  # <html lang="en-GB">
    assert article.canonical_url == ("https://steppe-courier.example/world/2025/07/"
                                     "moscow-kabul-transit-accord")
    assert article.http_status == 200
    assert article.final_url == feed_server.url("/world/2025/07/transit-accord")
    assert article.fetch_seconds > 0 and article.extract_seconds > 0


def test_an_amp_page_gives_the_story_and_points_to_the_canonical_page(
        feed_server: FeedServer) -> None:
    """An AMP rendering: the story's text, its sidebar and analytics left out, and the
    canonical (non-AMP) URL."""
    feed_server.add("/amp/world/transit-accord", page("amp.html"), HTML)
    article = fetch_one(feed_server.url("/amp/world/transit-accord"))
    assert article.status == "ok", article.reason
    assert "Termez and Hairatan" in (article.text or "")
    assert "gtag" not in (article.text or "") and "Business" not in (article.text or "")
    assert article.canonical_url is not None and "/amp/" not in article.canonical_url
    assert article.author == "Dana Ostrova" and article.language == "en"


def test_a_section_front_with_no_article_is_empty(feed_server: FeedServer) -> None:
    """A page of menus and headlines has no main text: "empty", with the reason."""
    feed_server.add("/world", page("navigation.html"), HTML)
    article = fetch_one(feed_server.url("/world"))
    assert article.status == "empty"
    assert article.reason and "text" in article.reason


# -- paywalls and consent -------------------------------------------------------------


def test_a_paywall_stub_is_a_paywall_with_its_teaser(feed_server: FeedServer) -> None:
    """A subscriber-only story (JSON-LD isAccessibleForFree false, a short teaser):
    "paywall", the reason names the marker, and the teaser is kept for what it is."""
    feed_server.add("/politics/inside-the-talks", page("paywall.html"), HTML)
    article = fetch_one(feed_server.url("/politics/inside-the-talks"))
    assert article.status == "paywall"
    assert "isAccessibleForFree" in (article.reason or "")
    assert "conference room with no windows" in (article.text or "")


def test_a_teaser_that_asks_to_subscribe_is_a_paywall(feed_server: FeedServer) -> None:
    """No structured data, only the words of a paywall after a teaser: "paywall"."""
    feed_server.add("/budget", page("paywall_words.html"), HTML)
    article = fetch_one(feed_server.url("/budget"))
    assert article.status == "paywall"
    assert "Subscribe to continue reading" in (article.reason or "")


def test_a_long_free_article_with_a_subscription_box_is_ok() -> None:
    """Subscription words around a whole article do not make it a paywall: a long text is
    the article."""
    body = page("article.html").replace(
        b"<section id=\"comments\"",
        b"<div class=\"paywall-offer\">Subscribe to continue reading our best stories."
        b"</div><section id=\"comments\"")
    assert extract_article(body, url="https://x.example/a", content_type=HTML).status == "ok"


def test_a_cookie_wall_is_consent(feed_server: FeedServer) -> None:
    """A page that is only a cookie dialog, at the article's own URL: "consent"."""
    feed_server.add("/news/story-1", page("cookiewall.html"), HTML)
    article = fetch_one(feed_server.url("/news/story-1"))
    assert article.status == "consent"
    assert "cookie" in (article.reason or "")


def test_a_redirect_to_a_consent_page_is_consent(feed_server: FeedServer) -> None:
    """The article redirects to the site's consent page: "consent", and the final URL
    says where the redirect led."""
    feed_server.add("/consent", page("consent.html"), HTML)
    feed_server.redirect("/news/story-2", "/consent?continue=%2Fnews%2Fstory-2", code=302)
    article = fetch_one(feed_server.url("/news/story-2"))
    assert article.status == "consent"
    assert article.final_url == feed_server.url("/consent?continue=%2Fnews%2Fstory-2")
    assert "consent page" in (article.reason or "")


def test_a_consent_page_on_another_host_is_consent() -> None:
    """A redirect that ends on a consent host (consent.example.org/...) is "consent", even
    when that page has some text."""
    article = extract_article(page("consent.html"), url="https://news.example.org/a",
                              final_url="https://consent.example.org/v2?continue=x",
                              content_type=HTML)
    assert article.status == "consent"
    assert article.final_url == "https://consent.example.org/v2?continue=x"


def test_paywall_and_language_markers_inside_a_json_ld_graph() -> None:
    """JSON-LD in an @graph list counts (isAccessibleForFree, inLanguage), and og:locale
    gives the language when <html> has no lang."""
    body = (b'<html><head><meta property="og:locale" content="fa_IR">'
            b'<script type="application/ld+json">{"@context": "https://schema.org", "@graph": '
            b'[{"@type": "WebSite"}, {"@type": "NewsArticle", "isAccessibleForFree": false}]}'
            b"</script></head><body><article><h1>T</h1><p>" + "متن کوتاه ".encode() * 20
            + b"</p></article></body></html>")
    article = extract_article(body, url="https://x.example/a", content_type=HTML)
    assert article.status == "paywall"
    assert article.language == "fa"


# -- what is not an HTML page -------------------------------------------------------------


PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


@pytest.mark.parametrize(("body", "content_type", "said"), [
    (PDF, "application/pdf", "a PDF document"),
    (PNG, "image/png", "a PNG image"),
    (PDF, "text/html; charset=utf-8", "a PDF document"),  # the bytes win over the label
    (b'{"headline": "x"}', "application/json", "application/json"),
    (b"just words, no markup at all", "", "no HTML markup"),
], ids=["pdf", "png", "pdf-labelled-html", "json", "no-type"])
def test_what_is_not_html_is_not_html(feed_server: FeedServer, body: bytes,
                                      content_type: str, said: str) -> None:
    """A PDF, an image, JSON or unmarked text: "not-html", saying what it was."""
    headers = {"Content-Type": content_type} if content_type else {}
    feed_server.status("/doc", 200, headers, body)
    article = fetch_one(feed_server.url("/doc"))
    assert article.status == "not-html"
    assert said in (article.reason or "")
    assert article.text is None


def test_an_html_page_without_a_content_type_is_read() -> None:
    """No Content-Type (or a generic one) but HTML in the body: it is read as HTML."""
    assert not_html(page("article.html"), None) is None
    assert not_html(page("article.html"), "application/octet-stream") is None


# -- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_page_over_the_size_cap_is_too_large_and_not_read_to_its_end(
        feed_server: FeedServer, chunked: bool) -> None:
    """A page larger than articles.max_bytes: "too-large", and the download stops early."""
    feed_server.huge("/huge", 20_000_000, chunked=chunked)
    article = fetch_one(feed_server.url("/huge"),
                        settings=ArticleSettings(enabled=True, max_bytes=200_000))
    assert article.status == "too-large"
    assert "200.0 kB cap" in (article.reason or "")
    assert feed_server.bytes_sent("/huge") < 20_000_000


def test_a_slow_page_times_out_once(feed_server: FeedServer) -> None:
    """A page that dribbles its body past articles.timeout: "http-error" saying it timed
    out, after one request (no retry)."""
    feed_server.slow("/slow", page("article.html"), delay_per_chunk=0.4, chunks=10)
    article = fetch_one(feed_server.url("/slow"),
                        settings=ArticleSettings(enabled=True, timeout=0.5))
    assert article.status == "http-error"
    assert "timed out" in (article.reason or "")
    assert len(feed_server.seen("/slow")) == 1


def test_a_server_error_is_one_request_and_a_reason(feed_server: FeedServer) -> None:
    """A 500: "http-error" with the status line, one request, the host not held."""
    feed_server.status("/broken", 500, body=b"oops")
    holds = MemoryHolds(lambda: NOW)
    article = fetch_one(feed_server.url("/broken"), holds=holds)
    assert article.status == "http-error"
    assert article.reason == "HTTP 500 Internal Server Error"
    assert article.http_status == 500
    assert len(feed_server.seen("/broken")) == 1
    assert holds.until(feed_server.url("/other")) is None


def test_429_with_retry_after_holds_the_host(feed_server: FeedServer) -> None:
    """A 429 with Retry-After: "http-error", the host is held for that long, and its next
    page waits ("deferred") without a request; another host is not held."""
    feed_server.status("/busy", 429, {"Retry-After": "120"})
    feed_server.add("/world/2025/07/transit-accord", page("article.html"), HTML)
    holds = MemoryHolds(lambda: NOW)
    other_host = f"http://localhost:{feed_server.port}/world/2025/07/transit-accord"
    busy, held, elsewhere = fetch_all(
        [feed_server.url("/busy"), feed_server.url("/world/2025/07/transit-accord"),
         other_host], holds=holds)
    assert busy.status == "http-error"
    assert "429" in (busy.reason or "") and "host held until 2025-07-08T12:02:00" in (
        busy.reason or "")
    assert held.status == "deferred"
    assert "asked to wait until 2025-07-08T12:02:00" in (held.reason or "")
    assert elsewhere.status == "ok"
    assert len(feed_server.seen("/world/2025/07/transit-accord")) == 1  # only localhost's
    wait = holds.until(feed_server.url("/anything"))
    assert wait is not None and wait[0] == NOW + timedelta(seconds=120)


def test_a_hold_from_the_feed_pass_is_kept(feed_server: FeedServer) -> None:
    """A host the feed pass holds (Retry-After on a feed) gets no article request."""
    feed_server.add("/a", page("article.html"), HTML)
    holds = MemoryHolds(lambda: NOW)
    holds.hold(feed_server.url("/feed.xml"), NOW + timedelta(minutes=5), "feed said wait")
    article = fetch_one(feed_server.url("/a"), holds=holds)
    assert (article.status, article.reason) == ("deferred", "feed said wait")
    assert feed_server.seen("/a") == [] and feed_server.seen("/robots.txt") == []


def test_the_budget_of_a_pass_is_kept(feed_server: FeedServer) -> None:
    """articles.per_pass pages per pass: the rest are deferred unrequested, and the next
    pass has a whole budget again."""
    for n in range(4):
        feed_server.add(f"/p{n}", page("article.html"), HTML)
    urls = [feed_server.url(f"/p{n}") for n in range(4)]
    passes = iter([False, False, True])

    def maybe_new_pass(fetcher: ArticleFetcher) -> None:
        if next(passes, False):
            fetcher.start_pass()

    got = fetch_all(urls, settings=ArticleSettings(enabled=True, per_pass=2),
                    between=maybe_new_pass)
    assert [a.status for a in got] == ["ok", "ok", "deferred", "ok"]
    assert "budget of 2 pages" in (got[2].reason or "")
    assert feed_server.seen("/p2") == []


def test_pages_fetched_at_once_keep_to_the_budget(feed_server: FeedServer) -> None:
    """Pages fetched concurrently (as a pass does) spend the budget once: per_pass = 2 and
    five at once give two pages and three deferred, with two page requests."""
    for n in range(5):
        feed_server.add(f"/c{n}", page("article.html"), HTML)

    async def run() -> list[Article]:
        async with make_client(per_host=2) as client:
            fetcher = ArticleFetcher(client, ArticleSettings(enabled=True, per_pass=2))
            return list(await asyncio.gather(
                *(fetcher.fetch(feed_server.url(f"/c{n}")) for n in range(5))))

    got = asyncio.run(run())
    assert sorted(a.status for a in got) == ["deferred"] * 3 + ["ok"] * 2
    assert sum(len(feed_server.seen(f"/c{n}")) for n in range(5)) == 2
    assert len(feed_server.seen("/robots.txt")) == 1  # one request for the site


# -- robots.txt -------------------------------------------------------------------------


def test_robots_disallow_blocks_the_page_without_requesting_it(
        feed_server: FeedServer) -> None:
    """robots.txt forbids a path to every crawler: "blocked-by-robots", the page never
    requested; robots.txt is read once for the site; allowed paths are fetched."""
    feed_server.add("/robots.txt", b"User-agent: *\nDisallow: /private/\n", "text/plain")
    feed_server.add("/private/story", page("article.html"), HTML)
    feed_server.add("/public/story", page("article.html"), HTML)
    got = fetch_all([feed_server.url("/private/story"), feed_server.url("/public/story"),
                     feed_server.url("/private/story")])
    assert [a.status for a in got] == ["blocked-by-robots", "ok", "blocked-by-robots"]
    assert "disallows" in (got[0].reason or "")
    assert feed_server.seen("/private/story") == []
    assert len(feed_server.seen("/robots.txt")) == 1
    assert feed_server.seen("/robots.txt")[0].headers["user-agent"] == USER_AGENT


def test_robots_rules_for_mediamon_apply_to_it(feed_server: FeedServer) -> None:
    """A group for mediamon's user agent applies to it; another crawler's does not."""
    feed_server.add("/robots.txt", b"User-agent: othercrawler\nDisallow: /\n\n"
                                   b"User-agent: mediamon\nDisallow: /news/\n", "text/plain")
    feed_server.add("/news/a", page("article.html"), HTML)
    feed_server.add("/blog/a", page("article.html"), HTML)
    got = fetch_all([feed_server.url("/news/a"), feed_server.url("/blog/a")])
    assert [a.status for a in got] == ["blocked-by-robots", "ok"]


def test_no_robots_txt_means_no_rules(feed_server: FeedServer) -> None:
    """robots.txt answers 404: every page may be fetched."""
    feed_server.add("/a", page("article.html"), HTML)
    assert fetch_one(feed_server.url("/a")).status == "ok"
    assert len(feed_server.seen("/robots.txt")) == 1


def test_an_unreadable_robots_txt_defers_the_site(feed_server: FeedServer) -> None:
    """robots.txt answers 500: no page of the site is fetched for now ("deferred", not
    blocked: it may be allowed once robots.txt answers), and robots.txt is not asked
    again page after page."""
    feed_server.status("/robots.txt", 500)
    feed_server.add("/a", page("article.html"), HTML)
    feed_server.add("/b", page("article.html"), HTML)
    got = fetch_all([feed_server.url("/a"), feed_server.url("/b")])
    assert [a.status for a in got] == ["deferred", "deferred"]
    assert "robots.txt" in (got[0].reason or "") and "could not be read" in (got[0].reason or "")
    assert feed_server.seen("/a") == [] and len(feed_server.seen("/robots.txt")) == 1


def test_an_oversized_robots_txt_is_no_permission(feed_server: FeedServer) -> None:
    """A robots.txt over 500 kB is not read to its end, and nothing of the site is fetched
    ("blocked-by-robots", saying why)."""
    feed_server.huge("/robots.txt", 2_000_000)
    feed_server.add("/a", page("article.html"), HTML)
    article = fetch_one(feed_server.url("/a"))
    assert article.status == "blocked-by-robots"
    assert "larger than 500 kB" in (article.reason or "")
    assert feed_server.seen("/a") == []


class RecordingHolds:
    """A Holds as a feed pass provides it: its own table, and every hold recorded."""

    def __init__(self) -> None:
        self.held: list[tuple[str, datetime, str]] = []

    def until(self, url: str) -> tuple[datetime, str] | None:
        return next(((u, r) for held_url, u, r in self.held
                     if held_url.split("/")[2] == url.split("/")[2]), None)

    def hold(self, url: str, until: datetime, reason: str) -> None:
        self.held.append((url, until, reason))


def test_holds_are_the_callers(feed_server: FeedServer) -> None:
    """A 503 with Retry-After is told to the caller's Holds (with the page's URL, the end
    of the wait and a reason), and that Holds decides the next page of the host."""
    feed_server.status("/down", 503, {"Retry-After": "30"})
    feed_server.add("/a", page("article.html"), HTML)
    holds = RecordingHolds()

    async def run() -> list[Article]:
        async with make_client() as client:
            fetcher = ArticleFetcher(client, ArticleSettings(enabled=True), holds=holds,
                                     clock=lambda: NOW)
            return [await fetcher.fetch(feed_server.url("/down")),
                    await fetcher.fetch(feed_server.url("/a"))]

    down, later = asyncio.run(run())
    assert down.status == "http-error" and down.http_status == 503
    down_url = feed_server.url("/down")
    assert holds.held == [(down_url, NOW + timedelta(seconds=30),
                           f"host 127.0.0.1:{feed_server.port} asked to wait until "
                           f"2025-07-08T12:00:30+00:00 (Retry-After on {down_url})")]
    assert later.status == "deferred" and feed_server.seen("/a") == []


def test_crawl_delay_spaces_the_pages_of_a_site(feed_server: FeedServer) -> None:
    """robots.txt's Crawl-delay (whole seconds, as the standard library reads it): the
    second page of the site is requested no sooner than that delay after the first."""
    feed_server.add("/robots.txt", b"User-agent: *\nCrawl-delay: 1\n", "text/plain")
    feed_server.add("/a", page("article.html"), HTML)
    feed_server.add("/b", page("article.html"), HTML)
    times: dict[str, float] = {}
    for path in ("/a", "/b"):
        def route(h: Handler, path: str = path) -> None:
            times[path] = time.monotonic()
            h.respond(200, {"Content-Type": HTML}, page("article.html"))
        feed_server.add_route(path, route)
    got = fetch_all([feed_server.url("/a"), feed_server.url("/b")])
    assert [a.status for a in got] == ["ok", "ok"]
    assert times["/b"] - times["/a"] >= 0.95


# -- encodings ---------------------------------------------------------------------------


def ru(charset: str) -> bytes:
    return page("ru.html").replace(b"CHARSET", charset.encode()).decode("utf-8").encode(
        "cp1251")


@pytest.mark.parametrize(("meta", "header", "note"), [
    ("utf-8", "text/html; charset=utf-8", "declared utf-8"),  # the label lies
    ("utf-8", "text/html", "declared utf-8"),
    ("windows-1251", "text/html", None),  # told the truth: no note
    ("", "text/html", "no charset declared"),
], ids=["cp1251-said-utf8-twice", "cp1251-meta-utf8", "cp1251-declared", "no-charset"])
def test_cyrillic_in_cp1251_reads_right_whatever_the_label(
        feed_server: FeedServer, meta: str, header: str, note: str | None) -> None:
    """A Russian page in cp1251, declared as UTF-8, undeclared or declared right: its
    text reads as Russian; a wrong or missing label is noted in the reason."""
    body = ru(meta) if meta else ru("x").replace(b'<meta charset="x">', b"")
    feed_server.status("/ru", 200, {"Content-Type": header}, body)
    article = fetch_one(feed_server.url("/ru"))
    assert article.status == "ok"
    assert "российским грузам проходить через Афганистан" in (article.text or "")
    assert article.language == "ru"
    assert article.encoding == "cp1251"
    if note is None:
        assert article.reason is None
    else:
        assert note in (article.reason or "")


def test_utf8_declared_as_latin1_reads_as_utf8() -> None:
    """Valid UTF-8 labelled ISO-8859-1 is UTF-8 (a legacy label on a modern page)."""
    text, encoding, note = decode_html("<p>Талибы — “recognition”</p>".encode(),
                                       "text/html; charset=iso-8859-1")
    assert (text, encoding) == ("<p>Талибы — “recognition”</p>", "utf-8")
    assert note == "declared iso8859-1 but is UTF-8"


# -- nothing a page holds makes extraction raise ---------------------------------------------

_FRAGMENTS = st.sampled_from([
    b"<html>", b"</html>", b"<head>", b"<body>", b"<article>", b"<p>", b"</p>", b"<meta ",
    b'charset="', b"utf-8", b"windows-1251", b'">', b"<script type='application/ld+json'>",
    b'{"isAccessibleForFree": false, "inLanguage": ', b"</script>", b"\xd0\xf3\xf1",
    b"\xff\xfe", b"\xef\xbb\xbf", b"%PDF-", b"<!--", b"-->", b"<![CDATA[", b"&#0;",
    b"Subscribe to continue reading", b"cookies consent accept all", b"\x00", b"<",
    "Талибы и Россия. ".encode(), "طالبان ".encode(),
])


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_FRAGMENTS, st.binary(max_size=40)), max_size=40),
       st.sampled_from([None, "text/html", "text/html; charset=utf-8",
                        "text/html; charset=nonsense", "application/pdf", ""]))
def test_extraction_never_raises(parts: list[bytes], content_type: str | None) -> None:
    """Any bytes under any label come back as an Article with a known status."""
    article = extract_article(b"".join(parts), url="https://x.example/a",
                              content_type=content_type)
    assert article.status in ("ok", "paywall", "consent", "not-html", "empty")
    assert article.status == "ok" or article.reason


def test_a_url_that_is_not_http_is_refused_without_a_request() -> None:
    """A link that is not http(s) (a file, a mailto, nonsense) is an error, not a read."""
    for url in ("file:///etc/passwd", "mailto:desk@example.org", "not a url", "http://",
                "http://[::1"):
        article = fetch_one(url)
        assert article.status == "http-error"
        assert article.reason == "not an http(s) URL"


# -- configuration -----------------------------------------------------------------------


def write_config(tmp_path: Path, section: str) -> Path:
    path = tmp_path / "mediamon.toml"
    path.write_text(f'[topics.any]\nquery = "taliban"\n\n{section}\n', encoding="utf-8")
    return path


def test_the_articles_section_is_read(tmp_path: Path) -> None:
    """[articles] sets the switch, the budget, and the time and size caps."""
    config = load_config(write_config(tmp_path, '[articles]\nenabled = true\nper_pass = 7\n'
                                                'timeout = "5s"\nmax_bytes = "2 MB"'))
    assert config.articles == ArticleSettings(enabled=True, per_pass=7, timeout=5.0,
                                              max_bytes=2_000_000)
    assert load_config(write_config(tmp_path, "")).articles == ArticleSettings()
    assert ArticleSettings().enabled is False


@pytest.mark.parametrize(("section", "said"), [
    ("[articles]\nper_pass = 0", "articles.per_pass"),
    ("[articles]\nenabled = \"yes\"", "articles.enabled"),
    ("[articles]\nper_page = 3", "unknown key"),
])
def test_a_bad_articles_section_is_a_config_error(tmp_path: Path, section: str,
                                                  said: str) -> None:
    """A wrong value or key in [articles]: a ConfigError naming it."""
    with pytest.raises(ConfigError, match=said):
        load_config(write_config(tmp_path, section))


def test_enabling_articles_without_trafilatura_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """enabled = true without the articles extra: one line naming the extra."""
    monkeypatch.setitem(sys.modules, "trafilatura", None)  # as if it were not installed
    with pytest.raises(ConfigError, match=r"pip install 'mediamon\[articles\]'"):
        load_config(write_config(tmp_path, "[articles]\nenabled = true"))


# -- quality on real pages ----------------------------------------------------------------


def test_extraction_quality_on_a_sample_of_real_pages() -> None:
    """On a seeded sample of 20 real pages with hand-marked main text, mediamon's text
    reaches F1 0.93 (4-token shingles, as benchmarks/articles.py measures all 181) and
    beats the page's whole text by far."""
    corpus = SHARED / "corpus" / "articles"
    if not (corpus / "ground-truth.json").is_file():
        pytest.skip(f"the real article pages are not here ({corpus})")
    sys.path.insert(0, str(REPO / "benchmarks"))
    import articles as bench

    pages = bench.load_pages(corpus, sample=20, seed=15)
    runs = bench.run(pages, names=("mediamon", "all page text"))
    ours = bench.quality(runs["mediamon"].counts)
    everything = bench.quality(runs["all page text"].counts)
    assert ours.f1 >= 0.93, ours
    assert ours.precision > everything.precision + 0.2, (ours, everything)
