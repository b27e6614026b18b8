"""`mediamon export`, `import`, `vacuum`, `stats`, `report`, `alerts`, `serve`: the desk."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import click

from mediamon.cli.app import (
    Context,
    _warn_filters,
    chosen_format,
    cli,
    domain_errors,
    output_options,
    pass_ctx,
)
from mediamon.cli.outlets import outlet_options, outlet_scope
from mediamon.clock import parse_when, utcnow
from mediamon.errors import ReadOnlyError
from mediamon.output import render
from mediamon.store.query import Filters


@cli.command(name="export")
@click.option("--since", help="Items published after: 30d, 12h, or a date (default: all).")
@click.option("--kept-only", is_flag=True, help="Leave out items stored but not kept.")
@click.option("-o", "--output", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="FILE.jsonl, FILE.csv or FILE.db (default, or -: stdout).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "json", "csv", "atom", "sqlite"]),
              help="Default: from the file name's extension (.json, .csv, .atom/.xml, "
                   ".db/.sqlite); jsonl on stdout. sqlite: a new SQLite database of the "
                   "items, from either backend (what `serve` browses).")
@pass_ctx
@domain_errors
def export_cmd(ctx: Context, since: str | None, kept_only: bool, output: str,
               fmt: str | None) -> None:
    """Write stored items, with their topics and feeds, to JSON Lines, JSON, CSV,
    an Atom feed, or a new SQLite database.

    \b
    Every column of every item is written (Atom: each item as an entry);
    `mediamon import FILE.jsonl` reads the JSON Lines back into another
    database, losslessly. Without -o, JSON Lines (or --format) go to stdout.
      mediamon export --since 30d -o items.jsonl
      mediamon export -o items.csv
      mediamon export --kept-only | gzip > items.jsonl.gz
      mediamon export --since 30d --format sqlite -o month.db
    """
    from mediamon.desk.export import export_atom, export_records, export_sqlite, write_export

    lower = output.lower()
    fmt = fmt or ("csv" if lower.endswith(".csv") else "json" if lower.endswith(".json") else
                  "atom" if lower.endswith((".atom", ".xml")) else
                  "sqlite" if lower.endswith((".db", ".sqlite", ".sqlite3")) else "jsonl")
    when = parse_when(since, now=utcnow()) if since else None
    if fmt == "sqlite":
        if output == "-":
            raise click.UsageError("--format sqlite writes a file: give it with -o FILE.db")
        if Path(output).exists():
            raise click.ClickException(f"{output} exists: give a new file for the copy")
        done = export_sqlite(ctx.store(readonly=True), Path(output), since=when,
                             include_unkept=not kept_only, now=utcnow())
        click.echo(f"{done['imported']} item(s) written to {output} (SQLite: `mediamon --db "
                   f"{output} serve` browses it)", err=True)
        if not done["imported"]:
            _warn_filters(ctx, ctx.store(readonly=True), Filters(since=when))
        return
    records = export_records(ctx.store(readonly=True), since=when,
                             include_unkept=not kept_only)

    def write(out: Any) -> int:
        if fmt == "atom":  # one document: the feed is built whole, then written
            text, n = export_atom(ctx.store(readonly=True), records, title="mediamon: export"
                                  + (f" since {since}" if since else ""))
            out.write(text)
            return n
        return write_export(records, out, fmt)

    if output == "-":
        count = write(sys.stdout)
    else:
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count = write(out)
        except OSError as exc:
            raise click.ClickException(f"{output}: {exc.strerror}") from None
    if output != "-":
        click.echo(f"{count} item(s) written to {output}", err=True)
    if not count:
        _warn_filters(ctx, ctx.store(readonly=True), Filters(since=when))


@cli.command(name="import")
@click.argument("source", metavar="FILE.jsonl", type=click.File("r", encoding="utf-8"))
@click.option("--workers", type=click.IntRange(0, 64), default=None,
              help="Processes that compute the items' story fingerprints while this one "
                   "writes (default: fetch.workers, one per CPU; 0: all here). Used from "
                   "the file's second batch of 2,000 items.")
@pass_ctx
@domain_errors
def import_cmd(ctx: Context, source: Any, workers: int | None) -> None:
    """Add the items of a `mediamon export` JSON Lines file to this database.

    Items already here (same id) are left as they are; the others keep every column,
    their topics and their feeds, and get their story in this database. Feeds this
    database does not know are added inactive (not polled). One transaction: a bad
    line changes nothing.
    """
    from mediamon.desk.export import import_records, read_export
    from mediamon.workers import worker_count

    stats = import_records(ctx.store(), read_export(source, name=source.name), now=utcnow(),
                           workers=worker_count(ctx.config.fetch.workers if workers is None
                                                else workers))
    click.echo(f"{stats['imported']} item(s) imported, {stats['skipped']} already here, "
               f"{stats['feeds_added']} feed(s) added (inactive)")


@cli.command(name="vacuum")
@click.option("--dry-run", is_flag=True, help="Only say what [retention] would delete.")
@pass_ctx
@domain_errors
def vacuum_cmd(ctx: Context, dry_run: bool) -> None:
    """Apply [retention] from the config, then compact the database.

    \b
    [retention]
    unkept_after = "30d"      # items stored but not kept (audits)
    fetch_log_after = "90d"   # fetch-log rows
    kept_after = "365d"       # kept items too (unset by default: never deleted)
    Labelled items are never deleted. Without [retention] nothing is deleted.
    On PostgreSQL it compacts with VACUUM (ANALYZE): the space of deleted rows is
    reused, and the database's files shrink only with VACUUM FULL (not run: it locks
    each table while it rewrites it).
    """
    from mediamon.desk.housekeeping import apply_retention, vacuum

    store = ctx.store(readonly=dry_run)  # a database it cannot write stops it here
    before = store.storage_sizes()  # retention's deletions go to the WAL first
    done = apply_retention(store, ctx.config.retention, now=utcnow(), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb}: {done['unkept_items']} not-kept item(s), {done['kept_items']} kept "
               f"item(s), {done['fetch_log']} fetch-log row(s)"
               + ("" if dry_run else f", {done['stories']} emptied story(ies)"))
    if not dry_run:
        sizes = vacuum(store, before=before)
        if store.dialect == "postgresql":
            shown = getattr(store, "display", "")  # its URL, without a password
            click.echo(f"database {shown}: {_size(sizes['before'])} -> "
                       f"{_size(sizes['after'])} (VACUUM (ANALYZE): the space of deleted "
                       "rows is reused; VACUUM FULL would return it to the system)")
            return
        click.echo(f"database {store.path}: {_size(sizes['before'])} -> {_size(sizes['after'])}"
                   f" (file + WAL: {_size(sizes['before_file'])} + {_size(sizes['before_wal'])}"
                   f" -> {_size(sizes['after_file'])} + {_size(sizes['after_wal'])})")
        if not sizes["wal_truncated"]:
            click.echo("warning: another process was reading the database, so its WAL "
                       f"({_size(sizes['after_wal'])}) could not be emptied yet; SQLite "
                       "empties it at a later checkpoint", err=True)


def _size(n: int) -> str:
    """Bytes for people: 0 B, 912 B, 249.9 kB, 1.2 MB, 3.4 GB (powers of 1000)."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


# -- stats, report ----------------------------------------------------------------------------


def _plot_file(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--plot``: a file type that cannot be drawn is a usage error, before any work."""
    from mediamon.desk.stats import plot_format_error

    problem = plot_format_error(value) if value else None
    if problem:
        raise click.BadParameter(problem, ctx, param)
    return value


@cli.command(name="stats")
@click.option("--since", default="30d", show_default=True,
              help="Count items published after: 30d, 12h, or a date (2026-11-01).")
@click.option("--until", help="... and before: a duration ago or a date (default: now).")
@click.option("--by", type=click.Choice(["hour", "day", "week", "month"]),
              help="One bar per hour, day, week (from Monday) or month [default: from the "
                   "period: hours up to 3 days, days up to 2 months, weeks up to 2 years, "
                   "then months].")
@click.option("--topic", help="Only items that matched this topic.")
@click.option("--by-outlet", is_flag=True,
              help="Also split the counts per outlet (the top 8, the rest as 'other').")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="table: a terminal chart; csv: the timeline only.")
@click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), callback=_plot_file,
              help="Also draw the chart to FILE.png or FILE.svg (needs mediamon[plot]).")
@outlet_options
@pass_ctx
@domain_errors
def stats_cmd(ctx: Context, since: str, until: str | None, by: str | None, topic: str | None,
              by_outlet: bool, fmt: str, as_json: bool, plot_path: str | None,
              country: str | None = None, kind: str | None = None) -> None:
    """Kept items and stories over time, top outlets and languages, and kept items by
    their outlets' country and kind (the source registry).

    \b
    A bar chart in the terminal by default; --plot draws an image as well.
      mediamon stats --since 90d --by week
      mediamon stats --topic recognition --by-outlet
      mediamon stats --since 2025-07-01 --format csv > timeline.csv
      mediamon stats --plot timeline.png
    """
    import shutil

    from mediamon.desk.stats import check_plot, collect, pick_bucket, plot, render_stats

    if plot_path:
        check_plot(plot_path)  # before any work: matplotlib installed?
    now = utcnow()
    start = parse_when(since, now=now)
    end = parse_when(until, now=now, option="--until") if until else now
    store = ctx.store(readonly=True)
    scope = outlet_scope(ctx, country, kind)
    found = collect(store, now=now, since=start, until=end,
                    by=by or pick_bucket(start, end),  # type: ignore[arg-type]
                    topic=topic, by_outlet=by_outlet, sources=ctx.config.sources,
                    outlets=scope)
    if not found.total_items:
        _warn_filters(ctx, store, Filters(since=start, until=end, topic=topic, outlets=scope),
                      now=now)
    width = shutil.get_terminal_size((100, 24)).columns if sys.stdout.isatty() else 100
    click.echo(render_stats(found, "json" if as_json else fmt, width=width))
    if plot_path:
        click.echo(f"chart written to {plot(found, plot_path)}", err=True)


@cli.command(name="report")
@click.option("--since", default="7d", show_default=True,
              help="Items published after: 7d, 12h, or a date (2026-11-01).")
@click.option("--until", help="... and before: a duration ago or a date (default: now).")
@click.option("--topic", help="Only items that matched this topic.")
@click.option("--top", default=15, show_default=True, type=click.IntRange(1, 500),
              help="How many stories to list.")
@click.option("--title", default="Media monitoring digest", show_default=True,
              help="The page's heading.")
@click.option("-o", "--output", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="The HTML file to write (default, or -: stdout).")
@outlet_options
@pass_ctx
@domain_errors
def report_cmd(ctx: Context, since: str, until: str | None, topic: str | None, top: int,
               title: str, output: str, country: str | None = None,
               kind: str | None = None) -> None:
    """Write a self-contained HTML digest of a period.

    \b
    A timeline chart, the top stories by reach (who carried each first, how its
    coverage splits between Russian, Afghan, regional and Western outlets, every
    source, and why each matched: topics, matched words, score) and a table per
    outlet, in one HTML file with no scripts and nothing loaded from elsewhere.
      mediamon report --since 7d -o report.html
      mediamon report --since 2025-07-01 --until 2025-07-08 --topic recognition -o r.html
      mediamon report --since 1d > today.html
    """
    from mediamon.desk.report import collect_report, render_html

    now = utcnow()
    found = collect_report(ctx.store(readonly=True), now=now, since=parse_when(since, now=now),
                           until=parse_when(until, now=now, option="--until") if until else None,
                           topic=topic, top=top, sources=ctx.config.sources,
                           outlets=outlet_scope(ctx, country, kind))
    page = render_html(found, title=title)
    if output == "-":
        click.echo(page, nl=False)
        return
    try:
        Path(output).write_text(page, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"{output}: {exc.strerror}") from None
    click.echo(f"report written to {output}: {found.stats.total_items} kept item(s), "
               f"{len(found.stories)} top stor(ies), {len(found.outlets)} outlet(s)", err=True)


# -- alerts and serve ----------------------------------------------------------------------


@cli.group(name="alerts")
def alerts_cmd() -> None:
    """Webhook, email and chat alerts (apprise: Slack, Teams, Telegram, Matrix,
    Discord, ntfy...) for new kept items or stories ([[alerts]] in the config).

    \b
    The daemon (`mediamon run`) sends them by itself: immediate alerts shortly
    after the feed passes that stored something new, digests every `every`.
      mediamon alerts send --dry-run     what would be sent now
      mediamon alerts send               send it (each item or story once per alert)
      mediamon alerts list               each alert's state
    """


@alerts_cmd.command(name="send")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send and record nothing.")
@click.option("--force", is_flag=True, help="Send digests now, even if they are not due.")
@click.option("--alert", "only", metavar="NAME", help="Only this alert.")
@pass_ctx
@domain_errors
def alerts_send(ctx: Context, dry_run: bool, force: bool, only: str | None) -> None:
    """Send what the configured alerts have not sent yet.

    \b
    Each alert watches what is new after it first ran: kept items first seen
    since then (when = "items"), stories changed since then (when = "stories")
    or volume surges found since then (when = "spikes", see `mediamon trends`),
    above min_score / min_reach and in its topic. Failures are retried with
    backoff; what could not be sent is tried again next time. Exit status 1 if
    a message failed.
    """
    from mediamon.desk.alerts import channel_target, send_alerts, text_body

    alerts = ctx.config.alerts
    if not alerts:
        raise click.ClickException(f"{ctx.config.path}: no [[alerts]] configured")
    if only and only not in {a.name for a in alerts}:
        raise click.ClickException(f"no alert named {only!r} in {ctx.config.path}")
    # --dry-run changes nothing: it reads, so it works on a read-only database too.
    store = ctx.store(readonly=dry_run and ctx.config.db_path.exists())
    outcomes = send_alerts(alerts, store, now=utcnow(), dry_run=dry_run, force=force,
                           only=only)
    for o in outcomes:
        head = f"{o.alert} ({o.channel}): "
        if o.status == "would send" and o.message is not None:
            target = channel_target(o.message.alert, o.channel)
            click.echo(f"{head}would send {o.count} to {target}")
            click.echo(textwrap.indent(text_body(o.message), "    "))
        elif o.status == "sent":
            click.echo(f"{head}sent {o.count} ({o.attempts} attempt(s))")
        elif o.status == "failed":
            click.echo(f"{head}FAILED after {o.attempts} attempt(s): {o.error}")
        else:
            click.echo(f"{head}{o.status}")
    if any(o.status == "failed" for o in outcomes):
        sys.exit(1)


@alerts_cmd.command(name="list")
@output_options(help="json, jsonl, csv: every field.")
@pass_ctx
@domain_errors
def alerts_list(ctx: Context, fmt: str, as_json: bool) -> None:
    """Show each configured alert: channels, mode, when it last ran and sent, errors.

    \b
    `unconfirmed` counts items claimed for sending whose sending never confirmed
    (a crash mid-send): they are not sent again.
    """
    from mediamon.desk.alerts import alert_states

    rows = alert_states(ctx.store(readonly=ctx.config.db_path.exists()), ctx.config.alerts,
                        now=utcnow())
    fmt = chosen_format(fmt, as_json)
    if fmt != "table":
        click.echo(render(rows, fmt, columns=["name"]))
        return
    if not rows:
        click.echo(f"no [[alerts]] configured in {ctx.config.path}")
        return
    click.echo(render(rows, "table", columns=["name", "channels", "when", "mode", "since",
                                              "last_sent", "sent", "next_digest",
                                              "unconfirmed", "last_error"],
                      squeeze="last_error"))


@cli.command(name="serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--metadata-out", type=click.Path(dir_okay=False),
              help="Only write the Datasette metadata JSON to this file and exit.")
@pass_ctx
@domain_errors
def serve_cmd(ctx: Context, host: str, port: int, metadata_out: str | None) -> None:
    """Browse the database in Datasette (pip install 'mediamon[datasette]').

    \b
    Tables and columns are described, items facet by topic, language, feed and
    day, the search box uses the full-text index, and canned queries list
    today's kept items, this week's top stories and failing feeds. Read only.
      mediamon serve                     http://127.0.0.1:8001/
      mediamon serve --port 9000
    """
    from mediamon.desk.serve import run_datasette, write_metadata

    if ctx.config.db_url is not None:  # Datasette reads SQLite files only
        raise click.ClickException(
            "`mediamon serve` needs a SQLite database (Datasette reads SQLite files): copy "
            "a window of this one with `mediamon export --since 30d --format sqlite -o "
            "window.db`, then run `mediamon --db window.db serve`")
    if metadata_out:
        write_metadata(ctx.config.db_path, Path(metadata_out))
        click.echo(f"metadata written to {metadata_out}", err=True)
        return
    try:
        ctx.store().close()  # create or migrate the file first; Datasette only reads it
    except ReadOnlyError:
        ctx.store(readonly=True).close()  # a database it cannot write is served as it is
    ctx._store = None
    sys.exit(run_datasette(ctx.config.db_path, host=host, port=port))
