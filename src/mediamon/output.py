"""Render rows for the terminal or for other programs: table, json, jsonl, csv; and read
JSON Lines back (``read_json_lines``: exports to import, items to score or evaluate).

Tables fit the terminal when stdout is one: its width (``COLUMNS`` overrides it, as
``shutil.get_terminal_size`` reads it). Piped to a file or another program, a table has no
width limit and nothing is cut, whatever ``COLUMNS`` says: ``grep`` and ``less -S`` see
whole values. To fit, the free-text columns other than the main one (``squeeze``: the title)
are shortened first, widest first, then the main one: so titles keep the room. Widths are
terminal cells, measured with wcwidth (a wide CJK character takes two, a combining accent
none), and a cut never splits a character from its accents. The machine
formats are lossless (lists and objects stay structured in JSON; CSV joins lists with ``; ``).
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from tabulate import tabulate
from wcwidth import iter_graphemes, wcswidth

FORMATS = ("table", "json", "jsonl", "csv")
LISTING_FORMATS = (*FORMATS, "atom")  # listings of items and stories: also an Atom feed


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
    # Control characters (escape sequences too) would move the cursor: never print them.
    return _CONTROL.sub("", " ".join(str(value).split()))


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text_width(text: str) -> int:
    """The terminal cells ``text`` takes: two for a wide (CJK) character, none for a
    combining mark or a zero-width joiner."""
    cells = wcswidth(text)
    if cells >= 0:
        return cells
    return sum(max(0, wcswidth(g)) for g in iter_graphemes(text))  # control characters: 0


def shorten(text: str, width: int) -> str:
    """``text`` cut to at most ``width`` terminal cells, ending with an ellipsis when cut;
    whole characters (with their accents, whole emoji sequences) only."""
    if text_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for grapheme in iter_graphemes(text):
        cells = max(0, wcswidth(grapheme))
        if used + cells > width - 1:
            break
        out.append(grapheme)
        used += cells
    return "".join(out).rstrip(" ,;") + "…"


def terminal_width() -> int | None:
    """The width a table must fit: the terminal's when stdout is a terminal (``COLUMNS``
    overrides it), else None: piped output is never cut."""
    if not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size((120, 24)).columns


SEPARATOR = 2  # tabulate's "simple" format puts two spaces between columns
HEADER_PAD = 2  # ... and makes each column at least its header plus two (MIN_PADDING)
# How far columns shrink, in this order, until the table fits: the other free-text columns
# (wider than FREE_TEXT) to FREE_TEXT, the main column to MAIN_SOFT (neither below its
# header), then the others to HARD and the main column to MAIN_HARD cells, headers
# shortened too. A table that still does not fit (a terminal narrower than the columns
# that are never cut: ids, dates, numbers) is printed as it is and the terminal wraps it.
FREE_TEXT = 16
MAIN_SOFT = 30
HARD = 6
MAIN_HARD = 10


def fit_widths(natural: Sequence[int], headers: Sequence[int], width: int,
               main: int | None = None) -> list[int]:
    """Column widths (in cells) for a table of ``width`` cells whose columns want
    ``natural`` widths and have headers ``headers`` wide; ``main`` is the index of the
    column that keeps its room longest (the title)."""
    widths = list(natural)
    excess = sum(widths) + SEPARATOR * (len(widths) - 1) - width
    others = [i for i, w in enumerate(natural) if i != main and w > FREE_TEXT]
    mains = [] if main is None else [main]
    steps = [(others, FREE_TEXT, True), (mains, MAIN_SOFT, True), (others, HARD, False),
             (mains, MAIN_HARD, False)]
    for columns, floor, keep_header in steps:
        floors = {i: max(floor, headers[i]) if keep_header else min(floor, natural[i])
                  for i in columns}
        while excess > 0:
            wider = sorted((i for i in columns if widths[i] > floors[i]),
                           key=lambda i: -widths[i])
            if not wider:
                break
            # Shrink the widest column to the next one's width (or its floor), at most
            # ``excess``: the columns meet at one level, widest first.
            i = wider[0]
            target = max(floors[i], widths[wider[1]] if len(wider) > 1 else floors[i],
                         widths[i] - excess)
            if target == widths[i]:
                target -= 1
            excess -= widths[i] - target
            widths[i] = target
    return widths


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, width: int | None = None,
          squeeze: str | None = None) -> str:
    """A plain table of ``columns`` that fits ``width`` terminal cells (by default
    ``terminal_width()``: the terminal's, or no limit when stdout is not a terminal).
    ``squeeze`` names the main free-text column (the title): the other long columns are
    shortened before it (``fit_widths``)."""
    if not rows:
        return "(no rows)"
    if width is None:
        width = terminal_width()
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    titles = list(columns)
    if width:
        headers = [text_width(c) + HEADER_PAD for c in columns]
        natural = [max(headers[i], *(text_width(r[i]) for r in cells))
                   for i in range(len(columns))]
        main = list(columns).index(squeeze) if squeeze is not None and squeeze in columns \
            else None
        widths = fit_widths(natural, headers, width, main)
        for i, (want, room) in enumerate(zip(natural, widths, strict=True)):
            if room < want:
                for r in cells:
                    r[i] = shorten(r[i], room)
            if room < headers[i]:
                titles[i] = shorten(titles[i], max(1, room - HEADER_PAD))
    return tabulate(cells, headers=titles, tablefmt="simple", disable_numparse=True)


def render(rows: Sequence[dict[str, Any]], fmt: str, *, columns: Sequence[str],
           squeeze: str | None = None, width: int | None = None) -> str:
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
    return table(rows, columns, squeeze=squeeze, width=width)


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
