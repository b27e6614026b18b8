"""`mediamon trends`: rising topics and stories, with what the spike model expected."""

from __future__ import annotations

from dataclasses import replace

import click

from mediamon.cli.app import Context, chosen_format, cli, domain_errors, output_options, pass_ctx
from mediamon.clock import parse_when, utcnow
from mediamon.output import render


def _hours(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    from mediamon.clock import parse_duration

    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    if seconds < 3600 or seconds % 3600 or seconds > 7 * 86400:
        raise click.BadParameter(f"{value!r}: whole hours from 1h to 7d", ctx, param)
    return int(seconds // 3600)


@cli.command(name="trends")
@click.option("--at", "at", help="Judge as of this time: a date, or 2d ago (default: now).")
@click.option("--window", callback=_hours,
              help="Count the last 1h..7d (whole hours) [default: [spikes] window, 6h].")
@click.option("--scope", type=click.Choice(["all", "topic", "story"]), default="all",
              show_default=True, help="Topics, stories or both.")
@click.option("--min-items", default=2, show_default=True, type=click.IntRange(1),
              help="Stories with at least this many items in the window.")
@click.option("--all", "show_all", is_flag=True,
              help="Also topics and stories that are not rising (no more than expected).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000),
              help="Rows at most.")
@output_options(help="json, jsonl, csv: every field (p, dispersion, baseline hours...).")
@pass_ctx
@domain_errors
def trends_cmd(ctx: Context, at: str | None, window: int | None, scope: str, min_items: int,
               show_all: bool, limit: int, fmt: str, as_json: bool) -> None:
    """Rising topics and stories: items in the window against what the last
    week leads one to expect, most unusual first.

    \b
    count is the kept items in the window, expected what the baseline predicts
    (by hour of day for topics), score -log10 of the chance of a count this
    high, and unusual says whether it passes [spikes] (threshold, min_count,
    min_ratio): what the daemon alerts on (docs/alerts.md).
      mediamon trends
      mediamon trends --scope story --window 12h
      mediamon trends --at 2025-07-04T18:00 --all --format csv
    """
    from mediamon.desk.trends import measure, trend_rows

    now = utcnow()
    when = parse_when(at, now=now, option="--at") if at else now
    settings = ctx.config.spikes
    if window is not None:
        settings = replace(settings, window=window)
    trends = measure(ctx.store(readonly=True), settings, now=when, min_story_items=min_items)
    if scope != "all":
        trends = [t for t in trends if t.scope == scope]
    rows = trend_rows(trends, settings, rising_only=not show_all)[:limit]
    fmt = chosen_format(fmt, as_json)
    if fmt == "table":
        for row in rows:
            row["id"] = row["id"][:10] if row["scope"] == "story" else row["id"]
            row["name"] = row["name"] if row["scope"] == "story" else ""
    click.echo(render(rows, fmt, columns=["scope", "id", "count", "expected", "ratio", "score",
                                          "unusual", "name"], squeeze="name"))
