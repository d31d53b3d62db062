"""Feed health over several runs: backoff, failing feeds, Retry-After, servers that answer 304
while their feed changes, the per-feed entry cap and the pages-per-run cap."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_FEEDS, rows, write_config
from typer.testing import CliRunner

from flows.cli.app import app
from flows.config import load_settings
from flows.demo.server import Answer, SiteServer
from flows.orchestration.monitor import due_feeds, monitor

pytestmark = [pytest.mark.e2e, pytest.mark.clock]  # clock: also run a year ahead

SLUGS = [
    "tesla-q3-deliveries",
    "kyiv-power-grid-winter",
    "moscow-central-bank-rate",
    "coral-reef-heat-study",
    "tallinn-tram-extension",
    "ruble-slides-sanctions",
    "harvest-festival-bakers",
    "orbital-telescope-first-light",
    "school-board-budget-vote",
    "city-council-bike-lanes",
    "kharkiv-reconstruction-schools",
    "herring-season-baltic-fishermen",
]


def rss(site: SiteServer, slugs: list[str], day0: int = 1) -> bytes:
    items = "".join(
        f"<item><title>{s}</title><link>{site.url(f'/articles/{s}.html')}</link>"
        f"<pubDate>Mon, {day0 + i:02d} Sep 2025 08:00:00 GMT</pubDate></item>"
        for i, s in enumerate(slugs)
    )
    return (
        f"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>{items}</channel></rss>"
    ).encode()


XML = (("Content-Type", "application/rss+xml"),)


def test_a_failing_feed_backs_off_is_marked_failing_and_recovers(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    db = tmp_path / "w.duckdb"
    down = {"on": True}
    site.route(
        "/feeds/flaky.xml",
        lambda path, headers: (
            Answer(503, b"down", ()) if down["on"] else Answer(200, rss(site, SLUGS[:1]), XML)
        ),
    )
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url("/feeds/flaky.xml"), site.url("/feeds/meridian.xml")],
        db=db,
        seeds=seeds_dir,
        network={"failing_after": 3, "max_backoff": "2h"},
    )
    cfg.write_text(cfg.read_text() + "[schedule]\nevery = '15m'\n")
    flaky = site.url("/feeds/flaky.xml")
    expected_wait = [900, 1800, 3600, 7200, 7200]  # 15m doubling, capped at max_backoff
    for n, wait in enumerate(expected_wait, start=1):
        summary = monitor(config=str(cfg))  # a plain run polls every feed
        ((state, failures, polled, not_before),) = rows(
            db,
            "SELECT state, consecutive_failures, last_polled_at, next_poll_at FROM feeds "
            "WHERE url = ?",
            [flaky],
        )
        assert failures == n
        assert state == ("failing" if n >= 3 else "backing_off")
        assert (not_before - polled).total_seconds() == pytest.approx(wait, abs=1)
    # never silently forgotten: the run summary and `status` show it
    attention = {f["url"]: f for f in summary["feeds_attention"]}
    assert attention[flaky]["state"] == "failing" and attention[flaky]["backing_off"]
    assert attention[flaky]["last_error"] == "http_503"
    out = CliRunner().invoke(app, ["status", "--config", str(cfg), "--format", "json"])
    assert out.exit_code == 0, out.output
    feeds = {f["url"]: f for f in json.loads(out.output)["feeds"]}
    assert feeds[flaky]["state"] == "failing" and feeds[flaky]["failures"] == 5

    # a scheduled run skips it while it backs off (the healthy feed is not due either: just polled)
    settings = load_settings(cfg)
    assert due_feeds(settings) == []
    before = len(site.paths("/feeds/flaky.xml"))
    monitor(config=str(cfg), due_only=True)
    assert len(site.paths("/feeds/flaky.xml")) == before

    # once the wait is over it is polled again; a success resets its health (a day later: the
    # healthy feed, which has published nothing for a week, is polled daily)
    down["on"] = False
    with duckdb.connect(str(db)) as con:
        con.execute(
            "UPDATE feeds SET next_poll_at = next_poll_at - INTERVAL 25 HOUR, "
            "last_polled_at = last_polled_at - INTERVAL 25 HOUR"
        )
    assert [f.url for f in due_feeds(settings)] == [flaky, site.url("/feeds/meridian.xml")]
    monitor(config=str(cfg), due_only=True)
    assert rows(
        db, "SELECT state, consecutive_failures, next_poll_at FROM feeds WHERE url = ?", [flaky]
    ) == [("ok", 0, None)]


def test_retry_after_is_honoured(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    db = tmp_path / "w.duckdb"
    site.route("/feeds/busy.xml", Answer(429, b"slow down", (("Retry-After", "7200"),)))
    asked = {"n": 0}

    def briefly_busy(path: str, headers: dict[str, str]) -> Answer:
        asked["n"] += 1
        if asked["n"] == 1:
            return Answer(503, b"", (("Retry-After", "1"),))
        return Answer(200, rss(site, SLUGS[:1]), XML)

    site.route("/feeds/brief.xml", briefly_busy)
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url("/feeds/busy.xml"), site.url("/feeds/brief.xml")],
        db=db,
        seeds=seeds_dir,
        network={"max_retry_after_seconds": 5},
    )
    summary = monitor(config=str(cfg))
    # a long Retry-After: the poll fails and the feed is not asked again before that time
    ((error, polled, not_before),) = rows(
        db,
        "SELECT last_error, last_polled_at, next_poll_at FROM feeds WHERE url = ?",
        [site.url("/feeds/busy.xml")],
    )
    assert error == "http_429"
    assert (not_before - polled).total_seconds() >= 7200
    assert len(site.paths("/feeds/busy.xml")) == 1
    # a short one is waited out within the run
    brief = [r for r in site.requests if r.path == "/feeds/brief.xml"]
    assert [r.status for r in brief] == [503, 200]
    assert summary["articles_new"] == 1


def test_an_unconditional_fetch_catches_a_server_that_hides_changes(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    """The server answers 304 to every conditional request, whatever its feed holds."""
    db = tmp_path / "w.duckdb"
    feed = {"slugs": SLUGS[:1]}

    def liar(path: str, headers: dict[str, str]) -> Answer:
        meta = (("ETag", '"v1"'), *XML)
        if "if-none-match" in headers:
            return Answer(304, b"", meta)
        return Answer(200, rss(site, feed["slugs"]), meta)

    site.route("/feeds/liar.xml", liar)
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url("/feeds/liar.xml")],
        db=db,
        seeds=seeds_dir,
        network={"unconditional_every": "6h"},
    )
    assert monitor(config=str(cfg))["articles_new"] == 1
    feed["slugs"] = SLUGS[:3]
    assert monitor(config=str(cfg))["feeds_not_modified"] == 1  # hidden behind 304
    with duckdb.connect(str(db)) as con:  # the last full fetch was long ago
        con.execute("UPDATE feeds SET last_unconditional_at = now() - INTERVAL 7 HOUR")
    summary = monitor(config=str(cfg))
    assert summary["articles_new"] == 2  # caught
    assert rows(db, "SELECT validators_unreliable FROM feeds") == [(True,)]
    assert summary["feeds_attention"][0]["validators_unreliable"]
    # from now on it is always fetched in full
    monitor(config=str(cfg))
    last = [r for r in site.requests if r.path == "/feeds/liar.xml"][-1]
    assert "if-none-match" not in last.headers and last.status == 200
    sent = rows(db, "SELECT conditional FROM feed_polls ORDER BY polled_at")
    assert sent == [(False,), (True,), (False,), (False,)]


def test_an_honest_feed_is_polled_conditionally_between_full_fetches(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    db = tmp_path / "w.duckdb"
    cfg = write_config(
        tmp_path / "c.toml", feeds=[site.url("/feeds/meridian.xml")], db=db, seeds=seeds_dir
    )
    monitor(config=str(cfg))
    monitor(config=str(cfg))
    with duckdb.connect(str(db)) as con:
        con.execute("UPDATE feeds SET last_unconditional_at = now() - INTERVAL 25 HOUR")
    monitor(config=str(cfg))
    monitor(config=str(cfg))
    polls = rows(db, "SELECT conditional, status FROM feed_polls ORDER BY polled_at")
    assert polls == [(False, "ok"), (True, "not_modified"), (False, "ok"), (True, "not_modified")]
    assert rows(db, "SELECT validators_unreliable FROM feeds") == [(False,)]


def test_entries_over_the_per_feed_cap_are_recorded_not_read(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    db = tmp_path / "w.duckdb"
    site.route("/feeds/long.xml", Answer(200, rss(site, SLUGS), XML))
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url("/feeds/long.xml")],
        db=db,
        seeds=seeds_dir,
        network={"max_entries_per_feed": 5},
    )
    summary = monitor(config=str(cfg))
    assert summary["items_seen"] == 5
    ((dropped, detail),) = rows(db, "SELECT entries_dropped, detail FROM feed_polls")
    assert dropped == 7 and "7 older entries" in detail
    fetched = sorted(p.removeprefix("/articles/") for p in site.paths("/articles/"))
    assert fetched == sorted(f"{s}.html" for s in SLUGS[-5:])  # the newest five


def test_pages_over_the_run_cap_wait_for_the_next_runs(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    db = tmp_path / "w.duckdb"
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url(f"/feeds/{f}") for f in DEMO_FEEDS],
        db=db,
        seeds=seeds_dir,
        network={"max_pages_per_run": 12},
    )
    first = monitor(config=str(cfg))
    # the demo feeds link 34 distinct URLs
    assert first["new_urls"] == 12 and first["pages_deferred"] == 22
    assert rows(db, "SELECT count(*) FROM pending_items") == [(22,)]
    second = monitor(config=str(cfg))  # the feeds answer 304: the work comes from the queue
    assert second["feeds_not_modified"] == 4
    assert second["new_urls"] == 12 and second["pages_deferred"] == 10
    third = monitor(config=str(cfg))
    assert third["new_urls"] == 10 and third["pages_deferred"] == 0
    assert rows(db, "SELECT count(*) FROM pending_items") == [(0,)]
    # what one uncapped run stores: 30 articles, each page fetched once
    assert rows(db, "SELECT count(*), count(DISTINCT url) FROM articles") == [(30, 30)]
    pages = [p for p in site.paths() if not p.startswith("/feeds/") and p != "/robots.txt"]
    assert len(pages) == len(set(pages))


def test_backoff_interval_of_a_feed_without_schedule(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    db = tmp_path / "w.duckdb"
    site.route("/feeds/gone.xml", Answer(404, b"", ()))
    cfg = write_config(
        tmp_path / "c.toml", feeds=[site.url("/feeds/gone.xml")], db=db, seeds=seeds_dir
    )
    monitor(config=str(cfg))
    ((polled, not_before),) = rows(db, "SELECT last_polled_at, next_poll_at FROM feeds")
    assert not_before - polled == timedelta(minutes=15)
