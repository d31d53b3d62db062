"""The real flow, end to end: loopback site → Prefect run → DuckDB file."""

from __future__ import annotations

import gzip
import socket
from pathlib import Path

import pytest
from conftest import rows, write_config

from flows.demo.server import Answer, SiteServer, demo_instant
from flows.orchestration.monitor import monitor
from flows.sources.urls import article_id

pytestmark = pytest.mark.e2e

SEED = "seed:000_49a07f57f149fd30"


def one(db: Path, sql: str, params: list | None = None):
    return rows(db, sql, params)[0][0]


def aid(site: SiteServer, slug: str) -> str:
    return article_id(site.url(f"/articles/{slug}.html"))


@pytest.mark.clock
def test_demo_site_end_to_end(prefect, demo_config: Path, site: SiteServer, tmp_path: Path) -> None:
    db = tmp_path / "corpus.duckdb"
    summary = monitor(config=str(demo_config))
    assert summary["status"] == "completed"
    assert summary["feeds_polled"] == 4 and summary["feeds_failed"] == 0
    assert summary["seed_copies"] == 1  # the seed copy under another outlet's chrome

    # 31 article pages on the site; the cookie wall has no article in it.
    assert one(db, "SELECT count(*) FROM articles") == 30
    assert one(db, "SELECT count(*) FROM articles WHERE length(text) < 500 OR title IS NULL") == 0
    assert one(db, "SELECT count(*) FROM articles WHERE published_at IS NULL") == 0
    assert one(db, "SELECT count(DISTINCT url) FROM articles") == 30
    # every date as the site states it on the day it is served; the pages without a date of
    # their own get the feed entry's ("the 2027 budget" in a teaser is not a date)
    dated = dict(rows(db, "SELECT url, published_at FROM articles"))
    for slug, days, hour, minute in [
        ("prisoner-exchange-russia-ukraine", -1, 16, 20),  # the newest: from the page
        ("tesla-berlin-output", -72, 7, 45),  # the oldest
        ("harvest-festival-bakers", -38, 7, 0),  # the next three from their feed entries
        ("northgate-united-derby-win", -46, 3, 55),
        ("herring-season-baltic-fishermen", -60, 8, 0),
    ]:
        expected = demo_instant(days, hour, minute, today=site.today)
        assert dated[site.url(f"/articles/{slug}.html")] == expected, slug
    # each text's length is stored with it (the feed-health check reads that, not the texts)
    assert one(db, "SELECT count(*) FROM articles WHERE text_chars = length(text)") == 30
    assert (
        one(
            db,
            "SELECT count(*) FROM articles WHERE url LIKE '%utm_%' OR url LIKE '%fbclid%' "
            "OR url LIKE '%#%'",
        )
        == 0
    )
    # metadata comes from the page; the feed fills the byline a page lacks
    title, author, site_name, lang = rows(
        db,
        "SELECT title, author, site_name, language FROM articles WHERE article_id = ?",
        [aid(site, "grain-corridor-odesa-shipments")],
    )[0]
    assert site_name == "Northgate Tribune" and lang == "en" and "grain exports" in title
    assert author  # the page has no byline: the Atom entry's author fills it

    # chrome is not text
    assert (
        one(
            db,
            "SELECT count(*) FROM articles WHERE text ILIKE '%newsletter%' "
            "OR text ILIKE '%we use cookies%'",
        )
        == 0
    )

    # the seed copy under another outlet's chrome, the syndicated copy, the quoting article
    status, dup_of, sim = rows(
        db,
        "SELECT dedup_status, duplicate_of, similarity FROM articles WHERE article_id = ?",
        [aid(site, "musk-urges-dialogue-washington-moscow")],
    )[0]
    assert status in ("near_duplicate", "exact_duplicate") and dup_of == SEED and sim > 0.9
    status, dup_of = rows(
        db,
        "SELECT dedup_status, duplicate_of FROM articles WHERE article_id = ?",
        [aid(site, "tesla-berlin-output-syndicated")],
    )[0]
    assert (status, dup_of) == ("near_duplicate", aid(site, "tesla-berlin-output"))
    # a story cluster holds the original and its copies
    assert one(
        db,
        "SELECT cluster_id FROM articles WHERE article_id = ?",
        [aid(site, "tesla-berlin-output-syndicated")],
    ) == aid(site, "tesla-berlin-output")
    assert one(db, "SELECT count(*) FROM articles WHERE cluster_id = ?", [SEED]) == 1
    assert one(db, "SELECT count(DISTINCT cluster_id) FROM articles") == 29
    assert (
        one(
            db,
            "SELECT dedup_status FROM articles WHERE article_id = ?",
            [aid(site, "sanctions-fatigue-russia-economy-analysis")],
        )
        == "unique"
    )

    # one article, every feed it appeared in (one link carried utm_* parameters)
    feeds = rows(
        db,
        "SELECT feed_url, entry_url FROM article_feeds WHERE article_id = ? ORDER BY 1",
        [aid(site, "starlink-ukraine-terminals")],
    )
    assert [f for f, _ in feeds] == [
        site.url("/feeds/meridian.xml"),
        site.url("/feeds/topics-musk.xml"),
    ]
    assert any("utm_source" in e for _, e in feeds)

    # the redirect lands under its final URL; the slow page arrives
    assert (
        one(
            db,
            "SELECT count(*) FROM articles WHERE url = ?",
            [site.url("/articles/tallinn-tram-extension.html")],
        )
        == 1
    )
    assert (
        one(
            db,
            "SELECT count(*) FROM articles WHERE url = ?",
            [site.url("/articles/coral-reef-heat-study.html")],
        )
        == 1
    )

    # every failure has a row with its stage and reason
    failures = set(rows(db, "SELECT stage, reason FROM fetch_errors"))
    assert failures == {
        ("page", "http_404"),
        ("page", "http_500"),
        ("page", "not_html"),
        ("extract", "empty_extraction"),
    }
    # topics are computed at load time
    assert (
        one(
            db,
            "SELECT mentions FROM article_topics WHERE article_id = ? AND topic = 'musk'",
            [aid(site, "musk-urges-dialogue-washington-moscow")],
        )
        >= 2
    )

    # the run's summary and its new articles are artifacts in Prefect, under stable keys
    from prefect.artifacts import Artifact

    summary_artifact = Artifact.get("corpus-monitor-run-summary")
    assert summary_artifact is not None and "| new articles | 30 |" in str(summary_artifact.data)
    table = Artifact.get("corpus-monitor-new-articles")
    assert table is not None and "musk-urges-dialogue-washington-moscow" in str(table.data)

    # a second run: every feed answers 304, no page is requested, no row is added
    before = {
        t: one(db, f"SELECT count(*) FROM {t}")
        for t in ("articles", "article_feeds", "article_topics", "seen_urls", "dedup_lsh")
    }
    n_requests = len(site.requests)
    second = monitor(config=str(demo_config))
    new_requests = site.requests[n_requests:]
    assert sorted(r.path for r in new_requests) == sorted(
        f"/feeds/{f}" for f in ("meridian.xml", "northgate.atom", "baltic.xml", "topics-musk.xml")
    )
    assert {r.status for r in new_requests} == {304}
    assert second["feeds_not_modified"] == 4 and second["articles_new"] == 0
    after = {t: one(db, f"SELECT count(*) FROM {t}") for t in before}
    assert after == before
    assert one(db, "SELECT count(*) FROM runs WHERE status = 'completed'") == 2


def test_changed_feed_fetches_only_the_new_entry(
    prefect, demo_config: Path, site: SiteServer, tmp_path: Path
) -> None:
    monitor(config=str(demo_config))
    feed = site.root / "feeds" / "meridian.xml"
    xml = feed.read_text(encoding="utf-8")
    new_item = (
        "<item><title>Extra</title><link>{{BASE_URL}}/articles/extra.html?utm_source=x</link>"
        "<pubDate>{{DATE -1 10:00 rfc822}}</pubDate></item>"
    )
    feed.write_text(xml.replace("<item>", new_item + "<item>", 1), encoding="utf-8")
    page = (site.root / "articles" / "tesla-q3-deliveries.html").read_text(encoding="utf-8")
    (site.root / "articles" / "extra.html").write_text(
        page.replace("Tesla", "Rivian").replace("deliveries", "shipments"), encoding="utf-8"
    )
    n = len(site.requests)
    summary = monitor(config=str(demo_config))
    pages = [r.path for r in site.requests[n:] if not r.path.startswith("/feeds/")]
    # the new entry, and the page that failed with a transient 500 (retried); the 404 and the
    # PDF in the same feed failed for good and are not asked for again
    assert sorted(pages) == ["/articles/extra.html", "/broken/markets-live.html"]
    db = tmp_path / "corpus.duckdb"
    attempts = dict(rows(db, "SELECT url, attempts FROM seen_urls"))
    assert attempts[site.url("/broken/markets-live.html")] == 2
    assert attempts[site.url("/articles/tesla-q3-deliveries.html")] == 1  # seen again, not fetched
    assert summary["articles_new"] == 1 and summary["feeds_not_modified"] == 3


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_every_failure_kind_is_recorded(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    site.route(
        "/page/timeout.html",
        Answer(200, b"<html>late</html>", (("Content-Type", "text/html"),), delay=3),
    )
    site.route(
        "/page/huge.html",
        Answer(200, b"<html><body>" + b"x" * 300_000, (("Content-Type", "text/html"),)),
    )
    bomb = gzip.compress(b"<html><body>" + b" " * 2_000_000)  # ~2 KB on the wire, 2 MB inflated
    site.route(
        "/page/bomb.html",
        Answer(200, bomb, (("Content-Type", "text/html"), ("Content-Encoding", "gzip"))),
    )
    site.route("/page/loop.html", Answer(302, b"", (("Location", "/page/loop.html"),)))
    site.route(
        "/page/image.png",
        Answer(200, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, (("Content-Type", "image/png"),)),
    )
    site.route(
        "/feeds/html.xml",
        Answer(
            200, b"<!doctype html><html><body>Home</body></html>", (("Content-Type", "text/html"),)
        ),
    )
    site.route(
        "/feeds/garbage.xml",
        Answer(
            200,
            b"<rss><channel><item><title>x</ti\x00\xff",
            (("Content-Type", "application/rss+xml"),),
        ),
    )
    site.route("/feeds/down.xml", Answer(503, b"busy", (("Content-Type", "text/plain"),)))
    refused = f"http://127.0.0.1:{_closed_port()}"
    items = "".join(
        f"<item><title>{u}</title><link>{u}</link></item>"
        for u in (
            site.url("/page/timeout.html"),
            site.url("/page/huge.html"),
            site.url("/page/image.png"),
            site.url("/page/bomb.html"),
            site.url("/page/loop.html"),
            "http://no-such-host.invalid/story.html",
            f"{refused}/story.html",
            site.url("/articles/tesla-q3-deliveries.html"),
        )
    )
    site.route(
        "/feeds/faults.xml",
        Answer(
            200,
            f"<rss version='2.0'><channel><title>f</title>{items}</channel></rss>".encode(),
            (("Content-Type", "application/rss+xml"),),
        ),
    )
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[
            site.url(p)
            for p in (
                "/feeds/faults.xml",
                "/feeds/html.xml",
                "/feeds/garbage.xml",
                "/feeds/down.xml",
            )
        ]
        + [f"{refused}/feed.xml", "http://no-such-host.invalid/feed.xml"],
        db=tmp_path / "w.duckdb",
        seeds=seeds_dir,
        network={"timeout_seconds": 1.5, "max_page_bytes": 100_000},
    )
    summary = monitor(config=str(cfg))
    assert summary["status"] == "completed"  # failing feeds and pages never fail the run
    got = {
        (stage, reason, url)
        for stage, reason, url in rows(
            tmp_path / "w.duckdb", "SELECT stage, reason, url FROM fetch_errors"
        )
    }
    expected = {
        ("page", "timeout", site.url("/page/timeout.html")),
        ("page", "too_large", site.url("/page/huge.html")),
        ("page", "not_html", site.url("/page/image.png")),
        ("page", "too_large", site.url("/page/bomb.html")),
        ("page", "too_many_redirects", site.url("/page/loop.html")),
        ("page", "dns", "http://no-such-host.invalid/story.html"),
        ("page", "refused", f"{refused}/story.html"),
        ("feed", "not_a_feed", site.url("/feeds/html.xml")),
        ("feed", "malformed_feed", site.url("/feeds/garbage.xml")),
        ("feed", "http_503", site.url("/feeds/down.xml")),
        ("feed", "refused", f"{refused}/feed.xml"),
        ("feed", "dns", "http://no-such-host.invalid/feed.xml"),
    }
    assert got == expected
    assert one(tmp_path / "w.duckdb", "SELECT count(*) FROM articles") == 1
    assert summary["feeds_failed"] == 5 and summary["page_failures"] == 7
    details = dict(rows(tmp_path / "w.duckdb", "SELECT url, detail FROM fetch_errors"))
    assert "cut off" in details[site.url("/page/bomb.html")]  # counted after decompression
    states = dict(rows(tmp_path / "w.duckdb", "SELECT url, last_status FROM feeds"))
    assert states[site.url("/feeds/down.xml")] == "error"
    assert states[site.url("/feeds/faults.xml")] == "ok"


def test_private_addresses_are_refused_by_default(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url("/feeds/meridian.xml")],
        db=tmp_path / "w.duckdb",
        seeds=seeds_dir,
        network={"allowed_hosts": []},
    )
    monitor(config=str(cfg))
    assert rows(tmp_path / "w.duckdb", "SELECT stage, reason FROM fetch_errors") == [
        ("feed", "blocked_address")
    ]
    assert site.requests == []  # refused before connecting


def test_legacy_encodings(prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path) -> None:
    body = "<p>" + "Café owners in Zürich say the naïve plan costs €5 a day. " * 12 + "</p>"
    html = f"<html lang='de'><head><title>Zürich cafés</title>{{meta}}</head><body><article><h1>Zürich cafés</h1>{body}</article></body></html>"
    site.route(
        "/enc/header.html",
        Answer(
            200,
            html.replace("{meta}", "").encode("cp1252"),
            (("Content-Type", "text/html; charset=windows-1252"),),
        ),
    )
    site.route(
        "/enc/meta.html",
        Answer(
            200,
            html.replace("{meta}", "<meta charset='iso-8859-15'>").encode("iso-8859-15"),
            (("Content-Type", "text/html"),),
        ),
    )
    feed = (
        "<?xml version='1.0' encoding='iso-8859-1'?><rss version='2.0'><channel><title>Zürich</title>"
        f"<item><title>Café à Zürich</title><link>{site.url('/enc/header.html')}</link></item>"
        f"<item><title>Naïve</title><link>{site.url('/enc/meta.html')}</link></item></channel></rss>"
    )
    site.route(
        "/feeds/latin1.xml",
        Answer(200, feed.encode("iso-8859-1"), (("Content-Type", "application/rss+xml"),)),
    )
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url("/feeds/latin1.xml")],
        db=tmp_path / "w.duckdb",
        seeds=seeds_dir,
    )
    monitor(config=str(cfg))
    texts = [t for (t,) in rows(tmp_path / "w.duckdb", "SELECT text FROM articles ORDER BY url")]
    assert len(texts) == 2
    for t in texts:
        assert "Café owners in Zürich" in t and "€5" in t and "Ã" not in t
    # the two pages are the same text: one is an exact duplicate of the other
    assert sorted(
        s for (s,) in rows(tmp_path / "w.duckdb", "SELECT dedup_status FROM articles")
    ) == ["exact_duplicate", "unique"]
