"""`mediamon items`, `search` and `show`: reading what was kept."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from typing import Any

import click

from mediamon.cli.app import (
    TEXT_FORMATS,
    Context,
    _warn_filters,
    build_filters,
    chosen_format,
    cli,
    domain_errors,
    filter_options,
    output_options,
    pass_ctx,
    plain_text,
)
from mediamon.cli.listing import emit, emit_atom, search_urn
from mediamon.cli.outlets import outlet_scope
from mediamon.store.query import get_item, items, search

ITEM_COLUMNS = ["id", "story", "published", "feed_name", "topics", "score", "title"]




@cli.command(name="items")
@filter_options
@pass_ctx
@domain_errors
def items_cmd(ctx: Context, fmt: str, as_json: bool, **filters: Any) -> None:
    """List kept items, newest first."""
    store = ctx.reader()
    chosen = replace(build_filters(**filters),
                     outlets=outlet_scope(ctx, filters["country"], filters["kind"]))
    rows = items(store, chosen)
    if not rows:
        _warn_filters(ctx, store, chosen)
    if fmt == "atom" and not as_json:
        emit_atom(store, rows, "mediamon: items", "urn:mediamon:items")
        return
    emit(rows, fmt, as_json, ITEM_COLUMNS)


@cli.command(name="search")
@click.argument("query")
@filter_options
@pass_ctx
@domain_errors
def search_cmd(ctx: Context, query: str, fmt: str, as_json: bool, **filters: Any) -> None:
    """Full-text search, best match first.

    \b
    QUERY is SQLite FTS5 syntax:
      kabulov                      a word (any case, accents ignored)
      "islamic emirate"            a phrase
      recogni*                     a prefix
      moscow AND taliban           both (AND is implied between words)
      taliban OR taleban           either
      taliban NOT pakistan         exclude
      title:kabulov                only in titles (columns: title, summary, content)
    """
    store = ctx.reader()
    chosen = replace(build_filters(**filters),
                     outlets=outlet_scope(ctx, filters["country"], filters["kind"]))
    rows = search(store, query, chosen)
    if not rows:
        _warn_filters(ctx, store, chosen)
    if fmt == "atom" and not as_json:
        emit_atom(store, rows, f"mediamon: search {query}", search_urn(query))
        return
    emit(rows, fmt, as_json, [*ITEM_COLUMNS, "snippet"] if fmt != "table" or as_json
          else [*ITEM_COLUMNS[:-1], "title", "snippet"])


@cli.command()
@click.argument("item_id", callback=plain_text)
@output_options(TEXT_FORMATS, default="text", help="json: the whole item.")
@click.option("--history", is_flag=True,
              help="Also show the earlier versions of its title, text and link.")
@click.option("--full", is_flag=True,
              help="The article's whole text (default: its first paragraphs).")
@pass_ctx
@domain_errors
def show(ctx: Context, item_id: str, fmt: str, as_json: bool, history: bool,
         full: bool) -> None:
    """Show one item in full, with the topics it matched and why, and its article when its
    page was fetched (ID may be a prefix)."""
    as_json = chosen_format(fmt, as_json) == "json"
    store = ctx.reader()
    item = get_item(store, item_id)
    if item is None:
        raise click.ClickException(f"no item with id {item_id!r}")
    item["story"] = store.item_story(item["id"])
    if history:
        item["versions"] = store.versions(item["id"])
    if as_json:
        click.echo(json.dumps(item, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(format_item(item))
    if item.get("article"):
        click.echo("\n" + format_article(item["article"], full=full))
    if history:
        click.echo("\n" + format_history(item))


def format_item(item: dict[str, Any]) -> str:
    why = item["explanation"]
    out = [
        click.style(item["title"] or "(no title)", bold=True),
        f"id:         {item['id']}",
        f"published:  {item['published']}" + ("" if item["published_from_feed"]
                                              else "  (first seen; the feed gave no date)"),
        f"feed:       {item['feed_name'] or item['feed_url']}",
        f"link:       {item['url'] or '-'}",
        f"language:   {item['language'] or '-'}" + (  # detected; the feed's tag if it differs
            f" (the feed declares {item['language_declared']})"
            if item.get("language_declared") not in (None, item["language"]) else ""),
    ]
    if item["authors"]:
        out.append(f"authors:    {', '.join(item['authors'])}")
    if len(item["feeds"]) > 1:
        out.append("also in:    " + ", ".join(f["name"] or f["url"] for f in item["feeds"][1:]))
    if item.get("story"):
        story = item["story"]
        out.append(f"story:      {story['story_id']}  ({story['items']} item(s), reach "
                   f"{story['reach']}; mediamon stories show {story['story_id'][:10]})")
    out += ["", click.style("Why", bold=True)]
    reason = f"keep rule {'matched' if why.get('rule_matched') else 'did not match'}"
    if why.get("label"):
        reason = f"labelled {why['label']} by the analyst; {reason}"
    out.append(f"  kept:        {'yes' if item['kept'] else 'no'}  ({reason})")
    rule = why.get("rule_score")
    out.append(f"  score:       {item['score']:.3f}   similarity to the reference: "
               f"{item['similarity']:.3f}" + ("" if rule is None else f"   rule: {rule:.3f}"))
    if (item.get("article") or {}).get("matched_on"):
        on = item["article"]["matched_on"]
        out.append(f"  matched on:  {on}" + ("  (the feed's text alone was not kept)"
                                             if on == "article" else ""))
    for topic, terms in item["matches"].items():
        out.append(f"  topic {topic}: " + ", ".join(repr(t) for t in terms))
    if why.get("profile_terms"):
        out.append("  shared with the reference: " + ", ".join(why["profile_terms"]))
    text = item["content"] or item["summary"]
    if text:
        out += ["", textwrap.fill(text[:2000] + ("…" if len(text) > 2000 else ""), width=100)]
    return "\n".join(out)


ARTICLE_PARAGRAPHS = 3  # what ``show`` prints of an article without --full


def format_article(article: dict[str, Any], *, full: bool = False) -> str:
    """An item's article for ``show``: its status, metadata and first paragraphs."""
    out = [click.style("Article", bold=True),
           f"  status:     {article['status']}" + (f"  ({article['reason']})"
                                                   if article.get("reason") else ""),
           f"  fetched:    {article['fetched_at']}  {article['final_url'] or article['url']}"]
    for key, label in (("title", "title"), ("author", "author"), ("published", "published"),
                       ("language", "language"), ("canonical_url", "canonical")):
        if article.get(key):
            out.append(f"  {label + ':':<11} {article[key]}")
    if article["status"] != "ok" or not article.get("text"):
        return "\n".join(out)
    paragraphs = [p for p in article["text"].split("\n") if p.strip()]
    shown = paragraphs if full else paragraphs[:ARTICLE_PARAGRAPHS]
    out += [""] + [textwrap.fill(p, width=100) + "\n" for p in shown]
    if len(shown) < len(paragraphs):
        out.append(f"… {len(paragraphs) - len(shown)} more paragraph(s): show --full")
    return "\n".join(out).rstrip()


def _word_changes(old: str, new: str, limit: int = 12) -> str:
    """What an edit did to a text, as removed (-) and added (+) runs of words."""
    import difflib

    a, b = old.split(), new.split()
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op in ("delete", "replace"):
            parts.append("-'" + " ".join(a[i1:i2][:limit]) + ("…'" if i2 - i1 > limit else "'"))
        if op in ("insert", "replace"):
            parts.append("+'" + " ".join(b[j1:j2][:limit]) + ("…'" if j2 - j1 > limit else "'"))
    return " ".join(parts[:8]) + (" …" if len(parts) > 8 else "")


def format_history(item: dict[str, Any]) -> str:
    """The ``show --history`` section: each earlier version, when it was replaced, and how."""
    versions = item.get("versions") or []
    if not versions:
        return click.style("History", bold=True) + "\n  no earlier versions"
    out = [click.style("History", bold=True) + f" ({len(versions)} earlier version(s), oldest "
           "first)"]
    current = {k: item.get(k) or "" for k in ("title", "summary", "content", "url")}
    for i, v in enumerate(versions):
        after = versions[i + 1] if i + 1 < len(versions) else current
        out.append(f"  v{v['version']}  {v['seen_from'][:16].replace('T', ' ')} until "
                   f"{v['replaced'][:16].replace('T', ' ')}"
                   + (f"  (changed by {v['feed_name']})" if v.get("feed_name") else "")
                   + f"  changed: {', '.join(v['changed']) or 'nothing visible'}")
        for name in v["changed"]:
            if name in ("title", "url"):
                out.append(f"      {name}: {v[name] or '-'!r} -> {after[name] or '-'!r}")
            else:
                out.append(f"      {name}: {_word_changes(v[name] or '', after[name] or '')}")
    return "\n".join(out)
