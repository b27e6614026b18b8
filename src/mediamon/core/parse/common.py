"""What the feedparser path (``standard``) and the fast path (``fast``) share, so that the two
give the same result: links made absolute, headers read, feedparser's trees made plain.

Pure: no I/O.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urljoin

from mediamon.core.urls import is_http_url

_TTL_RANGE = range(1, 10080 + 1)  # minutes: one minute .. one week


def resolve_links(data: dict[str, Any], base: str) -> dict[str, Any]:
    """Make an entry's links absolute against ``base`` and record it as the HTML base."""
    if not is_http_url(base):
        return data
    link = data.get("link")
    if isinstance(link, str) and link.strip():
        copied_guid = data.get("guidislink") and link == data.get("id")
        # feedparser copies a link-less item's guid into ``link``; "1234" is no link, so
        # only a guid that is a path is resolved (normalise drops the rest).
        if not copied_guid or link.strip().startswith("/"):
            data["link"] = join_link(base, link.strip())
    for key in ("links", "enclosures"):
        for item in data.get(key) or ():
            href = item.get("href") if isinstance(item, dict) else None
            if isinstance(href, str) and href.strip():
                item["href"] = join_link(base, href.strip())
    if isinstance(data.get("external_url"), str):
        data["external_url"] = join_link(base, data["external_url"])
    details = [data.get("title_detail"), data.get("summary_detail"), *(data.get("content") or ())]
    for detail in details:
        if isinstance(detail, dict) and not is_http_url(detail.get("base")):
            detail["base"] = base  # an xml:base from the document itself is kept
    return data


def ttl_minutes(value: Any) -> int | None:
    try:
        minutes = int(str(value).strip())
    except (TypeError, ValueError):
        return None
    return minutes if minutes in _TTL_RANGE else None


def plain(value: Any) -> Any:
    """FeedParserDict trees -> plain dicts/lists; struct_time -> aware UTC datetime."""
    if isinstance(value, time.struct_time):
        return _struct_to_datetime(value)
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    return value


def _struct_to_datetime(value: time.struct_time) -> datetime | None:
    try:
        return datetime(*value[:6], tzinfo=UTC)  # feedparser's struct_time is already UTC
    except (ValueError, OverflowError):
        return None


def header_map(headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> dict[str, str]:
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    result: dict[str, str] = {}
    for name, value in pairs:
        if isinstance(name, str) and isinstance(value, str):
            result.setdefault(name.strip().lower(), value.strip())  # first one wins
    return result


def join_link(base: str | None, link: str) -> str:
    if not base:
        return link
    try:
        return urljoin(base, link)
    except ValueError:  # e.g. an unbalanced IPv6 bracket in the link
        return link


def text_or_none(value: Any) -> str | None:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return None
