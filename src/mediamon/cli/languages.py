"""`mediamon relang`: detect the language of items already stored."""

from __future__ import annotations

import sys

import click

from mediamon.cli.app import Context, cli, domain_errors, pass_ctx
from mediamon.clock import parse_when, utcnow


@cli.command(name="relang")
@click.option("--since", help="Only items published after: 2d, 12h, or a date (2026-11-01).")
@click.option("--batch", "batch_size", default=500, show_default=True,
              type=click.IntRange(1, 100_000), help="Items per transaction.")
@pass_ctx
@domain_errors
def relang_cmd(ctx: Context, since: str | None, batch_size: int) -> None:
    """Detect the language of stored items again (title and summary, and the language
    their feed declared), as a feed pass does for new ones.

    Run it once on a database whose items were stored before languages were detected
    (their language is what the feed declared), or after installing the languages extra
    (pip install 'mediamon[languages]'). Only the language changes: topics, scores and
    stories stay as they are.
    """
    from mediamon.core.language import backend
    from mediamon.desk.languages import count_items, relang

    store = ctx.store()
    when = parse_when(since, now=utcnow()) if since else None
    total = count_items(store, when)
    with click.progressbar(length=total, label=f"detecting the language of {total} items",
                           file=sys.stderr) as bar:
        result = relang(store, since=when, batch_size=batch_size, progress=bar.update)
    moves = ", ".join(f"{old} -> {new} {n}" for (old, new), n in result.moves.most_common(8))
    click.echo(f"{result.items} items read ({backend()}), {result.changed} changed language"
               + (f": {moves}" if moves else ""))
