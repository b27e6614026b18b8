"""XML attacks: entity expansion, external entities and DTD fetches never expand,
read a file or make a request, on either parser and through ``run --once``."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from conftest import FEEDS
from mediamon.cli import cli
from mediamon.core.parse.fast import fast_parse
from mediamon.core.parse.standard import parse_feed
from mediamon.errors import ParseError

SECRET = "MEDIAMON-SECRET-7f3a9c"
ITEM = ('<item><title>Russia and the Taliban {marker}</title>'
        '<link>https://example.org/{n}</link><description>text {marker}</description></item>')


class Recorder:
    """A loopback HTTP server that remembers every request it gets (there should be none)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.requests.append(self.path)
                body = f'<!ENTITY leak "{SECRET}">'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/xml-dtd")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """The recording loopback server."""
    r = Recorder()
    yield r
    r.close()


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    """A local file whose content must never appear in a parsed feed."""
    path = tmp_path / "secret.txt"
    path.write_text(SECRET, encoding="utf-8")
    return path


def rss(doctype: str, marker: str, *, items: int = 2) -> bytes:
    body = "".join(ITEM.format(marker=marker if n == 0 else "plain", n=n) for n in range(items))
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n<rss version="2.0"><channel>'
            f"<title>hostile</title>{body}</channel></rss>").encode()


def atom(doctype: str, marker: str) -> bytes:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n{doctype}\n'
            '<feed xmlns="http://www.w3.org/2005/Atom"><title>hostile</title>'
            f'<entry><title>Taliban {marker}</title><id>urn:x:1</id>'
            '<link href="https://example.org/a"/><updated>2025-07-03T10:00:00Z</updated>'
            f"<summary>{marker}</summary></entry></feed>").encode()


def _laughs() -> str:
    lines = ['<!ENTITY lol0 "lol">']
    for level in range(1, 10):
        lines.append(f'<!ENTITY lol{level} "{f"&lol{level - 1};" * 10}">')
    return "<!DOCTYPE rss [\n" + "\n".join(lines) + "\n]>"


def attacks(secret: Path, base: str) -> dict[str, bytes]:
    """Each attack as a feed document whose first entry carries the attacking reference."""
    big = "A" * 60_000
    return {
        "billion-laughs": rss(_laughs(), "&lol9;"),
        "quadratic-blowup": rss(f'<!DOCTYPE rss [<!ENTITY a "{big}">]>', "&a;" * 20_000),
        "xxe-file": rss(f'<!DOCTYPE rss [<!ENTITY x SYSTEM "file://{secret}">]>', "&x;"),
        "xxe-file-relative": rss(f'<!DOCTYPE rss [<!ENTITY x SYSTEM "{secret}">]>', "&x;"),
        "xxe-url": rss(f'<!DOCTYPE rss [<!ENTITY x SYSTEM "{base}/entity">]>', "&x;"),
        "parameter-entity-url": rss(
            f'<!DOCTYPE rss [<!ENTITY % p SYSTEM "{base}/param.dtd"> %p;]>', "&leak;"),
        "external-dtd": rss(f'<!DOCTYPE rss SYSTEM "{base}/external.dtd">', "&leak;"),
        "public-dtd": rss(f'<!DOCTYPE rss PUBLIC "-//X//DTD X//EN" "{base}/public.dtd">',
                          "&leak;"),
        "xxe-file-atom": atom(f'<!DOCTYPE feed [<!ENTITY x SYSTEM "file://{secret}">]>', "&x;"),
        "xxe-url-atom": atom(f'<!DOCTYPE feed [<!ENTITY x SYSTEM "{base}/atom">]>', "&x;"),
        "xinclude": rss("", f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
                            f'href="file://{secret}" parse="text"/>'),
    }


def _texts(parsed: Any) -> str:
    return repr([entry.data for entry in parsed.entries]) + repr(parsed.title)


@pytest.mark.parametrize("name", sorted(attacks(Path("/x"), "http://h")))
def test_parse_feed_neither_expands_nor_reads_nor_fetches(name: str, secret_file: Path,
                                                          recorder: Recorder) -> None:
    """parse_feed (feedparser) and fast_parse yield a ParseError or a feed with no secret,
    no expansion, and no request to the loopback server."""
    body = attacks(secret_file, recorder.base)[name]
    outcomes = []
    for parser in (parse_feed, fast_parse):
        try:
            parsed = parser(body, url="https://example.org/feed")
        except ParseError:
            outcomes.append("error")
            continue
        if parsed is None:  # fast_parse declined: parse_feed did the work above
            outcomes.append("declined")
            continue
        text = _texts(parsed)
        assert SECRET not in text
        assert "lol" * 1000 not in text
        assert "A" * 200_000 not in text  # at most the literal references, not 1.2 GB of A
        assert len(text) < 10 * len(body) + 10_000
        outcomes.append("parsed")
    assert recorder.requests == []
    # A DOCTYPE always sends the fast path to feedparser.
    assert outcomes[1] == "declined" or name == "xinclude"


def test_run_once_records_hostile_feeds_and_keeps_the_others(tmp_path: Path, make_config,
                                                             secret_file: Path,
                                                             recorder: Recorder) -> None:
    """`run --once` over every attack as a local-file feed plus a good feed: the good feed's
    items are stored as when it runs alone, no secret reaches the database, no request is
    made, and every hostile feed ends as a recorded error or a safely parsed feed."""
    good = str(FEEDS / "rss20.xml")
    alone = make_config([good], name="alone.toml")
    alone_db = tmp_path / "alone.db"
    result = CliRunner().invoke(cli, ["--config", str(alone), "--db", str(alone_db),
                                      "--log-level", "error", "run", "--once", "--keep-all"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(alone_db) as conn:
        expected = sorted(r[0] for r in conn.execute("SELECT id FROM items"))
    assert expected

    paths = []
    for name, body in attacks(secret_file, recorder.base).items():
        path = tmp_path / f"{name}.xml"
        path.write_bytes(body)
        paths.append(str(path))
    config = make_config([*paths, good])
    db = tmp_path / "hostile.db"
    result = CliRunner().invoke(cli, ["--config", str(config), "--db", str(db),
                                      "--log-level", "error", "run", "--once", "--keep-all"])
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output
    assert recorder.requests == []
    with sqlite3.connect(db) as conn:
        dump = "\n".join(conn.iterdump())
        assert SECRET not in dump and "lol" * 1000 not in dump and "A" * 200_000 not in dump
        good_ids = sorted(r[0] for r in conn.execute(
            "SELECT item_id FROM item_feeds JOIN feeds ON feeds.id = feed_id WHERE url = ?",
            [good]))
        states = dict(conn.execute("SELECT url, last_status FROM feeds").fetchall())
        (check,) = conn.execute("PRAGMA integrity_check").fetchone()
    assert good_ids == expected
    assert check == "ok"
    assert set(states) == {*paths, good}
    assert all(status in ("ok", "error") for status in states.values()), states
