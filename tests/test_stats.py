"""`mediamon stats`: counts over time, top outlets and languages, chart and plot."""

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
from mediamon.desk.stats import bar, chart, collect, sparkline
from mediamon.store.sqlite import Store

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
    none = json.loads(invoke(demo_db, "stats", *PERIOD, "--topic", "no-such", "--json").stdout)
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


def test_plot_without_matplotlib_says_how_to_install(demo_db: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Without matplotlib, --plot fails with one line naming the extra to install."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke(demo_db, "stats", *PERIOD, "--plot", str(tmp_path / "t.png"))
    assert result.exit_code == 1
    assert "Error: --plot needs matplotlib: pip install 'mediamon[plot]'" in result.output
    assert not (tmp_path / "t.png").exists()
    assert "Kept items per" not in result.output  # checked before any work


@pytest.mark.parametrize("name", ["t.jpg", "t.gif", "t", "t.png.txt"])
def test_plot_format_is_checked_before_any_work(demo_db: Path, tmp_path: Path,
                                                name: str) -> None:
    """--plot with a file type that cannot be drawn is a usage error (exit 2) naming the
    supported formats, before the chart is printed or the database read."""
    result = invoke(demo_db, "stats", *PERIOD, "--plot", str(tmp_path / name))
    assert result.exit_code == 2, result.output
    assert "Kept items per" not in result.output and "Traceback" not in result.output
    assert "supported: .png, .svg" in result.output
    assert len(result.output.strip().splitlines()[-1]) > 20  # the reason, in one line
    assert not (tmp_path / name).exists()


def test_the_bucket_follows_the_period(demo_db: Path) -> None:
    """Without --by, the period picks hours (up to 3 days), days (up to 2 months), weeks (up
    to 2 years) or months, so a long period is not hundreds of rows; --by wins."""
    def timeline(*args: str) -> tuple[str, list[dict]]:
        result = invoke(demo_db, "stats", *args, "--json")
        assert result.exit_code == 0, result.output
        data = json.loads(result.output)
        return data["by"], data["timeline"]

    by, rows = timeline("--since", "2025-07-03", "--until", "2025-07-05")
    assert by == "hour" and len(rows) == 48 and rows[0]["period"] == "2025-07-03T00:00"
    day = dict(query(demo_db, "SELECT strftime('%Y-%m-%dT%H:00', published), count(*) FROM "
                              "items WHERE kept = 1 AND published >= '2025-07-03' AND "
                              "published < '2025-07-05' GROUP BY 1"))
    assert {r["period"]: r["items"] for r in rows if r["items"]} == day
    assert timeline(*PERIOD)[0] == "day"
    by, rows = timeline("--since", "2024-02-01", "--until", "2025-08-01")  # 547 days
    assert by == "week" and len(rows) <= 80
    assert sum(r["items"] for r in rows) == query(
        demo_db, "SELECT count(*) FROM items WHERE kept = 1 AND published >= '2024-02-01' "
                 "AND published < '2025-08-01'")[0][0]
    by, rows = timeline("--since", "2020-01-01", "--until", "2025-08-01")
    assert by == "month" and rows[0]["period"] == "2020-01-01" and len(rows) == 67
    months = dict(query(demo_db, "SELECT strftime('%Y-%m-01', published), count(*) FROM items "
                                 "WHERE kept = 1 AND published >= '2020-01-01' AND "
                                 "published < '2025-08-01' GROUP BY 1"))
    assert months and {r["period"]: r["items"] for r in rows if r["items"]} == months
    by, rows = timeline("--since", "2024-02-01", "--until", "2025-08-01", "--by", "day")
    assert by == "day" and len(rows) == 547


def test_too_many_periods_is_a_usage_error(demo_db: Path) -> None:
    """--by hour over years would be tens of thousands of rows: refused in one line."""
    result = invoke(demo_db, "stats", "--since", "2020-01-01", "--until", "2025-01-01",
                    "--by", "hour")
    assert result.exit_code == 1 and "periods" in result.output
    assert "Traceback" not in result.output


def test_sparklines_say_which_periods_they_leave_out(demo_db: Path) -> None:
    """When an outlet's sparkline cannot show every period, the chart says which ones it
    shows; when it can, it shows them all."""
    store = Store(demo_db, readonly=True)
    try:
        long = collect(store, now=NOW, since=datetime(2025, 1, 1, tzinfo=UTC), by="day",
                       by_outlet=True)
        short = collect(store, now=NOW, since=datetime(2025, 6, 30, tzinfo=UTC),
                        by_outlet=True)
    finally:
        store.close()
    assert len(long.periods) == 187
    text = chart(long, width=80)
    assert max(len(line) for line in text.splitlines()) <= 80
    note, sparks = by_outlet_section(text)
    shown = len(sparks[0].split()[-1])
    assert 20 < shown < 187 and all(len(line.split()[-1]) == shown for line in sparks)
    assert f"the last {shown} of 187 days, from {long.periods[-shown]}" in note
    note, sparks = by_outlet_section(chart(short, width=80))
    assert note.endswith("(oldest left)")
    assert all(len(line.split()[-1]) == len(short.periods) for line in sparks)


def by_outlet_section(text: str) -> tuple[str, list[str]]:
    """The heading of the chart's by-outlet section and its sparkline lines."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "by outlet" in line)
    end = lines.index("", start)
    return lines[start], lines[start + 1:end]
