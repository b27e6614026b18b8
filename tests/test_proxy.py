"""Proxies: feeds are fetched through HTTP_PROXY / HTTPS_PROXY / ALL_PROXY unless NO_PROXY
names the host, and ``fetch.proxy`` overrides the environment ("none": no proxy at all).

The proxy is a real one on 127.0.0.1, written here: absolute-URI GETs are forwarded to the
origin (plain http:// feeds), CONNECT opens a tunnel (https:// feeds, TLS end to end with the
origin). It records every request it handled, so a test sees which route a fetch took.
"""

from __future__ import annotations

import asyncio
import http.client
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from feedserver import FeedServer, config_text, rss
from mediamon.cli import cli
from mediamon.config import load_config
from mediamon.errors import ConfigError
from mediamon.fetch import fetch_feed, make_client
from mediamon.types import FetchResult

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
HOP_BY_HOP = {"connection", "proxy-connection", "keep-alive", "proxy-authorization", "te",
              "trailer", "transfer-encoding", "upgrade", "content-length"}
FEED = rss("Proxied", [("p1", ""), ("p2", "")])


class Proxy:
    """A forwarding HTTP proxy on 127.0.0.1 that counts what it carried.

    ``seen`` holds (method, target) per request: ("GET", "http://host:port/path") for a
    forwarded request, ("CONNECT", "host:port") for a tunnel.
    """

    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def do_GET(self) -> None:
                proxy.seen.append(("GET", self.path))
                proxy._forward(self)

            def do_CONNECT(self) -> None:
                proxy.seen.append(("CONNECT", self.path))
                proxy._tunnel(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def targets(self, method: str = "GET") -> list[str]:
        return [target for m, target in self.seen if m == method]

    def close(self) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def _forward(self, h: BaseHTTPRequestHandler) -> None:
        """Send an absolute-URI request on to its origin; answer with the origin's response
        and close the connection."""
        h.close_connection = True
        parts = urlsplit(h.path)
        if parts.scheme != "http" or not parts.hostname:
            h.send_error(400, "absolute http:// URI expected")
            return
        origin = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=10)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
            origin.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""),
                           headers=headers)
            response = origin.getresponse()
            body = response.read()
        except OSError as exc:
            self.errors.append(exc)
            h.send_error(502)
            return
        finally:
            origin.close()
        h.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP:
                h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(body)

    def _tunnel(self, h: BaseHTTPRequestHandler) -> None:
        """CONNECT host:port: connect, say 200, then copy bytes both ways until one side
        closes (or the proxy stops)."""
        h.close_connection = True
        host, _, port = h.path.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except (OSError, ValueError):
            h.send_error(502)
            return
        h.send_response(200, "Connection established")
        h.end_headers()
        client = h.connection
        with upstream, selectors.DefaultSelector() as sel:
            sel.register(client, selectors.EVENT_READ, upstream)
            sel.register(upstream, selectors.EVENT_READ, client)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    try:
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            return
                        key.data.sendall(data)
                    except OSError:
                        return


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without proxy variables (either case); returns the monkeypatch."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # urllib ignores HTTP_PROXY in CGI
    return monkeypatch


@pytest.fixture
def proxy() -> Iterator[Proxy]:
    p = Proxy()
    yield p
    p.close()
    assert not p.errors, p.errors


@pytest.fixture
def other_proxy() -> Iterator[Proxy]:
    p = Proxy()
    yield p
    p.close()


def fetch(url: str, **client: Any) -> FetchResult:
    async def run() -> FetchResult:
        async with make_client(timeout=5.0, **client) as c:
            return await fetch_feed(c, url, timeout=5.0)

    return asyncio.run(run())


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY"])
def test_http_feed_goes_through_the_environments_proxy(
        variable: str, feed_server: FeedServer, proxy: Proxy,
        no_proxy_env: pytest.MonkeyPatch) -> None:
    """With HTTP_PROXY (or ALL_PROXY) set, an http:// feed is fetched through that proxy."""
    feed_server.add("/feed.xml", FEED)
    no_proxy_env.setenv(variable, proxy.url)
    result = fetch(feed_server.url("/feed.xml"))
    assert result.status == "ok", result.error
    assert result.body == FEED
    assert proxy.targets() == [feed_server.url("/feed.xml")]
    assert len(feed_server.seen("/feed.xml")) == 1


@pytest.mark.parametrize(("no_proxy", "proxied"), [
    ("127.0.0.1", ["localhost"]), (".example.org,localhost", ["127.0.0.1"]),
    ("localhost,127.0.0.1", []), ("*", [])])
def test_no_proxy_hosts_go_direct(no_proxy: str, proxied: list[str], feed_server: FeedServer,
                                  proxy: Proxy, no_proxy_env: pytest.MonkeyPatch) -> None:
    """A host in NO_PROXY is fetched directly; the others still go through the proxy."""
    feed_server.add("/feed.xml", FEED)
    no_proxy_env.setenv("HTTP_PROXY", proxy.url)
    no_proxy_env.setenv("NO_PROXY", no_proxy)
    urls = {host: f"http://{host}:{feed_server.port}/feed.xml"
            for host in ("127.0.0.1", "localhost")}
    for url in urls.values():
        result = fetch(url)
        assert result.status == "ok", result.error
    assert proxy.targets() == [urls[host] for host in proxied]
    assert len(feed_server.seen("/feed.xml")) == 2


def test_proxy_argument_beats_the_environment(feed_server: FeedServer, proxy: Proxy,
                                              other_proxy: Proxy,
                                              no_proxy_env: pytest.MonkeyPatch) -> None:
    """``proxy=URL`` replaces the environment's proxy (NO_PROXY hosts still go direct);
    ``proxy="none"`` turns proxies off."""
    feed_server.add("/feed.xml", FEED)
    no_proxy_env.setenv("HTTP_PROXY", other_proxy.url)
    no_proxy_env.setenv("NO_PROXY", "localhost")
    assert fetch(feed_server.url("/feed.xml"), proxy=proxy.url).status == "ok"
    assert proxy.targets() == [feed_server.url("/feed.xml")] and other_proxy.seen == []
    local = f"http://localhost:{feed_server.port}/feed.xml"
    assert fetch(local, proxy=proxy.url).status == "ok"
    assert fetch(feed_server.url("/feed.xml"), proxy="none").status == "ok"
    assert fetch(feed_server.url("/feed.xml"), proxy="").status == "ok"
    assert len(proxy.seen) == 1 and other_proxy.seen == []
    assert len(feed_server.seen("/feed.xml")) == 4


def test_a_proxy_that_is_down_is_named_in_the_error(no_proxy_env: pytest.MonkeyPatch) -> None:
    """When the proxy cannot be reached, the feed's error says it was the proxy (without
    the proxy's password), for http:// and https:// feeds alike."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    no_proxy_env.setenv("ALL_PROXY", f"http://user:secret@127.0.0.1:{port}")
    for url in (f"http://127.0.0.1:{port}/rss", f"https://127.0.0.1:{port}/rss"):
        result = fetch(url)
        assert result.status == "error"
        assert result.error == f"connection refused (proxy http://127.0.0.1:{port})"


def test_per_host_limit_holds_through_a_proxy(feed_server: FeedServer, proxy: Proxy,
                                              no_proxy_env: pytest.MonkeyPatch) -> None:
    """Through a proxy, at most ``per_host`` requests to one origin run at once."""
    lock = threading.Lock()
    running, most = 0, 0

    def slow(h: Any) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.2)
        with lock:
            running -= 1
        h.respond(200, {"Content-Type": "application/rss+xml"}, FEED)

    feed_server.add_route("/slow.xml", slow)
    no_proxy_env.setenv("HTTP_PROXY", proxy.url)

    async def run() -> list[FetchResult]:
        async with make_client(timeout=5.0, per_host=1) as client:
            return await asyncio.gather(*(fetch_feed(client, feed_server.url("/slow.xml"),
                                                     timeout=5.0) for _ in range(3)))

    assert [r.status for r in asyncio.run(run())] == ["ok"] * 3
    assert len(proxy.targets()) == 3
    assert most == 1


def test_https_feed_goes_through_a_connect_tunnel(proxy: Proxy, tmp_path: Path,
                                                  no_proxy_env: pytest.MonkeyPatch) -> None:
    """An https:// feed goes through the proxy with CONNECT, TLS end to end with the origin
    (whose certificate the client checks); HTTP/2 is still negotiated inside the tunnel."""
    test_http2 = pytest.importorskip("test_http2")
    ca = test_http2.trustme.CA()
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    no_proxy_env.setenv("SSL_CERT_FILE", str(bundle))
    no_proxy_env.delenv("SSL_CERT_DIR", raising=False)
    no_proxy_env.setenv("HTTPS_PROXY", proxy.url)
    origin = test_http2.H2Server(ca)
    origin.add("/feed.xml", FEED)
    try:
        plain = fetch(origin.url("/feed.xml"))
        h2 = fetch(origin.url("/feed.xml"), http2=True)
    finally:
        origin.close()
    assert (plain.status, h2.status) == ("ok", "ok"), (plain.error, h2.error)
    assert plain.body == h2.body == FEED
    assert proxy.targets("CONNECT") == [f"127.0.0.1:{origin.port}"] * 2
    assert [e.protocol for e in origin.seen()] == ["HTTP/1.1", "HTTP/2"]


@pytest.mark.parametrize(("setting", "via"), [
    (None, "environment"), ('"{proxy}"', "config"), ('"none"', None), ('""', None)])
def test_run_once_uses_fetch_proxy_over_the_environment(
        setting: str | None, via: str | None, feed_server: FeedServer, proxy: Proxy,
        other_proxy: Proxy, tmp_path: Path, no_proxy_env: pytest.MonkeyPatch) -> None:
    """`mediamon run --once`: without fetch.proxy the environment's proxy carries the feed;
    fetch.proxy = URL carries it instead; fetch.proxy = "none" (or "") goes direct."""
    feed_server.add("/feed.xml", FEED)
    no_proxy_env.setenv("HTTP_PROXY", other_proxy.url)
    fetch_lines = "" if setting is None else f"proxy = {setting.format(proxy=proxy.url)}\n"
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), [feed_server.url("/feed.xml")],
                                  fetch=fetch_lines), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "--log-level", "error",
                                      "run", "--once"])
    assert result.exit_code == 0, result.output
    assert len(feed_server.seen("/feed.xml")) == 1
    expected = {"environment": (0, 1), "config": (1, 0), None: (0, 0)}[via]
    assert (len(proxy.seen), len(other_proxy.seen)) == expected


@pytest.mark.parametrize(("value", "reason"), [
    ('"ftp://proxy.example:21"', "not a proxy URL"),
    ('"http://"', "no host name"),
    ("3128", "must be a string"),
])
def test_bad_fetch_proxy_names_file_key_and_reason(value: str, reason: str, tmp_path: Path,
                                                   no_proxy_env: pytest.MonkeyPatch) -> None:
    """A bad fetch.proxy is a config error naming the file, the key and the reason."""
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), [], fetch=f"proxy = {value}\n"),
                      encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.key == "fetch.proxy" and reason in info.value.reason
    assert str(info.value).startswith(f"{config}: fetch.proxy: ")


def test_socks_proxy_without_socksio_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_proxy_env: pytest.MonkeyPatch) -> None:
    """fetch.proxy = "socks5://..." without the socksio package names the extra to install."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "socksio" else real(name, *a))
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), [],
                                  fetch='proxy = "socks5://127.0.0.1:1080"\n'),
                      encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(config)
    assert info.value.key == "fetch.proxy"
    assert "pip install 'mediamon[socks]'" in info.value.reason


def test_unusable_environment_proxy_is_one_config_line(tmp_path: Path,
                                                       no_proxy_env: pytest.MonkeyPatch) -> None:
    """An environment proxy mediamon cannot use (a SOCKS proxy without socksio, an unknown
    scheme) is a one-line error naming the variable, with its password left out, unless
    fetch.proxy = "none" says to ignore the environment."""
    no_proxy_env.setenv("HTTPS_PROXY", "gopher://user:secret@proxy.example:70")
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), []), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--config", str(config), "feeds", "list"])
    assert result.exit_code == 1
    assert "fetch.proxy: not set, so the environment's HTTPS_PROXY=" in result.output
    assert "gopher://proxy.example:70" in result.output and "secret" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    config.write_text(config_text(str(tmp_path / "m.db"), [], fetch='proxy = "none"\n'),
                      encoding="utf-8")
    assert load_config(config).fetch.proxy == ""
