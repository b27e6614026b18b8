"""An article page's bytes -> its main text, metadata and a verdict (pure).

    extract_article(body, url=, content_type=)
      not HTML (a PDF, an image, a JSON document...)      -> "not-html"
      decode: valid UTF-8; else the declared charset (HTTP header, BOM, <meta>) if the bytes
              are valid in it; else charset_normalizer's guess (a cp1251 page that says
              UTF-8 still reads as Cyrillic)
      extract: trafilatura (precision-leaning settings, comments left out), with title,
              author, date and canonical URL; the page's declared language from its markup
      decide: a short text behind a paywall's markers          -> "paywall"
              a cookie wall or a consent page                  -> "consent"
              no text, or too little to be an article          -> "empty"
              otherwise                                        -> "ok"

trafilatura (the ``articles`` extra: ``pip install 'mediamon[articles]'``) is imported on
first use; without it ``extract_article`` raises ``ExtractorMissing``. The settings were
chosen on the real pages of ``benchmarks/articles.py`` (docs/articles.md).

This module does no I/O: it never fetches (``mediamon.article`` does, politely), never
retries and keeps no state between calls. ``Article.text`` is kept for every status that
extracted something (a paywall's teaser too); callers use it as the article only when the
status is "ok".
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

HtmlElement = Any  # lxml.html.HtmlElement (lxml publishes no type information)

ArticleStatus = Literal["ok", "paywall", "consent", "not-html", "too-large",
                        "blocked-by-robots", "http-error", "empty", "deferred"]
STATUSES: tuple[ArticleStatus, ...] = ("ok", "paywall", "consent", "not-html", "too-large",
                                       "blocked-by-robots", "http-error", "empty", "deferred")

MIN_CHARS = 150  # less main text than this is no article ("empty")
# A page whose main text is shorter than this may be a paywall's teaser or a cookie wall;
# a longer one is the article, whatever boxes around it say.
SHORT_CHARS = 1000
_SCAN_CHARS = 20_000  # how much of the page's visible text the markers are looked for in


class ExtractorMissing(RuntimeError):
    """trafilatura is not installed (the ``articles`` extra)."""

    def __init__(self) -> None:
        super().__init__("article extraction needs trafilatura: "
                         "pip install 'mediamon[articles]'")


@dataclass(frozen=True)
class Article:
    """What became of one article page.

    ``reason`` is a one-line explanation for every status but "ok" (and for an "ok" page
    that needed one, e.g. a mislabelled encoding). ``language`` is what the page's markup
    declares (``<html lang>``, ``og:locale``, JSON-LD ``inLanguage``), primary subtag,
    lower case. ``published`` is an ISO date (``YYYY-MM-DD``) when the page gives one.
    """

    url: str
    status: ArticleStatus
    reason: str | None = None
    text: str | None = None
    title: str | None = None
    author: str | None = None
    published: str | None = None
    language: str | None = None
    canonical_url: str | None = None
    final_url: str | None = None  # where redirects led (set by the fetcher)
    http_status: int | None = None
    encoding: str | None = None
    fetch_seconds: float = 0.0
    extract_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"


# -- what kind of document --------------------------------------------------------------

_HTML_TYPES = ("text/html", "application/xhtml+xml", "application/vnd.wap.xhtml+xml")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (an office document?)"),
    (b"\x1f\x8b", "a gzip file"),
)
_HTML_START = re.compile(rb"<\s*(!doctype\s+html|html|head|body|article|meta|title|div|p)\b",
                         re.IGNORECASE)


def not_html(body: bytes, content_type: str | None) -> str | None:
    """Why ``body`` is not an HTML page (a one-line reason), or None when it is one.

    The bytes win over a header that lies: a PDF served as text/html is a PDF, and an
    HTML page served as application/octet-stream (or with no type) is HTML."""
    head = body[:1024].lstrip(b"\xef\xbb\xbf \t\r\n")
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"not an HTML page: {what}"
    if head[:12] == b"RIFF" + head[4:8] and head[8:12] == b"WEBP":
        return "not an HTML page: a WebP image"
    mime = (content_type or "").split(";", 1)[0].strip().lower()
    if mime in _HTML_TYPES or _HTML_START.search(head):
        return None
    if mime.startswith(("image/", "audio/", "video/", "font/")) or mime in (
            "application/pdf", "application/json", "application/zip"):
        return f"not an HTML page: {mime}"
    if not mime or mime in ("application/octet-stream", "text/plain"):
        return "not an HTML page: no HTML markup in the body"
    return f"not an HTML page: {mime}"


# -- decoding ---------------------------------------------------------------------------

_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9._:-]+)""", re.IGNORECASE)


def _codec(name: str | None) -> str | None:
    if not name:
        return None
    try:
        return codecs.lookup(name.strip().strip("\"'")).name
    except LookupError:
        return None


def declared_charset(body: bytes, content_type: str | None) -> str | None:
    """The charset the page claims: a BOM, else the HTTP header, else a ``<meta>``."""
    for bom, name in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return name
    match = re.search(r"charset\s*=\s*[\"']?([^\s;\"']+)", content_type or "", re.IGNORECASE)
    if match and (codec := _codec(match.group(1))):
        return codec
    meta = _META_CHARSET.search(body[:4096])
    return _codec(meta.group(1).decode("ascii", "replace")) if meta else None


def decode_html(body: bytes, content_type: str | None = None) -> tuple[str, str, str | None]:
    """``(text, encoding, note)``: the page as text, the codec that read it, and a one-line
    note when the page's own claim was wrong or missing (None when it was right)."""
    declared = declared_charset(body, content_type)
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8):]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        note = None if declared in (None, "utf-8", "ascii") else (
            f"declared {declared} but is UTF-8")
        return text, "utf-8", note
    if declared not in (None, "utf-8"):
        try:
            return body.decode(declared), declared, None
        except (UnicodeDecodeError, LookupError):
            pass
    from charset_normalizer import from_bytes

    sample = body if len(body) <= 200_000 else body[:100_000] + body[-100_000:]
    best = from_bytes(sample).best()
    guessed = _codec(best.encoding) if best is not None else None
    if guessed:
        try:
            text = body.decode(guessed)
        except (UnicodeDecodeError, LookupError):
            pass
        else:
            said = f"declared {declared}" if declared else "no charset declared"
            return text, guessed, f"{said}; read as {guessed}"
    return body.decode("utf-8", "replace"), "utf-8", "undecodable bytes replaced"


# -- markers: language, paywalls, consent walls --------------------------------------------

_PAYWALL_WORDS = re.compile(
    r"subscribe (?:now )?to (?:continue|keep) reading|subscribe to read|already a subscriber"
    r"|for subscribers only|subscribers only|this (?:article|story|content) is (?:only )?"
    r"(?:available )?(?:for|to) (?:subscribers|members)|sign in to (?:continue|read)"
    r"|to continue reading|become a (?:subscriber|member) to|unlock this article"
    r"|продолжение доступно (?:по|только) подписке|доступно только подписчикам"
    r"|weiterlesen mit|réservé aux abonnés", re.IGNORECASE)
_CONSENT_URL = re.compile(
    r"^https?://(?:consent|guce|cmp|privacy|cookies?)[.-]|/(?:consent|cookie-?consent"
    r"|cookie-?wall|privacy-?gate|gdpr|collectconsent)(?:[/?.#-]|$)", re.IGNORECASE)
_CONSENT_WORDS = re.compile(
    r"\bcookies?\b|\bconsent\b|accept all|reject all|accept cookies|manage (?:your )?"
    r"(?:preferences|choices|settings)|privacy settings|personali[sz]ed (?:ads|advertising)"
    r"|our partners|legitimate interest|\bgdpr\b|файлы cookie|согласие|einwilligung"
    r"|zustimmen|accepter|consentement", re.IGNORECASE)
_LANG = re.compile(r"^[a-z]{2,3}$")


def _primary(tag: object) -> str | None:
    if not isinstance(tag, str):
        return None
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    return primary if _LANG.match(primary) else None


def _json_ld(tree: HtmlElement) -> list[dict[str, Any]]:
    """Every JSON-LD object on the page (``@graph`` members and lists flattened)."""
    found: list[dict[str, Any]] = []
    for script in tree.iterfind(".//script[@type='application/ld+json']"):
        try:
            data = json.loads(script.text or "")
        except ValueError:
            continue
        todo = [data]
        while todo:
            node = todo.pop()
            if isinstance(node, list):
                todo.extend(node)
            elif isinstance(node, dict):
                found.append(node)
                graph = node.get("@graph")
                if isinstance(graph, list):
                    todo.extend(graph)
    return found


def page_language(tree: HtmlElement, ld: list[dict[str, Any]]) -> str | None:
    """The language the page declares, primary subtag (``<html lang="ru-RU">`` -> "ru")."""
    candidates: list[object] = [tree.get("lang"), tree.get("xml:lang"),
                                tree.get("{http://www.w3.org/XML/1998/namespace}lang")]
    for meta in tree.iterfind(".//meta"):
        key = (meta.get("http-equiv") or meta.get("property") or meta.get("name") or "").lower()
        if key in ("content-language", "og:locale", "language", "dc.language"):
            candidates.append(meta.get("content"))
    candidates.extend(node.get("inLanguage") for node in ld)
    for candidate in candidates:
        if (code := _primary(candidate)) is not None:
            return code
    return None


def _free(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _marked_paid(ld: list[dict[str, Any]], visible: str) -> str | None:
    """Why the page looks like a paywall (None if it does not)."""
    # Class names ("paywall-login-link") are no evidence: sites that meter some articles
    # put the wall's scaffolding on every page, free ones included.
    if any(_free(node.get("isAccessibleForFree")) is False for node in ld):
        return "the page marks its text as not free (isAccessibleForFree: false)"
    if match := _PAYWALL_WORDS.search(visible):
        return f"the page says {match[0].strip()!r}"
    return None


def _consent_wall(final_url: str, text: str, *, words_needed: int) -> str | None:
    """Why the page looks like a cookie or consent wall (None if it does not)."""
    if _CONSENT_URL.search(final_url):
        return f"redirected to a consent page ({final_url})"
    words = {m[0].lower() for m in _CONSENT_WORDS.finditer(text)}
    if len(words) >= words_needed:
        return "a cookie or consent wall (" + ", ".join(sorted(words)[:3]) + ")"
    return None


def _visible_text(tree: HtmlElement) -> str:
    parts: list[str] = []
    size = 0
    for element in tree.iter():
        if not isinstance(element.tag, str) or element.tag in ("script", "style", "noscript",
                                                                "template"):
            continue
        for piece in (element.text, element.tail):
            if piece and piece.strip():
                parts.append(piece.strip())
                size += len(piece)
        if size > _SCAN_CHARS:
            break
    return " ".join(parts)[:_SCAN_CHARS]


# -- the extraction ---------------------------------------------------------------------


def _trafilatura() -> Any:
    try:
        import trafilatura
    except ImportError as exc:
        raise ExtractorMissing() from exc
    return trafilatura


def available() -> bool:
    """Whether trafilatura can be imported (the ``articles`` extra is installed)."""
    try:
        _trafilatura()
    except ExtractorMissing:
        return False
    return True


# The settings mediamon extracts with: measured on real pages (docs/articles.md).
SETTINGS: dict[str, Any] = {"include_comments": False, "favor_precision": True,
                            "include_tables": True, "deduplicate": False}
# The date from the page's markup only: htmldate's extensive search takes a copyright
# line ("© 2025") for the date of publication.
DATE_PARAMS: dict[str, Any] = {"extensive_search": False, "original_date": True}


def extract_article(body: bytes, *, url: str, content_type: str | None = None,
                    final_url: str | None = None) -> Article:
    """Main text, metadata and status of one fetched page.

    ``url`` is the item's link, ``final_url`` where redirects led (default ``url``),
    ``content_type`` the response's header. Raises ExtractorMissing without trafilatura;
    nothing a page contains makes it raise.
    """
    final = final_url or url
    problem = not_html(body, content_type)
    if problem is not None:
        return Article(url, "not-html", problem, final_url=final)
    traf = _trafilatura()
    from trafilatura.utils import load_html

    text, encoding, note = decode_html(body, content_type)
    tree = load_html(text)
    if tree is None:
        return Article(url, "empty", "no HTML document in the page", final_url=final,
                       encoding=encoding)
    ld = _json_ld(tree)
    language = page_language(tree, ld)
    visible = _visible_text(tree)
    doc = traf.bare_extraction(tree, url=final, with_metadata=True,
                               date_extraction_params=DATE_PARAMS, **SETTINGS)
    main = (doc.text or "").strip() if doc is not None else ""
    base = Article(
        url, "ok", note, text=main or None, language=language, final_url=final,
        title=_clean(doc.title) if doc is not None else None,
        author=_clean(doc.author) if doc is not None else None,
        published=_clean(doc.date) if doc is not None else None,
        canonical_url=_clean(doc.url) if doc is not None else None, encoding=encoding)
    if len(main) < SHORT_CHARS:
        # Little or no main text: the page's words decide; a short text: its own words
        # (a brief about cookie rules is no cookie wall unless it talks of nothing else).
        scanned, needed = (visible, 2) if len(main) < MIN_CHARS else (main, 3)
        if consent := _consent_wall(final, scanned, words_needed=needed):
            return _with(base, "consent", consent)
        if paid := _marked_paid(ld, visible):
            return _with(base, "paywall", paid)
    if len(main) < MIN_CHARS:
        said = "no main text found" if not main else f"only {len(main)} characters of text"
        return _with(base, "empty", said)
    return base


def _with(article: Article, status: ArticleStatus, reason: str) -> Article:
    from dataclasses import replace

    return replace(article, status=status, reason=reason)


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return value or None
