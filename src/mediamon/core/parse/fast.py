"""A fast path for ``parse.parse_feed``: the same ``ParsedFeed``, about ten times sooner, for
the well-formed RSS 2.0 and Atom 1.0 documents that make up almost all real polls.

feedparser spends most of a feed's time in Python callbacks for every XML event (about
0.3 ms an item here). This module lets expat build an ElementTree in C and then walks only
the elements mediamon reads, reproducing what feedparser's strict parser does with each of
them: the same encoding detection (feedparser's own ``convert_to_utf8``), the same text
clean-up (whitespace, its UTF-8/Latin-1 mojibake repair, Windows-1252 code points), the
same quirks (``guid`` as link, the first non-empty title wins, authors' e-mail split off,
tags de-duplicated), the same dates (feedparser's own ``_parse_date``) and the same entry
dicts for the keys ``normalise`` reads. ``tests/test_fastparse.py`` checks that the items
of every corpus document the fast path accepts are identical to feedparser's.

Namespaces feedparser does not know (an outlet's own, Atom threading) are read the way
feedparser reads them: an element is named by the prefix its document declares
(``thr:total`` is ``thr_total``), an attribute by its local name. Media RSS groups are
walked as feedparser walks them, as if their children were the entry's own: a caption
(``media:description``) counts as a second summary, which feedparser makes content.

Whatever it does not fully understand it declines (``fast_parse`` returns None) and
``parse_feed`` does the work: another format (RSS 0.9x/1.0, Atom 0.3, JSON Feed), a DOCTYPE
or entity declarations, XML that is not well-formed, an unknown encoding, ``xml:base``, an
unknown namespace whose prefix is ambiguous (declared twice, or the default namespace),
XHTML or base64 content, and any element inside an entry
that could feed a field here but is not handled (``media:title``, ``itunes:summary``, nested
markup...). Declining is always safe; only a wrong acceptance could change results.

No network, no file system, no clock.
"""

from __future__ import annotations

import contextlib
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

from feedparser.api import StrictFeedParser
from feedparser.datetimes import _parse_date
from feedparser.encodings import convert_to_utf8
from feedparser.exceptions import ThingsNobodyCaresAboutButMe
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin

from mediamon.core.parse.common import (
    header_map,
    join_link,
    plain,
    resolve_links,
    text_or_none,
    ttl_minutes,
)
from mediamon.core.urls import is_http_url
from mediamon.types import ParsedFeed, RawEntry

__all__ = ["fast_parse"]

ATOM_NS = "http://www.w3.org/2005/Atom"
XML_NS = "{http://www.w3.org/XML/1998/namespace}"
# Namespace URI (lower-case) -> feedparser's standard prefix ("" for the core formats).
_NAMESPACES = {uri.lower(): prefix for uri, prefix in _FeedParserMixin.namespaces.items()}
_STANDARD_PREFIXES = frozenset(p for p in _NAMESPACES.values() if p)
_HTML_TYPES = frozenset({"application/xhtml+xml", "text/html"})
_RELATIVE_URI = frozenset(_FeedParserMixin.can_be_relative_uri)
_XMLNS_RE = re.compile(rb"""xmlns(?::([\w.-]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
# Namespaces whose mere declaration makes feedparser call the document RSS 1.0 or 0.90.
_VERSION_NAMESPACES = frozenset({"http://purl.org/rss/1.0/",
                                 "http://my.netscape.com/rdf/simple/0.9/"})
_HEAD_DECL_RE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_BASE_RE = re.compile(rb"[\s:]base\s*=")  # searched in the lower-cased document
_EMAIL_RE = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"""
    r"""([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
_LINK_QUERY_FIX = re.compile("&([A-Za-z0-9_]+);")
_C1_RE = re.compile("[\x80-\x9f]")  # the code points feedparser maps to Windows-1252
_CLOSE_TAG_RE = re.compile(r"</(\w+)>")
_ENTITY_REF_RE = re.compile(r"&#?\w+;")

# Keys normalise (or parse.resolve_links) reads from an entry: an unhandled element that
# feedparser would store under one of these names makes the fast path decline.
_ENTRY_KEYS = frozenset({
    "title", "title_detail", "summary", "summary_detail", "content", "link", "links",
    "guidislink", "id", "external_url", "published", "published_parsed", "updated",
    "updated_parsed", "created", "created_parsed", "language", "authors", "author",
    "author_detail", "tags", "enclosures", "description",
})
# Elements with a feedparser handler whose only effect on an entry is a key nothing reads.
_INERT_HANDLERS = frozenset({"media_content", "media_thumbnail", "comments", "media_credit",
                             "media_rating", "media_restriction", "media_license"})
# Media RSS containers: feedparser handles their children as the entry's own.
_MEDIA_CONTAINERS = frozenset({"media_content", "media_group"})
# The namespaces of this document that feedparser does not know: URI -> declared prefix.
_DECLARED: ContextVar[dict[str, str]] = ContextVar("_DECLARED")
# Children allowed inside <image> / <textinput> (feedparser's inimage/intextinput hacks).
_IMAGE_CHILDREN = frozenset({"title", "link", "url", "width", "height", "description"})
_TEXTINPUT_CHILDREN = frozenset({"title", "link", "description", "name"})



def _link_attrs(el: ET.Element) -> tuple[dict[str, str], str | None]:
    """A link element's attributes with feedparser's defaults (rel alternate; type Atom for
    rel=self, else HTML) and its target, from ``url``, ``uri`` or ``href``."""
    attrs = _attrs(el)
    attrs.setdefault("rel", "alternate")
    attrs.setdefault("type", "application/atom+xml" if attrs["rel"] == "self" else "text/html")
    return attrs, attrs.get("url", attrs.get("uri", attrs.get("href")))

class _Decline(Exception):
    """The document is outside what the fast path reproduces exactly."""


def fast_parse(
    body: bytes,
    *,
    url: str,
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = (),
) -> ParsedFeed | None:
    """``parse_feed``'s result for a well-formed RSS 2.0 / Atom 1.0 document, or None when
    the document needs feedparser (then call ``parse_feed``)."""
    try:
        return _parse(bytes(body or b""), url, header_map(headers))
    except (_Decline, ET.ParseError, RecursionError, ValueError, LookupError):
        return None


def _parse(body: bytes, url: str, headers: dict[str, str]) -> ParsedFeed:
    start = body.lstrip(b" \t\r\n\x00\xef\xbb\xbf")[:1]
    if start != b"<":
        raise _Decline("not XML")
    response_headers = {k: headers[k] for k in ("content-type", "content-language")
                        if headers.get(k)}
    result: dict[str, Any] = {}
    data = convert_to_utf8(response_headers, body, result)
    if not result.get("encoding"):
        raise _Decline("unknown encoding")
    problem = result.get("bozo_exception")
    if problem is not None and not isinstance(problem, ThingsNobodyCaresAboutButMe):
        raise _Decline("encoding trouble")
    first = re.search(rb"<\w", data)
    if first is None or _HEAD_DECL_RE.search(data, 0, first.start()):
        raise _Decline("DOCTYPE or ENTITY")
    token = _DECLARED.set(_check_namespace_declarations(data))
    try:
        return _parse_tree(data, url, headers, response_headers)
    finally:
        _DECLARED.reset(token)


def _parse_tree(data: bytes, url: str, headers: dict[str, str],
                response_headers: dict[str, str]) -> ParsedFeed:
    lowered = data.lower()
    if b"base" in lowered and _BASE_RE.search(lowered):
        raise _Decline("xml:base or base attribute")
    root = ET.parse(io.BytesIO(data)).getroot()
    baselang = response_headers.get("content-language")
    name = _name(root)
    if name == "rss" and not _ns(root):
        if not (root.get("version") or "").startswith("2."):
            raise _Decline("not RSS 2.0")
        return _rss(root, url, baselang, headers)
    if name == "feed" and _ns(root) == ATOM_NS:
        return _atom(root, url, baselang, headers)
    raise _Decline("not RSS 2.0 or Atom 1.0")


def _check_namespace_declarations(data: bytes) -> dict[str, str]:
    """The document's namespaces feedparser does not know, each with the prefix feedparser
    will name its elements by (URI as declared -> lower-case prefix); declines where a known
    namespace hides under another's standard prefix, or where the prefix feedparser would
    pick for an unknown one is not certain."""
    unknown: dict[str, set[str]] = {}
    uris_of: dict[str, set[str]] = {}  # lower-case prefix -> every URI declared under it
    for match in _XMLNS_RE.finditer(data):
        prefix = match.group(1).decode("ascii", "replace") if match.group(1) else None
        raw = (match.group(2) if match.group(2) is not None else match.group(3) or b"")
        uri = raw.decode("utf-8", "replace")
        if not uri or any(ch.isspace() for ch in uri):
            # feedparser's SAX reader splits names on whitespace: such a document fails there
            raise _Decline("whitespace in a namespace URI")
        key = uri.lower()
        if key in _VERSION_NAMESPACES:
            raise _Decline("RSS 1.0 / 0.90 namespace")
        if "backend.userland.com/rss" in key:
            raise _Decline("userland namespace")
        if prefix is not None:
            uris_of.setdefault(prefix.lower(), set()).add(uri)
        if key not in _NAMESPACES:
            # feedparser names such an element by the prefix declared for its URI.
            # Under a standard prefix (Atom threading's "thr") feedparser's handlers for
            # that prefix take its elements: names here are looked up the same way.
            if prefix is None:
                raise _Decline(f"unknown namespace {key} as the default one")
            unknown.setdefault(uri, set()).add(prefix)
            continue
        standard = _NAMESPACES[key]
        if prefix is not None and prefix != standard and prefix in _STANDARD_PREFIXES:
            raise _Decline("confusing prefix")
        if prefix is None and standard:
            raise _Decline("a module namespace as the default one")
    declared = {}
    for uri, prefixes in unknown.items():
        if len(prefixes) > 1 or len(uris_of[next(iter(prefixes)).lower()]) > 1:
            raise _Decline(f"ambiguous prefix for the namespace {uri}")
        declared[uri] = next(iter(prefixes)).lower()
    return declared


# -- element names --------------------------------------------------------------------------


def _split(tag: str) -> tuple[str, str, str]:
    """(namespace URI, feedparser prefix, lower-case local name) of an ElementTree tag."""
    uri, prefix, local = _split_known(tag)
    if prefix is None:
        prefix = _DECLARED.get({}).get(uri)
        if prefix is None:
            raise _Decline(f"unknown namespace {uri}")
    return uri, prefix, local


@lru_cache(maxsize=512)
def _split_known(tag: str) -> tuple[str, str | None, str]:
    """``_split`` with the prefix None for a namespace feedparser does not know."""
    if tag[:1] == "{":
        uri, _, local = tag[1:].partition("}")
    else:
        uri, local = "", tag
    prefix = _NAMESPACES.get(uri.lower()) if uri else ""
    return uri, prefix, local.lower()


def _ns(el: ET.Element) -> str:
    return _split(el.tag)[0] if isinstance(el.tag, str) else ""


def _name(el: ET.Element) -> str:
    """feedparser's handler name for an element: ``local`` or ``prefix_local``."""
    if not isinstance(el.tag, str):
        raise _Decline("not an element")
    _, prefix, local = _split(el.tag)
    return f"{prefix}_{local}" if prefix else local


@lru_cache(maxsize=512)
def _has_handler(name: str) -> bool:
    return hasattr(StrictFeedParser, "_start_" + name) or hasattr(StrictFeedParser, "_end_" + name)


def _attrs(el: ET.Element) -> dict[str, str]:
    """Attributes as feedparser's strict parser hands them over: names lower-cased (with a
    standard prefix for known namespaces), ``rel`` and ``type`` values lower-cased."""
    out: dict[str, str] = {}
    for key, value in el.attrib.items():
        if key.startswith("{"):
            uri, _, local = key[1:].partition("}")
            prefix = _NAMESPACES.get(uri.lower())
            if prefix is None:
                # feedparser keys it by its local name, after (and over) the others.
                if local.lower() in {k.rpartition("}")[2].lower() for k in el.attrib
                                     if k != key}:
                    raise _Decline("an attribute's name used twice")
                prefix = ""
            key = f"{prefix}:{local}" if prefix else local
        key = key.lower()
        out[key] = value.lower() if key in ("rel", "type") else value
    return out


def _lang(el: ET.Element, parent: str | None) -> str | None:
    """The element's language: its xml:lang (or lang), else its parent's; "" unsets it."""
    if not el.attrib:
        return parent
    attrs = _attrs(el)
    lang = attrs.get("xml:lang", attrs.get("lang"))
    if lang == "":
        return None
    return parent if lang is None else lang


def _text(el: ET.Element) -> str:
    if len(el):
        raise _Decline("markup inside a text element")
    return el.text or ""


# -- feedparser's pop(): the text clean-up --------------------------------------------------


def _finish(output: str, element: str, *, resolve: bool = True) -> str:
    """What feedparser's ``pop`` does to an element's text once it is collected."""
    output = output.strip()
    if resolve and element in _RELATIVE_URI and output:
        output = _urljoin("", output)
    if output.isascii():
        return output  # both steps below leave ASCII alone
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        # feedparser repairs UTF-8 that was read as Latin-1
        output = output.encode("iso-8859-1").decode("utf-8")
    return output.translate(_cp1252) if _C1_RE.search(output) else output


def _map_type(content_type: str) -> str:
    return str(_FeedParserMixin.map_content_type(content_type))


def _content_params(el: ET.Element, default: str, lang: str | None) -> dict[str, Any]:
    """feedparser's ``push_content`` parameters, declining anything but text and HTML."""
    attrs = _attrs(el)
    if "mode" in attrs or "src" in attrs:
        raise _Decline("mode/src on a text construct")
    ctype = _map_type(attrs.get("type", default))
    if ctype not in ("text/plain", "text/html"):
        raise _Decline(f"content type {ctype}")
    return {"type": ctype, "language": lang.replace("_", "-") if lang else lang, "base": ""}


def _looks_like_html(text: str) -> bool:
    if "<" not in text and "&" not in text:
        return False  # it needs a close tag or an entity
    return bool(_FeedParserMixin.looks_like_html(text))


# -- an entry, the way feedparser builds it -------------------------------------------------


class _Entry:
    """One entry's dict and the feedparser state that shapes it."""

    def __init__(self, rss: bool) -> None:
        self.data: dict[str, Any] = {}
        self.rss = rss
        self.guidislink = False
        self.has_content = False
        self.title_locked = False
        self.summary_depth: int | None = None  # feedparser's property_depth_map["summary"]

    def save(self, key: str, value: Any) -> None:  # feedparser's _save (setdefault)
        self.data.setdefault(key, value)

    def text_construct(self, el: ET.Element, element: str, default: str, lang: str | None
                       ) -> tuple[str, dict[str, Any]]:
        params = _content_params(el, default, lang)
        value = _finish(_text(el), element)
        if self.rss and params["type"] == "text/plain" and _looks_like_html(value):
            params["type"] = "text/html"
        return value, params

    def title(self, el: ET.Element, lang: str | None) -> None:
        value, params = self.text_construct(el, "title", "text/plain", lang)
        if self.title_locked:
            return  # feedparser keeps the first non-empty title
        self.data["title"] = value
        self.data["title_detail"] = {**params, "value": value}
        if value:
            self.title_locked = True

    def summary(self, el: ET.Element, lang: str | None, default: str, depth: int = 1) -> None:
        """A summary (``description``, Atom ``summary``, ``media:description``) ``depth``
        levels inside the entry. feedparser makes a second summary content while the entry
        has none; otherwise a summary nested deeper than the one it has keeps that one's
        text but takes its details."""
        if "summary" in self.data and not self.has_content:
            self.content(el, lang, "text/plain")
            return
        value, params = self.text_construct(el, "summary", default, lang)
        if self.summary_depth is None or depth <= self.summary_depth:
            self.summary_depth = depth
            self.data["summary"] = value
        self.data["summary_detail"] = {**params, "value": value}

    def content(self, el: ET.Element, lang: str | None, default: str) -> None:
        self.has_content = True
        value, params = self.text_construct(el, "content", default, lang)
        self.data.setdefault("content", []).append({**params, "value": value})
        if params["type"] in ({"text/plain"} | _HTML_TYPES):
            self.save("summary", value)

    def link(self, el: ET.Element) -> None:
        attrs, href = _link_attrs(el)
        if href:
            attrs.pop("url", None)
            attrs.pop("uri", None)
            attrs["href"] = _urljoin("", href)
        links = self.data.setdefault("links", [])
        links.append(attrs)
        if "href" in attrs:
            if attrs.get("rel") == "alternate" and _map_type(attrs.get("type", "")) in _HTML_TYPES:
                self.data["link"] = attrs["href"]
            return
        value = _finish(_text(el), "link")
        value = _LINK_QUERY_FIX.sub(r"&\g<1>", value.replace("&amp;", "&"))
        self.data["link"] = value
        if value:
            links[-1]["href"] = value

    def guid(self, el: ET.Element) -> None:
        self.guidislink = _attrs(el).get("ispermalink", "true") == "true"
        value = _finish(_text(el), "id", resolve=self.guidislink)
        self.data["id"] = value
        self.save("guidislink", self.guidislink and "link" not in self.data)
        if self.guidislink:
            self.save("link", value)

    def date(self, el: ET.Element, key: str) -> None:
        value = _finish(_text(el), key)
        self.data[key] = value
        self.data[key + "_parsed"] = plain(_parse_date(value))

    def category(self, el: ET.Element) -> None:
        attrs = _attrs(el)
        self.add_tag(attrs.get("term"), attrs.get("scheme", attrs.get("domain")),
                     attrs.get("label"))
        value = _finish(_text(el), "category")
        if not value:
            return
        tags = self.data["tags"]
        if tags and not tags[-1]["term"]:
            tags[-1]["term"] = value
        else:
            self.add_tag(value, None, None)

    def add_tag(self, term: str | None, scheme: str | None, label: str | None) -> None:
        tags = self.data.setdefault("tags", [])
        if not term and not scheme and not label:
            return
        value = {"term": term, "scheme": scheme, "label": label}
        if value not in tags:
            tags.append(value)

    # Authors: feedparser's _start_author/_end_author/_save_author/_sync_author_detail.

    def rss_author(self, el: ET.Element) -> None:
        self.data.setdefault("authors", []).append({})
        self.data["author"] = _finish(_text(el), "author")
        self.sync_author()

    def atom_author(self, el: ET.Element) -> None:
        self.data.setdefault("authors", []).append({})
        for child in el:
            name = _name(child)
            if name == "name" or name == "email":
                self.save_author(name, _text(child).strip())
            elif name in ("uri", "url", "homepage"):
                self.save_author("href", _finish(_text(child), "href"))
            else:
                raise _Decline(f"author child {name}")
        if (el.text or "").strip() or any((c.tail or "").strip() for c in el):
            raise _Decline("text inside an Atom author")
        self.data["author"] = ""
        self.sync_author()

    def save_author(self, key: str, value: str) -> None:
        self.data.setdefault("author_detail", {})[key] = value
        self.sync_author()
        self.data.setdefault("authors", [{}])[-1][key] = value

    def sync_author(self) -> None:
        detail = self.data.get("authors", [{}])[-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                self.data["author"] = f"{name} ({email})"
            elif name:
                self.data["author"] = name
            elif email:
                self.data["author"] = email
            return
        author, email = self.data.get("author"), None
        if not author:
            return
        match = _EMAIL_RE.search(author)
        if match:
            email = match.group(0)
            author = author.replace(email, "").replace("()", "").replace("<>", "")
            author = author.replace("&lt;&gt;", "").strip()
            if author and author[0] == "(":
                author = author[1:]
            if author and author[-1] == ")":
                author = author[:-1]
            author = author.strip()
        if author or email:
            self.data.setdefault("author_detail", detail)
        if author:
            detail["name"] = author
        if email:
            detail["email"] = email

    def generic(self, el: ET.Element, name: str) -> None:
        """An element without a handler: stored under its name, which nothing reads."""
        if name in _ENTRY_KEYS or _has_handler(name):
            raise _Decline(f"element {name} in an entry")
        if len(el):
            raise _Decline(f"children under {name}")


_RSS_DATES = {"pubdate": "published", "published": "published", "issued": "published",
              "dcterms_issued": "published", "updated": "updated", "modified": "updated",
              "lastbuilddate": "updated", "dc_date": "updated", "dcterms_modified": "updated",
              "created": "created", "dcterms_created": "created"}


def _rss_item(item: ET.Element, lang: str | None) -> dict[str, Any]:
    entry = _Entry(rss=True)
    lang = _lang(item, lang)
    if item.attrib and set(_attrs(item)) - {"xml:lang", "lang"}:
        raise _Decline("attributes on an item")
    for child in item:
        name = _name(child)
        child_lang = _lang(child, lang)
        if name == "title":
            entry.title(child, child_lang)
        elif name == "description":
            if child.attrib and set(_attrs(child)) - {"xml:lang", "lang"}:
                raise _Decline("attributes on a description")
            entry.summary(child, child_lang, "text/html")
        elif name == "content_encoded":
            entry.content(child, child_lang, "text/html")
        elif name == "link":
            entry.link(child)
        elif name in ("guid", "id"):
            entry.guid(child)
        elif name in _RSS_DATES:
            entry.date(child, _RSS_DATES[name])
        elif name in ("author", "dc_creator", "dc_author", "managingeditor"):
            entry.rss_author(child)
        elif name in ("category", "dc_subject", "keywords"):
            entry.category(child)
        elif name == "enclosure":
            attrs = _attrs(child)
            href = attrs.get("url", attrs.get("uri", attrs.get("href")))
            if href:
                attrs.pop("url", None)
                attrs.pop("uri", None)
                attrs["href"] = href
            attrs["rel"] = "enclosure"
            entry.data.setdefault("links", []).append(attrs)
            if len(child) or (child.text or "").strip():
                raise _Decline("content inside an enclosure")
        elif name in ("language", "dc_language"):
            entry.data["language"] = _finish(_text(child), "language")
        elif name == "source":
            # feedparser stores the source aside and forgets the title it has seen.
            _text(child)
            entry.title_locked = False
        elif name in _MEDIA_CONTAINERS or name == "media_description":
            _media(entry, child, name, child_lang, 1)
        elif name in _INERT_HANDLERS:
            if len(child):
                raise _Decline(f"children under {name}")
        else:
            entry.generic(child, name)
    return entry.data


def _media(entry: _Entry, el: ET.Element, name: str, lang: str | None, depth: int) -> None:
    """A Media RSS element ``depth`` levels inside an entry. feedparser handles a container's
    children (``media:content``, ``media:group``) as the entry's own: a caption is a summary,
    credits and thumbnails are keys nothing reads, any other element is taken as it would be
    directly in the entry (``_Entry.generic``), and text between them is declined."""
    if name == "media_description":
        entry.summary(el, lang, "text/html", depth)
        return
    if name not in _MEDIA_CONTAINERS:
        if name in _INERT_HANDLERS:
            if len(el):
                raise _Decline(f"children under {name}")
            return
        entry.generic(el, name)
        return
    if (el.text or "").strip():
        raise _Decline(f"text in {name}")
    for child in el:
        if (child.tail or "").strip():
            raise _Decline(f"text in {name}")
        _media(entry, child, _name(child), _lang(child, lang), depth + 1)


def _atom_entry(node: ET.Element, lang: str | None) -> dict[str, Any]:
    entry = _Entry(rss=False)
    lang = _lang(node, lang)
    for child in node:
        name = _name(child)
        child_lang = _lang(child, lang)
        if name == "title":
            entry.title(child, child_lang)
        elif name == "summary":
            entry.summary(child, child_lang, "text/plain")
        elif name == "content":
            entry.content(child, child_lang, "text/plain")
        elif name == "link":
            entry.link(child)
        elif name == "id":
            entry.guid(child)
        elif name in ("published", "updated", "issued", "modified", "created"):
            entry.date(child, _RSS_DATES[name])
        elif name == "author":
            entry.atom_author(child)
        elif name == "category":
            entry.category(child)
        elif name == "contributor":
            for sub in child:
                if _name(sub) not in ("name", "email", "uri", "url", "homepage") or len(sub):
                    raise _Decline("unusual contributor")
        elif name in ("rights", "copyright"):
            _content_params(child, "text/plain", child_lang)
            _text(child)
        elif name in _MEDIA_CONTAINERS or name == "media_description":
            _media(entry, child, name, child_lang, 1)
        elif name in _INERT_HANDLERS:
            if len(child):
                raise _Decline(f"children under {name}")
        else:
            entry.generic(child, name)
    return entry.data


# -- the feed --------------------------------------------------------------------------------


class _Feed:
    """Feed-level fields: title, link, language, ttl and sy hints, as feedparser sets them."""

    def __init__(self, baselang: str | None, root_lang: str | None) -> None:
        self.title: str | None = None
        self.titles = 0
        self.link: str | None = None
        self.link_set = False  # feedparser's "'link' in context"
        self.language: str | None = baselang.replace("_", "-") if baselang else None
        if root_lang:
            self.language = root_lang.replace("_", "-")
        self.ttl: Any = None
        self.sy: dict[str, str] = {}

    def child(self, el: ET.Element, name: str) -> None:
        if name in ("title", "dc_title", "media_title"):
            self.titles += 1
            if self.titles > 1:
                raise _Decline("several feed titles")
            _content_params(el, "text/plain", None)
            self.title = _finish(_text(el), "title")
        elif name == "link":
            self._link(el)
        elif name in ("id", "guid"):
            # feedparser's _end_guid at feed level: a permalink id is the link until a
            # <link> says otherwise.
            permalink = _attrs(el).get("ispermalink", "true") == "true"
            value = _finish(_text(el), "id", resolve=permalink)
            if permalink and not self.link_set:
                self.link, self.link_set = value, True
        elif name in ("language", "dc_language"):
            self.language = _finish(_text(el), "language")
        elif name == "ttl":
            self.ttl = _finish(_text(el), "ttl") if not el.attrib else None
        elif name in ("sy_updateperiod", "sy_updatefrequency"):
            self.sy[name] = _finish(_text(el), name) if not el.attrib else ""
        elif name == "image":
            _only_children(el, _IMAGE_CHILDREN)
        elif name in ("textinput",):
            _only_children(el, _TEXTINPUT_CHILDREN)
        elif name in ("source", "entry", "item", "channel", "feed", "rss"):
            raise _Decline(f"{name} in an unexpected place")
        else:
            _inert_subtree(el)

    def _link(self, el: ET.Element) -> None:
        attrs, href = _link_attrs(el)
        if href:
            if attrs["rel"] == "alternate" and _map_type(attrs["type"]) in _HTML_TYPES:
                self.link, self.link_set = _urljoin("", href), True
            return
        self.link = _LINK_QUERY_FIX.sub(r"&\g<1>", _finish(_text(el), "link"))
        self.link_set = True

    def parsed(self, url: str, headers: dict[str, str], entries: list[dict[str, Any]],
               version: str) -> ParsedFeed:
        language = text_or_none(self.language) or \
            text_or_none(headers.get("content-language", "").split(",")[0])
        link = text_or_none(self.link)
        return ParsedFeed(
            title=text_or_none(self.title),
            link=join_link(url, link) if link and is_http_url(url) else link,
            language=language,
            entries=tuple(RawEntry(resolve_links(entry, url)) for entry in entries),
            format=version,
            warning=None,
            ttl_minutes=ttl_minutes(self.ttl),
            update_period=text_or_none(self.sy.get("sy_updateperiod")),
            update_frequency=text_or_none(self.sy.get("sy_updatefrequency")),
        )


def _only_children(el: ET.Element, allowed: frozenset[str]) -> None:
    for child in el:
        if _name(child) not in allowed or len(child):
            raise _Decline(f"unusual {_name(el)}")


_FEED_SENSITIVE = frozenset({
    "title", "dc_title", "media_title", "link", "language", "dc_language", "ttl",
    "sy_updateperiod", "sy_updatefrequency", "item", "entry", "source", "image", "textinput",
    "channel", "feed", "rss", "summary", "description", "content", "content_encoded",
})


def _inert_subtree(el: ET.Element) -> None:
    """A feed-level element with children must not contain anything feedparser would route
    to the fields read here (nested titles, links, items...)."""
    for sub in el.iter():
        if sub is el:
            continue
        if _name(sub) in _FEED_SENSITIVE:
            raise _Decline(f"{_name(sub)} nested in {_name(el)}")


def _rss(root: ET.Element, url: str, baselang: str | None,
         headers: dict[str, str]) -> ParsedFeed:
    root_lang = _lang(root, baselang)
    channels = [c for c in root if _name(c) == "channel"]
    if len(channels) != 1 or len(root) != 1:
        raise _Decline("not exactly one channel")
    channel = channels[0]
    if set(_attrs(channel)) - {"xml:lang", "lang"}:
        raise _Decline("attributes on the channel")
    feed = _Feed(baselang, root_lang)
    channel_lang = _lang(channel, root_lang)
    entries = []
    for child in channel:
        name = _name(child)
        if name == "item":
            entries.append(_rss_item(child, channel_lang))
        else:
            feed.child(child, name)
    return feed.parsed(url, headers, entries, "rss20")


def _atom(root: ET.Element, url: str, baselang: str | None,
          headers: dict[str, str]) -> ParsedFeed:
    root_lang = _lang(root, baselang)
    if root.get("version") is not None:
        raise _Decline("Atom with a version attribute")
    feed = _Feed(baselang, root_lang)
    entries = []
    for child in root:
        name = _name(child)
        if name == "entry":
            entries.append(_atom_entry(child, root_lang))
        elif name == "author" or name == "contributor":
            for sub in child:
                if _name(sub) not in ("name", "email", "uri", "url", "homepage") or len(sub):
                    raise _Decline("unusual feed author")
        else:
            feed.child(child, name)
    return feed.parsed(url, headers, entries, "atom10")
