"""Find the feed behind a URL for ``mediamon feeds add``: the URL itself when it serves a
feed, else the feeds its HTML page advertises with ``<link rel="alternate">``.

One request through the same client and limits as polling (``fetch.make_client``); the
body is parsed with the pipeline's parser and, when it is not a feed, read for feed links
(``parse.discover_feed_links``). Nothing is stored here.
"""

from __future__ import annotations

from dataclasses import dataclass

from mediamon.config import Config
from mediamon.core.parse import parse_body
from mediamon.core.parse.standard import discover_feed_links
from mediamon.errors import ParseError
from mediamon.fetch import fetch_feed, make_client


@dataclass(frozen=True)
class Found:
    """What a URL turned out to be."""

    feed_url: str | None  # the feed to subscribe to; None when there is none
    reason: str = ""  # why there is none
    others: tuple[str, ...] = ()  # more feeds the page advertises
    error: str | None = None  # the URL could not be fetched (network, HTTP status)


async def find_feed(url: str, config: Config) -> Found:
    """Fetch ``url`` once and decide which feed it stands for."""
    f = config.fetch
    async with make_client(user_agent=f.user_agent, timeout=f.timeout,
                           connect_timeout=f.connect_timeout, read_timeout=f.read_timeout,
                           per_host=f.per_host, http2=f.http2, proxy=f.proxy) as client:
        fetch = await fetch_feed(client, url, max_bytes=f.max_bytes, timeout=f.timeout)
    if fetch.status != "ok" or fetch.body is None:
        return Found(None, error=fetch.error or f"HTTP {fetch.http_status}")
    final = fetch.final_url or url
    try:
        parse_body(fetch.body, url=final, headers=fetch.headers)
    except ParseError as exc:
        links = discover_feed_links(fetch.body, final)
        if not links:
            return Found(None, reason=f"not a feed ({exc.reason}), and the page links to none")
        return Found(links[0], others=tuple(links[1:]))
    return Found(url)
