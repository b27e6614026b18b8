"""Duplicates are never stored twice: dedup_key examples and properties, and the store
folding copies within one feed and across feeds."""

from __future__ import annotations

import string
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mediamon.core.urls import canonical_url, dedup_key, site_of
from mediamon.store.sqlite import ScoredItem, Store
from mediamon.types import FeedSource, FetchResult, Item, Match, TopicHit, Validators
from pg_fixtures import BACKENDS, open_store

# --- dedup_key ------------------------------------------------------------------------------

ARTICLE = "https://tass.com/politics/1982703"


@pytest.mark.parametrize(
    "variant",
    [
        "https://tass.com/politics/1982703",
        "http://tass.com/politics/1982703",
        "https://www.tass.com/politics/1982703",
        "https://m.tass.com/politics/1982703",
        "https://mobile.tass.com/politics/1982703",
        "https://amp.tass.com/politics/1982703",
        "https://tass.com/politics/1982703/",
        "https://tass.com:443/politics/1982703",
        "http://tass.com:80/politics/1982703",
        "https://tass.com/politics/1982703?utm_source=rss&utm_medium=feed",
        "https://tass.com/politics/1982703?fbclid=abc#comments",
        "https://tass.com/politics/1982703?amp",
        "https://tass.com/politics/1982703?amp=1",
        "https://tass.com/politics/1982703?outputType=amp",
        "https://tass.com/amp/politics/1982703",
        "https://tass.com/politics/1982703/amp/",
        "https://tass.com/politics/1982703.amp",
        "https://tass.com/politics/1982703?from=rss",
        "HTTPS://WWW.TASS.COM/politics/1982703",
    ],
)
def test_spellings_of_one_article_share_a_key(variant: str) -> None:
    """amp/mobile/www variants, schemes, default ports, slashes and tracking fold together."""
    assert dedup_key(variant) == dedup_key(ARTICLE) == "https://tass.com/politics/1982703"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://tass.com/politics/1982703", "https://tass.com/politics/1982704"),
        ("https://tass.com/politics/1982703", "https://tass.ru/politics/1982703"),
        ("https://tass.com/World/1", "https://tass.com/world/1"),
        ("https://e.com/story?id=1", "https://e.com/story?id=2"),
        ("https://e.com/story?from=moscow", "https://e.com/story"),
        ("https://news.e.com/a", "https://e.com/a"),
        ("https://e.com/a.html", "https://e.com/a.htm"),
        ("https://e.com/amp-story", "https://e.com/story"),
    ],
)
def test_different_articles_keep_different_keys(a: str, b: str) -> None:
    """Paths, hosts other than render prefixes, content parameters and case all still count."""
    assert dedup_key(a) != dedup_key(b)


def test_home_pages_and_non_urls_have_no_key() -> None:
    """A home page (or no usable URL) identifies no article."""
    assert dedup_key("https://www.tass.com/") is None
    assert dedup_key("https://tass.com/amp/") is None
    assert dedup_key("mailto:desk@tass.com") is None
    assert dedup_key(None) is None


def test_short_hosts_keep_their_prefix_label() -> None:
    """m.ru is a site, not the mobile rendering of "ru"."""
    assert dedup_key("https://m.ru/news/1") == "https://m.ru/news/1"
    assert site_of("https://www.reuters.com/world") == "reuters.com"


@pytest.mark.parametrize(("url", "outlet"), [
    ("https://news.bbc.co.uk/2/hi/world/1.stm", "bbc.co.uk"),  # subdomains count once
    ("https://www.bbc.co.uk/news/world-1", "bbc.co.uk"),
    ("https://feeds.bbci.co.uk/news/rss.xml", "bbci.co.uk"),  # another registration
    ("https://m.dawn.com/news/1", "dawn.com"),
    ("https://amp.theguardian.com/world/1", "theguardian.com"),
    ("https://da.azadiradio.com/a/1.html", "azadiradio.com"),
    ("https://x.blogspot.com/2024/01/a.html", "x.blogspot.com"),  # a suffix open to all
    ("https://tass.ru/politika/1", "tass.ru"),
    ("https://bücher.de/a", "xn--bcher-kva.de"),
    ("http://127.0.0.1:8000/feed.xml", "127.0.0.1"),  # an address stays whole, no port
    ("http://localhost:8080/a", "localhost"),
    ("https://co.uk/a", "co.uk"),  # a public suffix itself
    ("mailto:desk@tass.com", None),
])
def test_an_outlet_is_the_registrable_domain(url: str, outlet: str | None) -> None:
    """site_of gives the part of the host someone registered (the Public Suffix List's
    snapshot shipped with publicsuffixlist, never fetched)."""
    assert site_of(url) == outlet


def test_canonical_url_keeps_its_narrower_contract() -> None:
    """canonical_url still keeps www. and a trailing slash; only the key folds them."""
    assert canonical_url("https://www.tass.com/a/") == "https://www.tass.com/a/"
    assert dedup_key("https://www.tass.com/a/") == "https://tass.com/a"


_segment = st.text(alphabet=string.ascii_letters + string.digits + "-._~%é", min_size=1,
                   max_size=8)
_host = st.sampled_from(["tass.com", "www.Reuters.com", "m.tolonews.com", "amp.e.org:8080",
                         "[::1]", "xn--e1afmkfd.xn--p1ai"])
_query = st.lists(st.tuples(st.sampled_from(["id", "amp", "utm_source", "from", "page", "q"]),
                            st.sampled_from(["1", "rss", "x", "", "amp"])), max_size=3)


@st.composite
def urls(draw: st.DrawFn) -> str:
    path = "/".join(draw(st.lists(_segment, max_size=4)))
    query = "&".join(f"{k}={v}" for k, v in draw(_query))
    slash = draw(st.sampled_from(["", "/"]))
    scheme = draw(st.sampled_from(["http", "https"]))
    return f"{scheme}://{draw(_host)}/{path}{slash}" + (f"?{query}" if query else "")


@settings(max_examples=300, deadline=None)
@given(urls())
def test_property_dedup_key_is_idempotent(url: str) -> None:
    """The key of a key is the key (and it is a canonical URL itself)."""
    key = dedup_key(url)
    assert dedup_key(key) == key
    assert key is None or canonical_url(key) == key


@settings(max_examples=300, deadline=None)
@given(urls())
def test_property_canonical_url_is_idempotent_on_render_variants(url: str) -> None:
    """Canonicalisation stays idempotent on the amp/mobile spellings the key folds."""
    once = canonical_url(url)
    assert canonical_url(once) == once


_word = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=10)


@settings(max_examples=300, deadline=None)
@given(st.lists(_word, min_size=1, max_size=3), st.lists(_word, min_size=1, max_size=3),
       st.sampled_from(["https://www.tass.com", "http://m.reuters.com", "https://e.org"]))
def test_property_different_paths_never_merge(a: list[str], b: list[str], site: str) -> None:
    """Two article paths that differ (other than by an amp marker) never share a key."""
    strip = [w for w in a if w != "amp"], [w for w in b if w != "amp"]
    if strip[0] == strip[1] or not strip[0] or not strip[1]:
        return
    if any(w.endswith(".amp") for w in a + b):
        return
    assert dedup_key(f"{site}/{'/'.join(a)}") != dedup_key(f"{site}/{'/'.join(b)}")


# --- the store folds copies -----------------------------------------------------------------

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
MAIN = "https://tass.com/rss/v2.xml"
SECTION = "https://tass.com/rss/politics.xml"
OTHER = "https://www.ariananews.af/feed/"


def item(n: int, feed: str = MAIN, **changes: object) -> Item:
    url = f"https://tass.com/politics/{n}"
    base = Item(
        id=f"{n:015x}{'ab'[feed == SECTION]}", feed_url=feed, guid=f"tass-{n}", url=url,
        canonical_url=url, title=f"Kabulov meets Taliban envoy number {n} in Moscow",
        summary="Moscow talks on trade and security.", content="", summary_html="",
        content_html="", authors=(), categories=(), published=NOW - timedelta(hours=n),
        updated=None, first_seen=NOW, language="en", content_hash=f"h{n}",
    )
    return replace(base, **changes)


KEPT = Match(kept=True, score=0.8, similarity=0.3, topics=(TopicHit("russia", ("Moscow",)),),
             rule_matched=True)


def ok(feed: str) -> FetchResult:
    return FetchResult(feed, "ok", 200, feed, b"<rss/>", (), Validators())


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    s = cast(Store, open_store(request, tmp_path / "m.db"))
    s.sync_config_feeds([FeedSource(MAIN, "TASS"), FeedSource(SECTION, "TASS Politics"),
                         FeedSource(OTHER, "Ariana")], now=NOW)
    yield s
    s.close()


def save(store: Store, feed: str, *items: Item) -> object:
    return store.save_feed_pass(feed, ok(feed), [ScoredItem(i, KEPT) for i in items],
                                now=NOW, next_fetch=NOW)


def count(store: Store, table: str) -> int:
    return store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def test_same_article_in_two_feeds_is_one_item_with_both_feeds(store: Store) -> None:
    """The section feed's copy (bare guid, amp link) folds into the main feed's item."""
    save(store, MAIN, item(1))
    copy = item(1, SECTION, url="https://tass.com/politics/1/amp?utm_source=rss",
                canonical_url="https://tass.com/politics/1/amp")
    out = save(store, SECTION, copy)
    assert count(store, "items") == 1
    assert out.new_items == 0
    feeds = [r[0] for r in store.db.execute(
        "SELECT feeds.name FROM item_feeds JOIN feeds ON feeds.id = feed_id ORDER BY feeds.name")]
    assert feeds == ["TASS", "TASS Politics"]
    again = save(store, SECTION, copy)  # the next poll: nothing new, nothing stored
    assert (again.new_items, again.updated_items, count(store, "items")) == (0, 0, 1)


def test_resent_item_with_a_new_guid_is_recognised(store: Store) -> None:
    """Same feed, new guid, same canonical URL and title: the same item, not a new one."""
    save(store, MAIN, item(2))
    resent = item(2, id="f" * 16, guid="tass-2-v2",
                  url="https://www.tass.com/politics/2/?utm_campaign=x")
    out = save(store, MAIN, resent)
    assert (out.new_items, count(store, "items")) == (0, 1)
    assert store.db.execute("SELECT item_id, reason FROM item_aliases").fetchone() == (
        item(2).id, "same url and title")


def test_a_shared_section_link_does_not_merge_different_items(store: Store) -> None:
    """Items of one feed that all link to one page but have different titles stay apart."""
    page = "https://tass.com/politics"
    a = item(3, url=page, canonical_url=page)
    b = item(4, url=page, canonical_url=page)
    save(store, MAIN, a, b)
    assert count(store, "items") == 2
    c = item(5, url=page, canonical_url=page)  # a later pass, another headline
    save(store, MAIN, c)
    assert count(store, "items") == 3


def test_a_feed_listing_one_item_twice_stores_it_once(store: Store) -> None:
    """A repeated guid in one document is one item, and the pass does not fail."""
    out = save(store, MAIN, item(6), item(6))
    assert (out.new_items, count(store, "items")) == (1, 1)


def test_an_edit_of_a_folded_copy_updates_the_stored_item(store: Store) -> None:
    """When the other feed's copy changes its headline, the item is updated and versioned."""
    save(store, MAIN, item(7))
    copy = item(7, SECTION)
    save(store, SECTION, copy)
    edited = replace(copy, title="Kabulov and Taliban envoy agree on trade", content_hash="h7b")
    out = save(store, SECTION, edited)
    assert out.updated_items == 1
    assert store.db.execute("SELECT title FROM items").fetchone()[0] == edited.title
    assert store.db.execute("SELECT title, changed FROM item_versions").fetchone() == (
        item(7).title, '["title"]')


def test_another_feed_copy_matches_by_url_alone(store: Store) -> None:
    """Across feeds the link decides: a section feed's different headline is still a copy."""
    save(store, MAIN, item(8))
    copy = item(8, SECTION, title="Politics: Kabulov meets the Taliban envoy")
    save(store, SECTION, copy)
    assert count(store, "items") == 1
    assert store.db.execute("SELECT reason FROM item_aliases").fetchone()[0] == "same url"
