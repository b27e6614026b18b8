"""canonical_url and is_http_url: examples of every rule, then properties."""

from __future__ import annotations

import json
import re
import string
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mediamon.core import urls
from mediamon.core.urls import TRACKING_PARAMS, canonical_url, is_http_url


def test_lowercases_scheme_and_host_but_not_path():
    """Scheme and host are case-insensitive; the path is not."""
    assert canonical_url("HTTPS://TASS.Com/World/1") == "https://tass.com/World/1"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://tass.com:80/world", "http://tass.com/world"),
        ("https://tass.com:443/world", "https://tass.com/world"),
        ("https://tass.com:8443/world", "https://tass.com:8443/world"),
        ("http://tass.com:443/world", "http://tass.com:443/world"),
        ("http://tass.com:/world", "http://tass.com/world"),
    ],
)
def test_default_ports_are_dropped(url, expected):
    """Only the scheme's own default port is dropped."""
    assert canonical_url(url) == expected


def test_fragment_is_dropped():
    """A fragment points inside the same article."""
    assert canonical_url("https://tolonews.com/afghanistan-194270#comments") == (
        "https://tolonews.com/afghanistan-194270"
    )


def test_tracking_parameters_are_removed_and_the_rest_sorted():
    """utm_*, fbclid and friends go; other parameters stay, sorted."""
    url = "https://tass.com/economy/1982540?utm_source=rss&page=2&fbclid=x&id=7&utm_medium=feed"
    assert canonical_url(url) == "https://tass.com/economy/1982540?id=7&page=2"


@pytest.mark.parametrize("param", [*sorted(TRACKING_PARAMS), "utm_content", "at_custom1"])
def test_every_listed_tracking_parameter_is_removed(param):
    """Each listed parameter (and each utm_/at_ one) is removed."""
    assert canonical_url(f"https://example.com/a?{param}=1&q=x") == "https://example.com/a?q=x"


def test_tracking_parameters_match_case_insensitively():
    """The Guardian's CMP and a shouted UTM_SOURCE are tracking too."""
    assert canonical_url("https://www.theguardian.com/world?CMP=share_btn&UTM_SOURCE=x") == (
        "https://www.theguardian.com/world"
    )


def test_parameters_that_merely_resemble_tracking_are_kept():
    """``page``, ``ref`` and ``id`` identify content and are kept."""
    result = canonical_url("https://e.com/a?ref=home&page=2&id=3")
    assert result == "https://e.com/a?id=3&page=2&ref=home"


def test_query_disappears_when_only_tracking_was_left():
    """No dangling ``?`` when every parameter was tracking."""
    assert canonical_url("https://pajhwok.com/2025/07/02/wheat/?utm_source=jsonfeed") == (
        "https://pajhwok.com/2025/07/02/wheat/"
    )


def test_host_is_kept_as_is_including_www():
    """www. is a de-duplication question, not a spelling one."""
    assert canonical_url("https://www.reuters.com/world") == "https://www.reuters.com/world"
    assert canonical_url("https://reuters.com/world") == "https://reuters.com/world"


def test_root_slash_is_stripped_other_trailing_slashes_kept():
    """Only the empty path loses its slash: /a and /a/ may be different pages."""
    assert canonical_url("https://tass.com/") == "https://tass.com"
    assert canonical_url("https://tass.com") == "https://tass.com"
    assert canonical_url("https://tass.com/?id=1") == "https://tass.com?id=1"
    assert canonical_url("https://amu.tv/172005/") == "https://amu.tv/172005/"


def test_percent_encoding_is_normalised():
    """Unreserved characters are decoded, non-ASCII and spaces encoded, %2F kept."""
    assert canonical_url("http://e.com/%7Euser") == "http://e.com/~user"
    assert canonical_url("http://e.com/a b") == "http://e.com/a%20b"
    assert canonical_url("https://tass.ru/политика") == (
        "https://tass.ru/%D0%BF%D0%BE%D0%BB%D0%B8%D1%82%D0%B8%D0%BA%D0%B0"
    )
    assert canonical_url("http://e.com/a%2Fb") != canonical_url("http://e.com/a/b")


def test_idn_host_is_punycoded():
    """Internationalised host names become their ASCII form."""
    assert canonical_url("http://пример.рф/новости").startswith("http://xn--e1afmkfd.xn--p1ai/")


def test_relative_url_is_resolved_against_base():
    """Feeds give relative links; they resolve against the feed URL."""
    assert canonical_url("/world/1982711", base="https://tass.com/rss/v2.xml") == (
        "https://tass.com/world/1982711"
    )
    assert canonical_url("//cdn.tass.com/x", base="https://tass.com/") == "https://cdn.tass.com/x"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "mailto:desk@tass.com",
        "ftp://tass.com/file",
        "tag:tolonews.com,2025:194312",
        "/relative/without/base",
        "http:///no-host",
        "http://tass.com:99999/bad-port",
        "http://bad host.com/",
        "",
        "   ",
        None,
    ],
)
def test_non_http_or_unusable_urls_give_none(url):
    """Only absolute http(s) URLs with a usable host have a canonical form."""
    assert canonical_url(url) is None


def test_surrounding_whitespace_is_ignored():
    """Feeds wrap links in newlines and spaces."""
    assert canonical_url("\n   https://tass.com/world/1\n ") == "https://tass.com/world/1"


def test_ipv6_host_is_kept():
    """IPv6 literals are valid hosts."""
    assert canonical_url("http://[::1]:80/x") == "http://[::1]/x"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://tass.com/x", True),
        ("HTTP://tass.com", True),
        ("ftp://tass.com/x", False),
        ("/x", False),
        ("http://", False),
        ("http://[::1", False),
        (None, False),
        (42, False),
    ],
)
def test_is_http_url(value, expected):
    """is_http_url accepts absolute http(s) URLs with a host only."""
    assert is_http_url(value) is expected


# --- properties ---------------------------------------------------------------------------

_segment = st.text(
    alphabet=string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@ éж", max_size=8
)
_hosts = st.sampled_from(
    ["tass.com", "WWW.Reuters.com", "tolonews.com:8080", "xn--e1afmkfd.xn--p1ai", "[::1]"]
)
_params = st.lists(
    st.tuples(
        st.sampled_from(["id", "page", "q", "utm_source", "fbclid", "ref", "a b", "é", "x%20"]),
        st.text(alphabet=string.ascii_letters + string.digits + " %+/=?é", max_size=6),
    ),
    max_size=4,
)


@st.composite
def http_urls(draw):
    scheme = draw(st.sampled_from(["http", "https", "HTTP"]))
    path = "/".join(draw(st.lists(_segment, max_size=4)))
    query = "&".join(f"{k}={v}" for k, v in draw(_params))
    fragment = draw(st.text(max_size=5))
    url = f"{scheme}://{draw(_hosts)}/{path}"
    if query:
        url += "?" + query
    if fragment:
        url += "#" + fragment
    return url


@settings(max_examples=400, deadline=None)
@given(http_urls())
def test_property_idempotent(url):
    """Canonicalising twice changes nothing."""
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_property_idempotent_on_arbitrary_text(text):
    """Idempotence holds for any input, including garbage that yields None."""
    once = canonical_url(text)
    assert canonical_url(once) == once


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=80), st.one_of(st.none(), st.text(max_size=40)))
def test_property_never_raises(text, base):
    """Arbitrary text (and an arbitrary base) never raises."""
    result = canonical_url(text, base=base)
    assert result is None or is_http_url(result)
    assert isinstance(is_http_url(text), bool)


@settings(max_examples=400, deadline=None)
@given(http_urls())
def test_property_never_raises_on_url_like_text(url):
    """URL-shaped input with odd characters never raises either."""
    canonical_url(url)
    canonical_url("/" + url, base=url)


_word = st.text(alphabet=string.ascii_lowercase + string.digits + "-_", min_size=1, max_size=10)


@settings(max_examples=300, deadline=None)
@given(_word, _word)
def test_property_different_paths_stay_different(a, b):
    """Two articles whose paths differ never collapse into one."""
    if a == b:
        return
    assert canonical_url(f"https://tass.com/world/{a}") != canonical_url(
        f"https://tass.com/world/{b}"
    )


@settings(max_examples=300, deadline=None)
@given(
    http_urls(),
    st.sampled_from(["utm_source", "utm_campaign", "fbclid", "gclid", "xtor", "smid"]),
    _word,
)
def test_property_tracking_params_removed(url, name, value):
    """An added tracking parameter never survives and never changes the result."""
    bare = url.split("#", 1)[0]
    assume(bare == bare.strip())  # edge whitespace is stripped, so it cannot end a path here
    base = canonical_url(bare)
    tagged = bare + ("&" if "?" in bare else "?") + f"{name}={value}"
    result = canonical_url(tagged)
    assert result == base
    assert result is None or f"{name}=" not in result


@settings(max_examples=300, deadline=None)
@given(http_urls(), st.text(alphabet=string.ascii_letters + string.digits + "-/?", max_size=10))
def test_property_fragment_removed(url, fragment):
    """Whatever follows ``#`` does not change the canonical form."""
    bare = url.split("#", 1)[0]
    assume(bare == bare.strip())
    result = canonical_url(f"{bare}#{fragment}")
    assert result == canonical_url(bare)
    assert result is None or "#" not in result


def test_long_strings_never_enter_the_caches() -> None:
    """The speed-up caches (is_http_url, canonical_url, html_to_text) keep only short
    strings, so a hostile feed's megabyte links and texts do not stay in memory."""
    from mediamon.core import normalise, urls

    long_url = "https://example.org/" + "a" * 1_000_000
    before = (urls._cached_is_http_url.cache_info().currsize, len(urls._cache),
              normalise._cached_html_to_text.cache_info().currsize)
    assert urls.is_http_url(long_url)
    assert urls.canonical_url(long_url) == long_url
    assert normalise.html_to_text("<p>" + "b" * 100_000 + "</p>") == "b" * 100_000
    after = (urls._cached_is_http_url.cache_info().currsize, len(urls._cache),
             normalise._cached_html_to_text.cache_info().currsize)
    assert after == before
    short = "https://example.org/short-" + str(id(before))
    assert urls.canonical_url(short) == short and short in urls._cache


# -- the plain-URL fast path --------------------------------------------------------------

SHARED = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def _both(url: str) -> tuple[str | None, str | None]:
    return urls._canonical(url), urls._w3lib_canonical(url)


def test_plain_urls_skip_w3lib_and_give_what_it_gives() -> None:
    """The links w3lib would give back unchanged skip it; the others (dot segments, empty
    segments, percent signs, punycode, odd labels, ports, queries) go through it."""
    for url in ("https://tass.com/", "https://tass.com", "http://a.b.com/x/y.html",
                "https://x-y.co.uk/News/2024/05/Story_1~2/", "https://x.com/a/b.",
                "https://1.2.3.4/a", "https://x.com/a/./b", "https://x.com/a/../b",
                "https://x.com/.well-known/x", "https://x.com//", "https://x.com/a//b",
                "https://x.com/%7Ea", "https://xn--e1afmkfd.xn--p1ai/a", "https://-x.com/a",
                "https://x-.com/a", "https://x.com:443/a", "https://u@x.com/a",
                "https://x.com/a?b=1", "https://x.com/a#c", "https://X.com/a",
                "https://x.com/a b", "https://x.com/a/" + "b" * 300,
                "https://" + "a" * 64 + ".com/"):
        fast, slow = _both(url)
        assert fast == slow, url
    assert urls._PLAIN_URL_RE.fullmatch("https://tass.com/world/1")
    assert not urls._PLAIN_URL_RE.fullmatch("https://tass.com/a/../b")


@settings(max_examples=400, deadline=None)
@given(http_urls())
def test_property_the_fast_path_agrees_with_w3lib(url):
    fast, slow = _both(url)
    assert fast == slow


def test_the_fast_path_agrees_with_w3lib_on_every_real_link() -> None:
    """Every link of the shared corpus's feeds and of the real 2022 stream."""
    if not SHARED.is_dir():
        pytest.skip(f"shared corpus not found at {SHARED}")
    links = set(re.findall(rb"https?://[^\s\"'<>\]\[]+", b"".join(
        p.read_bytes() for p in (SHARED / "feeds").rglob("*") if p.is_file())))
    for line in (SHARED / "news" / "rss-2022.jsonl").read_text(encoding="utf-8").splitlines():
        links.add(json.loads(line).get("link", "").encode())
    plain = 0
    for raw in links:
        url = raw.decode("utf-8", "replace").replace("&amp;", "&")
        fast, slow = _both(url)
        assert fast == slow, url
        plain += urls._PLAIN_URL_RE.fullmatch(url) is not None
    assert len(links) > 10_000 and plain > 7_000, (len(links), plain)
