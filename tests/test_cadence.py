"""The polling interval of a feed: fixed, or adapted to how often it publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.sources.cadence import feed_ttl, next_poll, per_day, poll_interval

pytestmark = pytest.mark.clock  # also run with the clock a year ahead

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = 3600


def hourly(hours: int, start: datetime = NOW) -> list[datetime]:
    return [start - timedelta(hours=h, minutes=10) for h in range(hours)]


def test_a_feed_that_publishes_hourly_is_polled_about_hourly() -> None:
    # a feed lists its latest 20 entries: the history begins with the oldest of them
    assert poll_interval(hourly(20), NOW).seconds == pytest.approx(H, rel=0.1)
    # a week of hourly entries
    assert poll_interval(hourly(24 * 7), NOW).seconds == pytest.approx(H, rel=0.1)


def test_a_feed_silent_for_a_week_is_polled_daily() -> None:
    old = hourly(50, NOW - timedelta(days=8))
    got = poll_interval(old, NOW)
    assert got.seconds == 86_400
    assert "no entry for 7d" in got.why


def test_a_feed_that_goes_quiet_is_polled_less_and_less_often() -> None:
    busy_then_quiet = hourly(100, NOW - timedelta(days=2))
    assert poll_interval(busy_then_quiet, NOW).seconds == 86_400  # quiet 2 days: max
    quiet_6h = hourly(100, NOW - timedelta(hours=6))
    assert poll_interval(quiet_6h, NOW).seconds == pytest.approx(3 * H, rel=0.05)


def test_a_feed_that_starts_publishing_again_is_polled_faster_at_once() -> None:
    history = hourly(10, NOW - timedelta(days=6))  # a burst six days ago, then silence
    assert poll_interval(history, NOW - timedelta(hours=20)).seconds == 86_400
    # half a day of hourly entries: their pace over the last day, not over the week
    assert poll_interval(history + hourly(12), NOW).seconds == pytest.approx(2 * H, rel=0.1)
    assert poll_interval(history + hourly(24), NOW).seconds == pytest.approx(H, rel=0.1)


def test_daily_publishing_means_daily_polling() -> None:
    daily = [NOW - timedelta(days=d, hours=3) for d in range(10)]
    assert poll_interval(daily, NOW).seconds == 86_400


def test_bounds_ttl_and_fixed_intervals() -> None:
    every_minute = [NOW - timedelta(minutes=m) for m in range(200)]
    got = poll_interval(every_minute, NOW)
    assert got.seconds == 300 and "bounded" in got.why
    assert poll_interval(every_minute, NOW, min_every=60).seconds == 60
    # the feed's own <ttl> is a floor
    assert poll_interval(hourly(48), NOW, ttl=2 * H).seconds == 2 * H
    assert poll_interval(hourly(48), NOW, ttl=60).seconds == pytest.approx(H, rel=0.1)
    # ... but max_every stays the ceiling
    assert poll_interval(hourly(48), NOW, ttl=7 * 86_400).seconds == 86_400
    # a fixed interval wins over everything
    got = poll_interval(hourly(48), NOW, every=900, ttl=2 * H)
    assert (got.seconds, got.why) == (900, "every 15m")


def test_undated_entries_count_from_the_poll_that_first_saw_them() -> None:
    # nothing known yet: hourly until the feed shows its pace
    assert poll_interval([], NOW).seconds == H
    # 24 new entries found by one poll, a day after the first poll: one an hour
    first_poll = NOW - timedelta(days=1)
    batch = [NOW - timedelta(minutes=1)] * 24
    assert poll_interval(batch, NOW, since=first_poll).seconds == pytest.approx(H, rel=0.05)


def test_feed_ttl_reads_ttl_and_syndication_module() -> None:
    assert feed_ttl({"ttl": "60"}) == 3600
    assert feed_ttl({"sy_updateperiod": "hourly", "sy_updatefrequency": "2"}) == 1800
    assert feed_ttl({"sy_updateperiod": "daily"}) == 86_400
    assert feed_ttl({"ttl": "30", "sy_updateperiod": "hourly"}) == 3600  # the longer one
    assert feed_ttl({"ttl": "soon", "sy_updateperiod": "fortnightly"}) is None
    assert feed_ttl({}) is None


def test_next_poll_and_backoff() -> None:
    interval = poll_interval(hourly(48), NOW)
    due = next_poll(interval, NOW - timedelta(minutes=30), None)
    assert not due.due(NOW) and due.due(NOW + timedelta(minutes=31))
    # a backoff after failures decides alone
    backing = next_poll(interval, NOW - timedelta(hours=5), NOW + timedelta(hours=2))
    assert backing.backing_off and not backing.due(NOW)
    assert next_poll(interval, None, None).due(NOW)  # never polled


def test_entries_per_day() -> None:
    assert per_day(hourly(20), NOW) == pytest.approx(24, rel=0.1)
    assert per_day(hourly(5, NOW - timedelta(days=9)), NOW) == 0.0
    assert per_day([], NOW) is None
