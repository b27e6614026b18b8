"""`mediamon migrate`: move a SQLite database into PostgreSQL, checked."""

from __future__ import annotations

from pathlib import Path

import click

from mediamon.cli.app import cli, domain_errors


@cli.command(name="migrate")
@click.argument("sqlite_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("url")
@domain_errors
def migrate_cmd(sqlite_file: Path, url: str) -> None:
    """Copy the SQLite database SQLITE_FILE into the PostgreSQL database at URL.

    URL is postgresql://USER@HOST:PORT/DATABASE; the database must hold no mediamon data
    yet (its tables are created). Every table is copied in one transaction, then checked
    before it commits: the same row counts, the same story memberships, and a sample of
    searches finding the same items. Any difference rolls the copy back. SQLITE_FILE is only
    read.
    """
    from mediamon.store.postgres import is_postgres_url

    if not is_postgres_url(url):
        raise click.BadParameter("must be a postgresql:// URL", param_hint="'URL'")
    try:
        from mediamon.store.postgres.migrate import migrate
    except ImportError as exc:
        raise click.ClickException(f"PostgreSQL needs psycopg: pip install "
                                   f"'mediamon[postgres]' ({exc})") from None
    report = migrate(sqlite_file, url)
    rows = sum(report.tables.values())
    click.echo(f"copied {rows} rows in {len(report.tables)} tables; checked: row counts, "
               f"{report.memberships} story memberships, {report.probes} search probes")
