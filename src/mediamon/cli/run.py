"""`mediamon run`: the daemon, or one pass with a summary and an exit code."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections import Counter
from typing import TYPE_CHECKING

import click

from mediamon.cli.app import Context, cli, domain_errors, pass_ctx
from mediamon.config import Config
from mediamon.errors import MediamonError
from mediamon.output import render
from mediamon.types import FeedOutcome
from mediamon.workers import start_fork_server

if TYPE_CHECKING:  # annotations only: the store is passed in
    from mediamon.store.interface import IngestStore



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
    # The parse workers' fork server starts now, while this process imports the pipeline
    # and opens the database, rather than when the first body arrives.
    start_fork_server(config.fetch.workers)
    if once:
        from mediamon.store.query import counts

        store = ctx.ingest_store()
        outcomes, interrupted = asyncio.run(_run_once_interruptible(config, store, keep_all))
        click.echo(summarise(outcomes))
        if config.db_url is not None:  # PostgreSQL (store.postgres)
            from mediamon.store.postgres.store import PostgresStore

            assert isinstance(store, PostgresStore)
            totals, where = store.counts(), store.display
        else:
            totals, where = counts(ctx.store()), str(config.db_path)
        click.echo(f"database {where}: {totals['items_kept']} kept items "
                   f"from {totals['feeds']} feeds")
        if interrupted:
            click.echo(f"interrupted: {len(outcomes)} feed(s) polled; the others are polled "
                       "next time", err=True)
            ctx_exit(130)
        tried = [o for o in outcomes if o.status != "postponed"]
        if tried and all(o.status == "error" for o in tried):
            click.echo("Error: no feed could be fetched (see the reasons above)", err=True)
            ctx_exit(1)
        return
    from mediamon.schedule import run_daemon

    ctx.ingest_store()  # a database it cannot write (or reach) stops it here, in one line
    ctx.close()
    ctx._store = ctx._pg_store = None
    try:
        run_daemon(ctx.config_path, db_override=ctx.db_override, keep_all=keep_all)
    except MediamonError:
        raise
    except Exception as exc:  # a bug: logged with its traceback, one line here, exit 1
        logging.getLogger("mediamon.daemon").exception("the daemon stopped on an internal error")
        raise click.ClickException(f"the daemon stopped on an internal error: {exc!r} "
                                   "(the log has the traceback)") from None


def ctx_exit(code: int) -> None:
    click.get_current_context().exit(code)


async def _run_once_interruptible(config: Config, store: IngestStore, keep_all: bool | None,
                                  ) -> tuple[list[FeedOutcome], bool]:
    """``run_once``; Ctrl-C (or SIGTERM) stops starting passes and returns those done."""
    from mediamon.pipeline import run_once

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        outcomes = await run_once(config, store, keep_all=keep_all, stop=stop)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
    return outcomes, stop.is_set()


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
    postponed = [o for o in outcomes if o.status == "postponed"]
    if postponed:
        lines.append(f"{len(postponed)} feed(s) not polled: their server asked to wait "
                     f"(Retry-After); see `mediamon status`.")
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
