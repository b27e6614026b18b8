"""Feed bytes -> ``ParsedFeed``: the fast path where it applies, feedparser otherwise.

    standard   feedparser on the bytes and headers (every format feedparser reads)
    fast       ElementTree for plain RSS 2.0 and Atom, verified to give feedparser's result
    common     what both share

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

from mediamon.core.parse.fast import fast_parse
from mediamon.core.parse.standard import parse_feed
from mediamon.types import ParsedFeed

__all__ = ["fast_parse", "parse_body", "parse_feed"]


def parse_body(body: bytes, *, url: str,
               headers: Sequence[tuple[str, str]]) -> tuple[ParsedFeed, bool]:
    """The fast parser where it applies (same result), else ``parse.parse_feed``."""
    parsed = fast_parse(body, url=url, headers=headers)
    if parsed is not None:
        return parsed, True
    return parse_feed(body, url=url, headers=headers), False
