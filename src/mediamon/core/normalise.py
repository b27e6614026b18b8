"""``RawEntry`` -> ``Item``: plain text, safe HTML, UTC dates, a stable id.

Text
    ``title``, ``summary`` and ``content`` are plain text: HTML is rendered with selectolax
    (Lexbor) so block elements become line breaks, ``<script>``/``<style>`` disappear and
    entities are decoded; runs of whitespace fold to one space, blank lines are dropped,
    NUL and other control characters are removed. Titles are one line. Titles are always
    read as HTML, whatever type the feed declares, because feeds put markup in titles and
    escape them twice (``&amp;amp;``, ``&lt;b&gt;``); one extra round of decoding or
    rendering handles the latter (summaries and contents get the same second rendering
    when tags survive the first).

    ``summary_html``/``content_html`` are sanitised with nh3: its default allow-list;
    ``http``/``https``/``mailto`` links only; ``rel="noopener noreferrer nofollow"``;
    relative ``href``/``src`` resolved against the text's ``base`` (``parse`` sets it to
    the document URL), else the feed URL, and dropped when there is no http(s) base.

    ``content`` is the longest of the entry's contents; ``summary`` is the
    summary/description. When both say the same thing the summary is kept and
    ``content`` is empty (feedparser copies a lone content into the summary).

Dates
    ``published`` is the first usable of published, updated and created, in UTC. A date
    before 1970, an unparsable one or none at all gives ``now`` with
    ``published_from_feed=False``. A date more than ``max_skew`` in the future is also
    replaced by ``now`` with ``published_from_feed=False``: it is no longer the feed's
    date, and a far-future item would otherwise sit at the top of every "newest" list.
    ``updated`` is the feed's updated date (``None`` when absent or unusable, ``now`` when
    in the future). ``first_seen`` is ``now``.

Identity
    ``Item.id`` is the first 16 hex digits of the SHA-256 of the first of:

    1. ``"guid:" + guid`` when the guid is globally unique by construction: an absolute
       ``http(s)://host...``, ``urn:`` or ``tag:`` URI;
    2. ``"guid:" + feed_url + "\\n" + guid`` for any other guid (``"1"``, ``"tass-1982711"``):
       bare guids are only unique within their feed;
    3. ``"url:" + canonical_url``;
    4. ``"hash:" + feed_url + "\\n" + title + "\\n" + published date as the feed wrote it``
       (plus the text when there is neither a title nor a date).

    The id never depends on ``now``, so it is stable across polls and restarts as long as
    the feed keeps its guid, link or date. (Feed-scoped keys use the feed URL the caller
    passes: a feed that moves gets new ids for bare-guid items.)

Language
    ``language_declared`` is the first language tag of the entry, its content, its summary
    or title, or the feed (primary subtag, lower case). ``language`` is what
    ``core.language.item_language`` makes of it and the title and summary: the detected
    language when the detector is sure (or the declared tag cannot be right), else the
    declared one. Why ``language`` holds the detected one and a new column the declared
    one, rather than the reverse: every reader (``--lang``, ``stats``, the report,
    PostgreSQL's text search configuration, Datasette's facet) already reads ``language``,
    so all of them use the detected language without a change, and the feed's tag is kept
    for whoever wants to see what the feed said. ``detect=False`` skips detection
    (``language`` is then the declared one): the pipeline's first, cheap normalisation of
    every entry, before it knows which items it will store.

``content_hash`` covers what a reader sees (title, summary, content, URL), never
volatile fields such as ``first_seen``, so it changes exactly when an edit is visible.

Recognising an entry seen before
    ``entry_digest`` is a digest of everything ``normalise_entry`` reads to make an item's
    id and content hash: the entry as parsed, the feed URL and the feed's language. The
    store keeps it beside the item's content hash (``seen.raw``); a later poll that meets
    an entry with that digest knows the id and the content hash it normalises to without
    rendering its text: ``recognise_entry`` makes the rest of the item. Most entries of a
    feed that sends its whole body again (no 304) are such entries.

Pure functions: no I/O, no clock (``now`` is passed in).
"""

from __future__ import annotations

import hashlib
import html as html_lib
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin

import nh3
from selectolax.lexbor import LexborHTMLParser

from mediamon.core.language import item_language
from mediamon.core.urls import canonical_url, is_http_url
from mediamon.types import Item, ParsedFeed, RawEntry

__all__ = [
    "NormalisedFeed",
    "html_to_text",
    "normalise_entry",
    "normalise_feed",
    "normalise_feed_counted",
    "normalise_language",
    "plain_title",
    "sanitise_html",
    "with_markup",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# C0/C1 controls except tab/newline/CR, BOM, and lone surrogates (which cannot be
# encoded to UTF-8, so they would break hashing, SQLite and nh3).
_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ufeff\ud800-\udfff]")
_SPACE_RE = re.compile(r"[^\S\n]+")  # whitespace other than newline, Unicode-aware
_ENTITY_RE = re.compile(r"&(?:[A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});")
# Markup that survived one round of rendering: the feed escaped its HTML twice.
_ESCAPED_HTML_RE = re.compile(
    r"</(?:p|div|a|b|i|u|em|strong|span|li|ul|ol|h[1-6]|blockquote|table|tr|td|figure)\s*>"
    r"|<(?:br|img|p|hr)\b[^<>]*>",
    re.IGNORECASE,
)
_DROP_TAGS = ["script", "style", "noscript", "template", "svg", "head"]
_DROP_RE = re.compile(rf"<(?:{'|'.join(_DROP_TAGS)})\b", re.IGNORECASE)  # worth stripping?
# Elements whose text starts and ends a line.
_BLOCK_TAGS = frozenset("""
    address article aside blockquote dd details dialog div dl dt fieldset figcaption figure
    footer form h1 h2 h3 h4 h5 h6 header hgroup hr li main nav ol p pre section summary table
    tbody thead tfoot tr ul caption
""".split())
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "html", "xhtml"})
_LANG_RE = re.compile(r"[a-z]{2,3}")
_GLOBAL_GUID_RE = re.compile(r"(?:urn|tag):\S", re.IGNORECASE)
_LINK_RELS = ("alternate", None)


# --- text ----------------------------------------------------------------------------------


def _scrub(text: str) -> str:
    return _CONTROL_RE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def _fold_lines(text: str) -> str:
    text = _SPACE_RE.sub(" ", _scrub(text))  # the class never matches a newline
    if "\n" not in text:  # most titles, names and categories: one line
        return text.strip()
    return "\n".join(filter(None, map(str.strip, text.split("\n"))))


# Both HTML parsers (lexbor, html5ever in nh3) take time quadratic in the nesting depth:
# 100,000 nested <div>s cost about a minute. Markup nested deeper than any real article
# is reduced to its text. Void elements and those whose end tag may be left out
# (<p>, <li>, ...) are not counted: the parsers close them implicitly.
_MAX_DEPTH = 1000
_TAG_RE = re.compile(r"<(/?)([A-Za-z][^\s/>]*)[^>]*?(/?)>")
_UNCOUNTED_TAGS = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
    "source", "track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup",
    "tbody", "thead", "tfoot", "colgroup", "caption", "rb", "rt", "rp", "rtc",
})


def _too_deep(markup: str) -> bool:
    """True if the open elements of ``markup`` ever nest deeper than ``_MAX_DEPTH``."""
    if markup.count("<") <= _MAX_DEPTH:
        return False
    depth = 0
    for match in _TAG_RE.finditer(markup):
        closing, name, self_closing = match.groups()
        if self_closing or name.lower() in _UNCOUNTED_TAGS:
            continue
        depth = max(depth - 1, 0) if closing else depth + 1
        if depth > _MAX_DEPTH:
            return True
    return False


def _flat_text(markup: str) -> str:
    """The text of markup too deep to parse: tags removed, entities decoded."""
    return _fold_lines(html_lib.unescape(_TAG_RE.sub(" ", markup)))


# Rendered texts are remembered for a while: an item about to be stored is normalised a
# second time with its HTML (process.process_body), and authors and tags repeat. Only
# short texts are kept, so hostile 10 MB bodies never pile up in the cache.
_CACHED_MAX = 16_384


def html_to_text(markup: str) -> str:
    """Visible text of an HTML fragment: one line per block, whitespace folded."""
    if markup and len(markup) <= _CACHED_MAX:
        return _cached_html_to_text(markup)
    return _html_to_text(markup)


@lru_cache(maxsize=1024)
def _cached_html_to_text(markup: str) -> str:
    return _html_to_text(markup)


def _html_to_text(markup: str) -> str:
    markup = _scrub(markup or "")
    if "<" not in markup and "&" not in markup:
        return _fold_lines(markup)  # plain text: no parser needed
    if _too_deep(markup):
        return _flat_text(markup)
    tree = LexborHTMLParser(markup)
    if _DROP_RE.search(markup):
        tree.strip_tags(_DROP_TAGS, recursive=True)
    body = tree.body
    if body is None:
        return ""
    # One walk over the elements instead of CSS queries: compiling and running the block
    # selector was half of this function's time (same output on the corpus).
    for node in body.traverse():
        tag = node.tag
        if tag in _BLOCK_TAGS:
            node.insert_before("\n")
            node.insert_after("\n")
        elif tag == "br":
            node.insert_after("\n")
        elif tag == "td" or tag == "th":
            node.insert_after(" ")  # cells of one row stay on one line, but apart
    return _fold_lines(body.text(deep=True))


# Text that plain_title would return unchanged: words of printable characters other than
# markup and entity starts, one space apart (a fast path for most titles, authors, tags).
_PLAIN_RE = re.compile(r"[^\s<&\x00-\x1f\x7f-\x9f\ufeff\ud800-\udfff]+"
                       r"(?: [^\s<&\x00-\x1f\x7f-\x9f\ufeff\ud800-\udfff]+)*")


def plain_title(value: str | None) -> str:
    """A one-line plain-text title: markup removed, entities decoded (twice if needed)."""
    if value and _PLAIN_RE.fullmatch(value):
        return value
    text = html_to_text(value or "")
    # Markup or entities left after one rendering: the feed escaped the title twice.
    if _ESCAPED_HTML_RE.search(text):
        text = html_to_text(text)
    elif _ENTITY_RE.search(text):
        text = html_lib.unescape(text)
    return " ".join(_scrub(text).split())


@lru_cache(maxsize=256)
def _cleaner(base: str | None) -> nh3.Cleaner:
    relative: Any = "deny"
    if base:
        relative = ("rewrite_with_base", base)
    try:
        return nh3.Cleaner(
            link_rel="noopener noreferrer nofollow",
            url_schemes={"http", "https", "mailto"},
            url_relative=relative,
        )
    except ValueError:  # a base nh3 cannot parse: drop relative URLs instead
        return _cleaner(None)


def sanitise_html(markup: str, base: str | None = None) -> str:
    """nh3-sanitised HTML; relative URLs resolved against ``base`` (http(s)) or dropped."""
    markup = _scrub(markup or "")
    if not markup.strip():
        return ""
    if _too_deep(markup):
        return html_lib.escape(_flat_text(markup), quote=False)
    cleaner = _cleaner(base if is_http_url(base) else None)
    return _scrub(cleaner.clean(markup)).strip()


def _is_html(media_type: Any) -> bool | None:
    """True for HTML, False for plain text, None for a non-text payload (an image...)."""
    media_type = _s(media_type).split(";", 1)[0].strip().lower()
    if not media_type or media_type in _HTML_TYPES:
        return True  # RSS descriptions come untyped and are HTML in practice
    if media_type.startswith("text/") or media_type == "text":
        return False
    return None


def _render(value: Any, media_type: Any, base: str | None, html: bool = True) -> tuple[str, str]:
    """(plain text, sanitised HTML) of one feed text construct; with ``html=False`` the HTML
    is left empty (sanitising is the costly half, and most items are never stored)."""
    if not isinstance(value, str) or not value.strip():
        return "", ""
    kind = _is_html(media_type)
    if kind is None:
        return "", ""
    if not kind:
        text = _fold_lines(value)
        if not html:
            return text, ""
        return text, html_lib.escape(text, quote=False).replace("\n", "<br>\n")
    text = html_to_text(value)
    if _ESCAPED_HTML_RE.search(text):
        # The text still has tags in it: the HTML was escaped twice. Render it again.
        value = text
        text = html_to_text(value)
    return text, sanitise_html(value, base) if html else ""


# --- small field helpers -------------------------------------------------------------------


def _s(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _dicts(value: Any) -> Iterable[dict[str, Any]]:
    if isinstance(value, list | tuple):
        return [item for item in value if isinstance(item, dict)]
    return []


def _dedupe(values: Iterable[str]) -> tuple[str, ...]:
    seen: set[str] = set()
    result = []
    for value in values:
        key = value.casefold()
        if value and key not in seen:
            seen.add(key)
            result.append(value)
    return tuple(result)


def _base(detail: Any, feed_url: str) -> str | None:
    """Where relative URLs in a text construct point: its xml:base, else the feed URL."""
    base = _s(detail.get("base")) if isinstance(detail, dict) else ""
    if is_http_url(base):
        return base
    return feed_url if is_http_url(feed_url) else None


def normalise_language(tag: Any) -> str | None:
    """Lower-case primary language subtag (``en-US`` -> ``en``, ``ru_RU`` -> ``ru``), or None."""
    if not isinstance(tag, str):
        return None
    primary = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return primary if _LANG_RE.fullmatch(primary) else None


def _as_utc(value: Any) -> datetime | None:
    try:
        if isinstance(value, datetime):
            if value.tzinfo is None:
                return value.replace(tzinfo=UTC)  # feedparser's times are UTC
            return value.astimezone(UTC)
        if isinstance(value, time.struct_time | tuple | list) and len(value) >= 6:
            year, month, day, hour, minute, second = (int(part) for part in value[:6])
            return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError, OverflowError):
        pass
    return None


def _feed_date(
    data: dict[str, Any], keys: tuple[str, ...], now: datetime, max_skew: timedelta
) -> tuple[datetime | None, bool]:
    """(date, taken from the feed?) from the first usable ``*_parsed`` key."""
    for key in keys:
        value = _as_utc(data.get(key))
        if value is None or value < _EPOCH:
            continue
        if value > now + max_skew:
            return now, False  # a date in the future is a feed error, not news from then
        return value, True
    return None, False


# --- entry -> item -------------------------------------------------------------------------


def _link(data: dict[str, Any], feed_url: str) -> str | None:
    link = _s(data.get("link"))
    copied_guid = bool(data.get("guidislink")) and link == _s(data.get("id"))
    if link and copied_guid and not (is_http_url(link) or link.startswith("/")):
        # feedparser copies the guid into ``link`` when an item has none. "1234" is an
        # identifier, not a link; only absolute URLs and paths are worth resolving.
        link = ""
    if not link:
        for item in _dicts(data.get("links")):
            if item.get("rel") in _LINK_RELS and _s(item.get("href")):
                link = _s(item.get("href"))
                break
    link = link or _s(data.get("external_url"))
    if not link:
        return None
    if is_http_url(feed_url) and not is_http_url(link):
        try:
            link = urljoin(feed_url, link)
        except ValueError:
            return None
    link = _scrub(link).strip()
    return link if is_http_url(link) else None


def _language(data: dict[str, Any], feed: ParsedFeed) -> str | None:
    candidates = [data.get("language")]
    candidates += [item.get("language") for item in _dicts(data.get("content"))]
    for key in ("summary_detail", "title_detail"):
        detail = data.get(key)
        if isinstance(detail, dict):
            candidates.append(detail.get("language"))
    candidates.append(feed.language)
    for candidate in candidates:
        language = normalise_language(candidate)
        if language:
            return language
    return None


def _authors(data: dict[str, Any]) -> tuple[str, ...]:
    names = [
        _s(author.get("name")) or _s(author.get("email")) for author in _dicts(data.get("authors"))
    ]
    if not any(names):
        detail = data.get("author_detail")
        names = [_s(detail.get("name")) if isinstance(detail, dict) else ""]
        names.append(_s(data.get("author")))
    return _dedupe(plain_title(name) for name in names if name)


def _categories(data: dict[str, Any]) -> tuple[str, ...]:
    terms = (_s(tag.get("term")) or _s(tag.get("label")) for tag in _dicts(data.get("tags")))
    return _dedupe(plain_title(term) for term in terms if term)


def _guid(data: dict[str, Any]) -> str | None:
    guid = _scrub(_s(data.get("id"))).strip()
    return guid or None


def _is_global_guid(guid: str) -> bool:
    return (is_http_url(guid) and "://" in guid) or bool(_GLOBAL_GUID_RE.match(guid))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _stable_key(
    data: dict[str, Any],
    *,
    guid: str | None,
    canonical: str | None,
    feed_url: str,
    title: str,
    text: str,
) -> str:
    if guid:
        return "guid:" + guid if _is_global_guid(guid) else f"guid:{feed_url}\n{guid}"
    if canonical:
        return "url:" + canonical
    date = _s(data.get("published")) or _s(data.get("updated")) or _s(data.get("created"))
    key = f"hash:{feed_url}\n{title}\n{date}"
    if not title and not date:
        key += "\n" + text  # nothing else tells two such items apart
    return key


def normalise_entry(
    entry: RawEntry,
    *,
    feed_url: str,
    feed: ParsedFeed,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=10),
    html: bool = True,
    detect: bool = True,
) -> Item:
    """Turn one parsed entry into an ``Item`` (rules in the module docstring).

    ``html=False`` leaves ``summary_html``/``content_html`` empty and changes nothing else
    (not the id, not the content hash): the pipeline sanitises only items it will store.
    ``detect=False`` leaves ``language`` the declared one (detection is the other costly
    part, and only items that may be stored need it).
    """
    data = entry.data if isinstance(entry.data, dict) else {}
    fields = _fields(data, feed_url, feed, now, max_skew)
    title, url = fields["title"], fields["url"]
    summary, summary_html, content, content_html = _bodies(data, feed_url, html)
    key = _stable_key(
        data,
        guid=fields["guid"],
        canonical=fields["canonical_url"],
        feed_url=feed_url,
        title=title,
        text=f"{summary}\n{content}",
    )
    declared = fields["language_declared"]
    return Item(
        id=_digest(key),
        summary=summary,
        content=content,
        summary_html=summary_html,
        content_html=content_html,
        language=item_language(declared, f"{title}\n{summary}") if detect else declared,
        content_hash=_digest("\x1f".join((title, summary, content, url or ""))),
        **fields,
    )


def recognise_entry(
    entry: RawEntry,
    *,
    feed_url: str,
    feed: ParsedFeed,
    now: datetime,
    item_id: str,
    content_hash: str,
    max_skew: timedelta = timedelta(minutes=10),
) -> Item:
    """``normalise_entry(entry, ..., html=False, detect=False).without_text()`` for an
    entry known to normalise to ``item_id`` and ``content_hash`` (its ``entry_digest`` was
    stored with them): every other field made as ``normalise_entry`` makes it, the text
    neither rendered nor hashed."""
    data = entry.data if isinstance(entry.data, dict) else {}
    fields = _fields(data, feed_url, feed, now, max_skew)
    return Item(id=item_id, summary="", content="", summary_html="", content_html="",
                language=fields["language_declared"], content_hash=content_hash, **fields)


def _fields(data: dict[str, Any], feed_url: str, feed: ParsedFeed, now: datetime,
            max_skew: timedelta) -> dict[str, Any]:
    """The item's fields that do not depend on its text."""
    now = _as_utc(now) or _EPOCH
    url = _link(data, feed_url)
    published, from_feed = _feed_date(
        data, ("published_parsed", "updated_parsed", "created_parsed"), now, max_skew
    )
    updated, _ = _feed_date(data, ("updated_parsed",), now, max_skew)
    return {
        "feed_url": feed_url,
        "guid": _guid(data),
        "url": url,
        "canonical_url": canonical_url(url),
        "title": plain_title(_s(data.get("title"))),
        "authors": _authors(data),
        "categories": _categories(data),
        "published": published or now,
        "updated": updated,
        "first_seen": now,
        "published_from_feed": from_feed,
        "language_declared": _language(data, feed),
    }


# The form of the items ``normalise_entry`` makes: part of every ``entry_digest``. Raise it
# with any change that gives an entry another id or content hash, so that the digests
# stored before it no longer vouch for them (their entries are then normalised again).
NORMALISED_FORM = 1


def entry_digest(entry: RawEntry, *, feed_url: str, feed: ParsedFeed) -> str:
    """A digest of what ``normalise_entry`` reads to make the entry's id and content hash:
    the entry as parsed (every field, dates included), the feed URL and the feed's language.
    Two entries with one digest normalise to one id and one content hash."""
    data = entry.data if isinstance(entry.data, dict) else {}
    return _digest(repr((NORMALISED_FORM, feed_url, feed.language, data)))


def with_markup(item: Item, entry: RawEntry) -> Item:
    """``item`` (``normalise_entry(entry, ..., html=False, detect=False)``) as
    ``normalise_entry(entry, ...)`` with its defaults would give it: its sanitised HTML and
    detected language added, nothing recomputed that the first call made. For the few items
    a feed pass stores, after the prefilter and the scoring had only needed their text."""
    data = entry.data if isinstance(entry.data, dict) else {}
    _, summary_html, _, content_html = _bodies(data, item.feed_url, True)
    return replace(item, summary_html=summary_html, content_html=content_html,
                   language=item_language(item.language_declared,
                                          f"{item.title}\n{item.summary}"))


def _bodies(data: dict[str, Any], feed_url: str, html: bool) -> tuple[str, str, str, str]:
    """(summary, summary_html, content, content_html) of an entry: the longest content part;
    the HTML left empty without ``html``."""
    summary_detail = data.get("summary_detail")
    summary_type = summary_detail.get("type") if isinstance(summary_detail, dict) else None
    summary, summary_html = _render(
        data.get("summary"), summary_type, _base(summary_detail, feed_url), html
    )
    content, content_html = "", ""
    for part in _dicts(data.get("content")):
        text, markup = _render(part.get("value"), part.get("type"), _base(part, feed_url), html)
        if len(text) > len(content):
            content, content_html = text, markup
    if content == summary:
        content, content_html = "", ""  # feedparser copies content into a missing summary
    return summary, summary_html, content, content_html


@dataclass(frozen=True)
class NormalisedFeed:
    """The items of one feed, and how many entries were skipped as empty."""

    items: tuple[Item, ...]
    skipped: int  # entries with no title, no link and no text


def shows_something(item: Item) -> bool:
    """Whether an item has anything to show (a title, a link or text); entries without are
    skipped, by every path that normalises a feed."""
    return bool(item.title or item.url or item.summary or item.content)


def normalise_feed_counted(
    feed: ParsedFeed,
    *,
    feed_url: str,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=10),
) -> NormalisedFeed:
    """Normalise every entry, skipping (and counting) those with nothing to show."""
    items = []
    skipped = 0
    for entry in feed.entries:
        item = normalise_entry(entry, feed_url=feed_url, feed=feed, now=now, max_skew=max_skew)
        if shows_something(item):
            items.append(item)
        else:
            skipped += 1
    return NormalisedFeed(tuple(items), skipped)


def normalise_feed(
    feed: ParsedFeed,
    *,
    feed_url: str,
    now: datetime,
    max_skew: timedelta = timedelta(minutes=10),
) -> list[Item]:
    """The items of a feed; entries with no title, link or text are left out."""
    return list(normalise_feed_counted(feed, feed_url=feed_url, now=now, max_skew=max_skew).items)
