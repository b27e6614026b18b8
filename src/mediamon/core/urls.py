"""URL canonicalisation: one spelling per article, so the same story is stored once.

``canonical_url`` turns the many spellings a feed (or a share button) gives one article
into one string:

- resolved against ``base`` (feeds do give relative links);
- http and https only; anything else (``javascript:``, ``mailto:``, ``ftp:``, a bare
  path) has no canonical form and gives ``None``;
- scheme and host lower-cased, host IDNA-encoded, default ports (``:80``, ``:443``) dropped;
- fragment dropped (``#comments`` is the same article);
- tracking parameters removed (``utm_*``, ``fbclid``, ... see ``TRACKING_PARAMS``), the
  remaining query parameters sorted, blank values kept (``?a`` and ``?a=`` are one);
- percent-encoding normalised (``%7E`` -> ``~``, ``é`` -> ``%C3%A9``, space -> ``%20``)
  and dot segments resolved;
- the root path written without its slash (``https://tass.com/`` -> ``https://tass.com``);
  any other trailing slash is kept, because ``/a`` and ``/a/`` can be different pages.

The host is kept as is: ``www.example.com`` and ``example.com`` stay different here;
deciding that they are the same site is a de-duplication question, not a spelling one.

The work is done by w3lib (``canonicalize_url``, ``url_query_cleaner``), the URL library
Scrapy maintains for exactly this job: it has years of fixes for percent-encoding, IDNA
and query-order edge cases that a hand-written ``urllib.parse`` version would have to
rediscover. This module only adds the policy on top: which schemes, which parameters,
default ports, the root slash.

``canonical_url`` is idempotent (``canonical_url(canonical_url(u)) == canonical_url(u)``)
and never raises: input that is not a usable http(s) URL gives ``None``. No I/O.

``dedup_key`` answers the de-duplication question on top of the spelling: are two
links the same article? It starts from ``canonical_url`` and also folds what differs between
an outlet's own copies of one page: ``http``/``https``; the ``www.``, ``m.``, ``mobile.`` and
``amp.`` host prefixes; AMP paths and parameters (``/amp/`` at either end of the path,
``.amp`` and ``.amp.html`` endings, ``?amp``, ``?amp=1``, ``?outputType=amp``); trailing
slashes; and feed-source tags (``?from=rss``, ``?ref=feed``). It keeps the rest of the path
and every other parameter, so two articles never share a key because their paths differ
(``/world/1`` and ``/world/2``; ``/World`` and ``/world``). A home page (empty path, no query)
identifies no article and has no key. The key is itself a URL (``https://...``) and
``dedup_key`` is idempotent. ``canonical_url`` keeps its narrower contract: it is the
spelling shown and stored, the key is only compared.
"""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import unquote_plus, urljoin, urlsplit, urlunsplit

from publicsuffixlist import PublicSuffixList

__all__ = [
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "dedup_key",
    "is_http_url",
    "registrable_domain",
    "site_of",
]

# Query parameters that only say how the reader arrived, never which article it is.
# Matched case-insensitively (the Guardian sends ``CMP``, others ``cmp``).
TRACKING_PARAMS = frozenset(
    {
        # click identifiers of ad / social platforms
        "fbclid",  # Facebook
        "gclid", "dclid", "gbraid", "wbraid",  # Google Ads
        "msclkid",  # Microsoft Ads
        "yclid",  # Yandex
        "twclid",  # X / Twitter
        "ttclid",  # TikTok
        "li_fat_id",  # LinkedIn
        "igshid", "igsh",  # Instagram share links
        "srsltid",  # Google Merchant Center
        # analytics and e-mail campaign tags
        "_ga", "_gl",  # Google Analytics cross-domain linker
        "mc_cid", "mc_eid",  # Mailchimp
        "_hsenc", "_hsmi",  # HubSpot
        "mkt_tok",  # Marketo
        "oly_anon_id", "oly_enc_id",  # Omeda (newsletters)
        "vero_id",  # Vero
        "s_cid",  # Adobe Analytics
        "wt.mc_id",  # Webtrends
        "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee",  # comScore (BBC)
        "guccounter", "guce_referrer", "guce_referrer_sig",  # Yahoo consent redirect
        # news publishers' own share/campaign tags
        "ref_src",  # Twitter embeds
        "cmpid",  # Washington Post, Reuters
        "cmp",  # The Guardian
        "ito",  # The Telegraph, BBC
        "ocid",  # MSN / Microsoft Start
        "smid",  # New York Times share id
        "xtor",  # AT Internet (Le Monde, France 24, RFI)
        "taid",  # Reuters social (trueAnthem)
    }
)
# Whole families: Google's ``utm_*`` and AT Internet / Piano's ``at_*`` (BBC: at_medium,
# at_campaign, at_custom1..4, at_link_origin, ...).
TRACKING_PREFIXES = ("utm_", "at_")

_HTTP_SCHEMES = ("http", "https")
_DEFAULT_PORT = {"http": 80, "https": 443}
_PORT_RE = re.compile(r":\d*\Z")
# RFC 3986 reg-name after IDNA/percent-encoding, or an IPv6 address: anything else
# (spaces, brackets in the wrong place) is not a host we can fetch or compare.
_HOST_RE = re.compile(r"[a-z0-9\-._~%!$&'()*+,;=]+|[0-9a-f:.]+")  # urlsplit drops the [ ]
_STRIP = " \t\r\n\x00\x0b\x0c"


def is_http_url(u: object) -> bool:
    """True when ``u`` is an absolute http(s) URL with a host."""
    if not isinstance(u, str):
        return False
    return _cached_is_http_url(u) if len(u) <= _CACHED_MAX else _is_http_url(u)


@lru_cache(maxsize=4096)  # the same feed URL and bases are asked about for every item
def _cached_is_http_url(u: str) -> bool:
    return _is_http_url(u)


def _is_http_url(u: str) -> bool:
    try:
        parts = urlsplit(u.strip(_STRIP))
        return parts.scheme.lower() in _HTTP_SCHEMES and bool(parts.hostname)
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return False


def _is_tracking(name: str) -> bool:
    name = unquote_plus(name).lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def canonical_url(url: str | None, *, base: str | None = None) -> str | None:
    """The canonical spelling of ``url`` (see the module docstring), or None."""
    if not isinstance(url, str):
        return None
    url = url.strip(_STRIP)
    if not url:
        return None
    if base:
        try:
            url = urljoin(base.strip(_STRIP), url)
        except (ValueError, UnicodeError):
            return None
    if len(url) > _CACHED_MAX:
        return _canonical(url)
    canonical = _cache.get(url, "")
    if canonical != "":  # "" is never a result: a miss
        return canonical
    if len(_cache) >= _CACHE_SIZE:
        _cache.clear()
    canonical = _cache[url] = _canonical(url)
    if canonical is not None:
        _cache[canonical] = canonical  # canonical_url is idempotent
    return canonical


# Links are canonicalised more than once on their way to the store (the item's canonical
# URL, then its dedup key and site), and w3lib's canonicalize_url is the costly part, so
# results are remembered; the cache starts afresh when full. Long URLs are not kept.
_CACHE_SIZE = 8192
_CACHED_MAX = 2048
_cache: dict[str, str | None] = {}


# A URL w3lib's canonicalize_url gives back as it is: http(s); a host of lower-case
# letter-digit-hyphen labels (no punycode to check); no port, user, query or fragment; a
# path of unreserved characters only (no percent sign to normalise) and no dot segment.
# Most article links are such URLs. They skip w3lib, which was a sixth of normalising an
# entry; tests/test_urls.py checks that the two ways agree on every link of the shared
# corpus and the 2022 stream.
_LABEL = r"(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_PLAIN_URL_RE = re.compile(
    rf"https?://({_LABEL}(?:\.{_LABEL})+)((?:/[A-Za-z0-9_~-][A-Za-z0-9._~-]*)*/?)")


def _canonical(url: str) -> str | None:
    plain = _PLAIN_URL_RE.fullmatch(url)
    if plain is not None:
        return url[: plain.end(1)] if plain.group(2) == "/" else url
    return _w3lib_canonical(url)


def _w3lib_canonical(url: str) -> str | None:
    # Imported here: w3lib brings urllib.request, http.client and email (about 50 ms), which
    # a command that only reads stored items never needs. Called once per URL (cached).
    from w3lib.url import canonicalize_url, url_query_cleaner

    try:
        if not is_http_url(url):
            return None
        url = canonicalize_url(url, keep_blank_values=True, keep_fragments=False)
        scheme, netloc, path, query, _ = urlsplit(url)
        if query:
            names = {part.split("=", 1)[0] for part in query.split("&")}
            tracking = [name for name in names if _is_tracking(name)]
            if tracking:
                # canonicalize_url has already sorted the parameters; the cleaner keeps
                # that order and repeated parameters (unique=False).
                url = url_query_cleaner(url, tracking, remove=True, unique=False)
                scheme, netloc, path, query, _ = urlsplit(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        if not _HOST_RE.fullmatch(host):
            return None
        if parts.port in (None, _DEFAULT_PORT[scheme]):
            netloc = _PORT_RE.sub("", netloc)
        if path == "/":
            path = ""
        return urlunsplit((scheme, netloc, path, query, ""))
    except (ValueError, UnicodeError):
        # Bad port, bad IDNA label, unbalanced brackets: not a URL we can use.
        return None


# --- de-duplication key ----------------------------------------------------------

# Host labels that only choose a rendering of the same site: www.tass.com, m.tass.ru,
# mobile.reuters.com, amp.theguardian.com.
_RENDER_HOST_PREFIXES = ("www.", "m.", "mobile.", "amp.")
# Parameters that ask for the AMP rendering of a page (name, or name=value).
_AMP_PARAMS = frozenset({"amp", "amp_js_v", "amp_gsa", "usqp", "_amp", "outputtype=amp",
                         "output=amp", "format=amp", "amp=1", "amp=true"})
# "Where did the reader come from" parameters, when their value names a feed.
_FEED_SOURCE_PARAMS = frozenset({"from", "ref", "source", "src", "utm", "rss_source"})
_FEED_SOURCE_VALUES = frozenset({"rss", "rss2", "feed", "feeds", "atom", "rssfeed", "jsonfeed"})
_AMP_SUFFIX_RE = re.compile(r"(?:\.amp(?=\.html?\Z)|\.amp\Z)")


def _strip_host(host: str) -> str:
    changed = True
    while changed:
        changed = False
        for prefix in _RENDER_HOST_PREFIXES:
            rest = host[len(prefix):]
            # Keep at least "name.tld": m.ru is a site, not a mobile rendering of "ru".
            if host.startswith(prefix) and "." in rest:
                host, changed = rest, True
    return host


def site_of(url: str | None) -> str | None:
    """The outlet an http(s) URL belongs to: its registrable domain, the part of the host
    that someone registered (``https://news.bbc.co.uk/x`` and ``https://www.bbc.co.uk`` ->
    ``bbc.co.uk``; ``https://x.blogspot.com`` -> ``x.blogspot.com``, a suffix open to
    anyone), so one outlet's subdomains and feeds count once; an IP address or a one-label
    host is kept whole (without the port). None if unusable."""
    canonical = canonical_url(url)
    if canonical is None:
        return None
    host = urlsplit(canonical).hostname or ""
    return registrable_domain(host) or None


def registrable_domain(host: str) -> str:
    """``host``'s registrable domain by the Public Suffix List (the snapshot that the
    publicsuffixlist package ships; never fetched): ``news.bbc.co.uk`` -> ``bbc.co.uk``.
    IP addresses, one-label hosts (``localhost``) and public suffixes themselves (``co.uk``)
    are returned as they are, lower-cased."""
    host = host.strip(".").lower()
    if "." not in host or _IP_HOST.match(host) or ":" in host:
        return host
    return _public_suffixes().privatesuffix(host) or host


_IP_HOST = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")


@lru_cache(maxsize=1)
def _public_suffixes() -> PublicSuffixList:
    """Parsed once per process, when first needed (about 40-90 ms)."""
    return PublicSuffixList()


def warm() -> None:
    """Parse the public suffix list now, not at the first item (the parse workers' fork
    server does, so that its workers share it)."""
    _public_suffixes()


def _keep_param(part: str) -> bool:
    name, _, value = part.partition("=")
    name, value = unquote_plus(name).lower(), unquote_plus(value).lower()
    if name in _AMP_PARAMS or f"{name}={value}" in _AMP_PARAMS:
        return False
    return not (name in _FEED_SOURCE_PARAMS and value in _FEED_SOURCE_VALUES)


def _article_segments(segments: list[str]) -> list[str]:
    """Path segments without trailing slashes and AMP markers, repeated until nothing changes
    (``x.amp.amp``, ``/amp/amp/``), so the key is idempotent."""
    while True:
        before = list(segments)
        while segments and segments[-1] == "":
            segments.pop()  # trailing slashes
        while segments and segments[0].lower() == "amp":
            segments.pop(0)  # /amp/world/story
        while segments and segments[-1].lower() == "amp":
            segments.pop()  # /world/story/amp/
        if segments:
            segments[-1] = _AMP_SUFFIX_RE.sub("", segments[-1]) or segments[-1]
        if segments == before:
            return segments


def dedup_key(url: str | None) -> str | None:
    """The key two links to the same article share (see the module docstring), or None.

    Never raises; ``dedup_key(dedup_key(u)) == dedup_key(u)``.
    """
    canonical = canonical_url(url)
    if canonical is None:
        return None
    parts = urlsplit(canonical)
    host, port = parts.hostname or "", parts.port
    host = f"[{host}]" if ":" in host else _strip_host(host)  # IPv6 literals stay as written
    # The key is always https, where :443 is the default and goes.
    netloc = f"{host}:{port}" if port not in (None, 443) else host
    segments = _article_segments(parts.path.split("/")[1:])
    query = parts.query
    path = "/" + "/".join(segments) if segments else ""
    query = "&".join(part for part in query.split("&") if part and _keep_param(part))
    if not path and not query:
        return None  # a home page is not an article
    return urlunsplit(("https", netloc, path, query, ""))


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an absolute http(s) URL, else None (no javascript:, data:, ...)."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    if any(ord(c) < 0x20 or c in "\"'<>`\\" for c in url):
        return None
    return url
