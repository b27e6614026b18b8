"""Tests for mediamon.fetch against a real loopback HTTP server and real files (no mocks)."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import tracemalloc
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import feedserver
from feedserver import FeedServer
from mediamon import USER_AGENT
from mediamon.fetch import fetch_feed, make_client, parse_retry_after
from mediamon.types import FetchResult, Validators

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'
MB = 1_000_000

feed_server = feedserver.feed_server  # the fixture, without needing a conftest


def fetch(url: str, validators: Validators = Validators(), **kwargs: object) -> FetchResult:
    """Run one fetch_feed with a fresh client on a fresh event loop."""

    async def run() -> FetchResult:
        async with make_client(timeout=5.0) as client:
            return await fetch_feed(client, url, validators, **kwargs)  # type: ignore[arg-type]

    return asyncio.run(run())


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# 200 / 304 and validators.


def test_ok_returns_body_headers_and_validators(feed_server: FeedServer) -> None:
    """A 200 gives the body, the headers as pairs and the ETag/Last-Modified validators."""
    feed_server.add("/feed", FEED)
    result = fetch(feed_server.url("/feed"))
    assert result.status == "ok"
    assert result.http_status == 200
    assert result.body == FEED
    assert result.error is None
    assert result.final_url == feed_server.url("/feed")
    assert result.header("Content-Type") == "application/rss+xml"
    assert result.validators.etag == result.header("etag") is not None
    assert result.validators.last_modified == result.header("last-modified") is not None
    assert result.elapsed > 0


def test_request_identifies_itself_and_prefers_feed_types(feed_server: FeedServer) -> None:
    """The request carries the mediamon User-Agent and an Accept header led by feed types."""
    feed_server.add("/feed", FEED)
    fetch(feed_server.url("/feed"))
    (seen,) = feed_server.seen("/feed")
    assert seen.headers["user-agent"] == USER_AGENT
    assert seen.headers["accept"].startswith("application/rss+xml, application/atom+xml")
    assert "if-none-match" not in seen.headers
    assert "if-modified-since" not in seen.headers


def test_unchanged_feed_is_not_modified(feed_server: FeedServer) -> None:
    """A second request sends the validators back, gets 304 and keeps the validators."""
    feed_server.add("/feed", FEED)
    first = fetch(feed_server.url("/feed"))
    second = fetch(feed_server.url("/feed"), first.validators)
    assert second.status == "not_modified"
    assert second.http_status == 304
    assert second.body is None
    assert second.error is None
    assert second.validators == first.validators
    last = feed_server.seen("/feed")[-1]
    assert last.headers["if-none-match"] == first.validators.etag
    assert last.headers["if-modified-since"] == first.validators.last_modified


def test_changed_feed_is_fetched_again_with_new_validators(feed_server: FeedServer) -> None:
    """After the feed changes, the conditional request gets a 200 with the new body and ETag."""
    feed_server.add("/feed", FEED)
    first = fetch(feed_server.url("/feed"))
    feed_server.set_body("/feed", FEED.replace(b"<title>t", b"<title>new"))
    second = fetch(feed_server.url("/feed"), first.validators)
    assert second.status == "ok"
    assert b"<title>new" in (second.body or b"")
    assert second.validators.etag != first.validators.etag
    assert second.validators.last_modified != first.validators.last_modified
    assert fetch(feed_server.url("/feed"), second.validators).status == "not_modified"


def test_last_modified_alone_makes_the_request_conditional(feed_server: FeedServer) -> None:
    """A server without ETags is asked with If-Modified-Since only and can answer 304."""
    feed_server.add("/feed", FEED, etag=False)
    first = fetch(feed_server.url("/feed"))
    assert first.validators.etag is None
    assert first.validators.last_modified is not None
    second = fetch(feed_server.url("/feed"), first.validators)
    assert second.status == "not_modified"
    last = feed_server.seen("/feed")[-1]
    assert "if-none-match" not in last.headers
    assert last.headers["if-modified-since"] == first.validators.last_modified


def test_validators_with_non_ascii_are_sent_back_without_raising(feed_server: FeedServer) -> None:
    """A stored ETag with non-ASCII characters is sent back as UTF-8 instead of failing."""
    feed_server.add("/feed", FEED)
    result = fetch(feed_server.url("/feed"), Validators(etag='"café"'))
    assert result.status == "ok"


# Error statuses.


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (404, "HTTP 404 Not Found"),
        (500, "HTTP 500 Internal Server Error"),
        (403, "HTTP 403 Forbidden"),
    ],
)
def test_error_status_gives_status_line_reason(
    feed_server: FeedServer, code: int, reason: str
) -> None:
    """A 4xx/5xx status is an error whose reason is the status line; the body is not kept."""
    feed_server.status("/feed", code, body=b"<html>oops</html>")
    result = fetch(feed_server.url("/feed"))
    assert (result.status, result.http_status, result.error) == ("error", code, reason)
    assert result.body is None
    assert result.retry_after is None


def test_unrouted_path_is_404(feed_server: FeedServer) -> None:
    """A path the server does not know is a 404 error."""
    result = fetch(feed_server.url("/nowhere"))
    assert (result.status, result.error) == ("error", "HTTP 404 Not Found")


def test_410_is_gone(feed_server: FeedServer) -> None:
    """410 means the feed was removed for good: status "gone", not a plain error."""
    feed_server.status("/feed", 410)
    result = fetch(feed_server.url("/feed"))
    assert (result.status, result.http_status) == ("gone", 410)
    assert result.body is None


def test_429_with_retry_after_seconds(feed_server: FeedServer) -> None:
    """429 is an error carrying Retry-After as seconds."""
    feed_server.status("/feed", 429, {"Retry-After": "120"})
    result = fetch(feed_server.url("/feed"))
    assert (result.status, result.error) == ("error", "HTTP 429 Too Many Requests")
    assert result.retry_after == 120.0


def test_429_with_retry_after_http_date(feed_server: FeedServer) -> None:
    """An HTTP-date Retry-After is turned into seconds from ``now``."""
    feed_server.status("/feed", 429, {"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"})
    now = datetime(2037, 10, 21, 7, 26, 30, tzinfo=UTC)
    result = fetch(feed_server.url("/feed"), now=now)
    assert result.retry_after == 90.0


def test_503_is_error_with_retry_after(feed_server: FeedServer) -> None:
    """503 is an error and also carries Retry-After."""
    feed_server.status("/feed", 503, {"Retry-After": "30"})
    result = fetch(feed_server.url("/feed"))
    assert (result.status, result.error) == ("error", "HTTP 503 Service Unavailable")
    assert result.retry_after == 30.0


def test_503_without_retry_after(feed_server: FeedServer) -> None:
    """A 503 without Retry-After has no retry_after."""
    feed_server.status("/feed", 503)
    assert fetch(feed_server.url("/feed")).retry_after is None


# Redirects.


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_is_followed_and_final_url_recorded(feed_server: FeedServer, code: int) -> None:
    """A redirect is followed; ``final_url`` is where the feed was found."""
    feed_server.add("/new", FEED)
    feed_server.redirect("/old", "/new", code)
    result = fetch(feed_server.url("/old"))
    assert result.status == "ok"
    assert result.body == FEED
    assert result.final_url == feed_server.url("/new")
    assert result.url == feed_server.url("/old")


def test_conditional_headers_survive_a_redirect(feed_server: FeedServer) -> None:
    """The validators are sent to the redirect target too, so it can answer 304."""
    feed_server.add("/new", FEED)
    feed_server.redirect("/old", feed_server.url("/new"), 302)
    first = fetch(feed_server.url("/old"))
    second = fetch(feed_server.url("/old"), first.validators)
    assert second.status == "not_modified"
    assert second.final_url == feed_server.url("/new")


def test_five_redirects_are_followed(feed_server: FeedServer) -> None:
    """A chain of five redirects is within the limit."""
    for hop in range(5):
        feed_server.redirect(f"/r{hop}", f"/r{hop + 1}", 302)
    feed_server.add("/r5", FEED)
    result = fetch(feed_server.url("/r0"))
    assert result.status == "ok"
    assert result.final_url == feed_server.url("/r5")


def test_too_many_redirects(feed_server: FeedServer) -> None:
    """A sixth redirect is an error that says so."""
    for hop in range(6):
        feed_server.redirect(f"/r{hop}", f"/r{hop + 1}", 302)
    feed_server.add("/r6", FEED)
    result = fetch(feed_server.url("/r0"))
    assert (result.status, result.error) == ("error", "too many redirects (more than 5)")
    assert not feed_server.seen("/r6")


def test_redirect_loop_is_named(feed_server: FeedServer) -> None:
    """Two URLs redirecting to each other give a "redirect loop" reason naming them."""
    feed_server.redirect("/a", "/b")
    feed_server.redirect("/b", "/a")
    result = fetch(feed_server.url("/a"))
    assert result.status == "error"
    a, b = feed_server.url("/a"), feed_server.url("/b")
    assert result.error == f"redirect loop: {a} -> {b} -> {a}"
    assert len(feed_server.requests) == 6


def test_redirect_to_itself(feed_server: FeedServer) -> None:
    """A URL that redirects to itself is a one-URL loop."""
    feed_server.redirect("/self", "/self", 302)
    result = fetch(feed_server.url("/self"))
    url = feed_server.url("/self")
    assert result.error == f"redirect loop: {url} -> {url}"


def test_redirect_to_another_scheme_is_refused(feed_server: FeedServer) -> None:
    """A redirect to ftp:// is an error, not an exception."""
    feed_server.redirect("/feed", "ftp://example.org/feed.xml")
    result = fetch(feed_server.url("/feed"))
    assert (result.status, result.error) == ("error", "redirected to unsupported URL scheme: ftp")


# Size cap, compression.


def test_huge_body_is_refused_without_reading_it(feed_server: FeedServer) -> None:
    """A 2 GB body stops at the cap at once; the server sends only what socket buffers hold."""
    feed_server.huge("/feed", 2_000_000_000)
    started = time.monotonic()
    result = fetch(feed_server.url("/feed"))
    assert time.monotonic() - started < 2.0
    assert (result.status, result.error) == ("error", "response larger than 10.0 MB cap")
    assert result.http_status == 200
    assert result.body is None
    assert feed_server.bytes_sent("/feed") < 50 * MB


def test_huge_chunked_body_is_aborted_at_cap_with_bounded_memory(feed_server: FeedServer) -> None:
    """Without a Content-Length the body is read until it passes the cap, then dropped."""
    feed_server.huge("/feed", 2_000_000_000, chunked=True)
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = fetch(feed_server.url("/feed"), max_bytes=2 * MB)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.status, result.error) == ("error", "response larger than 2.0 MB cap")
    assert elapsed < 3.0
    assert peak < 16 * MB
    assert feed_server.bytes_sent("/feed") < 50 * MB


def test_body_exactly_at_cap_is_accepted(feed_server: FeedServer) -> None:
    """The cap is inclusive: a body of exactly max_bytes is fine, one byte more is not."""
    feed_server.add("/exact", b"x" * 1000)
    feed_server.add("/over", b"x" * 1001)
    assert fetch(feed_server.url("/exact"), max_bytes=1000).status == "ok"
    over = fetch(feed_server.url("/over"), max_bytes=1000)
    assert (over.status, over.error) == ("error", "response larger than 1.0 kB cap")


def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    """A gzip Content-Encoding is undone; the body is the feed itself."""
    body = FEED * 200
    feed_server.gzip("/feed", body)
    result = fetch(feed_server.url("/feed"))
    assert result.status == "ok"
    assert result.body == body
    assert "gzip" in feed_server.seen("/feed")[0].headers["accept-encoding"]


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS], ids=["zlib", "raw"])
def test_deflate_body_is_decoded(feed_server: FeedServer, wbits: int) -> None:
    """Deflate is decoded whether the server wraps it in zlib or sends raw deflate."""
    packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
    packed = packer.compress(FEED) + packer.flush()
    headers = {"Content-Encoding": "deflate"}
    feed_server.add_route("/feed", lambda h: h.respond(200, headers, packed))
    result = fetch(feed_server.url("/feed"))
    assert (result.status, result.body) == ("ok", FEED)


def test_compressed_body_is_capped_after_decoding(feed_server: FeedServer) -> None:
    """The cap applies to decoded bytes, even when the compressed body is small."""
    feed_server.gzip("/feed", b"a" * 50_000)
    result = fetch(feed_server.url("/feed"), max_bytes=10_000)
    assert (result.status, result.error) == ("error", "response larger than 10.0 kB cap")


def test_gzip_bomb_is_aborted_at_cap(feed_server: FeedServer) -> None:
    """A gzip stream inflating to 2 GB stops at the cap with little read and little memory."""
    feed_server.gzip_bomb("/feed", 2_000_000_000)
    tracemalloc.start()
    try:
        started = time.monotonic()
        result = fetch(feed_server.url("/feed"), max_bytes=MB)
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (result.status, result.error) == ("error", "response larger than 1.0 MB cap")
    assert elapsed < 3.0
    assert peak < 8 * MB
    assert feed_server.bytes_sent("/feed") < MB


def test_corrupt_gzip_is_an_error(feed_server: FeedServer) -> None:
    """A body that claims gzip but is not gives a one-line decoding error."""
    headers = {"Content-Encoding": "gzip"}
    feed_server.add_route("/feed", lambda h: h.respond(200, headers, b"this is not gzip at all"))
    result = fetch(feed_server.url("/feed"))
    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith("could not decode gzip body")
    assert "\n" not in result.error


def test_unknown_content_encoding_is_passed_through(feed_server: FeedServer) -> None:
    """A bogus Content-Encoding such as UTF-8 is ignored, as browsers and httpx do."""
    headers = {"Content-Encoding": "UTF-8"}
    feed_server.add_route("/feed", lambda h: h.respond(200, headers, FEED))
    assert fetch(feed_server.url("/feed")).body == FEED


# Time limits and broken connections.


def test_slow_body_ends_at_the_deadline(feed_server: FeedServer) -> None:
    """A server dribbling a body for 10 s is cut off at the 1 s total deadline."""
    feed_server.slow("/feed", FEED * 10, delay_per_chunk=0.2, chunks=50)
    started = time.monotonic()
    result = fetch(feed_server.url("/feed"), timeout=1.0)
    elapsed = time.monotonic() - started
    assert (result.status, result.error) == ("error", "timed out after 1.0 s reading the body")
    assert result.http_status == 200
    assert 0.9 <= elapsed < 2.0
    assert 0.9 <= result.elapsed < 1.5


def test_slow_body_within_the_deadline_is_fine(feed_server: FeedServer) -> None:
    """A slow body that completes before the deadline is read whole."""
    feed_server.slow("/feed", FEED, delay_per_chunk=0.05, chunks=4)
    result = fetch(feed_server.url("/feed"), timeout=2.0)
    assert (result.status, result.body) == ("ok", FEED)


def test_server_that_never_answers_times_out(feed_server: FeedServer) -> None:
    """A server that accepts the request but sends no headers is cut off at the deadline."""
    feed_server.stall("/feed")
    result = fetch(feed_server.url("/feed"), timeout=0.5)
    assert (result.status, result.error) == ("error", "timed out after 0.5 s")
    assert result.http_status is None


def test_connection_closed_mid_body(feed_server: FeedServer) -> None:
    """A connection closed before Content-Length bytes arrived is an error, not a short feed."""
    feed_server.close_mid_body("/feed", FEED * 100)
    result = fetch(feed_server.url("/feed"))
    assert (result.status, result.error) == ("error", "server closed the connection mid-body")
    assert result.http_status == 200
    assert result.body is None


def test_connection_refused() -> None:
    """Nothing listening on the port gives "connection refused"."""
    result = fetch(f"http://127.0.0.1:{closed_port()}/feed")
    assert (result.status, result.error) == ("error", "connection refused")
    assert result.http_status is None


def test_per_host_queueing_does_not_count_against_the_deadline(feed_server: FeedServer) -> None:
    """With one slot per host, the second fetch waits for the first without timing out."""
    feed_server.slow("/feed", FEED, delay_per_chunk=0.1, chunks=3)

    async def run() -> list[FetchResult]:
        async with make_client(per_host=1) as client:
            jobs = [fetch_feed(client, feed_server.url("/feed"), timeout=0.6) for _ in range(2)]
            return await asyncio.gather(*jobs)

    started = time.monotonic()
    results = asyncio.run(run())
    assert [r.status for r in results] == ["ok", "ok"]
    assert time.monotonic() - started >= 0.55  # one after the other, not side by side


# Files and schemes.


def test_file_path_and_file_url(tmp_path: Path) -> None:
    """A plain path and a file:// URL both read the file, with validators from mtime and size."""
    path = tmp_path / "feed one.xml"
    path.write_bytes(FEED)
    by_path = fetch(str(path))
    by_url = fetch(path.as_uri())
    assert "%20" in path.as_uri()
    for result in (by_path, by_url):
        assert (result.status, result.body, result.http_status) == ("ok", FEED, None)
        assert result.validators.etag is not None
        assert result.validators.last_modified is not None
    assert by_path.validators == by_url.validators


def test_relative_path_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A relative path is resolved against the working directory."""
    monkeypatch.chdir(tmp_path)
    Path("feed.xml").write_bytes(FEED)
    assert fetch("feed.xml").body == FEED


def test_unchanged_file_is_not_modified(tmp_path: Path) -> None:
    """Fetching a file again with its validators gives not_modified until it changes."""
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    first = fetch(str(path))
    again = fetch(str(path), first.validators)
    assert (again.status, again.body, again.validators) == ("not_modified", None, first.validators)
    path.write_bytes(FEED + b"<!-- changed -->")
    later = time.time() + 5
    os.utime(path, (later, later))
    changed = fetch(str(path), first.validators)
    assert changed.status == "ok"
    assert changed.validators.etag != first.validators.etag


def test_missing_file(tmp_path: Path) -> None:
    """A path that does not exist is an error naming it."""
    path = str(tmp_path / "nope.xml")
    for url in (path, "file://" + path):
        result = fetch(url)
        assert (result.status, result.error) == ("error", f"no such file: {path}")


def test_file_over_cap_and_directory(tmp_path: Path) -> None:
    """A file over the cap and a directory are errors, not reads."""
    path = tmp_path / "big.xml"
    path.write_bytes(b"x" * 2000)
    big = fetch(str(path), max_bytes=1000)
    assert (big.status, big.error) == ("error", "response larger than 1.0 kB cap")
    folder = fetch(str(tmp_path))
    assert (folder.status, folder.error) == ("error", f"is a directory: {tmp_path}")


@pytest.mark.parametrize("url", ["ftp://example.org/feed.xml", "gopher://example.org/1"])
def test_unsupported_scheme(url: str) -> None:
    """Schemes other than http, https and file are refused without a request."""
    result = fetch(url)
    assert result.status == "error"
    assert result.error is not None
    assert result.error.startswith("unsupported URL scheme")


def test_http_url_without_host() -> None:
    """An http URL with no host is an error, not an exception."""
    result = fetch("http:///feed.xml")
    assert (result.status, result.error) == ("error", "invalid URL: no host name")


def test_programming_errors_raise() -> None:
    """A non-positive cap or timeout is the caller's bug and raises ValueError."""
    with pytest.raises(ValueError):
        fetch("feed.xml", max_bytes=0)
    with pytest.raises(ValueError):
        fetch("feed.xml", timeout=0)


# parse_retry_after.

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        ("Sat, 01 Mar 2025 12:01:00 GMT", 60.0),
        ("Sat, 01 Mar 2025 13:00:00 +0100", 0.0),  # the same instant as NOW
        ("Sat, 01 Mar 2025 11:00:00 GMT", 0.0),  # in the past: no wait, never negative
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("12 seconds", None),
        ("Sat, 99 Foo 2025", None),
        ("\u0663\u0660", None),  # Arabic-Indic digits are not delta-seconds
        ("9" * 400, None),  # would be infinite
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After is read as delta-seconds or an HTTP date; anything else is None."""
    assert parse_retry_after(value, NOW) == expected


def test_parse_retry_after_naive_now_is_utc() -> None:
    """A naive ``now`` is taken to be UTC."""
    naive = NOW.replace(tzinfo=None)
    assert parse_retry_after("Sat, 01 Mar 2025 12:00:30 GMT", naive) == 30.0


@settings(max_examples=50, deadline=None)
@given(st.text(max_size=40), st.datetimes(timezones=st.just(UTC)))
def test_parse_retry_after_never_raises_or_goes_negative(value: str, now: datetime) -> None:
    """Whatever the header says, the answer is None or a finite non-negative number."""
    seconds = parse_retry_after(value, now)
    assert seconds is None or 0.0 <= seconds < float("inf")


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_parse_retry_after_http_date_round_trip(delta: int) -> None:
    """An HTTP date ``delta`` seconds after now parses back to ``delta``."""
    when = NOW + timedelta(seconds=delta)
    assert parse_retry_after(format_datetime(when, usegmt=True), NOW) == float(delta)


# The test server itself.


def test_server_close_joins_threads_even_with_a_client_still_connected() -> None:
    """Closing the server cuts a stalled connection and leaves no thread behind."""
    before = set(threading.enumerate())
    server = FeedServer()
    server.stall("/feed")
    client = socket.create_connection(("127.0.0.1", server.port))
    try:
        client.sendall(b"GET /feed HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 2
        while not server.seen("/feed") and time.monotonic() < deadline:
            time.sleep(0.01)
        started = time.monotonic()
        server.close()
        assert time.monotonic() - started < 1.0
    finally:
        client.close()
    assert set(threading.enumerate()) <= before


# HTTP/2 (optional: mediamon[http2]).


def test_http2_client_still_speaks_http11_to_a_plain_server(feed_server: FeedServer) -> None:
    """With HTTP/2 offered, a server without it (no TLS/ALPN) is fetched over HTTP/1.1."""
    pytest.importorskip("h2")
    feed_server.add("/feed", FEED)

    async def run() -> FetchResult:
        async with make_client(http2=True) as client:
            return await fetch_feed(client, feed_server.url("/feed"))

    result = asyncio.run(run())
    assert (result.status, result.body) == ("ok", FEED)


def test_http2_setting_needs_the_h2_package(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch.http2 = true without h2 installed is a config error that says what to install."""
    import mediamon.config as config

    monkeypatch.setattr(config, "_h2_available", lambda: False)
    path = tmp_path / "mediamon.toml"
    path.write_text(feedserver.config_text(str(tmp_path / "m.db"), [], fetch="http2 = true"),
                    encoding="utf-8")
    with pytest.raises(config.ConfigError, match=r"fetch\.http2: needs the h2 package"):
        config.load_config(path)
