"""``--country`` and ``--kind``: who carried an item, through the source registry.

The options are declared by ``outlet_options`` (``items`` and ``search`` get them from
``filter_options``); ``outlet_scope`` resolves them through the config's source registry
(``core.sources``: the built-in ``data/sources.toml`` and the config's ``[[sources]]``) into
the ``store.query.OutletScope`` the store filters with. A value that cannot be a country or a
kind is a usage error (exit 2); a valid one that no registered outlet has is not an error, the
empty listing says so.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from mediamon.core.sources import KINDS, UNKNOWN

if TYPE_CHECKING:
    from mediamon.cli.app import Context
    from mediamon.core.sources import SourceRegistry
    from mediamon.store.query import OutletScope

F = TypeVar("F", bound=Callable[..., Any])

COUNTRY_HELP = ("Only items from outlets of this country (ISO code: RU, AF, PK...; "
                "'unknown': outlets the source registry does not list).")
KIND_HELP = (f"Only items from outlets of this kind ({', '.join(KINDS)}; 'unknown': outlets "
             f"the source registry does not list).")


def outlet_options(func: F) -> F:
    """``--country`` and ``--kind`` (the command gets ``country`` and ``kind``)."""
    func = click.option("--kind", type=click.Choice([*KINDS, UNKNOWN], case_sensitive=False),
                        help=KIND_HELP)(func)
    return click.option("--country", callback=_country, help=COUNTRY_HELP)(func)


def _country(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value.lower() == UNKNOWN:
        return UNKNOWN
    if len(value) != 2 or not value.isascii() or not value.isalpha():
        raise click.BadParameter(f"{value!r} is not a two-letter country code (e.g. RU) or "
                                 f"{UNKNOWN}", ctx, param)
    return value.upper()


def registry(ctx: Context) -> SourceRegistry:
    """The config's source registry, without compiling its topics when the config has not
    been loaded whole yet (listings read it that way)."""
    if ctx._config is not None:
        return ctx._config.sources
    from mediamon.config import load_config

    return load_config(ctx.config_path, db_override=ctx.db_override, reading=True).sources


def outlet_scope(ctx: Context, country: str | None, kind: str | None) -> OutletScope | None:
    """``--country``/``--kind`` as the store's ``OutletScope``; None when neither is given."""
    if country is None and kind is None:
        return None
    from mediamon.store.query import OutletScope

    sources = registry(ctx)
    selection = sources.select(country=country, kind=kind)
    given = " ".join(f"--{name} {value}" for name, value in
                     (("country", country), ("kind", kind)) if value is not None)
    label = (f"{given} (countries in the source registry: {', '.join(sources.countries())})"
             if country is not None else given)
    return OutletScope(selection.domains,
                       sources.domains() if selection.unknown else None, label)
