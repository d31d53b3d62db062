"""How often a feed is polled in scheduled runs (``run --due-only``).

A feed's own ``every`` wins, then its group's. Otherwise the interval adapts to how often the
feed publishes: the mean gap between its entries over the last day, or over the last seven days
when that is shorter (entry dates, or for undated entries the time a poll first saw them: a
batch of undated entries found at once counts as spread since the poll before), stretched
while the feed stays quiet, never
shorter than the feed's own ``<ttl>`` or ``sy:updatePeriod`` / ``sy:updateFrequency``, and
bounded by ``[cadence] min_every`` and ``max_every`` (5 minutes and 24 hours by default).
Failures are handled apart: after an error the exponential backoff (``feeds.next_poll_at``)
decides when the feed is polled again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

WINDOW = timedelta(days=7)  # the publishing history an adaptive interval is computed from
HORIZONS = (timedelta(days=1), WINDOW)  # the faster pace of the two counts
UNKNOWN_RATE = 3600  # no dated entry and no new entry seen yet: poll hourly until one shows
EARLY = 30  # seconds: a scheduled tick this early still counts (scheduling jitter)

_PERIODS = {"hourly": 3600, "daily": 86_400, "weekly": 7 * 86_400, "monthly": 30 * 86_400}
_PERIODS["yearly"] = 365 * 86_400


@dataclass(frozen=True)
class Interval:
    """A feed's polling interval and, for people reading `feeds list`, where it comes from."""

    seconds: int
    why: str


def feed_ttl(feed: Mapping[str, Any]) -> int | None:
    """The shortest interval a feed asks to be polled at, in seconds, from feedparser's channel
    data: RSS ``<ttl>`` (minutes) and ``sy:updatePeriod`` / ``sy:updateFrequency`` (times per
    period). The longer of the two when both are given; None when neither is usable."""
    asked = []
    ttl = str(feed.get("ttl") or "").strip()
    if ttl.isdigit() and int(ttl) > 0:
        asked.append(int(ttl) * 60)
    period = _PERIODS.get(str(feed.get("sy_updateperiod") or "").strip().lower())
    if period is not None:
        freq = str(feed.get("sy_updatefrequency") or "1").strip()
        n = int(freq) if freq.isdigit() and int(freq) > 0 else 1
        asked.append(period // n)
    return min(max(asked), 365 * 86_400) if asked else None


def _span(seconds: float) -> str:
    if seconds >= 86_400 and seconds % 86_400 == 0:
        return f"{int(seconds // 86_400)}d"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f}h".replace(".0h", "h")
    return f"{round(seconds / 60)}m"


def poll_interval(
    entry_times: Sequence[datetime],
    now: datetime,
    *,
    since: datetime | None = None,
    every: int | None = None,
    ttl: int | None = None,
    min_every: int = 300,
    max_every: int = 86_400,
) -> Interval:
    """The interval between two polls of a feed.

    ``entry_times``: when the feed's entries were published (for an undated entry, when a poll
    first saw it; undated entries of a feed's first poll are left out: they say nothing about
    its pace). ``since``: how far back the history goes (the first poll, or the oldest dated
    entry; default: the oldest entry time): a feed lists only its latest entries, so a new
    feed's pace is measured over what it lists. ``every``: a fixed interval (the feed's or its
    group's), used as it is.
    """
    if every is not None:
        return Interval(every, f"every {_span(every)}")
    start = min([*entry_times, *([since] if since else [])], default=now)
    recent = sorted(t for t in entry_times if now - WINDOW <= t <= now)
    if recent:
        paces = []
        for horizon in HORIZONS:
            n = sum(1 for t in recent if t >= now - horizon)
            covered = max((now - max(now - horizon, start)).total_seconds(), 60.0)
            if n:
                paces.append((covered / n, n, covered))
        gap, n, covered = min(paces)
        quiet = (now - recent[-1]).total_seconds()
        seconds = max(gap, quiet / 2)  # a feed that went quiet is polled less and less often
        why = f"{n} entries in {_span(covered)}"
        if quiet / 2 > gap:
            why += f", none for {_span(quiet)}"
    elif entry_times:
        seconds, why = max_every, f"no entry for {_span(WINDOW.total_seconds())}"
    else:
        seconds, why = UNKNOWN_RATE, "no dated entry yet"
    if ttl is not None and ttl > seconds:
        seconds, why = ttl, f"{why}; the feed asks for {_span(ttl)}"
    bounded = int(min(max(seconds, min_every), max_every))
    if bounded != int(seconds):
        why += f" (bounded to {_span(bounded)})"
    return Interval(bounded, f"adaptive: {why}")


def per_day(
    entry_times: Sequence[datetime], now: datetime, since: datetime | None = None
) -> float | None:
    """Entries a day over the adaptive window (or the shorter history there is)."""
    start = now - WINDOW
    recent = [t for t in entry_times if start <= t <= now]
    if not recent:
        return 0.0 if entry_times else None
    first = min([*entry_times, *([since] if since else [])])
    covered = max((now - max(start, first)).total_seconds(), 3600)
    return round(len(recent) * 86_400 / covered, 1)


@dataclass(frozen=True)
class Due:
    """When a feed is polled next in scheduled runs, and whether it is due now."""

    interval: Interval | None  # None: polled at every scheduled run
    next_poll: datetime | None  # None: now (never polled, or no interval)
    backing_off: bool

    def due(self, now: datetime) -> bool:
        return self.next_poll is None or (self.next_poll - now).total_seconds() <= EARLY


def next_poll(
    interval: Interval | None, last_polled: datetime | None, not_before: datetime | None
) -> Due:
    """A failing feed waits for its backoff (``not_before``: after errors or a Retry-After);
    a healthy one for its interval since its last poll."""
    if not_before is not None:
        return Due(interval, not_before, True)
    if interval is None or last_polled is None:
        return Due(interval, None, False)
    return Due(interval, last_polled + timedelta(seconds=interval.seconds), False)
