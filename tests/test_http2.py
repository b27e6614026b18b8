"""HTTP/2 for real (fetch.http2): mediamon against an HTTPS server on 127.0.0.1 that negotiates
h2 with ALPN, through ``fetch_feed`` and through ``python -m mediamon run --once``.

The server is a small asyncio one built on the ``h2`` state machine (``h11`` for clients that
do not offer h2), with a certificate from a throwaway ``trustme`` CA. mediamon is made to trust
that CA the way any deployment would: ``SSL_CERT_FILE``, which httpx reads when
``make_client`` builds its SSL context. Every request is recorded with the protocol that
carried it, so a silent fallback to HTTP/1.1 fails the HTTP/2 assertions.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import ssl
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import h11  # HTTP/1.1 for clients that do not offer h2 (httpcore's own, installed with httpx)
import pytest

from feedserver import config_text, rss
from mediamon import USER_AGENT
from mediamon.core.parse.standard import parse_feed
from mediamon.fetch import fetch_feed, make_client
from mediamon.types import FetchResult

h2_config = pytest.importorskip("h2.config")
h2_connection = pytest.importorskip("h2.connection")
h2_events = pytest.importorskip("h2.events")
h2_exceptions = pytest.importorskip("h2.exceptions")
trustme = pytest.importorskip("trustme")

T = TypeVar("T")

FEED_FILE = Path(__file__).resolve().parent / "data" / "feeds" / "rss20.xml"
FEED = FEED_FILE.read_bytes()
# Bigger than HTTP/2's initial 64 KiB flow-control window and many 16 KiB frames long.
BIG = rss("Big", [(f"big-{k:05d}", "") for k in range(2000)])


# The server.


@dataclass(frozen=True)
class Exchange:
    """One request the server answered. ``protocol`` is the state machine that parsed it
    ("HTTP/2": h2, "HTTP/1.1": h11); header names are lower-case, and HTTP/2's pseudo-headers
    (":method", ":scheme", ":path", ":authority") are among them."""

    protocol: str
    alpn: str | None  # what TLS negotiated
    connection: int  # the server's count of accepted connections, from 1
    stream_id: int | None  # HTTP/2 only
    path: str
    headers: dict[str, str]
    status: int


class H2Server:
    """HTTPS on 127.0.0.1: HTTP/2 to clients that offer "h2" with ALPN, HTTP/1.1 to others.

    Serves fixed documents by path with a strong ETag, answering 304 to a matching
    If-None-Match; anything else is a 404. Runs its own event loop in a thread; ``close``
    stops it and its connections.
    """

    def __init__(self, ca: trustme.CA) -> None:
        self.exchanges: list[Exchange] = []
        self.errors: list[BaseException] = []  # unexpected exceptions in connection handlers
        self._docs: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()
        self._accepted = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.minimum_version = ssl.TLSVersion.TLSv1_2  # HTTP/2 over TLS needs 1.2+
        self._tls.set_alpn_protocols(["h2", "http/1.1"])
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(self._tls)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._server = self._call(asyncio.start_server(
            self._connection, "127.0.0.1", 0, ssl=self._tls, ssl_handshake_timeout=5))
        self.port: int = self._server.sockets[0].getsockname()[1]

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> None:
        with self._lock:
            self._docs[path] = (body, content_type)

    def seen(self) -> list[Exchange]:
        with self._lock:
            return list(self.exchanges)

    def close(self) -> None:
        self._call(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=5)

    async def _shutdown(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    # Answering.

    def _answer(self, path: str, headers: dict[str, str]) -> tuple[int, list[tuple[str, str]],
                                                                   bytes]:
        with self._lock:
            doc = self._docs.get(path.split("?", 1)[0])
        if doc is None:
            return 404, [("content-type", "text/plain")], b"not found"
        body, content_type = doc
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        tags = {t.strip().removeprefix("W/") for t in headers.get("if-none-match", "").split(",")}
        if etag in tags or "*" in tags:
            return 304, [("etag", etag)], b""
        return 200, [("content-type", content_type), ("etag", etag)], body

    def _record(self, exchange: Exchange) -> None:
        with self._lock:
            self.exchanges.append(exchange)

    # Connections.

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._accepted += 1
        number = self._accepted
        alpn = writer.get_extra_info("ssl_object").selected_alpn_protocol()
        try:
            if alpn == "h2":
                await self._serve_h2(reader, writer, number)
            else:
                await self._serve_h11(reader, writer, number, alpn)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client went away
        except asyncio.CancelledError:
            writer.transport.abort()
            raise
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1)

    async def _serve_h2(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        number: int) -> None:
        conn = h2_connection.H2Connection(
            h2_config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        writer.write(conn.data_to_send())
        unsent: dict[int, bytes] = {}  # stream id -> body still waiting for flow-control window
        while True:
            data = await reader.read(65_536)
            if not data:
                return
            try:
                events = conn.receive_data(data)
            except h2_exceptions.ProtocolError as exc:
                self.errors.append(exc)
                writer.write(conn.data_to_send())
                return
            ended = False
            for event in events:
                if isinstance(event, h2_events.RequestReceived):
                    headers = dict(event.headers)
                    status, extra, body = self._answer(headers.get(":path", ""), headers)
                    self._record(Exchange("HTTP/2", "h2", number, event.stream_id,
                                          headers.get(":path", ""), headers, status))
                    conn.send_headers(event.stream_id, [
                        (":status", str(status)), *extra, ("content-length", str(len(body)))],
                        end_stream=not body)
                    if body:
                        unsent[event.stream_id] = body
                elif isinstance(event, h2_events.DataReceived):
                    conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2_events.StreamReset):
                    unsent.pop(event.stream_id, None)
                elif isinstance(event, h2_events.ConnectionTerminated):
                    ended = True
            if not ended:
                _send_within_window(conn, unsent)
            writer.write(conn.data_to_send())
            await writer.drain()
            if ended:
                return

    async def _serve_h11(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                         number: int, alpn: str | None) -> None:
        conn = h11.Connection(h11.SERVER)
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65_536))
            elif isinstance(event, h11.Request):
                headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers}
                path = event.target.decode("latin-1")
                status, extra, body = self._answer(path, headers)
                self._record(Exchange("HTTP/1.1", alpn, number, None, path, headers, status))
                writer.write(conn.send(h11.Response(
                    status_code=status, headers=[*extra, ("content-length", str(len(body)))])))
                if body:
                    writer.write(conn.send(h11.Data(data=body)))
                writer.write(conn.send(h11.EndOfMessage()))
                await writer.drain()
            elif isinstance(event, h11.EndOfMessage):
                if conn.our_state is not h11.DONE:
                    continue  # a request's end before we answered: cannot happen for GET
                conn.start_next_cycle()
            else:  # ConnectionClosed, PAUSED after a "Connection: close"
                return


def _send_within_window(conn: h2_connection.H2Connection, unsent: dict[int, bytes]) -> None:
    """Queue as much of each waiting body as the peer's flow-control windows and frame size
    allow; a body's last frame ends its stream. The rest waits for WINDOW_UPDATE."""
    for stream_id in list(unsent):
        body = unsent[stream_id]
        while body:
            size = min(conn.local_flow_control_window(stream_id),
                       conn.max_outbound_frame_size, len(body))
            if size <= 0:
                break
            conn.send_data(stream_id, body[:size], end_stream=size == len(body))
            body = body[size:]
        if body:
            unsent[stream_id] = body
        else:
            del unsent[stream_id]


# Fixtures and helpers.


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(ca: trustme.CA, tmp_path: Path) -> Path:
    """The test CA's certificate as a PEM file, to use as SSL_CERT_FILE."""
    path = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[H2Server]:
    """A running H2Server serving tests/data/feeds/rss20.xml at /feed.xml."""
    srv = H2Server(ca)
    srv.add("/feed.xml", FEED)
    try:
        yield srv
    finally:
        srv.close()
    assert not srv.errors, srv.errors


@pytest.fixture
def trusted(ca_file: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make clients built from now on in this process trust the test CA (and nothing else)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return ca_file


def fetch_twice(url: str, *, http2: bool) -> tuple[FetchResult, FetchResult]:
    """Fetch ``url``, then again with the validators it returned, on one client."""

    async def run() -> tuple[FetchResult, FetchResult]:
        async with make_client(timeout=5.0, http2=http2) as client:
            first = await fetch_feed(client, url, timeout=5.0)
            second = await fetch_feed(client, url, first.validators, timeout=5.0)
            return first, second

    return asyncio.run(run())


def run_mediamon(config: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediamon", "--config", str(config), "--log-level", "error",
         "run", "--once"],
        env=env, capture_output=True, text=True, timeout=60, check=False)


def clean_env() -> dict[str, str]:
    """This process's environment without any CA override."""
    env = dict(os.environ)
    env.pop("SSL_CERT_FILE", None)
    env.pop("SSL_CERT_DIR", None)
    return env


# fetch_feed.


@pytest.mark.usefixtures("trusted")
def test_http2_fetch_and_conditional_refetch(server: H2Server) -> None:
    """With http2=True the feed comes over HTTP/2 and parses; the refetch with its ETag is a
    304 on a second stream of the same HTTP/2 connection."""
    url = server.url("/feed.xml")
    first, second = fetch_twice(url, http2=True)

    assert first.status == "ok", first.error
    assert first.http_status == 200 and first.body == FEED
    parsed = parse_feed(first.body, url=url, headers=first.headers)
    assert parsed.format == "rss20" and len(parsed.entries) == 6
    assert first.validators.etag and first.validators.etag.startswith('"')

    assert second.status == "not_modified", second.error
    assert second.http_status == 304

    one, two = server.seen()
    for exchange in (one, two):
        assert (exchange.protocol, exchange.alpn) == ("HTTP/2", "h2")
        assert exchange.headers[":scheme"] == "https"
        assert exchange.headers[":method"] == "GET"
        assert exchange.headers[":authority"] == f"127.0.0.1:{server.port}"
        assert exchange.headers["user-agent"] == USER_AGENT
    assert "if-none-match" not in one.headers and one.status == 200
    assert two.headers["if-none-match"] == first.validators.etag and two.status == 304
    # Client-initiated streams 1 and 3: one connection, reused.
    assert (one.connection, one.stream_id) == (two.connection, 1)
    assert two.stream_id == 3


@pytest.mark.usefixtures("trusted")
def test_default_client_speaks_http11_to_the_same_server(server: H2Server) -> None:
    """Without http2 the client offers only http/1.1 in ALPN, so the same server answers it
    over HTTP/1.1, conditional refetch included."""
    first, second = fetch_twice(server.url("/feed.xml"), http2=False)
    assert (first.status, first.body) == ("ok", FEED)
    assert second.status == "not_modified"
    one, two = server.seen()
    assert [(e.protocol, e.alpn, e.status) for e in (one, two)] == [
        ("HTTP/1.1", "http/1.1", 200), ("HTTP/1.1", "http/1.1", 304)]
    assert two.headers["if-none-match"] == first.validators.etag
    assert one.headers["user-agent"] == USER_AGENT


@pytest.mark.usefixtures("trusted")
def test_http2_body_larger_than_the_flow_control_window(server: H2Server) -> None:
    """A body of many frames, beyond the initial 64 KiB window, arrives whole over HTTP/2;
    the same body over the cap is refused with the usual reason, over HTTP/2 too."""
    server.add("/big.xml", BIG)
    url = server.url("/big.xml")

    async def run() -> tuple[FetchResult, FetchResult]:
        async with make_client(timeout=5.0, http2=True) as client:
            whole = await fetch_feed(client, url, timeout=5.0)
            capped = await fetch_feed(client, url, timeout=5.0, max_bytes=100_000)
            return whole, capped

    whole, capped = asyncio.run(run())
    assert len(BIG) > 3 * 65_536
    assert whole.status == "ok" and whole.body == BIG
    assert capped.status == "error" and capped.error == "response larger than 100.0 kB cap"
    assert [(e.protocol, e.status) for e in server.seen()] == [("HTTP/2", 200)] * 2


# `mediamon run --once` in a subprocess.


def test_run_once_over_http2_end_to_end(server: H2Server, ca_file: Path,
                                        tmp_path: Path) -> None:
    """fetch.http2 = true and SSL_CERT_FILE: the run exits 0, stores the feed's items, and
    the server saw mediamon's request over HTTP/2."""
    db = tmp_path / "m.db"
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(db), [server.url("/feed.xml")], fetch="http2 = true"),
                      encoding="utf-8")
    proc = run_mediamon(config, {**clean_env(), "SSL_CERT_FILE": str(ca_file)})

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "feed(s) failed" not in proc.stdout, proc.stdout
    expected = {e.data["id"] for e in parse_feed(FEED, url=server.url("/feed.xml")).entries}
    with sqlite3.connect(db) as conn:
        guids = {row[0] for row in conn.execute("SELECT guid FROM items")}
        status, error = conn.execute("SELECT last_status, last_error FROM feeds").fetchone()
    assert (status, error) == ("ok", None)
    assert guids == expected and len(guids) == 6
    seen = server.seen()
    assert seen and all(e.protocol == "HTTP/2" and e.alpn == "h2" for e in seen)
    assert all(e.headers["user-agent"] == USER_AGENT for e in seen)


def test_run_once_without_trusting_the_ca_records_a_tls_error(server: H2Server,
                                                              tmp_path: Path) -> None:
    """The same run with the default trust store: the feed fails with a one-line
    certificate error, shown in the summary and kept on its row; the run exits 0 as it does
    for any failed feed, and the server never got a request."""
    db = tmp_path / "m.db"
    config = tmp_path / "mediamon.toml"
    url = server.url("/feed.xml")
    config.write_text(config_text(str(db), [url], fetch="http2 = true"), encoding="utf-8")
    proc = run_mediamon(config, clean_env())

    assert proc.returncode == 1, proc.stdout + proc.stderr  # its only feed failed
    assert "no feed could be fetched" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    with sqlite3.connect(db) as conn:
        status, error, failures = conn.execute(
            "SELECT last_status, last_error, failures FROM feeds").fetchone()
        items = conn.execute("SELECT count(*) FROM items").fetchone()[0]
    assert (status, failures, items) == ("error", 1, 0)
    assert error.startswith("TLS error: certificate not valid: ") and "\n" not in error
    assert "1 feed(s) failed:" in proc.stdout
    assert f"  {url}  error: {error}" in proc.stdout
    assert server.seen() == []
