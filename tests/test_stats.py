"""Issue 6 `mediamon stats`: counts over time, top outlets and languages, chart and plot."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import invoke_demo as invoke
from mediamon.stats import bar, chart, collect, sparkline
from mediamon.store import Store

PERIOD = ["--since", "2025-06-30", "--until", "2025-07-07"]  # the demo feeds' week
NOW = datetime(2025, 7, 7, tzinfo=UTC)


def query(db: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def test_json_counts_match_the_database(demo_db: Path) -> None:
    """Per-day kept items, new stories, outlets and languages equal what SQL counts directly."""
    result = invoke(demo_db, "stats", *PERIOD, "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = dict(query(demo_db, "SELECT date(published), count(*) FROM items WHERE kept = 1 "
                                   "AND published >= '2025-06-30' AND published < "
                                   "'2025-07-07' GROUP BY 1"))
    timeline = {row["period"]: row["items"] for row in data["timeline"]}
    assert next(iter(timeline)) == "2025-06-30"
    assert len(timeline) == 7 and {k: v for k, v in timeline.items() if v} == expected
    assert data["total_items"] == sum(expected.values())
    unkept = query(demo_db, "SELECT count(*) FROM items WHERE kept = 0")[0][0]
    assert unkept > 0  # --keep-all stored audits, and they are not counted
    stories = query(demo_db, "SELECT count(*) FROM stories s WHERE first_published "
                             "BETWEEN '2025-06-30' AND '2025-07-07' AND EXISTS (SELECT 1 FROM "
                             "story_items si JOIN items i ON i.id = si.item_id WHERE "
                             "si.story_id = s.id AND i.kept = 1)")[0][0]
    assert data["total_stories"] == stories
    langs = dict(query(demo_db, "SELECT coalesce(language, 'unknown'), count(*) FROM items "
                                "WHERE kept = 1 AND published BETWEEN '2025-06-30' AND "
                                "'2025-07-07' GROUP BY 1"))
    assert {r["language"]: r["items"] for r in data["languages"]} == langs
    assert sum(r["items"] for r in data["outlets"]) == data["total_items"]


def test_topic_filter_counts_only_that_topic(demo_db: Path) -> None:
    """--topic counts only kept items that matched the topic."""
    data = json.loads(invoke(demo_db, "stats", *PERIOD, "--topic", "recognition",
                             "--json").output)
    expected = query(demo_db, "SELECT count(*) FROM items JOIN item_topics ON item_id = id "
                              "WHERE kept = 1 AND topic = 'recognition'")[0][0]
    assert 0 < data["total_items"] == expected
    none = json.loads(invoke(demo_db, "stats", *PERIOD, "--topic", "no-such", "--json").output)
    assert none["total_items"] == 0 and none["total_stories"] == 0


def test_weeks_start_on_monday_and_by_outlet_adds_up(demo_db: Path) -> None:
    """--by week buckets on Mondays, and --by-outlet series sum to the timeline."""
    data = json.loads(invoke(demo_db, "stats", "--since", "2025-06-01", "--until",
                             "2025-08-01", "--by", "week", "--by-outlet", "--json").output)
    periods = [row["period"] for row in data["timeline"]]
    assert all(datetime.fromisoformat(p).weekday() == 0 for p in periods)
    assert periods[0] <= "2025-06-01" < periods[1]
    per_period = [sum(v[i] for v in data["by_outlet"].values()) for i in range(len(periods))]
    assert per_period == [row["items"] for row in data["timeline"]]
    assert data["timeline"][periods.index("2025-06-30")]["items"] == data["total_items"] > 0


def test_csv_is_the_timeline(demo_db: Path) -> None:
    """--format csv writes one row per period with items and stories."""
    result = invoke(demo_db, "stats", *PERIOD, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert list(rows[0]) == ["period", "items", "stories"] and len(rows) == 7
    by_outlet = list(csv.DictReader(io.StringIO(
        invoke(demo_db, "stats", *PERIOD, "--by-outlet", "--format", "csv").output)))
    assert list(by_outlet[0]) == ["period", "outlet", "items"]
    assert sum(int(r["items"]) for r in by_outlet) == sum(int(r["items"]) for r in rows)


def test_terminal_chart_fits_the_width(demo_db: Path) -> None:
    """The chart never exceeds the width it is given, and the busiest day has the longest bar."""
    store = Store(demo_db, readonly=True)
    try:
        stats = collect(store, now=NOW, since=datetime(2025, 6, 30, tzinfo=UTC),
                        by_outlet=True)
    finally:
        store.close()
    for width in (50, 80, 200):
        text = chart(stats, width=width)
        assert max(len(line) for line in text.splitlines()) <= width, text
    lines = {line[:10]: line for line in chart(stats, width=80).splitlines()
             if line[:4] == "2025"}
    busiest = stats.periods[stats.items.index(max(stats.items))]
    assert lines[busiest].count("█") == max(line.count("█") for line in lines.values())


def test_bars_and_sparklines_scale() -> None:
    """Bars use eighth blocks in proportion; sparklines span ▁ to █."""
    assert bar(8, 8, 10) == "█" * 10
    assert bar(1, 8, 4) == "▌"  # half a cell
    assert bar(0, 8, 10) == ""
    assert sparkline([0, 1, 2, 4]) == "▁▃▅█"
    assert sparkline([0, 0]) == "▁▁"


def test_bad_period_is_a_one_line_error(demo_db: Path) -> None:
    """A --since after --until or an unparseable date is a clear error, not a traceback."""
    result = invoke(demo_db, "stats", "--since", "2025-07-07", "--until", "2025-06-30")
    assert result.exit_code == 1 and "--since must be before --until" in result.output
    result = invoke(demo_db, "stats", "--since", "last tuesday")
    assert result.exit_code == 1 and "is neither a duration" in result.output


def test_plot_writes_png_and_svg(demo_db: Path, tmp_path: Path) -> None:
    """--plot draws the chart to a PNG or an SVG file with matplotlib."""
    pytest.importorskip("matplotlib", reason="matplotlib (mediamon[plot]) is not installed")
    png, svg = tmp_path / "t.png", tmp_path / "t.svg"
    assert invoke(demo_db, "stats", *PERIOD, "--plot", str(png)).exit_code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert invoke(demo_db, "stats", *PERIOD, "--by-outlet", "--plot", str(svg)).exit_code == 0
    assert "<svg" in svg.read_text(encoding="utf-8")[:2000]
    result = invoke(demo_db, "stats", *PERIOD, "--plot", str(tmp_path / "t.gif"))
    assert result.exit_code == 1 and "must end in .png or .svg" in result.output


def test_plot_without_matplotlib_says_how_to_install(demo_db: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Without matplotlib, --plot fails with one line naming the extra to install."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke(demo_db, "stats", *PERIOD, "--plot", str(tmp_path / "t.png"))
    assert result.exit_code == 1
    assert "Error: --plot needs matplotlib: pip install 'mediamon[plot]'" in result.output
    assert not (tmp_path / "t.png").exists()
