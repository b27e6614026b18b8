"""Issue 7, content safety: known XSS payloads fed through a real feed never come out
executable in the Atom export, the HTML report or the alerts; SQL injection strings in
filters and search queries cannot change a query's shape."""

from __future__ import annotations

import html
import json
import re
import sqlite3
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from selectolax.lexbor import LexborHTMLParser

from conftest import default_settings_text, feeds_text, invoke_demo
from mediamon.cli import cli
from test_alerts import Mailbox, Receiver, free_port  # loopback webhook and SMTP receivers

# Known payloads (OWASP XSS filter evasion cheat sheet, html5sec.org): markup ones go into
# titles, summaries and content; URL ones also into the item's <link>.
MARKUP = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
    "<scr<script>ipt>alert(2)</scr</script>ipt>",
    '<img src=x onerror="alert(3)">',
    "<IMG SRC=# OnMouseOver=alert(4)>",
    "<body onload=alert(5)>",
    '<svg onload="alert(6)"><circle r="1"/></svg>',
    '<svg><script>alert(7)</script></svg>',
    '<iframe src="https://evil.example/"></iframe>',
    '<iframe srcdoc="&lt;script&gt;alert(8)&lt;/script&gt;"></iframe>',
    '<form action="https://evil.example/"><input name=p><button>go</button></form>',
    '<button formaction="javascript:alert(9)">x</button>',
    '<div style="width: expression(alert(10))">x</div>',
    '<div style="background:url(javascript:alert(11))">x</div>',
    "<style>body{background:url(javascript:alert(12))}</style>",
    '<meta http-equiv="refresh" content="0;url=javascript:alert(13)">',
    '<object data="javascript:alert(14)"></object><embed src="javascript:alert(15)">',
    '<base href="javascript:alert(16)//">',
    '<link rel="stylesheet" href="javascript:alert(17)">',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(18)>',
    '<details open ontoggle=alert(19)>',
    '<a href="https://ok.example/" onclick="alert(20)">ok</a>',
    "<noscript><p title=\"</noscript><img src=x onerror=alert(21)>\">",
    '"><img src=x onerror=alert(22)>',
]
URLS = [
    "javascript:alert(30)",
    "JaVaScRiPt:alert(31)",
    " javascript:alert(32)",
    "java\tscript:alert(33)",
    "jav&#x09;ascript:alert(34)",
    "&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(35)",
    "&#x6A;avascript:alert(36)",
    "javascript&colon;alert(37)",
    "data:text/html;base64,PHNjcmlwdD5hbGVydCgzOCk8L3NjcmlwdD4=",
    "DATA:text/html,<script>alert(39)</script>",
    "vbscript:msgbox(40)",
    "VBScript:msgbox(41)",
    "file:///etc/passwd",
    "//evil.example/x",
]
PAYLOADS = MARKUP + [f'<a href="{u}">click</a>' for u in URLS] + [
    f'<img src="{u}">' for u in URLS]
TITLE = "Russia recognises the Taliban government of Afghanistan"
BAD_SCHEME = re.compile(r"^\s*(?:javascript|vbscript|data|file)\s*:", re.IGNORECASE)
FORBIDDEN = ("script", "iframe", "frame", "frameset", "object", "embed", "form", "input",
             "button", "base", "link", "applet", "textarea", "select")
URL_ATTRS = ("href", "src", "action", "formaction", "xlink:href", "srcdoc", "data",
             "background", "poster", "srcset", "ping")


def hostile_feed() -> bytes:
    """One RSS document: each payload as an item's title, description, content and link."""
    now = datetime.now(UTC)
    items = []
    for n, payload in enumerate(PAYLOADS):
        link = URLS[n % len(URLS)] if n % 2 else f"https://example.org/story/{n}"
        when = format_datetime(now - timedelta(minutes=5 + n), usegmt=True)
        items.append(
            f"<item><title>{html.escape(f'{TITLE} {n} {payload}')}</title>"
            f"<link>{html.escape(link)}</link><guid isPermaLink=\"false\">x{n}</guid>"
            f"<description>{html.escape(f'<p>{TITLE} {n}</p>{payload}')}</description>"
            f"<content:encoded><![CDATA[<p>{TITLE} {n}</p>{payload}]]></content:encoded>"
            f"<pubDate>{when}</pubDate></item>")
    return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
            'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>'
            "<title>Hostile</title><link>https://example.org/</link>"
            + "".join(items) + "</channel></rss>").encode()


def assert_inert(markup: str, *, allowed_style_elements: int = 0) -> None:
    """No element, attribute or URL in ``markup`` can run script or leave http(s)."""
    tree = LexborHTMLParser(markup)
    for tag in FORBIDDEN:
        assert not tree.css(tag), f"<{tag}> survived"
    assert len(tree.css("style")) == allowed_style_elements
    for style in tree.css("style"):
        assert not re.search(r"expression|javascript|url\(", style.text(), re.IGNORECASE)
    for meta in tree.css("meta[http-equiv]"):
        assert meta.attributes.get("http-equiv", "").lower() != "refresh"
    for node in tree.root.traverse() if tree.root else ():
        for name, value in (node.attributes or {}).items():
            name = name.lower()
            assert not name.startswith("on"), f"{name} on <{node.tag}>"
            value = html.unescape(value or "")
            if name == "style":
                assert not re.search(r"expression|javascript|url\(", value, re.IGNORECASE)
            if name in URL_ATTRS and value:
                squeezed = re.sub(r"[\x00-\x20]", "", value)
                assert not BAD_SCHEME.match(squeezed), f"{name}={value!r}"
                assert squeezed.startswith(("http://", "https://", "#", "mailto:")), \
                    f"{name}={value!r} on <{node.tag}>"


@pytest.fixture
def hostile_db(tmp_path: Path) -> tuple[Path, Path, Receiver, Mailbox]:
    """A database filled by `run --once` from the hostile feed, with a webhook and an
    SMTP alert registered beforehand; returns (config, db, webhook, mailbox)."""
    feed = tmp_path / "hostile.xml"
    feed.write_bytes(hostile_feed())
    receiver = Receiver()
    controller_mod = pytest.importorskip("aiosmtpd.controller")
    box = Mailbox()
    port = free_port()
    controller = controller_mod.Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    db = tmp_path / "mediamon.db"
    config = tmp_path / "mediamon.toml"
    config.write_text(
        default_settings_text(db) + "\n" + feeds_text([str(feed)]) + "\n"
        f'[[alerts]]\nname = "hook"\nwebhook = "{receiver.url}"\n'
        f'[[alerts]]\nname = "mail"\n[alerts.smtp]\nhost = "127.0.0.1"\nport = {port}\n'
        'from = "mediamon@example.org"\nto = ["desk@example.org"]\n', encoding="utf-8")
    for args in (["alerts", "send"], ["run", "--once"]):
        result = CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error",
                                          *args])
        assert result.exit_code == 0, result.output
    yield config, db, receiver, box
    receiver.close()
    controller.stop()


def run(config: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_payloads_reach_the_database_only_sanitised(hostile_db) -> None:
    """Every payload item is stored and kept; stored HTML is inert and links are http(s)."""
    _config, db, _r, _b = hostile_db
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT url, canonical_url, summary_html, content_html, kept "
                            "FROM items").fetchall()
    assert len(rows) == len(PAYLOADS) and all(r[4] for r in rows)
    for url, canonical, summary_html, content_html, _kept in rows:
        for link in (url, canonical):
            assert link is None or re.match(r"https?://", link), link
        assert_inert(summary_html)
        assert_inert(content_html)


def test_atom_export_is_inert(hostile_db) -> None:
    """`items --format atom` and `search --format atom`: entry HTML inert, links http(s)."""
    config, _db, _r, _b = hostile_db
    for args in (["items", "--limit", "500"], ["search", "Taliban", "--limit", "500"]):
        doc = ET.fromstring(run(config, *args, "--format", "atom"))
        ns = {"a": "http://www.w3.org/2005/Atom"}
        entries = doc.findall("a:entry", ns)
        assert len(entries) == len(PAYLOADS)
        for entry in entries:
            for link in entry.findall("a:link", ns):
                assert re.match(r"https?://", link.get("href", "")), link.get("href")
            for content in entry.findall("a:content", ns):
                assert content.get("type") == "html"
                assert_inert(content.text or "")
            for text in entry.findall("a:title", ns) + entry.findall("a:summary", ns):
                assert text.get("type") == "text"  # shown as text, never as markup


def test_html_report_is_inert(hostile_db, tmp_path: Path) -> None:
    """`mediamon report`: no script, handler, frame, form or non-http(s) link survives."""
    config, _db, _r, _b = hostile_db
    out = tmp_path / "report.html"
    run(config, "report", "--since", "2d", "--top", "500", "-o", str(out))
    page = out.read_text(encoding="utf-8")
    assert "Taliban" in page
    assert_inert(page, allowed_style_elements=1)  # the report's own stylesheet
    hrefs = [a.attributes.get("href") for a in LexborHTMLParser(page).css("a[href]")]
    assert hrefs and all(re.match(r"https?://|#", h or "") for h in hrefs), hrefs


def test_alerts_are_inert(hostile_db) -> None:
    """The webhook payload links only http(s) URLs; the email's HTML part is inert."""
    config, _db, receiver, box = hostile_db
    run(config, "alerts", "send", "--force")
    assert receiver.bodies and box.messages
    sent = [item for body in receiver.bodies for item in body["json"]["items"]]
    assert len(sent) == len(PAYLOADS)
    for item in sent:
        assert item["url"] is None or re.match(r"https?://", item["url"]), item["url"]
    (_sender, _rcpts, mail) = box.messages[0]
    parts = {p.get_content_type(): p.get_payload(decode=True).decode() for p in mail.walk()
             if not p.is_multipart()}
    assert_inert(parts["text/html"])
    assert parts["text/html"].count("<li>") == len(PAYLOADS)


# -- SQL injection ------------------------------------------------------------------------

INJECTIONS = [
    "' OR '1'='1", "' OR 1=1 --", "x'; DROP TABLE items; --", '" OR ""="', "%", "_",
    "\\", "1) OR (1=1", "') UNION SELECT id, id, id FROM feeds --", "*", "'||'",
    "russia' --", "\x00", "%' OR kept=0 OR '%'='",
]


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo feeds polled once into a fresh database (14 kept items)."""
    db = tmp_path_factory.mktemp("sqli") / "demo.db"
    assert invoke_demo(db, "run", "--once").exit_code == 0
    return db


def _tables(db: Path) -> tuple[list[str], int]:
    with sqlite3.connect(db) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        (count,) = conn.execute("SELECT count(*) FROM items").fetchone()
    return names, count


@pytest.mark.parametrize("option", ["--topic", "--feed", "--lang", "--story"])
def test_injection_in_filters_matches_nothing(demo_db: Path, option: str) -> None:
    """An injection string as a filter value matches no row (as any unknown value would)
    and leaves every table intact; a real value still matches."""
    before = _tables(demo_db)
    real = {"--topic": "russia", "--feed": "TASS", "--lang": "en", "--story": ""}[option]
    # A NUL ends SQLite's LIKE pattern, so --feed "\x00" matches every feed name: a known
    # oddity (docs/reliability.md), not a change of the query's shape.
    for value in [v for v in INJECTIONS if v != "\x00" or option != "--feed"]:
        result = invoke_demo(demo_db, "items", option, value, "--all", "--json")
        assert result.exit_code == 0, (value, result.output)
        assert json.loads(result.output) == [], value
    if real:
        result = invoke_demo(demo_db, "items", option, real, "--json")
        assert json.loads(result.output), option
    assert _tables(demo_db) == before


def test_injection_in_search_queries_cannot_change_the_query(demo_db: Path) -> None:
    """A search with an injection string returns exactly the rows FTS5 itself matches for
    that string (or a clear query error), and leaves every table intact."""
    before = _tables(demo_db)
    with sqlite3.connect(demo_db) as conn:
        for query in [*INJECTIONS, "taliban", 'taliban" OR "1', "title:x OR 1=1"]:
            try:
                (expected,) = conn.execute(
                    "SELECT count(*) FROM items_fts JOIN items ON items.rowid = items_fts.rowid "
                    "WHERE items_fts MATCH ? AND items.kept = 1", [query]).fetchone()
            except sqlite3.Error:
                expected = None
            result = invoke_demo(demo_db, "search", query, "--json", "--limit", "500")
            if expected is None:
                assert result.exit_code == 1 and "invalid search query" in result.output, query
            else:
                assert result.exit_code == 0, (query, result.output)
                assert len(json.loads(result.output)) == expected, query
    assert _tables(demo_db) == before
