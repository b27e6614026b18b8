"""`mediamon feeds ...` and `mediamon status`: the sources and their health."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click

from mediamon.cli.app import Context, chosen_format, cli, domain_errors, output_options, pass_ctx
from mediamon.clock import duration, parse_duration, utcnow
from mediamon.config import Config
from mediamon.output import render
from mediamon.store.query import feed_health_with_config
from mediamon.types import FeedSource


@cli.group()
def feeds() -> None:
    """List, add, edit, pause, remove, import and export feeds."""


FEED_COLUMNS = ["id", "name", "status", "failures", "last_success", "kept_items", "url"]


def _health_rows(ctx: Context) -> list[dict[str, Any]]:
    """Every feed, as the config says now (its new feeds too), read without writing: these
    commands work on a read-only database, and before the first run on none at all."""
    # On PostgreSQL (database.url) the database is always there: ctx.store opens it.
    no_database = ctx.config.db_url is None and not ctx.config.db_path.exists()
    store = None if no_database else ctx.store(readonly=True)
    rows = feed_health_with_config(store, ctx.config.feeds)
    for row in rows:
        row["status"] = ("removed" if not row["active"] else "paused" if row["paused"] else
                         row["last_status"] or "never polled")
        row["name"] = row["name"] or ""
    return rows


def _short_times(rows: list[dict[str, Any]], *keys: str) -> None:
    for row in rows:
        for key in keys:
            row[key] = (row[key] or "")[:16].replace("T", " ")


@feeds.command(name="list")
@output_options()
@pass_ctx
@domain_errors
def feeds_list(ctx: Context, fmt: str, as_json: bool) -> None:
    """Feeds from the config and the database, with their health; failing ones first."""
    rows = _health_rows(ctx)
    fmt = chosen_format(fmt, as_json)
    if fmt == "table":
        _short_times(rows, "last_success")
    click.echo(render(rows, fmt, columns=FEED_COLUMNS, squeeze="url"))


STATUS_COLUMNS = ["id", "feed", "health", "last_success", "last_status", "failures",
                  "new_1d", "interval", "next_fetch", "last_error", "why"]


@cli.command()
@click.option("--failing", is_flag=True,
              help="Only the feeds whose polls fail: failing, dead or gone.")
@output_options(help="json, jsonl, csv: every field.")
@pass_ctx
@domain_errors
def status(ctx: Context, failing: bool, fmt: str, as_json: bool) -> None:
    """Feed health, one row per feed: gone, dead and failing feeds first.

    \b
    health       ok, failing, dead (failing for schedule.dead_after: polled weekly),
                 gone (HTTP 410: not polled again), new, paused (`feeds edit
                 --paused`: not polled) or removed
    last_status  the last poll's outcome and HTTP status (parse error: a body came,
                 but not a feed that could be read)
    failures     consecutive failed polls
    new_1d       new items in the last day
    interval     the poll interval and the rule that chose it: pinned (the feed's
                 own interval), adaptive (the publishing rate, within
                 schedule.min_interval-max_interval) or a server's hint (ttl,
                 Cache-Control)
    next_fetch   the next poll (UTC); why: the reason for it, with the last error
                 (backoff after errors and a server's Retry-After wait longer)
    """
    from mediamon.core.policy import interval_rule
    from mediamon.pipeline import limits_of

    limits = limits_of(ctx.config)
    rows = _health_rows(ctx)
    if failing:
        rows = [row for row in rows if row["health"] in ("failing", "dead", "gone")]
    for row in rows:
        row["new_1d"] = row["items_last_day"]
        row["why"] = row["next_reason"] or ""
        if not row["active"]:
            row["why"] = "removed: not polled (its items are kept)"
        elif row["paused"]:
            row["why"] = "paused: not polled (`feeds edit --active` resumes it)"
        row["last_result"] = _last_result(row)
        polled = row["active"] and not row["paused"] and not row["gone_since"]
        row["interval_rule"] = interval_rule(
            pinned=row["pinned_interval"], rate_per_day=row["publish_rate"],
            body_hint=row["body_hint"], current=row["poll_interval"],
            limits=limits) if polled else ""
    fmt = chosen_format(fmt, as_json)
    if fmt == "table":
        _short_times(rows, "last_success", "next_fetch")
        for row in rows:
            row["feed"] = row["name"] or row["url"]
            row["last_status"] = row["last_result"]
            row["interval"] = row["interval_rule"]
            if row["gone_since"] or not row["active"] or row["paused"]:
                row["next_fetch"] = "never"
            error = row["last_error"] or ""
            row["last_error"] = error if len(error) <= 40 else error[:39] + "…"
    click.echo(render(rows, fmt, squeeze="why", columns=STATUS_COLUMNS))


def _last_result(row: dict[str, Any]) -> str:
    """The last poll's outcome in words: ``ok 200``, ``error 503``, ``parse error (HTTP
    200)`` when the body arrived whole but was not a feed that could be read."""
    status, http = row["last_status"], row["last_http_status"]
    if status == "error" and row.get("last_body_bytes"):
        return f"parse error (HTTP {http})" if http else "parse error"
    return " ".join(str(x) for x in (status, http) if x)


@feeds.command(name="add")
@click.argument("url")
@click.option("--name", help="A name to show instead of the URL.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable).")
@click.option("--interval", help="Pin the poll interval, e.g. 15m (default: adaptive).")
@click.option("--no-discover", "discover", is_flag=True, default=True, flag_value=False,
              help="Add the URL as given, without fetching it to look for a feed.")
@pass_ctx
@domain_errors
def feeds_add(ctx: Context, url: str, name: str | None, tags: tuple[str, ...],
              interval: str | None, discover: bool) -> None:
    """Add a feed to the database (the running daemon picks it up at once).

    URL is an http(s) URL, or a feed file (a path or a file:// URL) that exists.
    An http(s) URL is fetched first: a web page that advertises a feed
    (<link rel="alternate" type="application/rss+xml" ...>) adds that feed instead.
    """
    from mediamon.config import check_feed_url

    try:
        target = check_feed_url(Path.cwd(), url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="URL") from None
    seconds = None
    if interval:
        try:
            seconds = parse_duration(interval)
        except ValueError as exc:
            raise click.ClickException(f"--interval: {exc}") from None
    store = ctx.store()  # a database it cannot write stops it here, before any fetch
    if target.startswith(("http://", "https://")) and discover:
        target = _discover(ctx.config, target)
    source = FeedSource(target, name, tags, seconds, "db")
    added = store.add_feed(source, now=utcnow())
    click.echo(("added " if added else "already there: ") + source.url)


def _discover(config: Config, url: str) -> str:
    """The feed to subscribe to for ``url``: the URL itself when it serves a feed, else the
    first feed its HTML page advertises (``<link rel="alternate">``). When the URL
    cannot be fetched now, it is added as given, with a warning."""
    from mediamon.discover import find_feed

    found = asyncio.run(find_feed(url, config))
    if found.error is not None:
        click.echo(f"warning: could not check {url}: {found.error}; added as given", err=True)
        return url
    if found.feed_url is None:
        raise click.ClickException(f"{url}: {found.reason}")
    if found.feed_url != url:
        click.echo(f"{url} is a web page; it links to the feed {found.feed_url}", err=True)
        for other in found.others:
            click.echo(f"  (it also links to {other})", err=True)
    return found.feed_url


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


def _interval_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``--interval``: a duration, or ``adaptive`` (None: unchanged; 0.0: adaptive)."""


    if value is None:
        return None
    if value.strip().lower() == "adaptive":
        return 0.0
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    if seconds <= 0:
        raise click.BadParameter(f"{value!r}: give a duration above zero, or adaptive",
                                 ctx, param)
    return seconds


@feeds.command(name="edit")
@click.argument("url_or_id")
@click.option("--name", help="A new name to show instead of the URL ('' for none).")
@click.option("--interval", callback=_interval_option,
              help="Pin the poll interval (15m, 2h), or 'adaptive' to unpin it.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeatable): these replace its tags.")
@click.option("--no-tags", is_flag=True, help="Remove all its tags.")
@click.option("--paused/--active", "paused", default=None,
              help="Stop polling it for now (it stays listed, with its items), or resume.")
@pass_ctx
@domain_errors
def feeds_edit(ctx: Context, url_or_id: str, name: str | None, interval: float | None,
               tags: tuple[str, ...], no_tags: bool, paused: bool | None) -> None:
    """Change a feed's name, poll interval or tags, or pause it (URL_OR_ID: its URL or the
    id `feeds list` shows).

    \b
    A feed from the config is paused or resumed here; its name, interval and
    tags are edited in the config. The running daemon sees the change at its
    next tick.
      mediamon feeds edit 3 --name "TASS" --interval 15m --tag russia --tag wire
      mediamon feeds edit https://example.org/rss --paused
    """
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = name or None
    if interval is not None:
        changes["interval"] = interval or None
    if tags and no_tags:
        raise click.UsageError("give --tag or --no-tags, not both")
    if tags or no_tags:
        changes["tags"] = tags
    if not changes and paused is None:
        raise click.UsageError(
            "nothing to change: give --name, --interval, --tag, --no-tags, --paused or --active")
    store = ctx.store()
    store.sync_config_feeds(ctx.config.feeds, now=utcnow())
    row = store.find_feed(url_or_id)
    if row is None:
        raise click.ClickException(f"no feed {url_or_id!r} (see `mediamon feeds list`)")
    if changes and row.origin == "config" and any(f.url == row.url for f in ctx.config.feeds):
        raise click.ClickException(
            f"{row.url} is listed in {ctx.config.path}: edit its name, interval and tags "
            "there (--paused and --active work here)")
    if paused is not None:
        changes["paused"] = paused
    store.edit_feed(row.id, **changes)
    done = []
    if "name" in changes:
        done.append(f"name {changes['name'] or '(none)'!s}")
    if "interval" in changes:


        done.append("interval " + (duration(changes["interval"]) if changes["interval"]
                                   else "adaptive"))
    if "tags" in changes:
        done.append("tags " + (", ".join(changes["tags"]) or "(none)"))
    if paused is not None:
        done.append("paused: not polled until --active" if paused else "active: polled again")
    click.echo(f"{row.url}: " + "; ".join(done))


@feeds.command(name="import")
@click.argument("opml_file", type=click.File("rb"))
@pass_ctx
@domain_errors
def feeds_import(ctx: Context, opml_file: Any) -> None:
    """Add every feed in an OPML file (folders become tags)."""
    from mediamon.opml import read_opml

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
    from mediamon.opml import write_opml

    no_database = ctx.config.db_url is None and not ctx.config.db_path.exists()
    store = None if no_database else ctx.store(readonly=True)
    rows = sorted((r for r in feed_health_with_config(store, ctx.config.feeds) if r["active"]),
                  key=lambda r: (r["id"] is None, r["id"] or 0))
    output.write(write_opml(
        FeedSource(r["url"], r["name"], tuple(r["tags"]), r["pinned_interval"],
                   "config" if r["origin"] == "config" else "db") for r in rows))
