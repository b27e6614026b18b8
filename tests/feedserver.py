"""A real HTTP server on 127.0.0.1 for tests: feeds, conditional requests and misbehaviour.

Routes are declared per path (``add``, ``status``, ``redirect``, ``slow``, ``huge``, ``gzip``,
``gzip_bomb``, ``stall``, ``close_mid_body``, or any function via ``add_route``) and every
request is recorded in ``requests``. The server listens on an ephemeral port in background
threads and stops them all on ``close``, including handlers still streaming to a client that
went away.

It does not speak TLS or HTTP/2, does not match paths by pattern (the query string is ignored),
and is not meant to be fast: it exists so fetch code is tested against real sockets, not mocks.

``rss`` and ``config_text`` help tests that poll it through mediamon: a small RSS 2.0 body,
and a minimal config (one topic, every item kept) for a list of feed URLs.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

# Errors a handler gets when the client hangs up while it is still writing.
_HANGUP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)
_BLOCK = 64 * 1024


class Seen(NamedTuple):
    """One request the server received; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]


Route = Callable[["Handler"], None]
"""A route writes a whole response through the handler it is given."""


@dataclass
class _Document:
    """A feed body with the validators the server hands out for it."""

    body: bytes
    content_type: str
    etag: bool
    last_modified: bool
    modified: float  # Unix time, whole seconds

    @property
    def etag_value(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'

    @property
    def last_modified_value(self) -> str:
        return formatdate(self.modified, usegmt=True)


class Handler(BaseHTTPRequestHandler):
    """Serves one connection; routes use ``start``/``respond``/``write`` and ``stopping``."""

    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 10  # an idle keep-alive connection cannot hold a thread for longer

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        feed_server = self.server.feed_server
        path = urlsplit(self.path).path
        headers = {key.lower(): value for key, value in self.headers.items()}
        feed_server._record(Seen(self.command, self.path, headers))
        route = feed_server._routes.get(path)
        try:
            if route is None:
                self.respond(404, body=b"not found")
            else:
                route(self)
        except _HANGUP:
            self.close_connection = True

    # Helpers for routes.

    @property
    def stopping(self) -> threading.Event:
        return self.server.feed_server._stopping

    def start(self, code: int, headers: dict[str, str] | None = None) -> None:
        """Send the status line and headers; the route writes the body itself."""
        self.send_response(code)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()

    def respond(self, code: int, headers: dict[str, str] | None = None, body: bytes = b"") -> None:
        """Send a complete response with a Content-Length."""
        self.start(code, {**(headers or {}), "Content-Length": str(len(body))})
        if self.command != "HEAD":
            self.write(body)

    def write(self, data: bytes) -> None:
        self.wfile.write(data)
        self.server.feed_server._count(urlsplit(self.path).path, len(data))

    def write_chunk(self, data: bytes) -> None:
        """Write one chunk of a ``Transfer-Encoding: chunked`` body (empty data ends it)."""
        self.write(b"%x\r\n%s\r\n" % (len(data), data))

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    feed_server: FeedServer

    def process_request(self, request: Any, client_address: Any) -> None:
        # socketserver does not join daemon threads on close, so they are tracked here.
        thread = threading.Thread(
            target=self.process_request_thread, args=(request, client_address), daemon=True
        )
        self.feed_server._track(request, add=True, thread=thread)
        thread.start()

    def shutdown_request(self, request: Any) -> None:
        self.feed_server._track(request, add=False)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if not isinstance(exc, _HANGUP):
            self.feed_server.errors.append(exc)


class FeedServer:
    """A loopback HTTP server whose routes are declared by path; use as a context manager."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._docs: dict[str, _Document] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._sent: dict[str, int] = {}
        self.requests: list[Seen] = []
        self.errors: list[BaseException] = []  # unexpected exceptions raised by routes
        self._httpd = _Server(("127.0.0.1", 0), Handler)
        self._httpd.feed_server = self
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    # Lifecycle.

    def close(self) -> None:
        """Stop accepting, cut open connections, and join every thread the server started."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._httpd.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()
        self._thread.join()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
            if thread.is_alive():
                raise RuntimeError(f"feed server handler {thread.name} did not stop")

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Introspection.

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def bytes_sent(self, path: str) -> int:
        """Bytes written to sockets for ``path`` so far, headers excluded."""
        with self._lock:
            return self._sent.get(path, 0)

    def seen(self, path: str) -> list[Seen]:
        """The requests received for ``path`` (query string ignored), oldest first."""
        with self._lock:
            return [r for r in self.requests if urlsplit(r.path).path == path]

    # Routes.

    def add_route(self, path: str, route: Route) -> None:
        """Serve ``path`` with a function that writes the whole response."""
        with self._lock:
            self._routes[path] = route

    def add(
        self,
        path: str,
        body: bytes,
        content_type: str = "application/rss+xml",
        *,
        etag: bool = True,
        last_modified: bool = True,
    ) -> None:
        """Serve ``body`` with validators, answering matching conditional requests with 304."""
        doc = _Document(body, content_type, etag, last_modified, _whole_seconds_now())
        self._docs[path] = doc

        def route(h: Handler) -> None:
            headers = {"Content-Type": doc.content_type}
            if doc.etag:
                headers["ETag"] = doc.etag_value
            if doc.last_modified:
                headers["Last-Modified"] = doc.last_modified_value
            if _not_modified(h, doc):
                h.start(304, headers)
            else:
                h.respond(200, headers, doc.body)

        self.add_route(path, route)

    def set_body(self, path: str, body: bytes) -> None:
        """Change a document added with ``add``: it gets a new ETag and a later Last-Modified."""
        doc = self._docs[path]
        doc.modified = max(_whole_seconds_now(), doc.modified + 1)
        doc.body = body

    def status(
        self, path: str, code: int, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        """Answer ``path`` with a fixed status, e.g. 500, 410 or 429 with Retry-After."""
        self.add_route(path, lambda h: h.respond(code, headers, body))

    def redirect(self, path: str, to: str, code: int = 301) -> None:
        """Redirect ``path`` to ``to`` (a path or an absolute URL)."""
        self.status(path, code, {"Location": to})

    def slow(self, path: str, body: bytes, delay_per_chunk: float, chunks: int) -> None:
        """Send headers at once, then ``body`` in ``chunks`` pieces with a pause before each."""
        size = -(-len(body) // chunks) or 1

        def route(h: Handler) -> None:
            h.start(200, {"Content-Type": "application/rss+xml", "Content-Length": str(len(body))})
            for start in range(0, len(body), size):
                if h.stopping.wait(delay_per_chunk):
                    return
                h.write(body[start : start + size])
                h.wfile.flush()

        self.add_route(path, route)

    def huge(self, path: str, size: int, *, chunked: bool = False) -> None:
        """Stream ``size`` bytes without building them in memory.

        The length is announced with Content-Length, or not at all when ``chunked``.
        """
        block = b"<!-- padding -->" * (_BLOCK // 16)
        framing = {"Transfer-Encoding": "chunked"} if chunked else {"Content-Length": str(size)}

        def route(h: Handler) -> None:
            h.start(200, {"Content-Type": "application/rss+xml", **framing})
            send = h.write_chunk if chunked else h.write
            left = size
            while left > 0 and not h.stopping.is_set():
                piece = block if left >= len(block) else block[:left]
                send(piece)
                left -= len(piece)
            if chunked:
                h.write_chunk(b"")

        self.add_route(path, route)

    def gzip(self, path: str, body: bytes, content_type: str = "application/rss+xml") -> None:
        """Serve ``body`` gzip-compressed with ``Content-Encoding: gzip``."""
        packed = _gzip_bytes(body)
        headers = {"Content-Type": content_type, "Content-Encoding": "gzip"}
        self.add_route(path, lambda h: h.respond(200, headers, packed))

    def gzip_bomb(self, path: str, expanded_size: int) -> None:
        """Stream a chunked gzip body that inflates to ``expanded_size`` zero bytes."""

        def route(h: Handler) -> None:
            h.start(
                200,
                {
                    "Content-Type": "application/rss+xml",
                    "Content-Encoding": "gzip",
                    "Transfer-Encoding": "chunked",
                },
            )
            for piece in _gzip_stream(expanded_size):
                if h.stopping.is_set():
                    return
                h.write_chunk(piece)
            h.write_chunk(b"")

        self.add_route(path, route)

    def stall(self, path: str) -> None:
        """Read the request and never answer it (until the server closes)."""
        self.add_route(path, lambda h: h.stopping.wait())

    def close_mid_body(self, path: str, body: bytes) -> None:
        """Announce ``body`` with a Content-Length, send half of it, then close the connection."""

        def route(h: Handler) -> None:
            h.start(200, {"Content-Type": "application/rss+xml", "Content-Length": str(len(body))})
            h.write(body[: len(body) // 2])
            h.wfile.flush()
            h.close_connection = True

        self.add_route(path, route)

    # Internals called from handler threads.

    def _record(self, seen: Seen) -> None:
        with self._lock:
            self.requests.append(seen)

    def _count(self, path: str, n: int) -> None:
        with self._lock:
            self._sent[path] = self._sent.get(path, 0) + n

    def _track(
        self, conn: socket.socket, *, add: bool, thread: threading.Thread | None = None
    ) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
                self._threads = [t for t in self._threads if t.is_alive()]
                if thread is not None:
                    self._threads.append(thread)
            else:
                self._connections.discard(conn)


def _whole_seconds_now() -> float:
    return float(int(time.time()))


def _not_modified(h: Handler, doc: _Document) -> bool:
    """Apply RFC 9110 precedence: If-None-Match wins over If-Modified-Since."""
    if_none_match = h.headers.get("If-None-Match")
    if if_none_match is not None:
        if not doc.etag:
            return False
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return "*" in tags or doc.etag_value in tags
    if_modified_since = h.headers.get("If-Modified-Since")
    if if_modified_since is not None and doc.last_modified:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError):
            return False
        return doc.modified <= since
    return False


def _gzip_bytes(body: bytes) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return packer.compress(body) + packer.flush()


def _gzip_stream(expanded_size: int) -> Iterator[bytes]:
    """Yield a gzip stream of ``expanded_size`` zero bytes, compressing as it goes."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    left = expanded_size
    while left > 0:
        piece = zeros if left >= len(zeros) else zeros[:left]
        left -= len(piece)
        packed = packer.compress(piece)
        if packed:
            yield packed
    yield packer.flush()


# Helpers for tests that poll this server through mediamon.


def rss(title: str, items: list[tuple[str, str]], *, ttl: int | None = None,
        extra_channel: str = "") -> bytes:
    """An RSS 2.0 document: ``items`` are (guid, pubDate as RFC 822 or "") pairs; each item's
    title and link are made from its guid."""
    parts = [f"<item><title>{title} {guid}</title><link>https://example.org/{guid}</link>"
             f'<guid isPermaLink="false">{guid}</guid>'
             + (f"<pubDate>{date}</pubDate>" if date else "")
             + f"<description>About {guid}.</description></item>"
             for guid, date in items]
    ttl_tag = f"<ttl>{ttl}</ttl>" if ttl is not None else ""
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            f"<title>{title}</title><link>https://example.org/</link>{ttl_tag}{extra_channel}"
            + "".join(parts) + "</channel></rss>").encode()


def slow_feeds(server: FeedServer, count: int, items: int, delay: float, *,
               prefix: str = "/slow") -> list[str]:
    """``count`` feeds of ``items`` items each, answered after ``delay`` seconds (sooner
    when the server stops), at ``{prefix}{n}.xml``: the paths."""
    paths = []
    for n in range(count):
        body = rss(f"Feed {n}", [(f"f{n}-i{k}", "") for k in range(items)])

        def route(h: Handler, body: bytes = body) -> None:
            if not h.stopping.wait(delay):
                h.respond(200, {"Content-Type": "application/rss+xml"}, body)

        server.add_route(f"{prefix}{n}.xml", route)
        paths.append(f"{prefix}{n}.xml")
    return paths


def config_text(db: str, urls: list[str], *, fetch: str = "", schedule: str = "",
                feed_keys: str = "") -> str:
    """A small mediamon config: one topic, every item kept (keep_all), no jitter, the given
    feeds; ``fetch``/``schedule`` are extra TOML lines for those sections."""
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n{feed_keys}\n' for u in urls)
    if not any(line.startswith("timeout") for line in fetch.splitlines()):
        fetch = 'timeout = "5s"\n' + fetch
    return (f'[database]\npath = "{db}"\n\n[fetch]\n{fetch}\n\n'
            f'[schedule]\njitter = "0s"\n{schedule}\n\n[keep]\nkeep_all = true\n\n'
            f'[topics.any]\nquery = "about"\n\n{feeds}')


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A running FeedServer, closed (threads joined) after the test."""
    with FeedServer() as server:
        yield server
    assert not server.errors, server.errors


__all__ = ["FeedServer", "Handler", "Route", "Seen", "config_text", "feed_server", "rss"]
