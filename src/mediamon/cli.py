"""The ``mediamon`` command. Thin: each command parses options, calls the library, prints.

Domain errors (config, query, database) become one-line messages and exit 1; only bugs
show a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from . import __version__
from .config import Config, find_config, load_config
from .errors import MediamonError
from .logs import setup_logging
from .output import FORMATS, render
from .pipeline import run_once, utcnow
from .query import Filters, counts, feed_health, get_item, items, parse_when, search
from .store import Store
from .types import FeedOutcome, FeedSource

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Lazily loaded config and store, shared by the commands of one invocation."""

    def __init__(self, config_path: str | None, db: str | None) -> None:
        self.config_path = find_config(config_path)
        self.db_override = db
        self._config: Config | None = None
        self._store: Store | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(self.config_path, db_override=self.db_override)
        return self._config

    def store(self, *, readonly: bool = False) -> Store:
        if self._store is None:
            self._store = Store(self.config.db_path, readonly=readonly)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


pass_ctx = click.make_pass_decorator(Context)


def domain_errors(func: F) -> F:
    """Turn MediamonError into a one-line ClickException (exit 1)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except MediamonError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper  # type: ignore[return-value]


def filter_options(func: F) -> F:
    """The filters shared by ``items`` and ``search``."""
    options = [
        click.option("--since", help="Published after: 2d, 12h, or a date (2026-11-01)."),
        click.option("--until", help="Published before: a duration ago or a date."),
        click.option("--topic", help="Only items that matched this topic."),
        click.option("--feed", help="Only items from this feed (id, URL, or part of its name)."),
        click.option("--lang", "language", help="Only items in this language (en, ru, fa...)."),
        click.option("--min-score", type=float, help="Only items scoring at least this."),
        click.option("--all", "include_unkept", is_flag=True,
                     help="Include items stored with --keep-all that did not match."),
        click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000)),
        click.option("--format", "fmt", type=click.Choice(FORMATS), default="table",
                     show_default=True),
        click.option("--json", "as_json", is_flag=True, help="Same as --format json."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def build_filters(**kw: Any) -> Filters:
    now = utcnow()
    return Filters(
        since=parse_when(kw["since"], now=now) if kw["since"] else None,
        until=parse_when(kw["until"], now=now, option="--until") if kw["until"] else None,
        topic=kw["topic"],
        feed=kw["feed"],
        language=kw["language"],
        min_score=kw["min_score"],
        include_unkept=kw["include_unkept"],
        limit=kw["limit"],
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", envvar="MEDIAMON_CONFIG", type=click.Path(dir_okay=False),
              help="Config file [env MEDIAMON_CONFIG; default config/mediamon.toml].")
@click.option("--db", envvar="MEDIAMON_DB", type=click.Path(dir_okay=False),
              help="Database file, overriding the config [env MEDIAMON_DB].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line per event, as text or JSON.")
@click.version_option(__version__, prog_name="mediamon")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db: str | None, log_level: str,
        log_format: str) -> None:
    """Pull news feeds, keep what matches your topics, and explain why.

    \b
    Start:   mediamon run --once      poll every feed once and show a summary
             mediamon run             keep polling on the schedule (a daemon)
    Query:   mediamon items --since 2d
             mediamon search 'kabulov OR "islamic emirate"'
             mediamon show ID
    Health:  mediamon status
    """
    setup_logging(level=log_level, fmt=log_format)
    ctx.obj = Context(config_path, db)
    ctx.call_on_close(ctx.obj.close)


# -- run ------------------------------------------------------------------------------------


@cli.command()
@click.option("--once", is_flag=True, help="Poll every feed once, print a summary, and exit.")
@click.option("--keep-all", is_flag=True, default=None,
              help="Store every item with its score, not only the matching ones (for audits).")
@pass_ctx
@domain_errors
def run(ctx: Context, once: bool, keep_all: bool | None) -> None:
    """Poll the feeds: as a daemon on the schedule, or once with --once.

    The daemon stops cleanly on SIGINT/SIGTERM and re-reads the config on SIGHUP.
    """
    config = ctx.config
    if once:
        store = ctx.store()
        outcomes = asyncio.run(run_once(config, store, keep_all=keep_all))
        click.echo(summarise(outcomes))
        totals = counts(store)
        click.echo(f"database {config.db_path}: {totals['items_kept']} kept items "
                   f"from {totals['feeds']} feeds")
        return
    from .schedule import run_daemon

    run_daemon(ctx.config_path, db_override=ctx.db_override, keep_all=keep_all)


def summarise(outcomes: list[FeedOutcome]) -> str:
    """The table printed after ``run --once``: failures listed, then the totals."""
    status = Counter(o.status for o in outcomes)
    lines = []
    failed = [o for o in outcomes if o.status in ("error", "gone")]
    if failed:
        # One line per failure, never shortened: the reason is what the analyst acts on.
        lines.append(f"{len(failed)} feed(s) failed:")
        lines += [f"  {o.url}  {o.status}: {o.error or 'HTTP 410 Gone'}" for o in failed]
        lines.append("")
    warned = [o for o in outcomes if o.warning]
    if warned:
        lines.append(f"{len(warned)} feed(s) were malformed but usable (see the log).")
    rows = [{
        "feeds": len(outcomes),
        "ok": status["ok"],
        "not modified": status["not_modified"],
        "failed": status["error"] + status["gone"],
        "entries": sum(o.entries for o in outcomes),
        "new items": sum(o.new_items for o in outcomes),
        "kept": sum(o.kept_items for o in outcomes),
        "updated": sum(o.updated_items for o in outcomes),
    }]
    lines.append(render(rows, "table", columns=list(rows[0])))
    return "\n".join(lines)


# -- items, search, show -----------------------------------------------------------------------

ITEM_COLUMNS = ["id", "published", "feed_name", "topics", "score", "title"]


def _emit(rows: list[dict[str, Any]], fmt: str, as_json: bool, columns: list[str]) -> None:
    fmt = "json" if as_json else fmt
    for row in rows:
        if fmt == "table":
            row["id"] = row["id"][:10]
            row["published"] = (row.get("published") or "")[:16].replace("T", " ")
    click.echo(render(rows, fmt, columns=columns, squeeze="title"))


@cli.command(name="items")
@filter_options
@pass_ctx
@domain_errors
def items_cmd(ctx: Context, fmt: str, as_json: bool, **filters: Any) -> None:
    """List kept items, newest first."""
    rows = items(ctx.store(readonly=True), build_filters(**filters))
    _emit(rows, fmt, as_json, ITEM_COLUMNS)


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
    rows = search(ctx.store(readonly=True), query, build_filters(**filters))
    _emit(rows, fmt, as_json, [*ITEM_COLUMNS, "snippet"] if fmt != "table" or as_json
          else ITEM_COLUMNS[:-1] + ["title", "snippet"])


@cli.command()
@click.argument("item_id")
@click.option("--json", "as_json", is_flag=True, help="Print the whole item as JSON.")
@pass_ctx
@domain_errors
def show(ctx: Context, item_id: str, as_json: bool) -> None:
    """Show one item in full, with the topics it matched and why (ID may be a prefix)."""
    item = get_item(ctx.store(readonly=True), item_id)
    if item is None:
        raise click.ClickException(f"no item with id {item_id!r}")
    if as_json:
        click.echo(json.dumps(item, ensure_ascii=False, indent=2, default=str))
        return
    click.echo(format_item(item))


def format_item(item: dict[str, Any]) -> str:
    why = item["explanation"]
    out = [
        click.style(item["title"] or "(no title)", bold=True),
        f"id:         {item['id']}",
        f"published:  {item['published']}" + ("" if item["published_from_feed"]
                                              else "  (first seen; the feed gave no date)"),
        f"feed:       {item['feed_name'] or item['feed_url']}",
        f"link:       {item['url'] or '-'}",
        f"language:   {item['language'] or '-'}",
    ]
    if item["authors"]:
        out.append(f"authors:    {', '.join(item['authors'])}")
    if len(item["feeds"]) > 1:
        out.append("also in:    " + ", ".join(f["name"] or f["url"] for f in item["feeds"][1:]))
    out += ["", click.style("Why", bold=True)]
    out.append(f"  kept:        {'yes' if item['kept'] else 'no'}"
               f"  (keep rule {'matched' if why.get('rule_matched') else 'did not match'})")
    out.append(f"  score:       {item['score']:.3f}   similarity to the reference: "
               f"{item['similarity']:.3f}")
    for topic, terms in item["matches"].items():
        out.append(f"  topic {topic}: " + ", ".join(repr(t) for t in terms))
    if why.get("profile_terms"):
        out.append("  shared with the reference: " + ", ".join(why["profile_terms"]))
    text = item["content"] or item["summary"]
    if text:
        out += ["", textwrap.fill(text[:2000] + ("…" if len(text) > 2000 else ""), width=100)]
    return "\n".join(out)


# -- feeds -----------------------------------------------------------------------------------


@cli.group()
def feeds() -> None:
    """List, add, remove, import and export feeds."""


FEED_COLUMNS = ["id", "name", "status", "failures", "last_success", "kept_items", "url"]


def _health_rows(ctx: Context) -> list[dict[str, Any]]:
    store = ctx.store()
    store.sync_config_feeds(ctx.config.feeds, now=utcnow())
    rows = feed_health(store)
    for row in rows:
        row["status"] = "removed" if not row["active"] else row["last_status"] or "never polled"
        row["name"] = row["name"] or ""
    return rows


def _short_times(rows: list[dict[str, Any]], *keys: str) -> None:
    for row in rows:
        for key in keys:
            row[key] = (row[key] or "")[:16].replace("T", " ")


@feeds.command(name="list")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@domain_errors
def feeds_list(ctx: Context, fmt: str, as_json: bool) -> None:
    """Feeds from the config and the database, with their health; failing ones first."""
    rows = _health_rows(ctx)
    fmt = "json" if as_json else fmt
    if fmt == "table":
        _short_times(rows, "last_success")
    click.echo(render(rows, fmt, columns=FEED_COLUMNS, squeeze="url"))


@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@pass_ctx
@domain_errors
def status(ctx: Context, fmt: str, as_json: bool) -> None:
    """Feed health: failing feeds first, with the last error and the next poll."""
    rows = _health_rows(ctx)
    fmt = "json" if as_json else fmt
    if fmt == "table":
        _short_times(rows, "last_success", "next_fetch")
        for row in rows:
            row["feed"] = row["name"] or row["url"]
    click.echo(render(rows, fmt, squeeze="last_error", columns=[
        "id", "feed", "status", "failures", "last_success", "next_fetch", "kept_last_day",
        "last_error"]))


@feeds.command(name="add")
@click.argument("url")
@click.option("--name", help="A name to show instead of the URL.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--interval", help="Poll interval, e.g. 15m (default: the schedule's).")
@pass_ctx
@domain_errors
def feeds_add(ctx: Context, url: str, name: str | None, tags: tuple[str, ...],
              interval: str | None) -> None:
    """Add a feed to the database (the running daemon picks it up within a minute)."""
    from .config import feed_url, parse_duration

    if not url.startswith(("http://", "https://", "file://")) and "://" in url:
        raise click.ClickException(f"{url}: not an http(s) URL, file:// URL or local path")
    seconds = None
    if interval:
        try:
            seconds = parse_duration(interval)
        except ValueError as exc:
            raise click.ClickException(f"--interval: {exc}") from None
    source = FeedSource(feed_url(Path.cwd(), url), name, tags, seconds, "db")
    added = ctx.store().add_feed(source, now=utcnow())
    click.echo(("added " if added else "already there: ") + source.url)


@feeds.command(name="remove")
@click.argument("url_or_id")
@pass_ctx
@domain_errors
def feeds_remove(ctx: Context, url_or_id: str) -> None:
    """Stop polling a feed. Its items stay in the database."""
    store = ctx.store()
    row = store.find_feed(url_or_id)
    if row is None:
        raise click.ClickException(f"no feed {url_or_id!r} (see `mediamon feeds list`)")
    if row.origin == "config" and any(f.url == row.url for f in ctx.config.feeds):
        raise click.ClickException(
            f"{row.url} is listed in {ctx.config.path}: remove it there")
    store.remove_feed(url_or_id)
    click.echo(f"removed {row.url} (its items are kept)")


@feeds.command(name="import")
@click.argument("opml_file", type=click.File("rb"))
@pass_ctx
@domain_errors
def feeds_import(ctx: Context, opml_file: Any) -> None:
    """Add every feed in an OPML file (folders become tags)."""
    from .opml import read_opml

    sources = read_opml(opml_file.read(), source=opml_file.name)
    if not sources:
        raise click.ClickException(f"{opml_file.name}: no feeds found")
    store = ctx.store()
    now = utcnow()
    added = sum(store.add_feed(s, now=now) for s in sources)
    click.echo(f"{added} feeds added, {len(sources) - added} already there")
    if sources.skipped:
        click.echo(f"{len(sources.skipped)} outline(s) skipped: not http(s) feed URLs "
                   f"(first: {sources.skipped[0]!r})", err=True)
    if sources.warning:
        click.echo(f"warning: {sources.warning}", err=True)


@feeds.command(name="export")
@click.option("-o", "--output", type=click.File("wb"), default="-", help="File (default: stdout).")
@pass_ctx
@domain_errors
def feeds_export(ctx: Context, output: Any) -> None:
    """Write every active feed (config and database) as OPML 2.0."""
    from .opml import write_opml

    store = ctx.store()
    store.sync_config_feeds(ctx.config.feeds, now=utcnow())
    output.write(write_opml(f.source() for f in store.feeds()))


def main() -> None:
    try:
        cli(prog_name="mediamon")
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


logging.getLogger("httpx").setLevel(logging.WARNING)
