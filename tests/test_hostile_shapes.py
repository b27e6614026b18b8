"""Size and shape: huge titles, deep nesting, NUL bytes, bad encodings, absurd
dates and ttls and 100,000 items give a clean result or a clear error, never an escape."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import FEEDS
from feedserver import FeedServer, config_text
from feedserver import rss as served_rss
from mediamon.cli import cli
from mediamon.core.normalise import html_to_text, normalise_feed, sanitise_html
from mediamon.core.parse import parse_body
from mediamon.core.parse.standard import parse_feed
from mediamon.errors import ParseError

NOW = datetime(2025, 7, 5, 12, 0, tzinfo=UTC)
URL = "https://example.org/feed"
DATE = "Thu, 03 Jul 2025 16:52:00 GMT"


def item(n: int, *, title: bytes = b"Taliban", desc: bytes = b"text",
         date: bytes = DATE.encode()) -> bytes:
    return (b"<item><title>" + title + b"</title><link>https://example.org/%d</link>" % n
            + b"<description>" + desc + b"</description><pubDate>" + date
            + b"</pubDate></item>")


def rss(*items: bytes, channel: bytes = b"", encoding: str = "utf-8") -> bytes:
    return (f'<?xml version="1.0" encoding="{encoding}"?>'.encode()
            + b'<rss version="2.0"><channel><title>shapes</title>' + channel + b"".join(items)
            + b"</channel></rss>")


def both(body: bytes) -> list:
    """The items from the production parse (fast path where it applies) and from feedparser."""
    results = []
    for parsed in (parse_body(body, url=URL, headers=())[0], parse_feed(body, url=URL)):
        results.append(normalise_feed(parsed, feed_url=URL, now=NOW))
    return results


DEEP = 100_000


def test_a_ten_megabyte_title_is_kept_whole_and_single_line() -> None:
    """A 10 MB title parses on both paths into one item with the whole title on one line."""
    title = b"Taliban " + b"A" * 10_000_000
    for items in both(rss(item(1, title=title))):
        assert len(items) == 1 and items[0].title == title.decode()


@pytest.mark.parametrize("escaped", [True, False], ids=["escaped-html", "cdata"])
def test_deeply_nested_markup_is_reduced_to_its_text(escaped: bool) -> None:
    """100,000 nested <div>s in a description become their text instead of a parse that
    takes minutes (the HTML parsers are quadratic in depth)."""
    markup = b"<div>" * DEEP + b"deep words" + b"</div>" * DEEP
    desc = (markup.replace(b"<", b"&lt;").replace(b">", b"&gt;") if escaped
            else b"<![CDATA[" + markup + b"]]>")
    for items in both(rss(item(1, desc=desc))):
        (only,) = items
        assert only.summary == "deep words"
        assert "<div" not in only.summary_html and "deep words" in only.summary_html


def test_deep_xml_elements_inside_a_description_are_handled() -> None:
    """100,000 nested XML elements (not escaped) in a description parse to a clean item."""
    desc = b"<div>" * DEEP + b"deep words" + b"</div>" * DEEP
    for items in both(rss(item(1, desc=desc), item(2))):
        assert [i.url for i in items] == ["https://example.org/1", "https://example.org/2"]
        assert all("\x00" not in i.summary for i in items)


def test_moderately_nested_markup_keeps_its_structure() -> None:
    """Real-world nesting (a few hundred levels) is still sanitised as HTML, not flattened."""
    markup = "<div>" * 300 + "<b>x</b><script>alert(1)</script>" + "</div>" * 300
    assert "<b>x</b>" in sanitise_html(markup) and "script" not in sanitise_html(markup)
    assert html_to_text(markup) == "x"


def test_flattened_deep_markup_is_escaped_text() -> None:
    """Markup too deep to parse comes back as escaped text: no tag of it survives."""
    markup = "<div>" * 2000 + '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    clean = sanitise_html(markup)
    assert "<" not in clean.replace("&lt;", "") and "onerror" not in clean


def test_nul_bytes_are_a_warning_or_dropped_never_stored() -> None:
    """NUL bytes in a title give a usable feed without NULs (feedparser reports the XML)."""
    body = rss(item(1, title=b"Tali\x00ban"), item(2, title=b"Kabul"))
    parsed = parse_feed(body, url=URL)
    assert parsed.warning and "not well-formed" in parsed.warning
    for items in both(body):
        assert [i.title for i in items] == ["Taliban", "Kabul"]


@pytest.mark.parametrize("title", [
    b"caf\xc3 \xff\xfe ok",                                    # invalid UTF-8
    "\u041a\u0430\u0431\u0443\u043b".encode("cp1251") + " \u00e9".encode(),  # cp1251 + UTF-8
    b"\xed\xa0\x80 surrogate",                                 # an encoded surrogate
    b"\xef\xbb\xbf\xef\xbb\xbf bom",                           # stray BOMs
])
def test_invalid_and_mixed_encodings_give_clean_text(title: bytes) -> None:
    """Undecodable or mixed bytes give one item with printable, valid text, or a ParseError."""
    body = rss(item(1, title=title + b" end"))
    for items in both(body):
        (only,) = items
        only.title.encode("utf-8")  # no lone surrogates
        assert only.title.endswith("end") and "\x00" not in only.title


def test_a_declared_encoding_that_does_not_exist_is_handled() -> None:
    """A bogus encoding declaration gives a ParseError or items, nothing else."""
    body = rss(item(1), encoding="x-no-such-charset")
    try:
        items = both(body)
    except ParseError:
        return
    assert all(len(i) == 1 for i in items)


@pytest.mark.parametrize("date", [
    b"Sat, 01 Jan 0000 00:00:00 GMT", b"0000-01-01T00:00:00Z", b"0001-01-01T00:00:00+14:00",
    b"Fri, 31 Dec 9999 23:59:59 GMT", b"9999-12-31T23:59:59Z", b"9999-12-31T23:59:59-14:00",
    b"99999-01-01T00:00:00Z", b"-0001-01-01T00:00:00Z",
])
def test_dates_out_of_range_fall_back_to_first_seen(date: bytes) -> None:
    """Dates in the year 0 or 9999 (and beyond) never raise; the item is dated when seen."""
    for items in both(rss(item(1, date=date))):
        (only,) = items
        assert only.published.tzinfo is UTC
        assert only.published <= NOW + timedelta(minutes=10)
        assert only.published == NOW or only.published.year >= 1


@pytest.mark.parametrize("ttl", [b"-5", b"0", b"-99999999999999999999", b"1e9",
                                 b"99999999999999999999999", b"10081", b"NaN", b"5 minutes"])
def test_negative_and_absurd_ttls_are_ignored(ttl: bytes) -> None:
    """A <ttl> outside one minute .. one week is ignored on both parse paths."""
    body = rss(item(1), channel=b"<ttl>" + ttl + b"</ttl>")
    assert parse_body(body, url=URL, headers=())[0].ttl_minutes is None
    assert parse_feed(body, url=URL).ttl_minutes is None


def test_a_sane_ttl_is_read() -> None:
    """A <ttl> of 60 minutes is read (so the ignored ones above are really ignored)."""
    body = rss(item(1), channel=b"<ttl>60</ttl>")
    assert parse_body(body, url=URL, headers=())[0].ttl_minutes == 60


@pytest.mark.slow
def test_a_feed_of_100000_items_yields_every_item() -> None:
    """100,000 items in one RSS document parse and normalise into 100,000 distinct items."""
    body = rss(*(item(n, title=b"Item %d" % n) for n in range(100_000)))
    parsed, fast = parse_body(body, url=URL, headers=())
    items = normalise_feed(parsed, feed_url=URL, now=NOW)
    assert fast and len(items) == 100_000
    assert len({i.id for i in items}) == 100_000


def test_run_once_survives_every_shape_and_keeps_the_good_feed(tmp_path: Path,
                                                                make_config) -> None:
    """`run --once` over the hostile shapes as local files stores the good feed's items in
    full, and the database passes its integrity check."""
    shapes = {  # distinct links and titles: no item is a copy of another feed's
        "title": rss(item(1, title=b"Taliban " + b"A" * 2_000_000)),
        "nested": rss(item(2, desc=(b"&lt;div&gt;" * DEEP + b"Taliban" + b"&lt;/div&gt;" * DEEP))),
        "nul": rss(item(3, title=b"Tali\x00ban three")),
        "utf8": rss(item(4, title=b"caf\xc3 \xff Taliban")),
        "year0": rss(item(5, title=b"year zero", date=b"0000-01-01T00:00:00Z")),
        "year9999": rss(item(6, title=b"year 9999", date=b"9999-12-31T23:59:59Z")),
        "ttl": rss(item(7, title=b"ttl"), channel=b"<ttl>-99999999999999999999</ttl>"),
        "empty": b"",
        "garbage": b"\x00\xff" * 1000,
    }
    paths = []
    for name, body in shapes.items():
        path = tmp_path / f"{name}.xml"
        path.write_bytes(body)
        paths.append(str(path))
    good = str(FEEDS / "rss20.xml")
    db = tmp_path / "shapes.db"
    result = CliRunner().invoke(cli, ["--config", str(make_config([*paths, good])), "--db",
                                      str(db), "--log-level", "error", "run", "--once",
                                      "--keep-all"])
    assert result.exit_code == 0, result.output
    with sqlite3.connect(db) as conn:
        status = dict(conn.execute("SELECT url, last_status FROM feeds").fetchall())
        per_feed = dict(conn.execute(
            "SELECT feeds.url, count(*) FROM item_feeds JOIN feeds ON feeds.id = feed_id "
            "GROUP BY feeds.url").fetchall())
        (nuls,) = conn.execute("SELECT count(*) FROM items WHERE instr(title, char(0))"
                               ).fetchone()
        (check,) = conn.execute("PRAGMA integrity_check").fetchone()
    assert check == "ok" and nuls == 0
    assert status[good] == "ok" and per_feed[good] == len(parse_feed(
        Path(good).read_bytes(), url=good).entries)
    assert status[paths[-1]] == "error" and status[paths[-2]] == "error"
    assert all(per_feed.get(p) == 1 for p in paths[:-2]), per_feed


# -- A 2 GB body and a gzip bomb through a real `run --once` process -------------------------

BODY_CAP = 32_000_000  # fetch.max_bytes for the runs below ("32MB")
TWO_GB = 2 * 1024**3
GOOD_ITEMS = [(f"good-{k}", "") for k in range(20)]


# Runs `mediamon` in a fresh interpreter and, as it exits, writes its VmHWM (peak RSS, kB) to
# the file named by its first argument. VmHWM belongs to the memory map made at exec, so
# unlike ru_maxrss (which Linux raises at exec to the spawning process's peak) it does not
# count this test process's memory.
PEAK_WRAPPER = """
import sys
from mediamon.cli import main
peak_file = sys.argv.pop(1)
try:
    main()
finally:
    with open("/proc/self/status") as status:
        hwm = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    with open(peak_file, "w") as out:
        out.write(hwm)
"""


def run_process(config: Path, timeout: float = 120) -> tuple[int, str, int, float]:
    """`mediamon run --once` as a child process; returns (exit status, output, peak RSS of
    the mediamon process in bytes, seconds)."""
    out = config.with_suffix(".out")
    peak_file = config.with_suffix(".peak")
    started = time.monotonic()
    with out.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-c", PEAK_WRAPPER, str(peak_file),
                                 "--config", str(config), "--log-level", "error", "run",
                                 "--once"], stdout=sink, stderr=subprocess.STDOUT)
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"run --once took over {timeout} s: {out.read_text()[-2000:]}")
    elapsed = time.monotonic() - started
    peak = int(peak_file.read_text()) * 1024
    return code, out.read_text(errors="replace"), peak, elapsed


def run_feeds(tmp_path: Path, name: str, urls: list[str]) -> tuple[Path, int, str, int, float]:
    """`run --once` over ``urls`` with a 32 MB body cap, in a child process."""
    db = tmp_path / f"{name}.db"
    config = tmp_path / f"{name}.toml"
    config.write_text(config_text(str(db), urls, fetch='timeout = "30s"\nmax_bytes = "32MB"'),
                      encoding="utf-8")
    code, output, peak, elapsed = run_process(config)
    return db, code, output, peak, elapsed


@pytest.fixture(scope="module")
def rss_baseline(tmp_path_factory: pytest.TempPathFactory) -> int:
    """Peak RSS of `run --once` over the good feed alone (same config, same server)."""
    with FeedServer() as server:
        server.add("/good.xml", served_rss("Good", GOOD_ITEMS))
        _db, code, output, peak, _elapsed = run_feeds(
            tmp_path_factory.mktemp("rss"), "baseline", [server.url("/good.xml")])
    assert code == 0, output
    return peak


@pytest.mark.slow
@pytest.mark.parametrize("shape", ["2GB-content-length", "2GB-chunked", "gzip-bomb-8GB"])
def test_a_2gb_body_or_a_gzip_bomb_keeps_memory_under_the_cap(
        tmp_path: Path, rss_baseline: int, shape: str,
        record_property: pytest.RecordProperty) -> None:
    """A real `run --once` process polling a good feed and a hostile one (2 GB streamed with or
    without a Content-Length, or gzip inflating to 8 GB): peak RSS stays within the good-feed
    baseline plus twice the body cap, the server sends a small fraction of the body, the
    hostile feed records the cap as its one-line error, and the good feed is stored."""
    with FeedServer() as server:
        server.add("/good.xml", served_rss("Good", GOOD_ITEMS))
        if shape == "gzip-bomb-8GB":
            server.gzip_bomb("/hostile.xml", 8 * 1024**3)
        else:
            server.huge("/hostile.xml", TWO_GB, chunked=shape == "2GB-chunked")
        good, hostile = server.url("/good.xml"), server.url("/hostile.xml")
        db, code, output, peak, elapsed = run_feeds(tmp_path, "hostile", [hostile, good])
        server.close()  # join the handler: bytes_sent is final
        sent = server.bytes_sent("/hostile.xml")
    figures = {"peak_rss_mib": round(peak / 2**20, 1), "baseline_rss_mib":
               round(rss_baseline / 2**20, 1), "sent_mib": round(sent / 2**20, 2),
               "seconds": round(elapsed, 2)}
    record_property("figures", figures)
    print(shape, figures)
    assert code == 0 and "1 feed(s) failed" in output, output
    assert peak < rss_baseline + 2 * BODY_CAP, figures
    assert sent < (BODY_CAP + 16 * 2**20 if shape == "2GB-chunked" else 16 * 2**20), figures
    assert elapsed < 30, figures
    with sqlite3.connect(db) as conn:
        status = {url: (s, e) for url, s, e in conn.execute(
            "SELECT url, last_status, last_error FROM feeds")}
        stored = {r[0] for r in conn.execute("SELECT guid FROM items")}
    assert status[hostile] == ("error", "response larger than 32.0 MB cap"), status
    assert status[good][0] == "ok"
    assert stored == {guid for guid, _ in GOOD_ITEMS}
