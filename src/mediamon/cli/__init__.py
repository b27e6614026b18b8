"""The ``mediamon`` command. Thin: each command parses options, calls the library, prints.

Domain errors (config, query, database) become one-line messages and exit 1; only bugs
show a traceback.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from mediamon import __version__
from mediamon.clock import duration, parse_duration, parse_when, utc_iso, utcnow
from mediamon.config import Config, find_config, load_config
from mediamon.desk.export import LISTING_FORMATS
from mediamon.errors import MediamonError, ReadOnlyError
from mediamon.logs import setup_logging
from mediamon.output import FORMATS, render
from mediamon.pipeline import run_once, scorer_for
from mediamon.store.query import Filters, counts, feed_health_with_config, get_item, items, search
from mediamon.store.sqlite import Store
from mediamon.types import FeedOutcome, FeedSource

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Lazily loaded config and store, shared by the commands of one invocation."""

    def __init__(self, config_path: str | None, db: str | None) -> None:
        self.explicit_config = config_path
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
        """The database: ``readonly`` for commands that only read (they work on a read-only
        file and never change it); otherwise checked writable before anything is done."""
        if self._store is not None and self._store.readonly and not readonly:
            self._store.close()
            self._store = None
        if self._store is None:
            self._store = Store(self.config.db_path, readonly=readonly,
                                stories=self.config.stories)
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


def plain_text(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Refuse control characters in a filter or an id (exit 2, naming the option): a NUL
    would end SQLite's LIKE pattern early, so ``--feed`` would match every feed."""
    for text in value if isinstance(value, tuple) else (value,):
        bad = next((c for c in text or "" if ord(c) < 32 or 127 <= ord(c) < 160), None)
        if bad == "\x00":
            raise click.BadParameter("contains a NUL character", ctx, param)
        if bad is not None:
            raise click.BadParameter(f"contains a control character (U+{ord(bad):04X})",
                                     ctx, param)
    return value


def output_options(formats: tuple[str, ...] = FORMATS, *, default: str = "table",
                   help: str | None = None) -> Callable[[F], F]:
    """``--format`` (one of ``formats``) and ``--json``, its shortcut: every command that
    prints rows or records takes both (tests/test_cli_conventions.py checks each one).
    The command gets ``fmt`` and ``as_json``; ``chosen_format`` combines them."""

    def decorate(func: F) -> F:
        func = click.option("--json", "as_json", is_flag=True,
                            help="Same as --format json.")(func)
        return click.option("--format", "fmt", type=click.Choice(formats), default=default,
                            show_default=True, help=help)(func)

    return decorate


# For commands that print one record (an item, a report): as text, or as JSON.
TEXT_FORMATS = ("text", "json")


def chosen_format(fmt: str, as_json: bool) -> str:
    return "json" if as_json else fmt


def filter_options(func: F) -> F:
    """The filters shared by ``items`` and ``search``."""
    options = [
        click.option("--since", help="Published after: 2d, 12h, or a date (2026-11-01)."),
        click.option("--until", help="Published before: a duration ago or a date."),
        click.option("--topic", callback=plain_text,
                     help="Only items that matched this topic."),
        click.option("--feed", callback=plain_text,
                     help="Only items from this feed (id, URL, or part of its name)."),
        click.option("--lang", "language", callback=plain_text,
                     help="Only items in this language (en, ru, fa...)."),
        click.option("--min-score", type=float, help="Only items scoring at least this."),
        click.option("--all", "include_unkept", is_flag=True,
                     help="Include items stored with --keep-all that did not match."),
        click.option("--unkept", "only_unkept", is_flag=True,
                     help="Only items stored with --keep-all that did not match (audits)."),
        click.option("--story", callback=plain_text,
                     help="Only items of this story (id or a prefix of it)."),
        click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000),
                     help="Rows per page."),
        click.option("--offset", default=0, type=click.IntRange(0),
                     help="Skip this many rows first: the next page is --offset LIMIT, then "
                          "2*LIMIT... (the order is stable: ties go by item id)."),
        click.option("--collapse", is_flag=True,
                     help="One row per story (its first match), with how many of its items "
                          "matched."),
    ]
    func = output_options(LISTING_FORMATS, help="atom: an Atom feed of the matches.")(func)
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
        offset=kw.get("offset", 0),
        collapse=kw.get("collapse", False),
        only_unkept=kw.get("only_unkept", False),
        story=kw.get("story"),
    )


def _warn_filters(ctx: Context, store: Store, filters: Filters, *,
                  now: Any = None) -> None:
    """After an empty listing: one warning on stderr per filter that matches nothing in the
    database (a mistyped topic, language or feed, an inverted or future period), with the
    known values nearest to it (``query.filter_warnings``)."""
    from mediamon.store.query import filter_warnings

    for line in filter_warnings(store, filters, topics=list(ctx.config.topics),
                                now=now or utcnow()):
        click.echo(f"warning: {line}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--config", "config_path", envvar="MEDIAMON_CONFIG", type=click.Path(dir_okay=False),
              help="Config file [env MEDIAMON_CONFIG; default config/mediamon.toml].")
@click.option("--db", envvar="MEDIAMON_DB", type=click.Path(dir_okay=False),
              help="Database file, overriding the config [env MEDIAMON_DB].")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"],
                                               case_sensitive=False),
              envvar="MEDIAMON_LOG_LEVEL", default="info", show_default=True,
              help="[env MEDIAMON_LOG_LEVEL]")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line per event, as text or JSON.")
@click.option("--log-file", type=click.Path(dir_okay=False), envvar="MEDIAMON_LOG_FILE",
              help="Append the log to this file instead of stderr [env MEDIAMON_LOG_FILE].")
@click.version_option(__version__, prog_name="mediamon")
@click.pass_context
def cli(ctx: click.Context, config_path: str | None, db: str | None, log_level: str,
        log_format: str, log_file: str | None) -> None:
    """Pull news feeds, keep what matches your topics, and explain why.

    \b
    Start:   mediamon run --once      poll every feed once and show a summary
             mediamon run             keep polling on the schedule (a daemon)
    Query:   mediamon items --since 2d
             mediamon search 'kabulov OR "islamic emirate"'
             mediamon show ID
    Health:  mediamon status
    Tune:    mediamon score items.jsonl   mediamon eval labelled.jsonl
             mediamon label ID relevant   mediamon rescore
    """
    try:
        handler = setup_logging(level=log_level, fmt=log_format, path=log_file)
    except OSError as exc:
        raise click.BadParameter(f"{log_file}: {exc.strerror or exc}", ctx,
                                 param_hint="'--log-file'") from None
    ctx.call_on_close(handler.close)  # after the store's close (LIFO): the file is let go of
    ctx.obj = Context(config_path, db)
    ctx.call_on_close(ctx.obj.close)


# -- where things are -----------------------------------------------------------------------


@cli.command()
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing mediamon.toml.")
@pass_ctx
@domain_errors
def init(ctx: Context, directory: Path | None, force: bool) -> None:
    """Write a starter config (and its reference article) to DIRECTORY.

    Without DIRECTORY it goes to your user config directory, where every mediamon command
    finds it from any working directory; elsewhere, pass --config or set MEDIAMON_CONFIG.
    """
    from mediamon.config import init_config

    written = init_config(directory, force=force)
    click.echo(f"wrote {written.config}")
    for seed in written.seeds:
        click.echo(f"wrote {seed}")
    if written.found_by_default:
        click.echo("mediamon uses it from any directory (it is in your user config directory).")
    else:
        click.echo(f"use it with: mediamon --config {written.config} ...  "
                   f"(or export MEDIAMON_CONFIG={written.config})")
    click.echo(f"edit its feeds and topics, then: mediamon run --once   (database: "
               f"{written.database})")


@cli.command()
@output_options(TEXT_FORMATS, default="text")
@pass_ctx
@domain_errors
def paths(ctx: Context, fmt: str, as_json: bool) -> None:
    """Show which config and database this command line uses, and why."""
    as_json = chosen_format(fmt, as_json) == "json"
    from mediamon.config import config_candidates, user_config_dir, user_data_dir

    how = "built in"
    for path, reason in config_candidates(ctx.explicit_config):
        if path == ctx.config_path:
            how = reason
            break
    rows = {"config": str(ctx.config_path), "config_from": how,
            "database": str(ctx.config.db_path),
            "user_config_dir": str(user_config_dir()), "user_data_dir": str(user_data_dir())}
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(map(len, rows))
    for key, value in rows.items():
        click.echo(f"{key:<{width}}  {value}")


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
        outcomes, interrupted = asyncio.run(_run_once_interruptible(config, store, keep_all))
        click.echo(summarise(outcomes))
        totals = counts(store)
        click.echo(f"database {config.db_path}: {totals['items_kept']} kept items "
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

    ctx.store().close()  # a database it cannot write stops it here, in one line
    ctx._store = None
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


async def _run_once_interruptible(config: Config, store: Store, keep_all: bool | None,
                                  ) -> tuple[list[FeedOutcome], bool]:
    """``run_once``; Ctrl-C (or SIGTERM) stops starting passes and returns those done."""
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


# -- items, search, show -----------------------------------------------------------------------

ITEM_COLUMNS = ["id", "story", "published", "feed_name", "topics", "score", "title"]


def _emit(rows: list[dict[str, Any]], fmt: str, as_json: bool, columns: list[str]) -> None:
    fmt = "json" if as_json else fmt
    if rows and "story_matches" in rows[0]:  # --collapse: how many of the story's items matched
        columns = [*columns[:2], "story_matches", *columns[2:]]
    for row in rows:
        if fmt == "table":
            row["id"] = row["id"][:10]
            row["story"] = (row.get("story") or "")[:10]
            row["published"] = (row.get("published") or "")[:16].replace("T", " ")
    click.echo(render(rows, fmt, columns=columns, squeeze="title"))


def _search_urn(query: str) -> str:
    import hashlib

    return "urn:mediamon:search:" + hashlib.sha256(query.encode()).hexdigest()[:16]


def _emit_atom(store: Store, rows: list[dict[str, Any]], title: str, feed_id: str) -> None:
    """A listing as an Atom feed (issue 6), entry content from the items' sanitised HTML."""
    from mediamon.desk.export import atom_feed, item_html

    html = item_html(store, [r["id"] for r in rows]) if rows and "reach" not in rows[0] else {}
    click.echo(atom_feed(rows, title=title, feed_id=feed_id, html=html), nl=False)


@cli.command(name="items")
@filter_options
@pass_ctx
@domain_errors
def items_cmd(ctx: Context, fmt: str, as_json: bool, **filters: Any) -> None:
    """List kept items, newest first."""
    store = ctx.store(readonly=True)
    chosen = build_filters(**filters)
    rows = items(store, chosen)
    if not rows:
        _warn_filters(ctx, store, chosen)
    if fmt == "atom" and not as_json:
        _emit_atom(store, rows, "mediamon: items", "urn:mediamon:items")
        return
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
    store = ctx.store(readonly=True)
    chosen = build_filters(**filters)
    rows = search(store, query, chosen)
    if not rows:
        _warn_filters(ctx, store, chosen)
    if fmt == "atom" and not as_json:
        _emit_atom(store, rows, f"mediamon: search {query}", _search_urn(query))
        return
    _emit(rows, fmt, as_json, [*ITEM_COLUMNS, "snippet"] if fmt != "table" or as_json
          else [*ITEM_COLUMNS[:-1], "title", "snippet"])


@cli.command()
@click.argument("item_id", callback=plain_text)
@output_options(TEXT_FORMATS, default="text", help="json: the whole item.")
@click.option("--history", is_flag=True,
              help="Also show the earlier versions of its title, text and link.")
@pass_ctx
@domain_errors
def show(ctx: Context, item_id: str, fmt: str, as_json: bool, history: bool) -> None:
    """Show one item in full, with the topics it matched and why (ID may be a prefix)."""
    as_json = chosen_format(fmt, as_json) == "json"
    store = ctx.store(readonly=True)
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
        f"language:   {item['language'] or '-'}",
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
    for topic, terms in item["matches"].items():
        out.append(f"  topic {topic}: " + ", ".join(repr(t) for t in terms))
    if why.get("profile_terms"):
        out.append("  shared with the reference: " + ", ".join(why["profile_terms"]))
    text = item["content"] or item["summary"]
    if text:
        out += ["", textwrap.fill(text[:2000] + ("…" if len(text) > 2000 else ""), width=100)]
    return "\n".join(out)


# -- relevance: score, eval, label, rescore ---------------------------------------------------


def _relevance_store(ctx: Context, builtin: bool) -> Store | None:
    """The database for its background and labels, if it exists and is wanted."""
    if builtin or not ctx.config.db_path.exists():
        return None
    return ctx.store(readonly=True)


BUILTIN_OPTION = click.option(
    "--builtin", is_flag=True,
    help="Ignore the database: the built-in background only and no analyst labels "
         "(reproducible numbers).")


@cli.command(name="score")
@click.argument("source", metavar="[FILE|-]", type=click.File("r", encoding="utf-8"),
                default="-", required=False)
@click.option("-o", "--output", type=click.File("w", encoding="utf-8"), default="-",
              help="Where to write the scored lines (default: stdout).")
@BUILTIN_OPTION
@pass_ctx
@domain_errors
def score_cmd(ctx: Context, source: Any, output: Any, builtin: bool) -> None:
    """Score JSON Lines items with the configured topics, keep rule and profile.

    \b
    Input, one JSON object per line (FILE, or stdin when FILE is - or absent):
      {"id": ..., "title": ..., "summary" or "content": ..., "url", "published", "language"}
    Output, one line per item, in order:
      {"id", "score", "similarity", "kept", "topics", "explanation"}

    No database is needed. If the configured database exists, its background document
    frequencies and the analyst's labels shape the profile (--builtin ignores it).
    """
    from mediamon.desk.relevance import read_jsonl, score

    scorer, _ = scorer_for(ctx.config, _relevance_store(ctx, builtin))
    for line in score(scorer, read_jsonl(source, name=source.name)):
        output.write(json.dumps(line, ensure_ascii=False) + "\n")


@cli.command(name="eval")
@click.argument("labelled", metavar="[LABELLED.jsonl]...", nargs=-1,
                type=click.File("r", encoding="utf-8"))
@click.option("--texts", "texts_files", metavar="FILE", multiple=True,
              type=click.File("r", encoding="utf-8"),
              help="JSON Lines with the texts (id, title, summary, language) of labels that "
                   "carry none, joined by id. Repeatable.")
@click.option("--stream", "stream_file", metavar="FILE", type=click.File("r", encoding="utf-8"),
              help="Score every item of this unlabelled JSON Lines stream: kept per 1,000 "
                   "items, and the kept items the labels call no (false alarms) or that no "
                   "label covers.")
@output_options(TEXT_FORMATS, default="text", help="json: the whole report.")
@click.option("--errors", "max_errors", default=30, show_default=True,
              type=click.IntRange(0, 100_000),
              help="Misses, false alarms and unlabelled kept items to list.")
@BUILTIN_OPTION
@pass_ctx
@domain_errors
def eval_cmd(ctx: Context, labelled: tuple[Any, ...], texts_files: tuple[Any, ...],
             stream_file: Any, fmt: str, as_json: bool, max_errors: int,
             builtin: bool) -> None:
    """Measure relevance on labelled items: precision, core recall and F1, several sets
    side by side, and the false alarms on a whole stream.

    \b
    LABELLED.jsonl: lines as for `mediamon score`, each with "label": core, related or no
    (and "language" for the per-language table). Labels without a title or summary take
    them, and the language, from --texts by id (real news, whose texts are not ours to
    keep); a file none of whose ids is in the texts is reported as texts not available.
      precision    kept items labelled core or related / kept items
      core recall  core items kept / core items
      F1           harmonic mean of the two
      AP           average precision of the ranking by score
    Misses (core, not kept), their languages, and false alarms (kept, labelled no) are
    listed with their explanation. --stream FILE scores every item of FILE and sorts
    the kept ones by the labels of every set: core, related, no (false alarms, also given
    per 2,000 items) or unlabelled (listed, to be labelled). With analyst labels in the
    database, the average precision is shown with and without them.
      mediamon eval --builtin dev.jsonl real-labels.jsonl --texts news.jsonl --stream news.jsonl
    """
    from mediamon.desk.relevance import (
        all_labels,
        evaluate,
        evaluate_stream,
        read_jsonl,
        read_labelled,
        read_texts,
        set_as_dict,
    )

    if not labelled and stream_file is None:
        raise click.UsageError("give a labelled file, --stream FILE, or both")
    as_json = chosen_format(fmt, as_json) == "json"
    texts: dict[str, dict[str, Any]] | None = None
    for f in texts_files:
        texts = read_texts(f, name=f.name, into=texts)
    texts_name = ", ".join(f.name for f in texts_files) or "the texts"
    sets = [read_labelled(f, name=f.name, texts=texts, texts_name=texts_name)
            for f in labelled]
    store = _relevance_store(ctx, builtin)
    scorer, info = scorer_for(ctx.config, store)
    baseline = scorer_for(ctx.config, store, feedback=False)[0] if info.labels else None
    reports = [None if s.texts_missing else evaluate(scorer, s.records, baseline=baseline)
               for s in sets]
    stream = None
    if stream_file is not None:
        stream = evaluate_stream(scorer, read_jsonl(stream_file, name=stream_file.name),
                                 all_labels(sets), name=stream_file.name)
    if as_json:
        per_set = [set_as_dict(s, r) for s, r in zip(sets, reports, strict=True)]
        data = {"config": str(ctx.config.path),
                "background_documents": info.builtin_documents + info.stored_documents,
                "labels": info.labels,
                **(per_set[0] if len(per_set) == 1 else {}),  # one set: as before
                "sets": per_set, "stream": stream.as_dict() if stream else None}
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    click.echo(format_eval(sets, reports, stream, info, max_errors))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _short_names(names: list[str]) -> list[str]:
    """File names without their folders, unless two would then look the same."""
    short = [Path(n).name for n in names]
    return short if len(set(short)) == len(short) else names


def format_eval(sets: list[Any], reports: list[Any], stream: Any, info: Any,
                max_errors: int) -> str:
    """The text form of ``mediamon eval``: the sets side by side, the stream, then each
    set's languages, misses and false alarms."""
    out = [f"background: {info.builtin_documents} built-in + {info.stored_documents} database "
           f"documents; analyst labels: {info.labels}"]
    names = _short_names([s.name for s in sets])
    if sets:
        rows = []
        for name, s, r in zip(names, sets, reports, strict=True):
            c = r.overall if r else None
            rows.append({"set": name, "items": len(s.labels), **s.label_counts,
                         "kept": c.kept if c else "-",
                         "precision": _pct(c.precision if c else None),
                         "core recall": _pct(c.recall if c else None),
                         "F1": _pct(c.f1 if c else None),
                         "AP": _pct(r.average_precision if r else None)})
        out += ["", render(rows, "table", columns=list(rows[0]))]
        out += [f"  {name}: texts not available ({s.texts_missing})"
                for name, s in zip(names, sets, strict=True) if s.texts_missing]
    if stream is not None:
        out += ["", *format_stream(stream, max_errors)]
    for name, r in zip(names, reports, strict=True):
        if r is not None:
            out += ["", *format_set(name, r, info, max_errors)]
    return "\n".join(out)


def format_stream(stream: Any, max_errors: int) -> list[str]:
    n = len(stream.kept)
    per_1000 = "-" if stream.kept_per_1000 is None else f"{stream.kept_per_1000:.2f}"
    per_2000 = "-" if stream.false_alarms_per_2000 is None \
        else f"{stream.false_alarms_per_2000:.2f}"
    by_label = Counter(k["label"] for k in stream.kept)
    out = [f"stream {_short_names([stream.name])[0]}: {stream.items:,} items scored in "
           f"{stream.seconds:.1f} s; {n} kept ({per_1000} per 1,000 items): "
           f"{by_label['core']} core, {by_label['related']} related, "
           f"{by_label['no']} labelled no, {by_label[None]} unlabelled",
           f"false alarms (kept, labelled no): {by_label['no']} ({per_2000} per 2,000 items)"]
    out += _error_lines(stream.false_alarms, max_errors)
    out.append(f"unlabelled kept items (label them before trusting the false-alarm rate): "
               f"{by_label[None]}")
    out += _error_lines(stream.unlabelled, max_errors)
    return out


def format_set(name: str, report: Any, info: Any, max_errors: int) -> list[str]:
    """One set: per language, the ranking, misses, their languages and false alarms."""
    o = report.overall
    out = [f"== {name}: {o.items} items ({o.core} core, {o.related} related, "
           f"{o.items - o.core - o.related} no)"]
    rows = [{"language": "overall", **_metric_row(o)}]
    rows += [{"language": lang, **_metric_row(c)} for lang, c in
             sorted(report.languages.items(), key=lambda kv: (-kv[1].items, kv[0]))]
    out.append(render(rows, "table", columns=list(rows[0])))
    line = (f"ranking by score: average precision {_pct(report.average_precision)} "
            "(core and related as relevant)")
    if report.baseline_average_precision is not None:
        line += (f"; without the {info.labels} analyst labels: "
                 f"{_pct(report.baseline_average_precision)}")
    out.append(line)
    out.append(f"misses (core, not kept): {len(report.misses)}")
    out += _error_lines(report.misses, max_errors)
    if report.misses:
        out.append("languages of the misses: " + ", ".join(
            f"{lang} {n}" for lang, n in report.miss_languages.items()))
    out.append(f"false alarms (kept, labelled no): {len(report.false_alarms)}")
    out += _error_lines(report.false_alarms, max_errors)
    return out


def _error_lines(errors: Any, max_errors: int) -> list[str]:
    """Each item: id, language and title, then its score and the words of each topic."""
    out = []
    for e in errors[:max_errors]:
        why = e["explanation"]
        topics = "; ".join(f"{t} {', '.join(repr(w) for w in ws[:4])}"
                           for t, ws in why["topics"].items()) or "no topic"
        out.append(f"  {e['id']} [{e['language']}] {e['title'][:90]}")
        out.append(f"      score {why['score']:.3f}  similarity {why['similarity']:.3f}  "
                   f"topics: {topics}")
    if len(errors) > max_errors:
        out.append(f"  ... {len(errors) - max_errors} more (--errors N, or --json)")
    return out


def _metric_row(c: Any) -> dict[str, Any]:
    return {"items": c.items, "core": c.core, "kept": c.kept, "precision": _pct(c.precision),
            "core recall": _pct(c.recall), "F1": _pct(c.f1)}


@cli.command()
@click.argument("item_id", callback=plain_text)
@click.argument("label", type=click.Choice(["relevant", "irrelevant"]), required=False)
@click.option("--remove", is_flag=True, help="Forget the item's label instead.")
@pass_ctx
@domain_errors
def label(ctx: Context, item_id: str, label: str | None, remove: bool) -> None:
    """Record your judgement of a stored item: relevant or irrelevant (ID may be a prefix).

    \b
    The label is kept in the database. `mediamon rescore` then keeps (relevant) or drops
    (irrelevant) the item whatever the rule says, and moves the reference profile toward
    the relevant items and away from the irrelevant ones (Rocchio feedback); `mediamon
    eval` shows the effect on the ranking. `mediamon labels` lists the labels.
      mediamon label 47d5 relevant
      mediamon label 47d5 --remove       forget it (the rule decides again)
    """
    from mediamon.desk.relevance import add_label, remove_label

    if remove and label:
        raise click.UsageError(f"give {label} or --remove, not both")
    if not remove and not label:
        raise click.UsageError("give the label (relevant or irrelevant), or --remove")
    if remove:
        done = remove_label(ctx.store(), item_id)
        click.echo(f"{done['id']} is no longer labelled {done['label']}"
                   + (f": {done['title']}" if done["title"] is not None else ""))
    else:
        done = add_label(ctx.store(), item_id, label or "", now=utcnow())
        click.echo(f"{done['id']} labelled {done['label']}: {done['title']}")
    click.echo("run `mediamon rescore` to apply it")


@cli.command(name="labels")
@output_options()
@pass_ctx
@domain_errors
def labels_cmd(ctx: Context, fmt: str, as_json: bool) -> None:
    """The analyst's labels (`mediamon label`), the latest first.

    `kept` is whether the item is kept now: a label takes effect at the next `mediamon
    rescore`. An item deleted after it was labelled (`rescore --prune`) keeps its label,
    with no title.
    """
    from mediamon.desk.relevance import list_labels

    rows = list_labels(ctx.store(readonly=True))
    fmt = chosen_format(fmt, as_json)
    for row in rows:
        row["kept"] = None if row["kept"] is None else bool(row["kept"])
        if fmt == "table":
            row["item_id"] = row["item_id"][:10]
            row["labelled"] = row["labelled"][:16].replace("T", " ")
    click.echo(render(rows, fmt, columns=["item_id", "label", "labelled", "kept", "title"],
                      squeeze="title"))


@cli.command(name="rescore")
@click.option("--since", help="Only items published after: 2d, 12h, or a date (2026-11-01).")
@click.option("--prune", is_flag=True,
              help="Delete items that are no longer kept (default: flag them not kept).")
@click.option("--batch", "batch_size", default=500, show_default=True,
              type=click.IntRange(1, 100_000), help="Items per transaction.")
@pass_ctx
@domain_errors
def rescore_cmd(ctx: Context, since: str | None, prune: bool, batch_size: int) -> None:
    """Apply the current topics, keep rule, profile and labels to stored items.

    Run it after editing the topics or the seeds, or after `mediamon label`. Items that no
    longer pass are flagged not kept (hidden from `items`, shown with `items --all`); they
    are deleted only with --prune. Items the analyst labelled keep their label's verdict.
    """
    from mediamon.desk.relevance import count_items, rescore

    store = ctx.store()
    scorer, info = scorer_for(ctx.config, store)
    when = parse_when(since, now=utcnow()) if since else None
    total = count_items(store, when)
    with click.progressbar(length=total, label=f"rescoring {total} items",
                           file=sys.stderr) as bar:
        result = rescore(store, scorer, since=when, prune=prune, batch_size=batch_size,
                         progress=bar.update)
    tail = (f"{result.pruned} deleted" if prune else
            f"{result.newly_unkept} flagged not kept (--prune deletes them)")
    click.echo(f"{result.items} items rescored with {info.labels} analyst labels: "
               f"{result.kept} kept, {result.newly_kept} newly kept, {tail}")


# -- feeds -----------------------------------------------------------------------------------


@cli.group()
def feeds() -> None:
    """List, add, edit, pause, remove, import and export feeds."""


FEED_COLUMNS = ["id", "name", "status", "failures", "last_success", "kept_items", "url"]


def _health_rows(ctx: Context) -> list[dict[str, Any]]:
    """Every feed, as the config says now (its new feeds too), read without writing: these
    commands work on a read-only database, and before the first run on none at all."""
    store = ctx.store(readonly=True) if ctx.config.db_path.exists() else None
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
    first feed its HTML page advertises (``<link rel="alternate">``, issue 4). When the URL
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

    store = ctx.store(readonly=True) if ctx.config.db_path.exists() else None
    rows = sorted((r for r in feed_health_with_config(store, ctx.config.feeds) if r["active"]),
                  key=lambda r: (r["id"] is None, r["id"] or 0))
    output.write(write_opml(
        FeedSource(r["url"], r["name"], tuple(r["tags"]), r["pinned_interval"],
                   "config" if r["origin"] == "config" else "db") for r in rows))


# -- stories (issue 5) -------------------------------------------------------------------------


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


STORY_COLUMNS = ["id", "first_published", "reach", "mentions", "first_outlet", "topics", "title"]


@cli.group(name="stories", invoke_without_command=True)
@click.option("--since", help="Stories with a mention published after: 2d, 12h, or a date.")
@click.option("--until", help="Stories that started before: a duration ago or a date.")
@click.option("--topic", help="Only stories with an item that matched this topic.")
@click.option("--min-reach", type=click.IntRange(1), help="Only stories from at least N outlets.")
@click.option("--all", "include_unkept", is_flag=True,
              help="Include stories whose items were stored with --keep-all but not kept.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@output_options(LISTING_FORMATS, help="atom: an Atom feed, one entry per story.")
@click.pass_context
@domain_errors
def stories_cmd(click_ctx: click.Context, since: str | None, until: str | None,
                topic: str | None, min_reach: int | None, include_unkept: bool, limit: int,
                fmt: str, as_json: bool) -> None:
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
    rows = ctx.store(readonly=True).list_stories(
        since=utc_iso(start) if start else None,
        until=utc_iso(end) if end else None,
        topic=topic, min_reach=min_reach, include_unkept=include_unkept, limit=limit,
    )
    if not rows:
        _warn_filters(ctx, ctx.store(readonly=True), Filters(since=start, until=end,
                                                             topic=topic), now=now)
    fmt = "json" if as_json else fmt
    if fmt == "atom":
        urls = ctx.store(readonly=True).item_urls([row["first_item_id"] for row in rows])
        for row in rows:  # a story links to its first mention
            row["url"] = urls.get(row["first_item_id"])
        _emit_atom(ctx.store(readonly=True), rows, "mediamon: stories", "urn:mediamon:stories")
        return
    if fmt == "table":
        for row in rows:
            row["id"] = row["id"][:10]
            row["first_published"] = row["first_published"][:16].replace("T", " ")
    click.echo(render(rows, fmt, columns=STORY_COLUMNS, squeeze="title"))


def _resolve(ctx: Context, ident: str) -> tuple[str, str]:
    try:
        found = ctx.store(readonly=True).resolve_story(ident)
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
    store = ctx.store(readonly=True)
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
    store = ctx.store(readonly=True)
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


# -- export, import, vacuum (issue 6) ----------------------------------------------------------


@cli.command(name="export")
@click.option("--since", help="Items published after: 30d, 12h, or a date (default: all).")
@click.option("--kept-only", is_flag=True, help="Leave out items stored but not kept.")
@click.option("-o", "--output", default="-", type=click.Path(dir_okay=False, allow_dash=True),
              help="FILE.jsonl or FILE.csv (default, or -: stdout).")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]),
              help="Default: from the file name's extension; jsonl on stdout.")
@pass_ctx
@domain_errors
def export_cmd(ctx: Context, since: str | None, kept_only: bool, output: str,
               fmt: str | None) -> None:
    """Write stored items, with their topics and feeds, to JSON Lines or CSV.

    \b
    Every column of every item is written; `mediamon import FILE.jsonl` reads
    the JSON Lines back into another database, losslessly. Without -o, JSON
    Lines (or --format csv) go to stdout.
      mediamon export --since 30d -o items.jsonl
      mediamon export -o items.csv
      mediamon export --kept-only | gzip > items.jsonl.gz
    """
    from mediamon.desk.export import export_records, write_export

    fmt = fmt or ("csv" if output.lower().endswith(".csv") else "jsonl")
    when = parse_when(since, now=utcnow()) if since else None
    records = export_records(ctx.store(readonly=True), since=when,
                             include_unkept=not kept_only)
    if output == "-":
        count = write_export(records, sys.stdout, fmt)
    else:
        try:
            with open(output, "w", encoding="utf-8", newline="") as out:
                count = write_export(records, out, fmt)
        except OSError as exc:
            raise click.ClickException(f"{output}: {exc.strerror}") from None
    if output != "-":
        click.echo(f"{count} item(s) written to {output}", err=True)
    if not count:
        _warn_filters(ctx, ctx.store(readonly=True), Filters(since=when))


@cli.command(name="import")
@click.argument("source", metavar="FILE.jsonl", type=click.File("r", encoding="utf-8"))
@pass_ctx
@domain_errors
def import_cmd(ctx: Context, source: Any) -> None:
    """Add the items of a `mediamon export` JSON Lines file to this database.

    Items already here (same id) are left as they are; the others keep every column,
    their topics and their feeds, and get their story in this database. Feeds this
    database does not know are added inactive (not polled). One transaction: a bad
    line changes nothing.
    """
    from mediamon.desk.export import import_records, read_export

    stats = import_records(ctx.store(), read_export(source, name=source.name), now=utcnow())
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
    """
    from mediamon.desk.housekeeping import apply_retention, file_sizes, vacuum

    store = ctx.store(readonly=dry_run)  # a database it cannot write stops it here
    before = file_sizes(store.path)  # retention's deletions go to the WAL first
    done = apply_retention(store, ctx.config.retention, now=utcnow(), dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb}: {done['unkept_items']} not-kept item(s), {done['kept_items']} kept "
               f"item(s), {done['fetch_log']} fetch-log row(s)"
               + ("" if dry_run else f", {done['stories']} emptied story(ies)"))
    if not dry_run:
        sizes = vacuum(store, before=before)
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


# -- stats, report (issue 6) ------------------------------------------------------------------


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
@pass_ctx
@domain_errors
def stats_cmd(ctx: Context, since: str, until: str | None, by: str | None, topic: str | None,
              by_outlet: bool, fmt: str, as_json: bool, plot_path: str | None) -> None:
    """Kept items and stories over time, top outlets and top languages.

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
    found = collect(store, now=now, since=start, until=end,
                    by=by or pick_bucket(start, end),  # type: ignore[arg-type]
                    topic=topic, by_outlet=by_outlet)
    if not found.total_items:
        _warn_filters(ctx, store, Filters(since=start, until=end, topic=topic), now=now)
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
@pass_ctx
@domain_errors
def report_cmd(ctx: Context, since: str, until: str | None, topic: str | None, top: int,
               title: str, output: str) -> None:
    """Write a self-contained HTML digest of a period.

    \b
    A timeline chart, the top stories by reach (first outlet, every source, and
    why each matched: topics, matched words, score) and a table per outlet, in
    one HTML file with no scripts and nothing loaded from elsewhere.
      mediamon report --since 7d -o report.html
      mediamon report --since 2025-07-01 --until 2025-07-08 --topic recognition -o r.html
      mediamon report --since 1d > today.html
    """
    from mediamon.desk.report import collect_report, render_html

    now = utcnow()
    found = collect_report(ctx.store(readonly=True), now=now, since=parse_when(since, now=now),
                           until=parse_when(until, now=now, option="--until") if until else None,
                           topic=topic, top=top)
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


# -- alerts and serve (issue 6; alerts.py, serve.py) -------------------------------------------


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
    since then (when = "items") or stories changed since then (when = "stories"),
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


def main() -> None:
    try:
        cli(prog_name="mediamon")
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)


logging.getLogger("httpx").setLevel(logging.WARNING)
