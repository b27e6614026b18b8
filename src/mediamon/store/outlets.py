"""``OutletScope``: ``--country``/``--kind`` as the store filters with them (the items of some
outlets), written as plain SQL that SQLite and PostgreSQL both run. The caller resolves the
options through the source registry (``core.sources``, ``cli.outlets``); the store knows no
registry. Imports nothing of mediamon, so every part of the store can use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class OutletScope:
    """``--country``/``--kind`` resolved through the source registry (``core.sources``):
    the items of ``outlets`` (registrable domains), and, when ``unregistered`` is given,
    also those of every outlet not in it (the registry's "unknown"). ``label`` names the
    options for warnings (``--country RU``). The store knows no registry: the caller
    resolves it."""

    outlets: tuple[str, ...] = ()
    unregistered: tuple[str, ...] | None = None
    label: str = ""

    def clause(self, item_id: str) -> tuple[str, list[Any]]:
        """The SQL condition (and parameters) that the item whose id is the SQL
        ``item_id`` (``items.id``, ``i.id``) is in scope: its story's outlet (the site of
        its link) decides. Plain SQL, the same on SQLite and PostgreSQL."""
        return self.on_outlet(f"(SELECT outlet FROM story_items WHERE story_items.item_id = "
                              f"{item_id})")

    def on_outlet(self, outlet: str) -> tuple[str, list[Any]]:
        """The same condition on an outlet given as SQL (``si.outlet``)."""
        outlet = f"coalesce({outlet}, '')"
        parts: list[str] = []
        params: list[Any] = []
        if self.outlets:
            parts.append(f"{outlet} IN ({', '.join('?' * len(self.outlets))})")
            params += self.outlets
        if self.unregistered is not None:
            parts.append(f"{outlet} NOT IN ({', '.join('?' * len(self.unregistered))})"
                         if self.unregistered else "1 = 1")
            params += self.unregistered
        return (f"({' OR '.join(parts)})" if parts else "1 = 0"), params

    def matches(self, outlet: str | None) -> bool:
        """Whether an outlet (as stored) is in scope: the same test in Python."""
        if outlet in self.outlets:
            return True
        return self.unregistered is not None and outlet not in self.unregistered
