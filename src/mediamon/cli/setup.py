"""`mediamon init` and `mediamon paths`: where the config and the database are."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mediamon.cli.app import (
    TEXT_FORMATS,
    Context,
    chosen_format,
    cli,
    domain_errors,
    output_options,
    pass_ctx,
)


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
    from mediamon.core.langid_cache import cache_root

    rows = {"config": str(ctx.config_path), "config_from": how,
            "database": str(ctx.config.db_path),
            "user_config_dir": str(user_config_dir()), "user_data_dir": str(user_data_dir()),
            "cache_dir": str(cache_root())}
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(map(len, rows))
    for key, value in rows.items():
        click.echo(f"{key:<{width}}  {value}")
