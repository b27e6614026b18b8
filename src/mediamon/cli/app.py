"""The click group and what every command shares: the context (config and database,
opened lazily), one-line domain errors, and the output and filter options."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from mediamon import __version__
from mediamon.clock import parse_when, utcnow
from mediamon.errors import MediamonError

if TYPE_CHECKING:  # imported where first needed: `mediamon --version` loads none of them
    from mediamon.config import Config
    from mediamon.store.interface import IngestStore
    from mediamon.store.postgres.store import PostgresStore
    from mediamon.store.query import Filters
    from mediamon.store.sqlite import Store

# Output formats (mediamon.output holds them too; a test keeps the two the same): here so
# that declaring the options imports no table renderer.
FORMATS = ("table", "json", "jsonl", "csv")
LISTING_FORMATS = (*FORMATS, "atom")
# The commands that work on a PostgreSQL database (any other that opens the database says
# so and stops; `serve` says how to get a SQLite copy): every one but `serve`, today.
POSTGRES_COMMANDS = ("run", "migrate", "items", "search", "show", "stories", "stats", "report",
                     "export", "status", "feeds list", "feeds export", "alerts send",
                     "alerts list",
                     "label", "labels", "rescore", "relang", "trends", "vacuum", "score",
                     "eval",
                     "feeds add", "feeds edit", "feeds remove", "feeds import", "import")
# The module of each command: it is imported when the command runs (or --help lists it).
COMMANDS = {
    "init": "setup", "paths": "setup", "run": "run",
    "items": "items", "search": "items", "show": "items", "stories": "stories",
    "feeds": "feeds", "status": "feeds",
    "score": "relevance", "eval": "relevance", "label": "relevance", "labels": "relevance",
    "rescore": "relevance", "relang": "languages",
    "export": "desk", "import": "desk", "vacuum": "desk", "stats": "desk", "report": "desk",
    "alerts": "desk", "serve": "desk",
    "migrate": "migrate",
    "trends": "trends",
}


class LazyGroup(click.Group):
    """The top-level group: a command's module is imported when it is first asked for (the
    module's decorators then add it to this group), so one command line loads only what it
    runs."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            importlib.import_module(f"mediamon.cli.{COMMANDS[cmd_name]}")
        return super().get_command(ctx, cmd_name)

F = TypeVar("F", bound=Callable[..., Any])


class Context:
    """Lazily loaded config and store, shared by the commands of one invocation."""

    def __init__(self, config_path: str | None, db: str | None) -> None:
        self.explicit_config = config_path
        from mediamon.config import find_config

        self.config_path = find_config(config_path)
        self.db_override = db
        self._config: Config | None = None
        self._store: Store | None = None
        self._pg_store: Store | PostgresStore | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            from mediamon.config import load_config

            self._config = load_config(self.config_path, db_override=self.db_override)
        return self._config

    def store(self, *, readonly: bool = False) -> Store:
        """The database: ``readonly`` for commands that only read (they work on a read-only
        file and never change it); otherwise checked writable before anything is done."""
        if self._store is not None and self._store.readonly and not readonly:
            self._store.close()
            self._store = None
        if self._store is None:
            if self.config.db_url is not None:
                return self._postgres(readonly=readonly)
            from mediamon.store.sqlite import Store

            self._store = Store(self.config.db_path, readonly=readonly,
                                stories=self.config.stories)
        return self._store

    def _postgres(self, *, readonly: bool, settings: Config | None = None) -> Store:
        """The PostgreSQL database of ``database.url`` (or a ``postgresql://`` ``--db``) for
        the commands of ``POSTGRES_COMMANDS``: it offers what the desk reads of a SQLite
        ``Store`` (``store.postgres.read``), so they run the same code on both. Any other
        command stops with one line saying it needs SQLite. ``settings``: the config read
        for ``reader`` (its topics not compiled), else the full one."""
        command = click.get_current_context().command_path.split(" ", 1)[-1]
        if not any(command == c or command.startswith(c + " ") for c in POSTGRES_COMMANDS):
            raise click.ClickException(
                f"`mediamon {command}` needs a SQLite database for now (on PostgreSQL: "
                f"{', '.join(POSTGRES_COMMANDS)})")
        if self._pg_store is not None and self._pg_store.readonly and not readonly:
            self._pg_store.close()
            self._pg_store = None
        if self._pg_store is None:
            try:  # not store.postgres.open: the chain of imports would be a module deeper
                from mediamon.store.postgres.read import PostgresReader
            except ImportError as exc:
                raise click.ClickException(f"PostgreSQL needs psycopg: pip install "
                                           f"'mediamon[postgres]' ({exc})") from None
            config = settings or self.config
            self._pg_store = PostgresReader(config.db_url or "", readonly=readonly,
                                            stories=config.stories)
        return cast("Store", self._pg_store)

    def reader(self) -> Store:
        """The database for commands that only list and show what is stored (items, search,
        show, stories): read-only, opened from the config read without compiling its topic
        queries, as nothing is scored. ``config`` still gives the full config."""
        if self._pg_store is not None and self._store is None:
            return self._postgres(readonly=True)
        if self._store is None and self._config is None:
            from mediamon.config import load_config

            settings = load_config(self.config_path, db_override=self.db_override,
                                   reading=True)
            if settings.db_url is not None:
                return self._postgres(readonly=True, settings=settings)
            from mediamon.store.sqlite import Store

            self._store = Store(settings.db_path, readonly=True, stories=settings.stories)
        return self.store(readonly=True)

    def ingest_store(self) -> IngestStore:
        """The database the feed passes write to: the SQLite file, or the PostgreSQL
        database of ``database.url`` (or a ``postgresql://`` ``--db``)."""
        if self.config.db_url is None:
            return self.store()
        if self._pg_store is None:
            from datetime import timedelta

            from mediamon.store.postgres.open import open_store

            lease = self.config.db_lease
            self._pg_store = open_store(
                self.config.db_url, stories=self.config.stories,
                lease=timedelta(seconds=lease) if lease else None)
        return self._pg_store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()
        if self._pg_store is not None:
            self._pg_store.close()


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
    from mediamon.cli.outlets import outlet_options  # --country, --kind (source registry)

    func = outlet_options(func)
    for option in reversed(options):
        func = option(func)
    return func


def build_filters(**kw: Any) -> Filters:
    from mediamon.store.query import Filters

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


@click.group(cls=LazyGroup,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
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
    from mediamon.logs import setup_logging

    try:
        handler = setup_logging(level=log_level, fmt=log_format, path=log_file)
    except OSError as exc:
        raise click.BadParameter(f"{log_file}: {exc.strerror or exc}", ctx,
                                 param_hint="'--log-file'") from None
    ctx.call_on_close(handler.close)  # after the store's close (LIFO): the file is let go of
    ctx.obj = Context(config_path, db)
    ctx.call_on_close(ctx.obj.close)


