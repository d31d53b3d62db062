"""The feed registry: feeds added from the command line or an OPML file, kept in the warehouse.

The config's ``[[feeds]]`` stay the way to declare feeds in version control; the registry
(``feed_registry``, ``feed_groups``) holds the ones added with ``corpus-monitor feeds add`` and
``feeds import``. A run polls both. Where both name a feed (the same URL, or the same name) the
config wins, and a ``[groups.NAME]`` table in the config wins over the registry's group.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
from pydantic import ValidationError

from flows.config import FeedSettings, GroupSettings, Settings
from flows.errors import CorpusMonitorError
from flows.sources import cadence
from flows.sources.urls import canonical_url

SOURCES = ("config", "cli", "opml")


class RegistryError(CorpusMonitorError):
    """A feed cannot be added or removed as asked (exit code 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Entry:
    """A feed to add to the registry."""

    url: str
    name: str | None = None
    group: str | None = None
    every: int | None = None


def registered(
    con: duckdb.DuckDBPyConnection,
) -> tuple[list[tuple[FeedSettings, str]], dict[str, GroupSettings]]:
    """The registry's feeds (with their source) and groups."""
    feeds = []
    for url, name, group, every, source in con.execute(
        "SELECT url, name, group_name, every, source FROM feed_registry ORDER BY added_at, url"
    ).fetchall():
        try:
            feeds.append((FeedSettings(url=url, name=name, group=group, every=every), source))
        except ValidationError:  # written by hand, not by `feeds add`: not polled
            continue
    groups = {
        name: GroupSettings(every=every, topics=list(topics) if topics is not None else None)
        for name, every, topics in con.execute(
            "SELECT name, every, topics FROM feed_groups ORDER BY name"
        ).fetchall()
    }
    return feeds, groups


def merged(con: duckdb.DuckDBPyConnection, settings: Settings) -> Settings:
    """The settings with the registry's feeds and groups added (the config's come first and
    win where both name a feed or a group)."""
    feeds, _ = with_sources(con, settings)
    _, groups = registered(con)
    return settings.model_copy(
        update={
            "feeds": [f for f, _ in feeds],
            "groups": groups | dict(settings.groups),
        }
    )


def with_sources(
    con: duckdb.DuckDBPyConnection, settings: Settings
) -> tuple[list[tuple[FeedSettings, str]], list[tuple[FeedSettings, str]]]:
    """Every feed a run polls with its source (config, cli, opml), and the registry's feeds
    that the config overrides (same URL or name)."""
    out = [(f, "config") for f in settings.feeds]
    urls = {canonical_url(f.url) for f in settings.feeds}
    names = {f.name.casefold() for f in settings.feeds if f.name}
    shadowed = []
    feeds, _ = registered(con)
    for feed, source in feeds:
        if canonical_url(feed.url) in urls or (feed.name and feed.name.casefold() in names):
            shadowed.append((feed, source))
        else:
            out.append((feed, source))
    return out, shadowed


@dataclass
class Added:
    added: list[Entry]
    present: list[Entry]  # already in the registry (left as they were)
    in_config: list[Entry]  # declared in the config: the config wins
    groups_created: list[str]
    invalid: list[tuple[Entry, str]] = field(default_factory=list)  # (entry, why)


def add(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    entries: Sequence[Entry],
    source: str,
    at: datetime,
) -> Added:
    """Add feeds (and the groups they name) in one transaction. A URL already in the registry
    or the config is left as it is."""
    if source not in SOURCES[1:]:
        raise ValueError(source)
    # the same feed whatever the case of its host, its fragment or tracking parameters
    config_urls = {canonical_url(f.url) for f in settings.feeds}
    known = {canonical_url(u) for (u,) in con.execute("SELECT url FROM feed_registry").fetchall()}
    groups = {g for (g,) in con.execute("SELECT name FROM feed_groups").fetchall()}
    out = Added([], [], [], [])
    seen: set[str] = set()
    for e in entries:
        try:
            FeedSettings(url=e.url, name=e.name, every=e.every)
        except ValidationError as err:
            out.invalid.append((e, err.errors()[0]["msg"].removeprefix("Value error, ")))
            continue
        key = canonical_url(e.url)
        if key in config_urls:
            out.in_config.append(e)
        elif key in known or key in seen:
            out.present.append(e)
        else:
            seen.add(key)
            out.added.append(e)
            if e.group and e.group not in groups and e.group not in settings.groups:
                groups.add(e.group)
                out.groups_created.append(e.group)
    con.execute("BEGIN")
    try:
        for g in out.groups_created:
            con.execute("INSERT INTO feed_groups (name, created_at) VALUES (?, ?)", [g, at])
        for e in out.added:
            con.execute(
                "INSERT INTO feed_registry (url, name, group_name, every, source, added_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [e.url, e.name, e.group, e.every, source, at],
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return out


def remove(
    con: duckdb.DuckDBPyConnection, settings: Settings, which: str
) -> list[tuple[str, str | None]]:
    """Remove the registry feed with this URL or name (case-insensitive); returns (url, name)
    of what was removed. Its polling history stays in the warehouse."""
    rows = con.execute(
        "SELECT url, name FROM feed_registry WHERE url = ? OR lower(name) = lower(?)",
        [which, which],
    ).fetchall()
    if any(url == which for url, _ in rows):  # a URL names one feed, whatever the names say
        rows = [(url, name) for url, name in rows if url == which]
    if len(rows) > 1 and not any(url == which for url, _ in rows):
        raise RegistryError(
            f"{len(rows)} feeds are named {which!r}: remove one by its URL ("
            + ", ".join(url for url, _ in rows)
            + ")"
        )
    if not rows:
        if any(which in (f.url, f.name) for f in settings.feeds):
            raise RegistryError(
                f"{which} is declared in the config ([[feeds]]): remove it from the config file"
            )
        raise RegistryError(f"no feed {which!r} in the registry (see `corpus-monitor feeds list`)")
    con.execute("BEGIN")
    try:
        for url, _ in rows:
            con.execute("DELETE FROM feed_registry WHERE url = ?", [url])
        # a group no feed belongs to any more goes too, unless it was given settings
        con.execute(
            "DELETE FROM feed_groups WHERE every IS NULL AND topics IS NULL AND name NOT IN "
            "(SELECT group_name FROM feed_registry WHERE group_name IS NOT NULL)"
        )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return [(u, n) for u, n in rows]


def set_group(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    name: str,
    at: datetime,
    *,
    every: int | None = None,
    topics: list[str] | None = None,
) -> GroupSettings:
    """Set a registry group's interval (``every``: seconds, 0 for adaptive, None: unchanged)
    and topics (a list; [] for all topics; None: unchanged). The group is created if needed;
    a group of the config's [groups] is changed in the config."""
    if name in settings.groups:
        raise RegistryError(f"group {name!r} is defined in the config ([groups]): change it there")
    con.execute("BEGIN")
    try:
        con.execute(
            "INSERT INTO feed_groups (name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [name, at],
        )
        if every is not None:
            con.execute("UPDATE feed_groups SET every = ? WHERE name = ?", [every or None, name])
        if topics is not None:
            con.execute("UPDATE feed_groups SET topics = ? WHERE name = ?", [topics or None, name])
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    return registered(con)[1][name]


# ---------------------------------------------------------------------------------------------
# When each feed is polled next.


@dataclass(frozen=True)
class Timing:
    last_polled: datetime | None
    not_before: datetime | None  # backoff after failures / Retry-After
    ttl: int | None
    entry_times: list[datetime]  # of the adaptive window, and the oldest known
    since: datetime | None = None  # how far back the feed's history goes


def timings(con: duckdb.DuckDBPyConnection, now: datetime) -> dict[str, Timing]:
    """Per feed: last poll, backoff, the interval it asks for, its entry times of the adaptive
    window, and how far back its history goes (its first poll or its oldest dated entry)."""
    entries: dict[str, tuple[list[datetime], datetime]] = {}
    for url, recent, since, oldest in con.execute(
        """
        WITH e AS (
            SELECT feed_url, first_seen_at,
                   CASE WHEN published_at IS NOT NULL THEN least(published_at, first_seen_at)
                        -- undated: when first seen, except the backlog of the feed's first poll
                        WHEN first_seen_at > min(first_seen_at) OVER (PARTITION BY feed_url)
                        THEN first_seen_at END AS t
            FROM feed_entries)
        SELECT feed_url,
               list(t ORDER BY t) FILTER (WHERE t >= ?::TIMESTAMPTZ - to_seconds(?)),
               least(min(t), min(first_seen_at)), min(t)
        FROM e GROUP BY feed_url
        """,
        [now, int(cadence.WINDOW.total_seconds())],
    ).fetchall():
        times = [t for t in recent or [] if t is not None]
        if oldest is not None and oldest not in times:
            times.append(oldest)  # older than the window: the feed has a (quiet) history
        entries[url] = (times, since)
    out = {}
    for url, polled, not_before, ttl in con.execute(
        "SELECT url, last_polled_at, next_poll_at, ttl_seconds FROM feeds"
    ).fetchall():
        times, since = entries.get(url, ([], None))
        out[url] = Timing(polled, not_before, ttl, times, since)
    return out


def interval(
    settings: Settings, feed: FeedSettings, t: Timing | None, now: datetime
) -> cadence.Interval | None:
    """The feed's interval in scheduled runs; None: polled at every scheduled run."""
    every = settings.feed_every(feed)
    if every is None and not settings.cadence.adaptive:
        every = settings.schedule.every if settings.schedule is not None else None
        if every is None:
            return None
    return cadence.poll_interval(
        t.entry_times if t else [],
        now,
        since=t.since if t else None,
        every=every,
        ttl=t.ttl if t else None,
        min_every=settings.cadence.min_every,
        max_every=settings.cadence.max_every,
    )


def schedule(
    con: duckdb.DuckDBPyConnection, settings: Settings, feeds: Iterable[FeedSettings], now: datetime
) -> dict[str, cadence.Due]:
    """url -> when the feed is polled next, for the given feeds."""
    times = timings(con, now)
    out = {}
    for f in feeds:
        t = times.get(f.url)
        out[f.url] = cadence.next_poll(
            interval(settings, f, t, now), t.last_polled if t else None, t.not_before if t else None
        )
    return out
