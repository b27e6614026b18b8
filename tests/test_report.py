"""`mediamon report`: a self-contained, safe HTML digest that renders in Chromium."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conftest import invoke_demo as invoke
from mediamon.core.urls import safe_url

PERIOD = ["--since", "2025-06-30", "--until", "2025-07-07"]  # the demo feeds' week
HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo feeds polled once, then one kept item made hostile in every shown field."""
    db = tmp_path_factory.mktemp("report") / "demo.db"
    assert invoke(db, "run", "--once").exit_code == 0
    with sqlite3.connect(db) as conn:
        (item,) = conn.execute("SELECT id FROM items WHERE kept = 1 ORDER BY score DESC "
                               "LIMIT 1").fetchone()
        conn.execute("UPDATE items SET title = ?, url = 'javascript:alert(3)', language = ? "
                     "WHERE id = ?", [f"Taliban {HOSTILE}", HOSTILE, item])
        conn.execute("UPDATE item_topics SET terms = ? WHERE item_id = ?",
                     [f'["{HOSTILE.replace(chr(34), chr(39))}"]', item])
        conn.execute("UPDATE story_items SET outlet = ? WHERE item_id = ?", [HOSTILE, item])
        conn.execute("UPDATE stories SET title = ?, first_outlet = ? WHERE first_item_id = ?",
                     [f"Story {HOSTILE}", HOSTILE, item])
        conn.execute("UPDATE feeds SET name = ? WHERE id = (SELECT feed_id FROM items "
                     "WHERE id = ?)", [HOSTILE, item])
    return db


@pytest.fixture(scope="module")
def page(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo week's report, written to a file."""
    path = tmp_path_factory.mktemp("html") / "report.html"
    result = invoke(demo_db, "report", *PERIOD, "-o", str(path))
    assert result.exit_code == 0, result.output
    return path


class Elements(HTMLParser):
    """Every start tag with its attributes, as the browser's parser would see them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def elements(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Elements()
    parser.feed(html)
    return parser.tags


def test_report_shows_the_period(demo_db: Path, page: Path) -> None:
    """The report has the timeline, every kept item's story, and one row per outlet."""
    html = page.read_text(encoding="utf-8")
    with sqlite3.connect(demo_db) as conn:
        kept = conn.execute("SELECT count(*) FROM items WHERE kept = 1 AND published BETWEEN "
                            "'2025-06-30' AND '2025-07-07'").fetchone()[0]
        title = conn.execute("SELECT title FROM stories WHERE title LIKE 'Russia becomes%'"
                             ).fetchone()[0]
    assert f"<b>{kept}</b><span>kept items</span>" in html
    assert html.count('<li class="story">') == kept  # every story here has one kept item
    assert title in html and "reuters.com" in html
    assert '<svg class="timeline"' in html and html.count('class="bar"') == 4
    assert "recognition</span>" in html or "recognition <em>" in html  # why it matched


def test_report_is_self_contained(page: Path) -> None:
    """No script, stylesheet, image, frame or font is loaded from anywhere, and CSP forbids it."""
    html = page.read_text(encoding="utf-8")
    tags = elements(html)
    names = {tag for tag, _ in tags}
    assert not names & {"script", "iframe", "object", "embed", "link", "img", "base", "form"}
    for tag, attrs in tags:
        for attr in ("src", "srcset", "data", "poster", "background"):
            assert attr not in attrs, (tag, attrs)
        if tag != "a":
            assert "href" not in attrs, (tag, attrs)
    assert not re.search(r"url\(|@import", html)
    csp = next(a["content"] for t, a in tags if a.get("http-equiv") == "Content-Security-Policy")
    assert csp and "default-src 'none'" in csp and "script-src" not in csp


def test_hostile_item_content_never_survives(page: Path) -> None:
    """Markup, event handlers and javascript: links from feeds come out as inert text."""
    html = page.read_text(encoding="utf-8")
    tags = elements(html)
    assert not any(tag == "script" for tag, _ in tags)
    assert not any(name.startswith("on") for _, attrs in tags for name in attrs)
    hrefs = [attrs["href"] or "" for tag, attrs in tags if tag == "a"]
    assert hrefs and all(h.startswith(("http://", "https://")) for h in hrefs)
    assert "javascript:" not in html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, escaped
    assert "Taliban &lt;script&gt;" in html  # the hostile headline is there, as text


def test_safe_url_allows_only_http() -> None:
    """Only absolute http(s) URLs are linked."""
    assert safe_url("https://tass.com/x?a=1&b=2") == "https://tass.com/x?a=1&b=2"
    for bad in ("javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,x",
                "vbscript:x", "//evil.example/x", "/relative", "http://", None, "",
                'https://a.example/"onmouseover="x'):
        assert safe_url(bad) is None, bad


def test_report_to_stdout_and_bad_path(demo_db: Path, tmp_path: Path) -> None:
    """`-o -` prints the page; an unwritable path is a one-line error."""
    result = invoke(demo_db, "report", *PERIOD, "-o", "-")
    assert result.exit_code == 0 and result.output.startswith("<!DOCTYPE html>")
    result = invoke(demo_db, "report", *PERIOD, "-o", str(tmp_path / "no" / "r.html"))
    assert result.exit_code == 1 and "No such file or directory" in result.output


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def headless(path: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=1",
         "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=90, check=False)


def console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed "
                    "(apt-get install -y chromium) so the page cannot be rendered")
def test_report_loads_in_headless_chromium_without_console_errors(page: Path,
                                                                  tmp_path: Path) -> None:
    """Chromium renders the whole body and logs nothing to the console (no CSP violation)."""
    bad = tmp_path / "bad.html"  # the check itself sees a page that breaks its own CSP
    bad.write_text("<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'\">"
                   "<p>x</p><script>console.log(1)</script>", encoding="utf-8")
    assert console_messages(headless(bad, tmp_path / "p1").stderr)
    done = headless(page, tmp_path / "p2")
    assert done.returncode == 0, done.stderr[-2000:]
    assert console_messages(done.stderr) == []
    assert "Top stories by reach" in done.stdout and "</footer>" in done.stdout
    assert "<script" not in done.stdout
