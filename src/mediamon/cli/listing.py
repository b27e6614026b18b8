"""Writing a listing of items or stories: a table, JSON, CSV or an Atom feed."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import click

from mediamon.output import render

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.sqlite import Store


def emit(rows: list[dict[str, Any]], fmt: str, as_json: bool, columns: list[str]) -> None:
    fmt = "json" if as_json else fmt
    if rows and "story_matches" in rows[0]:  # --collapse: how many of the story's items matched
        columns = [*columns[:2], "story_matches", *columns[2:]]
    for row in rows:
        if fmt == "table":
            row["id"] = row["id"][:10]
            row["story"] = (row.get("story") or "")[:10]
            row["published"] = (row.get("published") or "")[:16].replace("T", " ")
    click.echo(render(rows, fmt, columns=columns, squeeze="title"))


def search_urn(query: str) -> str:
    return "urn:mediamon:search:" + hashlib.sha256(query.encode()).hexdigest()[:16]


def emit_atom(store: Store, rows: list[dict[str, Any]], title: str, feed_id: str) -> None:
    """A listing as an Atom feed, entry content from the items' sanitised HTML."""
    from mediamon.desk.export import atom_feed, item_html  # only for Atom: nh3, the store

    html = item_html(store, [r["id"] for r in rows]) if rows and "reach" not in rows[0] else {}
    click.echo(atom_feed(rows, title=title, feed_id=feed_id, html=html), nl=False)
