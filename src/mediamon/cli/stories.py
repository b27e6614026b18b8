"""`mediamon stories`, `stories show`, `stories explain`: one event, many outlets."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import click

from mediamon.cli.app import (
    TEXT_FORMATS,
    Context,
    _warn_filters,
    chosen_format,
    cli,
    domain_errors,
    output_options,
    pass_ctx,
    plain_text,
)
from mediamon.cli.listing import emit_atom
from mediamon.cli.outlets import outlet_options, outlet_scope
from mediamon.clock import parse_when, utc_iso, utcnow
from mediamon.output import LISTING_FORMATS, render
from mediamon.store.query import Filters

if TYPE_CHECKING:  # annotations only: the Store is passed in
    from mediamon.store.sqlite import Store







STORY_COLUMNS = ["id", "first_published", "reach", "mentions", "first_outlet", "topics", "title"]


@cli.group(name="stories", invoke_without_command=True)
@click.option("--since", help="Stories with a mention published after: 2d, 12h, or a date.")
@click.option("--until", help="Stories that started before: a duration ago or a date.")
@click.option("--topic", help="Only stories with an item that matched this topic.")
@click.option("--min-reach", type=click.IntRange(1), help="Only stories from at least N outlets.")
@click.option("--all", "include_unkept", is_flag=True,
              help="Include stories whose items were stored with --keep-all but not kept.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@outlet_options
@output_options(LISTING_FORMATS, help="atom: an Atom feed, one entry per story.")
@click.pass_context
@domain_errors
def stories_cmd(click_ctx: click.Context, since: str | None, until: str | None,
                topic: str | None, min_reach: int | None, include_unkept: bool, limit: int,
                fmt: str, as_json: bool, country: str | None = None,
                kind: str | None = None) -> None:
    """Stories, newest first: one report and its copies across outlets.

    \b
    A story groups items whose title and summary are near-copies (a wire story and
    its reprints, light rewrites, re-translated headlines), published within
    stories.window of each other. Reach is the number of distinct outlets.
      mediamon stories --since 2d --min-reach 3
      mediamon stories show ID          every mention: outlet, feed, time, URL
      mediamon stories explain ID       why its items were grouped
      mediamon stories explain A B      compare two items
    """
    if click_ctx.invoked_subcommand is not None:
        return
    ctx = click_ctx.find_object(Context)
    assert ctx is not None
    now = utcnow()
    start = parse_when(since, now=now) if since else None
    end = parse_when(until, now=now, option="--until") if until else None
    scope = outlet_scope(ctx, country, kind)
    rows = ctx.reader().list_stories(
        since=utc_iso(start) if start else None,
        until=utc_iso(end) if end else None,
        topic=topic, min_reach=min_reach, include_unkept=include_unkept, limit=limit,
        **({"outlets": scope} if scope is not None else {}),
    )
    if not rows:
        _warn_filters(ctx, ctx.reader(), Filters(since=start, until=end,
                                                             topic=topic, outlets=scope), now=now)
    fmt = "json" if as_json else fmt
    if fmt == "atom":
        urls = ctx.reader().item_urls([row["first_item_id"] for row in rows])
        for row in rows:  # a story links to its first mention
            row["url"] = urls.get(row["first_item_id"])
        emit_atom(ctx.reader(), rows, "mediamon: stories", "urn:mediamon:stories")
        return
    if fmt == "table":
        for row in rows:
            row["id"] = row["id"][:10]
            row["first_published"] = row["first_published"][:16].replace("T", " ")
    click.echo(render(rows, fmt, columns=STORY_COLUMNS, squeeze="title"))


def _resolve(ctx: Context, ident: str) -> tuple[str, str]:
    try:
        found = ctx.reader().resolve_story(ident)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    if found is None:
        raise click.ClickException(f"no story or item with id {ident!r}")
    return found


@stories_cmd.command(name="show")
@click.argument("story_id", callback=plain_text)
@output_options(help="json: the story with its mentions; jsonl, csv: one row per mention.")
@pass_ctx
@domain_errors
def stories_show(ctx: Context, story_id: str, fmt: str, as_json: bool) -> None:
    """One story with every mention: outlet, feed, time and URL, earliest first.

    STORY_ID is a story id, or an item id (its story is shown); a prefix is enough.
    """
    fmt = chosen_format(fmt, as_json)
    store = ctx.reader()
    kind, ident = _resolve(ctx, story_id)
    if kind == "item":
        found = store.item_story(ident)
        if found is None:
            raise click.ClickException(f"item {ident} has no story yet (run `mediamon run`)")
        ident = found["story_id"]
    story = store.story(ident)
    assert story is not None
    if fmt == "json":
        click.echo(json.dumps(story, ensure_ascii=False, indent=2, default=str))
        return
    if fmt in ("jsonl", "csv"):
        mentions = [{"story_id": story["id"], **m} for m in story["mentions"]]
        click.echo(render(mentions, fmt, columns=["story_id", "item_id"]))
        return
    click.echo(click.style(story["title"], bold=True))
    click.echo(f"story:        {story['id']}\nfirst:        "
               f"{story['first_published']}  {story['first_outlet'] or '-'}\n"
               f"reach:        {story['reach']} outlet(s), {story['items']} item(s), "
               f"{len(story['mentions'])} mention(s)\n"
               f"topics:       {', '.join(story['topics']) or '-'}\n")
    rows = [{"published": m["published"][:16].replace("T", " "), "outlet": m["outlet"],
             "feed": m["feed_name"] or m["feed_url"], "item": m["item_id"][:10],
             "similarity": m["similarity"], "url": m["url"]} for m in story["mentions"]]
    click.echo(render(rows, "table", columns=list(rows[0]) if rows else ["item"],
                      squeeze="url"))


def _pair_text(store: Store, item_id: str) -> dict[str, Any]:
    row = store.item_text(item_id)
    if row is None:
        raise click.ClickException(f"no item with id {item_id!r}")
    return row


def _explain(ctx: Context, a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    from datetime import datetime

    from mediamon.core.stories import describe, explain_pair

    apart = abs(datetime.fromisoformat(a["published"]) - datetime.fromisoformat(b["published"]))
    exp = explain_pair((a["title"], a["summary"]), (b["title"], b["summary"]),
                       ctx.config.stories, minutes_apart=int(apart.total_seconds() // 60))
    return {"a": a["id"], "b": b["id"], "a_title": a["title"], "b_title": b["title"],
            "same_story": a["story_id"] is not None and a["story_id"] == b["story_id"],
            "similarity": round(exp.similarity, 4), "threshold": exp.threshold,
            "shared": list(exp.shared), "only_a": list(exp.only_a), "only_b": list(exp.only_b),
            "bands_shared": list(exp.bands_shared), "bands": exp.bands,
            "minutes_apart": exp.minutes_apart, "lines": list(describe(exp))}


@stories_cmd.command(name="explain")
@click.argument("ids", nargs=-1, required=True, metavar="ID [ID2]", callback=plain_text)
@output_options(TEXT_FORMATS, default="text")
@pass_ctx
@domain_errors
def stories_explain(ctx: Context, ids: tuple[str, ...], fmt: str, as_json: bool) -> None:
    """Why items were grouped into a story (or were not).

    \b
    ID        a story: how each of its items joined (through which earlier item,
              how similar, which words and LSH bands they share)
    ID        an item: how it joined its story
    ID ID2    two items: their similarity, shared words and bands, time apart,
              and whether they are in one story
    """
    if len(ids) > 2:
        raise click.ClickException("give one story or item id, or two item ids")
    as_json = chosen_format(fmt, as_json) == "json"
    store = ctx.reader()
    resolved = [_resolve(ctx, ident) for ident in ids]
    pairs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    header = ""
    if len(resolved) == 2:
        if any(kind != "item" for kind, _ in resolved):
            raise click.ClickException("to compare, give two item ids")
        pairs.append((_pair_text(store, resolved[0][1]), _pair_text(store, resolved[1][1])))
    else:
        kind, ident = resolved[0]
        if kind == "story":
            story = store.story(ident)
            assert story is not None
            header = (f"story {story['id']}: {story['title']!r}, {story['items']} item(s) "
                      f"from {story['reach']} outlet(s)")
            members = list(dict.fromkeys(m["item_id"] for m in story["mentions"]))
        else:
            members = [ident]
        for member in members:
            joined = store.item_story(member)
            if joined and joined["via"]:
                pairs.append((_pair_text(store, member), _pair_text(store, joined["via"])))
            elif joined and len(resolved) == 1 and kind == "item":
                header = f"item {member} founded story {joined['story_id']}"
    results = [_explain(ctx, a, b) for a, b in pairs]
    if as_json:
        click.echo(json.dumps({"header": header, "pairs": results}, ensure_ascii=False,
                              indent=2))
        return
    if header:
        click.echo(header)
    if not results:
        click.echo("no item joined this story through another: it has a single item")
    for n, r in enumerate(results):
        gap = "\n" if header or n else ""  # a blank line before each pair, not at the top
        click.echo(f"{gap}{r['a'][:10]} {r['a_title']!r}\n{r['b'][:10]} {r['b_title']!r}"
                   + ("\n(in one story)" if r["same_story"] else "\n(in different stories)"))
        click.echo("\n".join("  " + line for line in r["lines"]))
