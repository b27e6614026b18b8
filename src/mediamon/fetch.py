"""Fetch one feed over HTTP(S) or from a local file, conditionally and within hard limits.

``fetch_feed`` sends ``If-None-Match`` / ``If-Modified-Since`` from the validators it is given,
follows up to five redirects (noting where an unbroken run of permanent ones, 301/308,
led: ``FetchResult.permanent_url``), and enforces two limits whatever the server does: at most
``max_bytes`` of *decoded* body (so a gzip bomb stops at the cap too) and one total deadline
over connecting, waiting for headers and reading the body (so a server that dribbles bytes
cannot hold a fetch open). Everything a server or a file system can do wrong comes back as a
``FetchResult`` with status ``"error"`` and a one-line reason; only programming errors raise.

Local files (``file://`` URLs and plain paths) are read without httpx, with the same cap and a
pseudo-ETag from the file's mtime and size, so archives and tests work offline.

Proxies: ``make_client`` honours ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY`` and ``NO_PROXY``
as httpx itself does (one mounted transport per proxy, the hosts in ``NO_PROXY`` going
direct), unless ``proxy=`` names one proxy for everything or ``""`` turns proxies off.

This module does not parse feeds, retry, back off, sleep on ``Retry-After`` or keep any state
between calls: the caller stores the validators and decides what a failure means.
"""

from __future__ import annotations

import asyncio
import contextvars
import math
import os
import socket
import ssl
import stat
import time
import zlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import formatdate, parsedate_to_datetime
from http import HTTPStatus
from typing import cast
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import httpx

from mediamon import USER_AGENT
from mediamon.types import FetchResult, Validators

ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.1"
)
# Only codings this module can inflate with a bound on the output.
ACCEPT_ENCODING = "gzip, deflate"
MAX_REDIRECTS = 5
HTTP_SCHEMES = frozenset({"http", "https"})

# The running fetch's deadline, so the per-host queue can pause it (see _PerHostTransport).
_DEADLINE: contextvars.ContextVar[asyncio.Timeout | None] = contextvars.ContextVar(
    "mediamon_fetch_deadline", default=None
)


async def fetch_feed(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators = Validators(),
    *,
    max_bytes: int = 10_000_000,
    timeout: float = 30.0,
    now: datetime | None = None,
) -> FetchResult:
    """Fetch ``url`` once; never raises for anything a server or file system can do.

    ``now`` is only used to turn an HTTP-date ``Retry-After`` into seconds; it defaults to the
    current time when the response arrives.
    """
    if max_bytes <= 0:
        raise ValueError(f"max_bytes must be positive, got {max_bytes}")
    if timeout <= 0:
        raise ValueError(f"timeout must be positive, got {timeout}")
    started = time.monotonic()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        result = _error(url, f"invalid URL: {_one_line(exc)}")
    else:
        scheme = parts.scheme
        if scheme in HTTP_SCHEMES and not parts.hostname:
            result = _error(url, "invalid URL: no host name")
        elif scheme in HTTP_SCHEMES:
            result = await _fetch_http(client, url, validators, max_bytes, timeout, now)
        elif scheme == "file":
            if parts.netloc not in ("", "localhost"):
                result = _error(url, f"unsupported file URL host: {parts.netloc}")
            else:
                path = url2pathname(unquote(parts.path))
                result = await asyncio.to_thread(_read_file, url, path, validators, max_bytes)
        elif scheme == "" or len(scheme) == 1:  # a plain path (or a Windows drive letter)
            path = os.path.expanduser(url)
            result = await asyncio.to_thread(_read_file, url, path, validators, max_bytes)
        else:
            result = _error(url, f"unsupported URL scheme: {scheme}")
    return replace(result, elapsed=time.monotonic() - started)


def make_client(
    *,
    user_agent: str = USER_AGENT,
    timeout: float = 30.0,
    connect_timeout: float | None = None,
    read_timeout: float | None = None,
    max_connections: int = 20,
    per_host: int = 2,
    proxy: str | None = None,
    http2: bool = False,
) -> httpx.AsyncClient:
    """An AsyncClient for ``fetch_feed``: pooled, at most ``per_host`` requests per host at once,
    and about ``max_connections`` idle connections kept for reuse.

    ``connect_timeout`` bounds connecting (and the TLS handshake), ``read_timeout`` the
    longest silence while waiting for data; ``fetch_feed``'s own ``timeout`` bounds the
    whole request. ``http2`` offers HTTP/2 to servers that support it (TLS + ALPN; needs
    the ``h2`` package, ``pip install 'mediamon[http2]'``); others get HTTP/1.1.

    ``proxy`` None (the default) takes the proxies from the environment (``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``, see ``proxy_routes``); a URL sends every
    request through that proxy instead (the hosts in ``NO_PROXY`` still go direct); ``""``
    (or ``"none"``) uses no proxy at all. Raises ValueError for a proxy it cannot use.

    Time a request spends queued for a per-host slot does not count against
    ``fetch_feed``'s deadline. The caller closes the client (``async with`` or ``aclose``).
    """
    if per_host < 1 or max_connections < 1:
        raise ValueError("per_host and max_connections must be at least 1")
    limits = httpx.Limits(max_connections=per_host, max_keepalive_connections=per_host)
    tls = httpx.create_ssl_context()  # one for all hosts: building one costs ~20 ms
    max_hosts = max(1, max_connections // per_host)

    def per_host_transport(via: str | None) -> httpx.AsyncBaseTransport:
        def host_pool() -> httpx.AsyncHTTPTransport:
            return httpx.AsyncHTTPTransport(verify=tls, limits=limits, proxy=via, retries=0,
                                            http2=http2)

        return _PerHostTransport(host_pool, per_host=per_host, max_hosts=max_hosts, via=via)

    # httpx reads the environment's proxies only when it builds its own transport, so the
    # routes are mounted here: each proxy gets its own per-host transport (a URL always takes
    # the same route, so the per-host limits hold), and None sends a host direct.
    routes = proxy_routes(proxy)
    for via in set(routes.values()):
        if via is not None and (problem := proxy_problem(via)):
            raise ValueError(f"proxy {redact_proxy(via)}: {problem}")
    transports = {via: per_host_transport(via) for via in set(routes.values()) if via}
    return httpx.AsyncClient(
        transport=per_host_transport(None),
        mounts={pattern: transports[via] if via else None for pattern, via in routes.items()},
        timeout=httpx.Timeout(timeout, connect=min(connect_timeout or timeout, timeout),
                              read=min(read_timeout or timeout, timeout)),
        headers={"User-Agent": user_agent},
        follow_redirects=False,
        max_redirects=MAX_REDIRECTS,
    )


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")


def proxy_routes(proxy: str | None = None) -> dict[str, str | None]:
    """Which proxy each URL pattern goes through, as httpx mounts take them
    (``{"https://": "http://proxy:3128", "all://*example.org": None}``; None: direct).

    ``proxy`` None: the environment's, read by httpx's own rules (``HTTP_PROXY``,
    ``HTTPS_PROXY``, ``ALL_PROXY``, upper or lower case; ``NO_PROXY`` hosts, domains and
    IP addresses go direct, ``NO_PROXY=*`` turns proxies off). A URL: that proxy for every
    request, ``NO_PROXY`` still applying. ``""`` or ``"none"``: no proxy.
    """
    if proxy is not None and proxy.strip().lower() in ("", "none"):
        return {}
    # Private to httpx, but it is exactly what httpx.AsyncClient(trust_env=True) applies;
    # mediamon passes its own transport, which turns that off.
    from httpx._utils import get_environment_proxies

    routes = get_environment_proxies()
    if proxy is None:
        return routes
    if not routes and _no_proxy_everywhere():
        return {}
    return {"all://": proxy.strip(), **{k: None for k, v in routes.items() if v is None}}


def _no_proxy_everywhere() -> bool:
    from urllib.request import getproxies

    return "*" in [h.strip() for h in getproxies().get("no", "").split(",")]


def redact_proxy(url: str) -> str:
    """``url`` without its user name and password, to show in messages."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url.rpartition("@")[2]


def proxy_problem(url: str) -> str | None:
    """Why ``url`` cannot be used as a proxy, or None if it can."""
    try:
        parts = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        return f"not a URL: {_one_line(exc)}"
    if parts.scheme not in PROXY_SCHEMES:
        return f"not a proxy URL (use {', '.join(s + '://' for s in PROXY_SCHEMES)})"
    if not parts.host:
        return "not a proxy URL: no host name"
    if parts.scheme.startswith("socks"):
        import importlib.util

        if importlib.util.find_spec("socksio") is None:
            return "a SOCKS proxy needs the socksio package (pip install 'mediamon[socks]')"
    return None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta-seconds or HTTP date), never negative.

    Returns None when the header is absent or not understood.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if value.isascii() and value.replace(".", "", 1).isdigit():
        seconds = float(value)
        return seconds if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" means UTC with no claim about the local zone
        when = when.replace(tzinfo=UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


# HTTP.


@dataclass
class _Progress:
    """How far a request got, so an exception can be described and attributed."""

    final_url: str
    http_status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    in_body: bool = False

    def fail(self, url: str, reason: str) -> FetchResult:
        """An error result that keeps what was already known about the response."""
        return FetchResult(
            url,
            "error",
            http_status=self.http_status,
            final_url=self.final_url,
            headers=self.headers,
            error=reason,
        )


async def _fetch_http(
    client: httpx.AsyncClient,
    url: str,
    validators: Validators,
    max_bytes: int,
    timeout: float,
    now: datetime | None,
) -> FetchResult:
    headers: dict[str, str | bytes] = {"Accept": ACCEPT, "Accept-Encoding": ACCEPT_ENCODING}
    if validators.etag:
        headers["If-None-Match"] = _header_bytes(validators.etag)
    if validators.last_modified:
        headers["If-Modified-Since"] = _header_bytes(validators.last_modified)
    progress = _Progress(final_url=url)
    try:
        async with asyncio.timeout(timeout) as deadline:
            token = _DEADLINE.set(deadline)
            try:
                return await _exchange(client, url, headers, validators, max_bytes, now, progress)
            finally:
                _DEADLINE.reset(token)
    except TimeoutError:
        reason = f"timed out after {timeout:.1f} s"
        if progress.in_body:
            reason += " reading the body"
        return progress.fail(url, reason)
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return progress.fail(url, _describe(exc, progress))
    except _DecodeError as exc:
        return progress.fail(url, str(exc))
    except OSError as exc:  # anything httpx did not wrap
        return progress.fail(url, _describe(exc, progress))


async def _exchange(
    client: httpx.AsyncClient,
    url: str,
    headers: dict[str, str | bytes],
    validators: Validators,
    max_bytes: int,
    now: datetime | None,
    progress: _Progress,
) -> FetchResult:
    # httpx sends bytes values as they are (a validator that is not ASCII), though its
    # type hints name str-to-str or bytes-to-bytes mappings only.
    request = client.build_request("GET", url, headers=cast("dict[str, str]", headers))
    chain = [str(request.url)]
    # Where an unbroken run of permanent redirects from ``url`` leads; the caller
    # moves the feed there once it has seen the same target a few times.
    permanent: str | None = None
    only_permanent = True
    while True:
        response = await client.send(request, stream=True, follow_redirects=False)
        try:
            progress.final_url = str(response.url)
            progress.http_status = response.status_code
            progress.headers = tuple(response.headers.multi_items())
            redirect = response.next_request
            if redirect is None:
                result = await _conclude(url, response, validators, max_bytes, now, progress)
                return replace(result, permanent_url=permanent)
        finally:
            await response.aclose()
        target = str(redirect.url)
        if only_permanent and response.status_code in (301, 308):
            permanent = target
        else:
            only_permanent = False
        if redirect.url.scheme not in HTTP_SCHEMES:
            reason = f"redirected to unsupported URL scheme: {redirect.url.scheme}"
            return _error(url, reason, http_status=response.status_code, final_url=target)
        if len(chain) > MAX_REDIRECTS:
            if target in chain:
                start = len(chain) - 1 - chain[::-1].index(target)
                loop = [*chain[start:], target]
                reason = "redirect loop: " + " -> ".join(loop)
            else:
                reason = f"too many redirects (more than {MAX_REDIRECTS})"
            return _error(url, reason, http_status=response.status_code, final_url=target)
        chain.append(target)
        request = redirect


async def _conclude(
    url: str,
    response: httpx.Response,
    validators: Validators,
    max_bytes: int,
    now: datetime | None,
    progress: _Progress,
) -> FetchResult:
    """Turn a final (non-redirect) response into a result, reading the body only for 2xx."""
    code = response.status_code
    # What every outcome of this response carries.
    answered = FetchResult(url, "error", http_status=code, final_url=progress.final_url,
                           headers=progress.headers)
    if code == 304:
        await _drain(response)
        return replace(answered, status="not_modified", validators=validators)
    if 200 <= code < 300:
        progress.in_body = True
        body = await _read_capped(response, max_bytes)
        if body is None:
            return replace(answered, error=_cap_reason(max_bytes))
        fresh = Validators(response.headers.get("etag"), response.headers.get("last-modified"))
        return replace(answered, status="ok", body=body, validators=fresh)
    reason = _status_line(response)
    await _drain(response)
    if code == 410:
        return replace(answered, status="gone", error=reason)
    retry_after = None
    if code in (429, 503):
        at = now if now is not None else datetime.now(UTC)
        retry_after = parse_retry_after(response.headers.get("retry-after"), at)
    return replace(answered, error=reason, retry_after=retry_after)


async def _drain(response: httpx.Response, limit: int = 65_536) -> None:
    """Read a short body we do not need (a 304, an error page) to its end, so the connection
    can be reused; a longer one is left unread and its connection closed."""
    try:
        length = int(response.headers.get("content-length", "0") or 0)
    except ValueError:
        return
    if response.headers.get("transfer-encoding") or not 0 <= length <= limit:
        return
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read > limit:
            return


async def _read_capped(response: httpx.Response, max_bytes: int) -> bytes | None:
    """The decoded body, or None as soon as it exceeds ``max_bytes`` (the rest is never read)."""
    decoder = _Decoder(response.headers.get("content-encoding", ""))
    if decoder.identity:
        try:
            if int(response.headers.get("content-length", "")) > max_bytes:
                return None
        except ValueError:
            pass
    body = bytearray()
    async for raw in response.aiter_raw():
        body += decoder.decode(raw, max_bytes - len(body) + 1)
        if len(body) > max_bytes:
            return None
    body += decoder.flush(max_bytes - len(body) + 1)
    if len(body) > max_bytes:
        return None
    return bytes(body)


class _DecodeError(Exception):
    """A Content-Encoding could not be undone; the message is the one-line reason."""


_INFLATE_WBITS = {
    "gzip": 16 + zlib.MAX_WBITS,
    "x-gzip": 16 + zlib.MAX_WBITS,
    "deflate": zlib.MAX_WBITS,
}


class _Decoder:
    """Undo gzip/deflate Content-Encodings, never producing much more than the limit asked for.

    Unknown codings are passed through untouched, as httpx does (servers send nonsense such
    as ``Content-Encoding: UTF-8``); the parser then sees the bytes as they came.
    """

    def __init__(self, header: str) -> None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        # Codings are listed in the order they were applied, so undo them in reverse.
        self._stages = [_Inflater(c) for c in reversed(codings) if c in _INFLATE_WBITS]

    @property
    def identity(self) -> bool:
        return not self._stages

    def decode(self, data: bytes, limit: int) -> bytes:
        for stage in self._stages:
            data = stage.decode(data, limit)
        return data

    def flush(self, limit: int) -> bytes:
        data = b""
        for stage in self._stages:
            data = stage.decode(data, limit) + stage.flush(limit)
        return data


class _Inflater:
    """One zlib stage with bounded output; input it could not inflate yet waits in ``_tail``."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._z = zlib.decompressobj(_INFLATE_WBITS[coding])
        self._tail = b""
        self._started = False

    def decode(self, data: bytes, limit: int) -> bytes:
        data = self._tail + data
        self._tail = b""
        if not data or self._z.eof:  # anything after the end of the stream is ignored
            return b""
        try:
            out = self._z.decompress(data, limit)
        except zlib.error as exc:
            if self._coding == "deflate" and not self._started:
                # "deflate" is meant to be zlib-wrapped, but many servers send raw deflate.
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)
                self._coding = "raw deflate"
                return self.decode(data, limit)
            raise _DecodeError(f"could not decode {self._coding} body: {exc}") from exc
        self._started = True
        self._tail = self._z.unconsumed_tail
        return out

    def flush(self, limit: int) -> bytes:
        out = b""
        while self._tail and len(out) <= limit:
            out += self.decode(b"", limit - len(out) + 1)
        if len(out) > limit:
            return out
        try:
            return out + self._z.flush()
        except zlib.error as exc:
            raise _DecodeError(f"could not decode {self._coding} body: {exc}") from exc


class _Host:
    """One host's request slots and its own small connection pool."""

    __slots__ = ("slot", "transport", "users")

    def __init__(self, per_host: int, transport: httpx.AsyncBaseTransport) -> None:
        self.slot = asyncio.Semaphore(per_host)
        self.transport = transport
        self.users = 0  # requests waiting for a slot or running


class _PerHostTransport(httpx.AsyncBaseTransport):
    """Lets at most ``per_host`` requests per (scheme, host, port) run at once.

    A slot is held until the response body is closed. While a request waits for a slot, the
    deadline of the ``fetch_feed`` that sent it is paused, so queueing is not a timeout.

    Each host has its own pool of at most ``per_host`` connections, so a connection is
    reused for the host's next feed, and finding it never means scanning every open
    connection (httpcore's one big pool checks each of them on every request). At most
    ``max_hosts`` hosts keep their idle connections; the least recently used are closed.

    ``via`` names the proxy the transports it makes go through, so a failure to reach it is
    reported as the proxy's, not the feed's.
    """

    def __init__(self, make: Callable[[], httpx.AsyncBaseTransport], *, per_host: int,
                 max_hosts: int = 64, via: str | None = None) -> None:
        self._make = make
        self._via = via
        self._per_host = per_host
        self._max_hosts = max(1, max_hosts)
        self._hosts: OrderedDict[tuple[str, str, int | None], _Host] = OrderedDict()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        key = (request.url.scheme, request.url.host, request.url.port)
        host = self._hosts.get(key)
        if host is None:
            host = self._hosts[key] = _Host(self._per_host, self._make())
        else:
            self._hosts.move_to_end(key)
        host.users += 1
        try:
            await _acquire_off_the_clock(host.slot)
        except BaseException:
            host.users -= 1
            raise
        try:
            response = await host.transport.handle_async_request(request)
        except BaseException as exc:
            host.slot.release()
            host.users -= 1
            if self._via and isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout
                                        | httpx.ProxyError):
                setattr(exc, "mediamon_proxy", self._via)  # noqa: B010 (see _describe)
            raise
        stream = cast(httpx.AsyncByteStream, response.stream)
        response.stream = _ReleasingStream(stream, lambda: self._release(host))
        return response

    async def _release(self, host: _Host) -> None:
        host.slot.release()
        host.users -= 1
        while len(self._hosts) > self._max_hosts:
            idle = next((k for k, h in self._hosts.items() if h.users == 0), None)
            if idle is None:
                return
            await self._hosts.pop(idle).transport.aclose()

    async def aclose(self) -> None:
        hosts, self._hosts = list(self._hosts.values()), OrderedDict()
        for host in hosts:
            await host.transport.aclose()


async def _acquire_off_the_clock(slot: asyncio.Semaphore) -> None:
    deadline = _DEADLINE.get()
    when = deadline.when() if deadline is not None else None
    if deadline is None or when is None or not slot.locked() or deadline.expired():
        await slot.acquire()
        return
    loop = asyncio.get_running_loop()
    remaining = when - loop.time()
    deadline.reschedule(None)
    try:
        await slot.acquire()
    finally:
        if not deadline.expired():
            deadline.reschedule(loop.time() + remaining)


class _ReleasingStream(httpx.AsyncByteStream):
    """A response body that gives its per-host slot back when it is closed."""

    def __init__(self, inner: httpx.AsyncByteStream,
                 release: Callable[[], Awaitable[None]]) -> None:
        self._inner = inner
        self._release: Callable[[], Awaitable[None]] | None = release

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            yield chunk

    async def aclose(self) -> None:
        release, self._release = self._release, None
        try:
            await self._inner.aclose()
        finally:
            if release is not None:
                await release()


# How a reason begins when this machine could not reach the host at all (no DNS answer, no
# route, no connection): when every feed fails so, the network itself looks down.
UNREACHABLE = ("DNS lookup failed", "could not connect", "timed out connecting")


def unreachable(reason: str | None) -> bool:
    """Whether a fetch error says the host could not be reached (see ``UNREACHABLE``)."""
    return bool(reason) and reason.startswith(UNREACHABLE)  # type: ignore[union-attr]


def _describe(exc: BaseException, progress: _Progress) -> str:
    """A one-line reason for a transport failure, naming the proxy if it was the proxy that
    could not be reached (or refused the tunnel)."""
    reason = _transport_reason(exc, progress)
    via = getattr(exc, "mediamon_proxy", None)
    return f"{reason} (proxy {redact_proxy(via)})" if via else reason


def _transport_reason(exc: BaseException, progress: _Progress) -> str:
    chain = list(_causes(exc))
    message = _one_line(exc)
    if isinstance(exc, httpx.TimeoutException):
        doing = {
            httpx.ConnectTimeout: "connecting",
            httpx.ReadTimeout: "waiting for data",
            httpx.WriteTimeout: "sending the request",
            httpx.PoolTimeout: "waiting for a free connection",
        }.get(type(exc), "")
        return f"timed out {doing}".strip()
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "connection refused"
    for e in chain:
        if isinstance(e, socket.gaierror):
            host = urlsplit(progress.final_url).hostname or progress.final_url
            return f"DNS lookup failed for {host}: {_one_line(e.strerror or e)}"
    for e in chain:
        if isinstance(e, ssl.SSLCertVerificationError):
            return f"TLS error: certificate not valid: {_one_line(e.verify_message or e)}"
        if isinstance(e, ssl.SSLError):
            return f"TLS error: {_one_line(e.reason or e)}"
    if isinstance(exc, httpx.RemoteProtocolError):
        if progress.in_body:
            if "peer closed" in message or "incomplete" in message:
                return "server closed the connection mid-body"
            return f"protocol error in the body: {message}"
        if "without sending" in message or "disconnected" in message.lower():
            return "server closed the connection without a response"
        return f"protocol error: {message}"
    if any(isinstance(e, ConnectionResetError) for e in chain):
        return "connection reset by the server" + (" mid-body" if progress.in_body else "")
    if isinstance(exc, httpx.DecodingError):
        return f"could not decode the response body: {message}"
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return f"invalid URL: {message}"
    if isinstance(exc, httpx.LocalProtocolError):
        return f"invalid request: {message}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {message}"
    if isinstance(exc, httpx.ReadError):
        return "read error" + (" mid-body" if progress.in_body else "") + f": {message}"
    return f"{type(exc).__name__}: {message}"


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and contexts, and the members of any exception group among them."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        e = todo.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        if isinstance(e, BaseExceptionGroup):
            todo.extend(e.exceptions)
        for nxt in (e.__cause__, e.__context__):
            if nxt is not None:
                todo.append(nxt)


def _status_line(response: httpx.Response) -> str:
    code = response.status_code
    phrase = response.reason_phrase
    if not phrase:
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
    return f"HTTP {code} {_one_line(phrase)}".rstrip()


# Files.


def _read_file(url: str, path: str, validators: Validators, max_bytes: int) -> FetchResult:
    """Read a local feed file, answering "not_modified" when its pseudo-ETag matches."""
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            return _error(url, f"is a directory: {path}", final_url=url)
        if not stat.S_ISREG(info.st_mode):  # a FIFO or device could block or never end
            return _error(url, f"not a regular file: {path}", final_url=url)
        etag = f'"{info.st_mtime_ns:x}-{info.st_size:x}"'
        last_modified = formatdate(info.st_mtime, usegmt=True)
        headers = (
            ("content-length", str(info.st_size)),
            ("etag", etag),
            ("last-modified", last_modified),
        )
        if validators.etag == etag:
            return FetchResult(
                url, "not_modified", final_url=url, headers=headers, validators=validators
            )
        if info.st_size > max_bytes:
            return _error(url, _cap_reason(max_bytes), final_url=url, headers=headers)
        with open(path, "rb") as fh:
            body = fh.read(max_bytes + 1)
    except FileNotFoundError:
        return _error(url, f"no such file: {path}", final_url=url)
    except NotADirectoryError:
        return _error(url, f"no such file: {path}", final_url=url)
    except PermissionError:
        return _error(url, f"permission denied: {path}", final_url=url)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        return _error(url, f"cannot read {path}: {_one_line(exc)}", final_url=url)
    if len(body) > max_bytes:  # the file grew after stat
        return _error(url, _cap_reason(max_bytes), final_url=url, headers=headers)
    return FetchResult(
        url,
        "ok",
        final_url=url,
        body=body,
        headers=headers,
        validators=Validators(etag, last_modified),
    )


# Shared.


def _header_bytes(value: str) -> bytes:
    """Encode a stored validator to send back; servers may have put UTF-8 in an ETag."""
    try:
        return value.encode("ascii")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _error(url: str, reason: str, **fields: object) -> FetchResult:
    return FetchResult(url, "error", error=reason, **fields)  # type: ignore[arg-type]


def _cap_reason(max_bytes: int) -> str:
    return f"response larger than {_size(max_bytes)} cap"


def _size(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f} MB"
    if n >= 1_000:
        return f"{n / 1_000:.1f} kB"
    return f"{n} bytes"


def _one_line(value: object, limit: int = 300) -> str:
    text = " ".join(str(value).split())
    if not text and isinstance(value, BaseException):
        text = type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
