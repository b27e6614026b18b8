"""The poll interval the user wrote is honoured, and `mediamon status` says which rule chose
each feed's interval; durations are shown without misleading rounding; a body that fails to
parse is called a parse error, not "error 200"."""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedserver import FeedServer, config_text, rss
from mediamon.cli import cli
from mediamon.clock import duration
from mediamon.config import load_config
from mediamon.core.policy import DAY, Limits, adaptive_interval, effective_interval, plan_next
from mediamon.errors import ConfigError
from mediamon.pipeline import limits_of

NOW = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def schedule_of(tmp_path: Path, schedule: str) -> Limits:
    path = tmp_path / "mediamon.toml"
    path.write_text(config_text(str(tmp_path / "m.db"), [], schedule=schedule),
                    encoding="utf-8")
    return limits_of(load_config(path))


# -- the rule: a written interval is never exceeded on its own account ------------------------


def test_a_written_interval_bounds_the_adaptive_schedule(tmp_path: Path) -> None:
    """`interval = "1m"` with no bounds: a feed whose items are all old is polled every
    minute, not every 24 hours."""
    limits = schedule_of(tmp_path, 'interval = "1m"')
    assert (limits.min_interval, limits.max_interval) == (60, 60)
    assert adaptive_interval(0.0, limits) == 60  # no new items for a week
    assert adaptive_interval(None, limits) == 60  # no dates at all


@pytest.mark.parametrize(("schedule", "bounds"), [
    ("", (300, DAY)),                                    # nothing written: 5m to 24h
    ('interval = "10m"', (300, 600)),                    # busy feeds sooner, never later
    ('interval = "1h"\nmax_interval = "1d"', (300, DAY)),  # the user widened it
    ('interval = "2m"\nmin_interval = "1m"', (60, 120)),
    ('max_interval = "2m"', (120, 120)),                 # the default interval is clamped
])
def test_the_adaptive_range_follows_what_was_written(tmp_path: Path, schedule: str,
                                                     bounds: tuple[float, float]) -> None:
    """min_interval and max_interval default from what the user wrote."""
    limits = schedule_of(tmp_path, schedule)
    assert (limits.min_interval, limits.max_interval) == bounds


@pytest.mark.parametrize(("schedule", "message"), [
    ('interval = "1m"\nmin_interval = "10m"',
     "schedule.interval: 1m is shorter than min_interval (10m)"),
    ('interval = "2h"\nmax_interval = "1h"',
     "schedule.interval: 2h is longer than max_interval (1h)"),
    ('min_interval = "2h"\nmax_interval = "1h"',
     "schedule.min_interval: 2h is longer than max_interval (1h)"),
])
def test_contradictory_schedules_are_config_errors(tmp_path: Path, schedule: str,
                                                   message: str) -> None:
    """An interval outside the bounds the user also wrote is a mistake to report."""
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        schedule_of(tmp_path, schedule)


# -- the words status shows ---------------------------------------------------------------------


LIMITS = Limits(min_interval=300, max_interval=DAY, default_interval=1800, jitter=0)


def test_adaptive_rule_explains_the_interval() -> None:
    """The adaptive interval comes with the rate that chose it and the range."""
    from mediamon.core.policy import adaptive_rule

    assert adaptive_rule(8, LIMITS) == (10800, "adaptive 3h (8 items/day), within 5m–24h")
    assert adaptive_rule(0.0, LIMITS) == (
        DAY, "adaptive 24h (no new items in 7 days), within 5m–24h")
    assert adaptive_rule(None, LIMITS) == (
        1800, "schedule interval 30m (no dated items yet), within 5m–24h")
    assert adaptive_rule(0.5, LIMITS)[1].startswith("adaptive 24h (3.5 items/week)")
    fixed = Limits(min_interval=60, max_interval=60, default_interval=60)
    assert adaptive_rule(0.0, fixed) == (60, "schedule interval 1m")


def test_effective_interval_names_its_rule() -> None:
    """Pinned, adaptive, or a server's hint over the adaptive interval, in one line."""
    from mediamon.core.policy import adaptive_rule

    adaptive, why = adaptive_rule(96, LIMITS)
    assert effective_interval(pinned=60, adaptive=adaptive, floor=0, limits=LIMITS,
                              adaptive_why=why) == (60, "pinned 1m")
    assert effective_interval(pinned=None, adaptive=adaptive, floor=3600, limits=LIMITS,
                              adaptive_why=why, hint_source="ttl") == (
        3600, "server hint 1h (ttl) over adaptive 15m (96 items/day), within 5m–24h")


def test_interval_rule_from_what_the_database_keeps() -> None:
    """`status` rebuilds the rule from the stored state: a hint from response headers is
    not stored, so an interval in use above what the rest explains is shown as one."""
    from mediamon.core.policy import interval_rule

    assert interval_rule(pinned=60, rate_per_day=500, body_hint=None, current=60,
                         limits=LIMITS) == "pinned 1m"
    assert interval_rule(pinned=None, rate_per_day=8, body_hint=None, current=10800,
                         limits=LIMITS) == "adaptive 3h (8 items/day), within 5m–24h"
    assert interval_rule(pinned=None, rate_per_day=96, body_hint=3600, current=3600,
                         limits=LIMITS).startswith("server hint 1h (ttl) over adaptive 15m")
    assert interval_rule(pinned=None, rate_per_day=96, body_hint=None, current=7200,
                         limits=LIMITS).startswith("server hint 2h (Cache-Control)")


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (45, "45s"), (90, "1m30s"), (119, "1m59s"), (120, "2m"), (150, "2m30s"),
    (3599, "59m59s"), (3600, "1h"), (5400, "1h30m"), (52_000, "14h27m"), (DAY, "24h"),
    (3 * DAY, "3d"), (2.5 * DAY, "2.5d"), (12 * DAY, "12d"),
])
def test_durations_are_not_rounded_misleadingly(seconds: float, text: str) -> None:
    """A Retry-After of 90 s is "1m30s", never "2m"; whole units show no decimals."""
    assert duration(seconds) == text


def test_a_retry_after_of_90_seconds_says_so() -> None:
    """The reason for the next poll gives the wait the server asked for, to the second."""
    plan = plan_next(NOW, "error", interval=60, failures=1, retry_after=90,
                     error="HTTP 429 Too Many Requests", rng=random.Random(1))
    assert plan.next_fetch == NOW + timedelta(seconds=90)
    assert plan.reason == ("server asked to wait 1m30s (Retry-After): "
                           "HTTP 429 Too Many Requests")


# -- end to end: run --once, then status --------------------------------------------------------


def dated(n: int, every: timedelta, newest: datetime) -> list[tuple[str, str]]:
    from email.utils import format_datetime

    return [(f"i{k}", format_datetime(newest - k * every, usegmt=True)) for k in range(n)]


def test_status_shows_the_rule_and_the_interval_written_is_kept(feed_server: FeedServer,
                                                                 tmp_path: Path) -> None:
    """With `[schedule] interval = "1m"`: a feed whose items are a year old is polled again
    a minute later; a feed's own interval pins it; a busy feed under a wider range is
    adaptive; a body that is not a feed is a parse error; a Retry-After of 90 s shows as
    1m30s. `status` names the rule of each."""
    now = datetime.now(UTC)
    old = now - timedelta(days=365)
    feed_server.add("/old.xml", rss("Old", dated(3, timedelta(days=1), old)))
    feed_server.add("/pinned.xml", rss("Pinned", dated(3, timedelta(days=1), old)))
    feed_server.add("/bad.xml", b"this is not a feed", content_type="application/rss+xml")
    feed_server.add_route("/busy.xml", lambda h: h.respond(
        429, {"Retry-After": "90"}, b""))
    # Retry-After holds every feed of its host: the busy feed is on another host name.
    busy = feed_server.url("/busy.xml").replace("127.0.0.1", "localhost")
    config = tmp_path / "mediamon.toml"
    config.write_text(
        config_text(str(tmp_path / "m.db"), [feed_server.url("/old.xml"),
                                             feed_server.url("/bad.xml"), busy],
                    schedule='interval = "1m"')
        + f'[[feeds]]\nurl = "{feed_server.url("/pinned.xml")}"\ninterval = "45s"\n',
        encoding="utf-8")
    runner = CliRunner()
    ran = runner.invoke(cli, ["--config", str(config), "run", "--once"])
    assert ran.exit_code in (0, 1), ran.output
    status = runner.invoke(cli, ["--config", str(config), "status", "--json"])
    assert status.exit_code == 0, status.output
    rows = {r["url"].rsplit("/", 1)[1]: r for r in json.loads(status.stdout)}

    def wait(name: str) -> float:
        when = datetime.fromisoformat(rows[name]["next_fetch"])
        return (when - now).total_seconds()

    assert rows["old.xml"]["poll_interval"] == 60 and 0 < wait("old.xml") <= 62
    assert rows["old.xml"]["interval_rule"] == "schedule interval 1m"
    assert rows["pinned.xml"]["poll_interval"] == 45 and 0 < wait("pinned.xml") <= 47
    assert rows["pinned.xml"]["interval_rule"] == "pinned 45s"
    assert rows["bad.xml"]["last_result"] == "parse error (HTTP 200)"
    assert rows["busy.xml"]["why"] == ("server asked to wait 1m30s (Retry-After): "
                                       "HTTP 429 Too Many Requests")
    assert 85 <= wait("busy.xml") <= 92
    table = runner.invoke(cli, ["--config", str(config), "status"]).stdout
    assert "parse error (HTTP 200)" in table and "error 200" not in table
    assert "pinned 45s" in table and "schedule interval 1m" in table
    assert "1m30s" in table


def test_status_shows_an_adaptive_interval_with_its_rate_and_range(
        feed_server: FeedServer, tmp_path: Path) -> None:
    """A feed publishing about every 10 minutes under `interval = "1h"`: adaptive, polled
    about every 10 minutes, and status says so with the rate and the range it moved in."""
    now = datetime.now(UTC)
    feed_server.add("/busy.xml", rss("Busy", dated(30, timedelta(minutes=10), now)))
    config = tmp_path / "mediamon.toml"
    config.write_text(config_text(str(tmp_path / "m.db"), [feed_server.url("/busy.xml")],
                                  schedule='interval = "1h"'), encoding="utf-8")
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "run", "--once"]).exit_code == 0
    row = json.loads(runner.invoke(cli, ["--config", str(config), "status", "--json"])
                     .stdout)[0]
    assert row["poll_interval"] == pytest.approx(600, rel=0.05)
    assert re.fullmatch(r"adaptive (9m\d+s|10m|10m\d+s) \(1\d\d items/day\), within 5m–1h",
                        row["interval_rule"]), row["interval_rule"]
