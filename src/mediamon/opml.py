"""Read and write OPML subscription lists.

``read_opml`` turns an OPML 1.0/1.1/2.0 document into ``FeedSource`` values; ``write_opml``
does the reverse. This module does no I/O: it takes and returns bytes.

Documents
    The root element must be ``<opml>`` (any version) or ``<outlineDocument>``, the pre-1.0
    name the specification says readers keep accepting; element names are compared without
    namespace prefix and case.

Which outlines are feeds
    Every ``<outline>`` with a non-empty ``xmlUrl`` attribute (attribute names are matched
    case-insensitively, so ``xmlurl`` works too), wherever it sits in the document except
    inside ``<head>``. The ``type`` attribute is not consulted. Outlines whose ``xmlUrl`` is
    not an absolute ``http``/``https`` URL are skipped, not fatal: their values are listed in
    ``OpmlFeeds.skipped``. Included OPML files (``type="include"``) are not followed.

Names
    The ``title`` attribute, else ``text``, with whitespace collapsed. A missing or empty name,
    or a name that is just the feed URL, becomes ``None``.

Tags
    - Each enclosing outline that is not itself a feed (a folder) contributes its ``text``
      (else ``title``) as one tag, outermost first: ``News > World > feed`` gives the tags
      ``news`` and ``world``.
    - The feed's ``category`` attribute is a comma-separated list; each entry is one tag.
      Slash paths are kept as one hierarchical tag without the outer slashes:
      ``/News/World`` becomes ``news/world`` (not ``news`` and ``world``).
    - Every tag is normalised by ``normalize_tag``: lower-cased, commas turned into spaces
      (a comma separates categories, so it can never be part of a tag), runs of whitespace
      collapsed, each slash-separated segment trimmed and empty segments dropped. Tags that
      end up empty are dropped; duplicates are kept once, in first-seen order.

Duplicates
    A URL seen twice (compared with the scheme and host lower-cased) keeps its first
    occurrence, name and position; the tags of later occurrences are merged into it.

Safety
    Documents with a DTD (``<!DOCTYPE``) or entity declarations are refused before parsing,
    and again by the parser itself should the text check be evaded by an exotic encoding,
    so neither entity expansion ("billion laughs") nor external entities (XXE) can happen.
    The parser is expat; it reads the encoding from the BOM or the XML declaration. Encodings
    expat cannot read itself (multi-byte ones such as Shift_JIS) are decoded with Python's
    codecs and parsed again.

Repair
    Hand-edited and generated OPML is often not well-formed: bare ``&`` in URLs, HTML
    entities such as ``&nbsp;``, unescaped quotes or markup inside ``description``. When the
    strict parse fails, the document is decoded, those mistakes are escaped (each attribute
    value ends at the quote that is followed by another attribute or by the end of the tag),
    and it is parsed once more; ``OpmlFeeds.warning`` then says so. Anything the repair cannot
    fix (misnested or unclosed elements, text that is not valid in its declared encoding)
    raises ``OpmlError("<source>: not well-formed XML: line L, column C")`` with the position
    of the first error in the original document.

Writing
    ``write_opml`` produces OPML 2.0 in UTF-8. Feeds are grouped into one folder outline per
    first tag (untagged feeds stay at the top level; folders appear where their first feed
    would have been). Each feed outline carries ``type="rss"``, ``text`` and ``title`` (the
    name; an unnamed feed gets its URL as ``text`` and no ``title``), ``xmlUrl`` and
    ``category`` with all its tags, comma-separated, without leading slashes. Tags are
    written normalised and characters XML cannot carry are dropped, so
    ``read_opml(write_opml(feeds))`` gives back the same URLs, names (whitespace collapsed)
    and tag sets (normalised). A URL listed twice is written once, with the tags merged.
"""

from __future__ import annotations

import codecs
import html.entities
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.parsers import expat

from mediamon.errors import OpmlError
from mediamon.types import FeedSource

__all__ = ["OpmlFeeds", "normalize_tag", "read_opml", "write_opml"]

# Root elements accepted as OPML. ``outlineDocument`` is the pre-1.0 name that the OPML
# specification says readers keep accepting.
_OPML_ROOTS = frozenset({"opml", "outlinedocument"})

_DTD_MARKERS = ("<!DOCTYPE", "<!ENTITY")
_DTD_PATTERNS = tuple(
    marker.encode(encoding)
    for marker in _DTD_MARKERS
    for encoding in ("ascii", "utf-16-le", "utf-16-be")
)

_XML_DECL = re.compile(rb"^<\?xml[^>]*?encoding\s*=\s*([\"'])([A-Za-z0-9._:-]+)\1")
_LEADING_SPACE = re.compile(rb"^[ \t\r\n]+(?=<\?xml)")

# Characters XML 1.0 cannot carry at all, not even as character references.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")

_UNKNOWN_ENCODING = expat.errors.codes[expat.errors.XML_ERROR_UNKNOWN_ENCODING]


class OpmlFeeds(list[FeedSource]):
    """The feeds of one OPML document, in document order, with what was left out.

    ``skipped`` holds the ``xmlUrl`` values that were not absolute http(s) URLs;
    ``duplicates`` counts outlines whose URL had already been seen (their tags were merged);
    ``warning`` is set when the document was not well-formed and was read after repair.
    """

    skipped: tuple[str, ...]
    duplicates: int
    warning: str | None

    def __init__(
        self,
        feeds: Iterable[FeedSource] = (),
        skipped: Iterable[str] = (),
        duplicates: int = 0,
        warning: str | None = None,
    ) -> None:
        super().__init__(feeds)
        self.skipped = tuple(skipped)
        self.duplicates = duplicates
        self.warning = warning


def normalize_tag(tag: str) -> str:
    """Return ``tag`` in the form ``read_opml`` produces; the empty string means "no tag".

    >>> normalize_tag("  /News/ World  Affairs/")
    'news/world affairs'
    """
    tag = tag.lower().replace(",", " ")
    segments = (" ".join(segment.split()) for segment in tag.split("/"))
    return "/".join(segment for segment in segments if segment)


def _collapse(text: str | None) -> str:
    return " ".join(text.split()) if text else ""


def _is_feed_url(url: str) -> bool:
    if any(ch.isspace() for ch in url):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 -- raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def _url_key(url: str) -> str:
    """``url`` with scheme and host lower-cased; everything else kept byte for byte."""
    scheme, _, rest = url.partition("://")
    host_end = min((i for i in map(rest.find, "/?#") if i != -1), default=len(rest))
    return f"{scheme.lower()}://{rest[:host_end].lower()}{rest[host_end:]}"


def _local(name: str) -> str:
    return name.rpartition(":")[2].lower()


def _attributes(attrs: dict[str, str]) -> dict[str, str]:
    """Attributes keyed by lower-cased name; namespaced ones are ignored."""
    result: dict[str, str] = {}
    for key, value in attrs.items():
        if ":" in key:
            continue
        lowered = key.lower()
        # ``xmlUrl=""`` next to ``xmlurl="http://..."``: the non-empty one wins.
        if lowered not in result or (value.strip() and not result[lowered].strip()):
            result[lowered] = value
    return result


def _add_tags(tags: list[str], new: Iterable[str]) -> None:
    for tag in new:
        tag = normalize_tag(tag)
        if tag and tag not in tags:
            tags.append(tag)


class _Reader:
    """Expat callbacks that collect feeds as the document streams past."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.depth = 0
        self.head_depth = 0  # > 0 while inside <head>
        # One entry per open <outline>: the folder tag it adds, or None.
        self.folders: list[str | None] = []
        self.open_outline_depths: list[int] = []
        self.order: list[str] = []
        self.feeds: dict[str, tuple[str, str | None, list[str]]] = {}
        self.skipped: list[str] = []
        self.duplicates = 0

    def refuse_dtd(self, *_args: Any) -> int:  # the type expat's handlers are declared with
        raise OpmlError(f"{self.source}: DTDs and entities are not allowed in OPML")

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        local = _local(name)
        if self.depth == 1:
            if local not in _OPML_ROOTS:
                raise OpmlError(
                    f"{self.source}: not an OPML document (root element is <{name}>)"
                )
            return
        if self.head_depth:
            return
        if local == "head" and self.depth == 2:
            self.head_depth = self.depth
            return
        if local != "outline":
            return
        self.open_outline_depths.append(self.depth)
        attributes = _attributes(attrs)
        url = attributes.get("xmlurl", "").strip()
        if not url:
            folder = _collapse(attributes.get("text")) or _collapse(attributes.get("title"))
            self.folders.append(normalize_tag(folder) or None)
            return
        self.folders.append(None)
        if not _is_feed_url(url):
            self.skipped.append(url)
            return
        tags: list[str] = []
        _add_tags(tags, (folder for folder in self.folders if folder))
        _add_tags(tags, attributes.get("category", "").split(","))
        key = _url_key(url)
        if key in self.feeds:
            self.duplicates += 1
            _add_tags(self.feeds[key][2], tags)
            return
        name = _collapse(attributes.get("title")) or _collapse(attributes.get("text"))
        self.order.append(key)
        self.feeds[key] = (url, name if name and name != url else None, tags)

    def end(self, _name: str) -> None:
        if self.head_depth == self.depth:
            self.head_depth = 0
        if self.open_outline_depths and self.open_outline_depths[-1] == self.depth:
            self.open_outline_depths.pop()
            self.folders.pop()
        self.depth -= 1

    def result(self) -> OpmlFeeds:
        feeds = (
            FeedSource(url=url, name=name, tags=tuple(tags), origin="db")
            for url, name, tags in (self.feeds[key] for key in self.order)
        )
        return OpmlFeeds(feeds, self.skipped, self.duplicates)


def _check_no_dtd(data: bytes, source: str) -> None:
    upper = data.upper()
    if any(pattern in upper for pattern in _DTD_PATTERNS):
        raise OpmlError(f"{source}: DTDs and entities are not allowed in OPML")


class _UnknownEncoding(Exception):
    """Expat cannot read the declared encoding itself."""


class _NotWellFormed(Exception):
    """Expat stopped on a well-formedness error; ``error`` is what the caller sees."""

    def __init__(self, error: OpmlError) -> None:
        super().__init__(str(error))
        self.error = error


def _parse(data: bytes, source: str, line_offset: int) -> OpmlFeeds:
    reader = _Reader(source)
    parser = expat.ParserCreate()
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    # Second line of defence: the byte check cannot see every encoding.
    parser.StartDoctypeDeclHandler = reader.refuse_dtd
    parser.EntityDeclHandler = reader.refuse_dtd
    parser.UnparsedEntityDeclHandler = reader.refuse_dtd
    parser.ExternalEntityRefHandler = reader.refuse_dtd
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    try:
        parser.Parse(data, True)
    except (ValueError, LookupError) as exc:
        # pyexpat's own handler for encodings expat lacks: "multi-byte encodings are not
        # supported" and the like.
        raise _UnknownEncoding from exc
    except expat.ExpatError as exc:
        if exc.code == _UNKNOWN_ENCODING:
            raise _UnknownEncoding from None
        line, column = exc.lineno + line_offset, exc.offset + 1
        error = OpmlError(f"{source}: not well-formed XML: line {line}, column {column}")
        error.line, error.column = line, column  # type: ignore[attr-defined]
        error.reason = expat.errors.messages[exc.code]  # type: ignore[attr-defined]
        raise _NotWellFormed(error) from None
    return reader.result()


def _declared_codec(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    match = _XML_DECL.match(data)
    return match.group(2).decode("ascii") if match else "utf-8"


def _reencode(data: bytes, source: str) -> bytes:
    """Decode a document in an encoding expat lacks and return it as UTF-8."""
    name = _declared_codec(data)
    try:
        text = data.decode(codecs.lookup(name).name)
    except LookupError:
        raise OpmlError(f"{source}: unsupported character encoding {name!r}") from None
    except UnicodeDecodeError as exc:
        raise OpmlError(f"{source}: not valid {name} text at byte {exc.start}") from None
    if any(marker in text.upper() for marker in _DTD_MARKERS):
        raise OpmlError(f"{source}: DTDs and entities are not allowed in OPML")
    text = _XML_DECL_TEXT.sub("", text.lstrip("\ufeff"), count=1)
    return ('<?xml version="1.0" encoding="UTF-8"?>' + text).encode("utf-8")


# --- repairing the mistakes exporters commonly make -------------------------------------

_XML_DECL_TEXT = re.compile(r"^\s*<\?xml[^>]*\?>")
_NAME = r"[A-Za-z_][\w.:-]*"
_ENTITY = re.compile(r"&(?:(#[0-9]+|#x[0-9A-Fa-f]+|[A-Za-z][A-Za-z0-9]*);)?")
_PASS_THROUGH = re.compile(
    rf"<!--.*?-->|<\?.*?\?>|<!\[CDATA\[.*?\]\]>|</{_NAME}\s*>", re.DOTALL
)
_START_TAG = re.compile(rf"<({_NAME})")
_TAG_END = re.compile(r"\s*(/?)>")
_ATTRIBUTE = re.compile(rf"\s+({_NAME})\s*=\s*([\"'])")
# What may follow the quote that really closes an attribute value.
_AFTER_VALUE = re.compile(rf"\s+{_NAME}\s*=\s*[\"']|\s*/?>\s*(?:<|\Z)")
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_MAX_REPAIRED_VALUE = 64 * 1024


def _fix_entity(match: re.Match[str]) -> str:
    ref = match.group(1)
    if ref is None:
        return "&amp;"  # a bare ampersand
    if ref.startswith("#"):
        number = int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:])
        valid = number <= 0x10FFFF and not _XML_INVALID.match(chr(number))
        return match.group() if valid else ""
    if ref in _XML_ENTITIES:
        return match.group()
    if ref in html.entities.name2codepoint:  # HTML entities such as &nbsp;
        return f"&#{html.entities.name2codepoint[ref]};"
    return "&amp;" + ref + ";"


def _fix_text(text: str) -> str:
    return _ENTITY.sub(_fix_entity, text).replace("<", "&lt;")


def _repair_start_tag(text: str, pos: int) -> tuple[str, int] | None:
    """Re-serialise the start tag at ``pos`` with its attribute values escaped."""
    name_match = _START_TAG.match(text, pos)
    assert name_match is not None
    attributes: dict[str, str] = {}
    cursor = name_match.end()
    while True:
        end = _TAG_END.match(text, cursor)
        if end:
            serialised = "".join(
                f' {key}="{_fix_text(value).replace(chr(34), "&quot;")}"'
                for key, value in attributes.items()
            )
            tag = f"<{name_match.group(1)}{serialised}{end.group(1)}>"
            return tag, end.end()
        attribute = _ATTRIBUTE.match(text, cursor)
        if attribute is None:
            return None
        quote, start = attribute.group(2), attribute.end()
        limit = start + _MAX_REPAIRED_VALUE  # keeps a broken document from taking O(n^2)
        close = text.find(quote, start, limit)
        while close != -1 and not _AFTER_VALUE.match(text, close + 1):
            close = text.find(quote, close + 1, limit)
        if close == -1:
            return None
        attributes.setdefault(attribute.group(1), text[start:close])
        cursor = close + 1


def _repair(data: bytes) -> bytes | None:
    """Return ``data`` with common mistakes fixed, as UTF-8, or None if it cannot be read.

    Fixed: bare ``&``, HTML entities, unescaped ``<`` and quotes inside attribute values,
    repeated attributes, stray ``<`` in text and characters XML does not allow.
    A start tag that cannot be read even so, and unbalanced or misnested elements, are not
    guessed at. Work is linear in the size of the document.
    """
    try:
        text = data.decode(codecs.lookup(_declared_codec(data)).name)
    except (LookupError, UnicodeDecodeError):
        return None
    if any(marker in text.upper() for marker in _DTD_MARKERS):
        return None
    text = _XML_INVALID.sub("", _XML_DECL_TEXT.sub("", text.lstrip("\ufeff"), count=1))
    out = ['<?xml version="1.0" encoding="UTF-8"?>']
    pos = 0
    while (lt := text.find("<", pos)) != -1:
        out.append(_fix_text(text[pos:lt]))
        if kept := _PASS_THROUGH.match(text, lt):
            out.append(kept.group())
            pos = kept.end()
        elif _START_TAG.match(text, lt):
            tag = _repair_start_tag(text, lt)
            if tag is None:  # not a mistake we know how to fix: do not guess further
                return None
            out.append(tag[0])
            pos = tag[1]
        else:  # "x < y" in text
            out.append("&lt;")
            pos = lt + 1
    out.append(_fix_text(text[pos:]))
    return "".join(out).encode("utf-8")


def read_opml(data: bytes, *, source: str = "<opml>") -> OpmlFeeds:
    """Return the feeds listed in an OPML document, in document order, with ``origin="db"``.

    The result is an ``OpmlFeeds`` (a list) that also says which outlines were skipped and
    whether the document had to be repaired. A valid OPML document without feeds gives an
    empty list. Raises ``OpmlError`` naming ``source`` when the document has a DTD, is not
    well-formed (beyond the repairs listed in the module docstring), or is not OPML.
    """
    _check_no_dtd(data, source)
    body, line_offset = data, 0
    without_bom = data.removeprefix(codecs.BOM_UTF8)
    leading = _LEADING_SPACE.match(without_bom)
    if leading:  # some exporters emit blank lines before the XML declaration
        line_offset = leading.group().count(b"\n")
        body = without_bom[leading.end() :]
    try:
        try:
            return _parse(body, source, line_offset)
        except _UnknownEncoding:
            body = _reencode(body, source)
            return _parse(body, source, line_offset)
    except _NotWellFormed as failure:
        repaired = _repair(body)
        if repaired is not None:
            try:
                feeds = _parse(repaired, source, 0)
            except (_NotWellFormed, _UnknownEncoding):
                pass
            else:
                feeds.warning = f"{failure.error}; read after repairing it"
                return feeds
        raise failure.error from None


def _xml_text(text: str) -> str:
    return _XML_INVALID.sub("", text)


def write_opml(
    feeds: Iterable[FeedSource],
    *,
    title: str = "mediamon feeds",
    created: datetime | None = None,
) -> bytes:
    """Return an OPML 2.0 document (UTF-8 bytes) listing ``feeds``.

    Feeds are grouped into folder outlines by their first tag; ``created`` (default: now)
    becomes ``<dateCreated>``. A URL listed twice is written once with the tags merged.
    """
    when = (created or datetime.now(UTC)).astimezone(UTC)
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = _xml_text(title)
    ET.SubElement(head, "dateCreated").text = format_datetime(when, usegmt=True)
    body = ET.SubElement(root, "body")

    merged: dict[str, tuple[FeedSource, list[str]]] = {}
    for feed in feeds:
        url = _xml_text(feed.url).strip()
        key = _url_key(url) if _is_feed_url(url) else url
        tags = merged[key][1] if key in merged else []
        _add_tags(tags, (_xml_text(tag) for tag in feed.tags))
        if key not in merged:
            merged[key] = (feed, tags)

    folders: dict[str, ET.Element] = {}
    for feed, tags in merged.values():
        parent = body
        if tags:
            if tags[0] not in folders:
                folders[tags[0]] = ET.SubElement(body, "outline", text=tags[0], title=tags[0])
            parent = folders[tags[0]]
        url = _xml_text(feed.url).strip()
        name = _collapse(_xml_text(feed.name or ""))
        attributes = {"type": "rss", "text": name or url}
        if name:
            attributes["title"] = name
        attributes["xmlUrl"] = url
        if tags:
            attributes["category"] = ",".join(tags)
        ET.SubElement(parent, "outline", attributes)

    ET.indent(root, space="  ")
    document = ET.tostring(root, encoding="unicode")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + document + "\n").encode("utf-8")
