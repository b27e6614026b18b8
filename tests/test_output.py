"""Tables that fit the terminal: the title gets the room, widths are counted in terminal
cells (wide CJK characters take two, combining marks none), machine formats stay whole."""

from __future__ import annotations

import csv
import io
import os
import pty
import re
import select
import sqlite3
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from wcwidth import wcswidth

from conftest import DEMO_CONFIG
from mediamon.output import render, shorten, table, text_width

COLUMNS = ["id", "story", "published", "feed_name", "topics", "score", "title"]
ROWS = [
    {"id": "663d1fefc3", "story": "f6e60834ca", "published": "2025-07-04 05:45",
     "feed_name": "Ariana News, truncated (example of a malformed feed)",
     "topics": ["russia", "taliban", "afghanistan", "recognising", "recognition", "ties",
                "relations"],
     "score": 0.74, "title": "Kabul residents react to Russia's recognition of Islamic Emirate"},
    {"id": "47d57bff68", "story": "3f2a0c9d11", "published": "2025-07-03 16:52",
     "feed_name": "Reuters Asia (example)", "topics": ["russia", "taliban"], "score": 0.94,
     "title": "Russia becomes first country to recognise Taliban government"},
]


def test_the_title_gets_the_room_other_columns_shrink_first() -> None:
    """At 155 cells the feed name and topics are shortened so that every title is whole, and
    no line is wider than the table's width."""
    text = table(ROWS, COLUMNS, width=155, squeeze="title")
    assert max(text_width(line) for line in text.splitlines()) <= 155, text
    for row in ROWS:
        assert row["title"] in text
    assert "Ariana News, truncated (example of a malformed feed)" not in text
    assert re.search(r"  Ariana News, \S+…  ", text)  # cut with an ellipsis, not dropped


def test_narrow_tables_still_fit_and_wide_ones_are_whole() -> None:
    """Narrow widths shorten the title too (never past its header); with room to spare, or
    no width at all (piped output), nothing is cut."""
    for width in (80, 100, 120):
        text = table(ROWS, COLUMNS, width=width, squeeze="title")
        assert max(text_width(line) for line in text.splitlines()) <= width, (width, text)
    for width in (250, None):
        text = table(ROWS, COLUMNS, width=width, squeeze="title")
        assert all(row["title"] in text and row["feed_name"] in text for row in ROWS)
        assert "…" not in text


def test_shorten_counts_terminal_cells() -> None:
    """Wide (CJK) characters count two cells and combining marks none, and a cut never
    separates a letter from its accent."""
    assert text_width("俄罗斯") == 6 and text_width("Cafe\u0301") == 4
    assert shorten("俄罗斯正式承认", 7) == "俄罗斯…"
    assert shorten("Cafe\u0301s au lait", 5) == "Cafe\u0301…"
    assert shorten("ab", 2) == "ab" and shorten("abc", 1) == "…"


def test_wide_and_combining_titles_line_up_and_fit() -> None:
    """A table of Chinese, Persian and accented titles fits its width in cells, and every
    row's title starts in the same terminal column."""
    rows = [
        {"feed_name": "新华社", "title": "俄罗斯成为首个正式承认塔利班政府的国家" * 2},
        {"feed_name": "TOLOnews", "title": "روسیه امارت اسلامی را به رسمیت شناخت"},
        {"feed_name": "Le Monde", "title": "La Russie reconnai\u0302t le re\u0301gime des "
                                           "talibans, une premie\u0300re" * 2},
    ]
    text = table(rows, ["feed_name", "title"], width=60, squeeze="title")
    lines = text.splitlines()
    assert max(wcswidth(line) for line in lines) <= 60, text
    start = lines[0].index("title")
    for line, row in zip(lines[2:], rows, strict=True):
        pad = len(line) - len(line[len(row["feed_name"]):].lstrip(" ")) - len(row["feed_name"])
        assert wcswidth(row["feed_name"]) + pad == start, line
    assert text_width(lines[2]) == 60  # the cut title fills its column exactly


def test_machine_formats_keep_every_value_whole() -> None:
    """json and csv carry the full values whatever the width."""
    as_csv = list(csv.DictReader(io.StringIO(render(ROWS, "csv", columns=COLUMNS,
                                                    squeeze="title"))))
    assert [r["feed_name"] for r in as_csv] == [r["feed_name"] for r in ROWS]
    assert "Kabul residents react to Russia's recognition of Islamic Emirate" in \
        render(ROWS, "json", columns=COLUMNS, squeeze="title")


def _run_on_a_terminal(args: list[str], *, columns: int, env: dict[str, str]) -> str:
    """Run ``args`` with stdout on a pseudo-terminal ``columns`` wide; its output."""
    import fcntl
    import termios

    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(args, stdout=child, stderr=subprocess.PIPE, env=env)
    os.close(child)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([main], [], [], 30)
            if not ready:
                break
            try:
                data = os.read(main, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(main)
        assert proc.wait(timeout=30) == 0, proc.stderr.read() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.mark.slow
def test_items_fit_a_real_terminal_and_piped_output_is_whole(demo_db: Path) -> None:
    """`mediamon items` on a terminal fits its width (the terminal's own, or COLUMNS) with
    whole titles when there is room; piped, nothing is cut."""
    args = [sys.executable, "-m", "mediamon", "--config", str(DEMO_CONFIG), "--db",
            str(demo_db), "--log-level", "error", "items", "--since", "2025-06-01"]
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    with sqlite3.connect(demo_db) as conn:
        titles = [r[0] for r in conn.execute(
            "SELECT title FROM items WHERE kept = 1 AND published >= '2025-06-01'")]
        feeds = [r[0] for r in conn.execute("SELECT name FROM feeds")]
    assert titles and max(len(t) for t in titles) <= 75

    narrow = _run_on_a_terminal(args, columns=100, env=env)
    assert "title" in narrow and max(text_width(line) for line in narrow.splitlines()) <= 100

    wide = _run_on_a_terminal(args, columns=300, env={**env, "COLUMNS": "160"})
    assert max(text_width(line) for line in wide.splitlines()) <= 160, wide
    assert all(title in wide for title in titles), wide

    piped = subprocess.run(args, capture_output=True, text=True, env={**env, "COLUMNS": "60"},
                           check=True).stdout
    assert all(title in piped for title in titles)
    assert "Ariana News, truncated (example of a malformed feed)" in feeds
    assert "Ariana News, truncated (example of a malformed feed)" in piped
