"""Render rows for the terminal or for other programs: table, json, jsonl, csv; and read
JSON Lines back (``read_json_lines``: exports to import, items to score or evaluate).

Tables fit the terminal: on a terminal the widest text column is shortened with an ellipsis;
piped to a file or another program, nothing is cut. The machine
formats are lossless (lists and objects stay structured in JSON; CSV joins lists with ``; ``).
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from tabulate import tabulate

FORMATS = ("table", "json", "jsonl", "csv")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return " ".join(str(value).split())


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, width: int | None = None,
          squeeze: str | None = None) -> str:
    """A plain table of ``columns``; ``squeeze`` names the column shortened to fit ``width``
    (by default the terminal's width when stdout is a terminal, else no limit)."""
    if not rows:
        return "(no rows)"
    if width is None and sys.stdout.isatty():
        width = shutil.get_terminal_size((120, 24)).columns
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if squeeze in columns and width:
        idx = list(columns).index(squeeze)
        others = sum(
            max(len(c), *(len(r[i]) for r in cells)) + 2
            for i, c in enumerate(columns) if i != idx
        )
        room = max(20, width - others - 2)
        for r in cells:
            r[idx] = _shorten(r[idx], room)
    return tabulate(cells, headers=list(columns), tablefmt="simple", disable_numparse=True)


def render(rows: Sequence[dict[str, Any]], fmt: str, *, columns: Sequence[str],
           squeeze: str | None = None) -> str:
    """Rows in ``fmt``; machine formats carry every field, the table only ``columns``."""
    if fmt == "json":
        return json.dumps(list(rows), ensure_ascii=False, indent=2, default=str)
    if fmt == "jsonl":
        return "\n".join(json.dumps(r, ensure_ascii=False, default=str) for r in rows)
    if fmt == "csv":
        buf = io.StringIO()
        fields = list(rows[0]) if rows else list(columns)
        writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "; ".join(map(str, v)) if isinstance(v, list | tuple)
                             else json.dumps(v, ensure_ascii=False) if isinstance(v, dict)
                             else v for k, v in row.items()})
        return buf.getvalue().rstrip("\n")
    return table(rows, columns, squeeze=squeeze)


def read_json_lines(lines: Iterable[str], *, name: str,
                    error: Callable[[str], Exception]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(where, record)`` for each non-blank line of a JSON Lines stream, ``where`` being
    ``name:line``. A line that is not a JSON object raises ``error(message)``, the message
    starting with ``where``, so a bad line in a large file is found at once."""
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{name}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: not JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise error(f"{where}: not a JSON object (each line must be one)")
        yield where, record
