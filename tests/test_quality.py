"""Data-quality gates: real Great Expectations validations of real batches, quarantine, release,
results in the warehouse and in Prefect, Data Docs that open offline."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from conftest import REPO, write_config

from flows.config import QualitySettings
from flows.demo.server import SiteServer
from flows.orchestration.monitor import monitor
from flows.quality import gates as quality
from flows.sources.urls import article_id

pytestmark = pytest.mark.clock  # also run with the clock a year ahead

NOW = datetime.now(UTC)


def good(i: int, **change) -> dict:
    row = dict(
        article_id=f"a{i}",
        url=f"https://news.example/{i}",
        title=f"Story {i}",
        author=None,
        published_at=NOW - timedelta(days=1),
        language="en",
        site_name="News",
        text="A sentence of the story. " * 30,
        feed_url="https://news.example/feed",
        first_seen_at=NOW,
        run_id="r",
        content_hash=f"h{i}",
        dedup_status="unique",
        duplicate_of=None,
        similarity=None,
        containment=None,
        cluster_id=f"a{i}",
    )
    return row | change


@pytest.fixture
def q(tmp_path: Path) -> QualitySettings:
    import shutil

    gx_dir = tmp_path / "expectations"
    shutil.copytree(REPO / "expectations", gx_dir, ignore=shutil.ignore_patterns("uncommitted"))
    return QualitySettings(expectations_dir=gx_dir)


def failed(check: quality.ArticleCheck, rows: list[dict]) -> dict[str, set[tuple[str, str]]]:
    return {
        rows[i]["article_id"]: {(f["expectation"], f["field"]) for f in fs}
        for i, fs in check.failures.items()
    }


def test_article_suite_flags_each_kind_of_bad_row(q: QualitySettings) -> None:
    rows = [
        good(0),
        good(1, url="ftp://news.example/1"),
        good(2, text="Too short to be an article."),
        good(3, published_at=NOW + timedelta(days=30)),
        good(4, dedup_status="near_duplicate", duplicate_of="a0", similarity=1.7, cluster_id="a0"),
        good(5, dedup_status="near_duplicate", duplicate_of=None, similarity=0.8),
        good(6, duplicate_of="a0"),  # unique, yet pointing at an original
        good(7, published_at=datetime(1970, 1, 1, tzinfo=UTC)),
        good(8, published_at=None, language=None),  # missing values pass
        good(9, title=None),
        good(10, url="https://news.example/0"),  # the same URL twice in a batch
        good(  # a partial copy: passes
            11, dedup_status="partial_copy", duplicate_of="a0", similarity=0.3, containment=0.9
        ),
        good(12, dedup_status="partial_copy", duplicate_of="a0", similarity=0.3),
        good(13, dedup_status="near_duplicate", duplicate_of="a0", similarity=0.5, containment=2.0),
        good(14, dedup_status="copied"),  # not a status
    ]
    check = quality.check_articles(rows, q, quality.parameters(q))
    got = failed(check, rows)
    between, lengths = (
        "expect_column_values_to_be_between",
        "expect_column_value_lengths_to_be_between",
    )
    assert got == {
        "a0": {("expect_column_values_to_be_unique", "url")},
        "a1": {("expect_column_values_to_match_regex", "url")},
        "a2": {(lengths, "text")},
        "a3": {(between, "published_at")},
        "a4": {(between, "similarity")},
        "a5": {("expect_column_values_to_not_be_null", "duplicate_of")},
        "a6": {("expect_column_values_to_be_null", "duplicate_of")},
        "a7": {(between, "published_at")},
        "a9": {("expect_column_values_to_not_be_null", "title")},
        "a10": {("expect_column_values_to_be_unique", "url")},
        "a12": {("expect_column_values_to_not_be_null", "containment")},
        "a13": {(between, "containment")},
        "a14": {
            ("expect_column_values_to_be_in_set", "dedup_status"),
            ("expect_column_values_to_not_be_null", "duplicate_of"),
        },
    }
    # one outcome per expectation of the suite, the language set left out while unconfigured
    assert len(check.outcomes) == 15
    assert not any(o.column == "language" for o in check.outcomes)
    value = check.failures[3][0]["value"]
    assert value is not None and value.startswith(str((NOW + timedelta(days=30)).year))

    # with a language set, a row in another language fails; a missing language passes
    q2 = q.model_copy(update={"languages": ["de", "fr"]})
    check = quality.check_articles(rows[7:9], q2, quality.parameters(q2))
    assert {(f["expectation"], f["field"]) for f in check.failures[0]} >= {
        ("expect_column_values_to_be_in_set", "language")
    }
    assert 1 not in check.failures


def test_a_run_that_loads_nothing_does_not_import_great_expectations(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from flows.orchestration import pipeline\n"
        "from flows.warehouse import store as wh\n"
        "from flows.config import Settings\n"
        f"with wh.connect({str(tmp_path / 'w.duckdb')!r}) as con:\n"
        "    batch, held = pipeline.gate_and_build(con, Settings(), 'r', 1, [], [], [], [])\n"
        "assert not batch.rows['articles'] and not held\n"
        "print('great_expectations' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def _make_bad_pages(site: SiteServer) -> tuple[str, str]:
    """A page dated in the future (by its feed entry: the page carries no date, and extraction
    never dates a page in the future) and a page with too little text (but enough to extract)."""
    feed = site.root / "feeds" / "meridian.xml"
    harvest = "{{DATE -38 07:00 rfc822}}"  # the harvest festival's entry, 38 days old
    assert feed.read_text("utf-8").count(harvest) == 1
    feed.write_text(feed.read_text("utf-8").replace(harvest, "{{DATE +400 07:00 rfc822}}"), "utf-8")
    short = site.root / "articles" / "tallinn-tram-extension.html"
    html = short.read_text("utf-8")
    body = re.search(r'<div class="bw-text">.*?</div>', html, re.S)
    assert body is not None
    text = (
        "Tallinn's city council approved a new tram line to Pirita on Thursday, the first "
        "extension of the network in more than a decade, after years of dispute over its cost."
    )
    short.write_text(html.replace(body.group(0), f'<div class="bw-text"><p>{text}</p></div>'))
    return site.url("/articles/harvest-festival-bakers.html"), site.url(
        "/articles/tallinn-tram-extension.html"
    )


@pytest.mark.e2e
def test_bad_rows_are_quarantined_good_rows_load_and_release_works(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    future_url, short_url = _make_bad_pages(site)
    db = tmp_path / "corpus.duckdb"
    feeds = [site.url(f"/feeds/{f}") for f in ("meridian.xml", "baltic.xml")]
    # every other article of the demo site has more than 500 characters of text
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=feeds,
        db=db,
        seeds=seeds_dir,
        pipeline={"min_text_chars": 100},
        quality={"min_text_chars": 500},
    )
    summary = monitor(config=str(cfg))
    assert summary["status"] == "completed"
    assert summary["quarantined"] == 2

    with duckdb.connect(str(db), read_only=True) as con:
        held = dict(
            (r[0], r[1:])
            for r in con.execute(
                "SELECT url, expectation, field, value, json_extract_string(record, '$.text') "
                "FROM quarantine"
            ).fetchall()
        )
        assert set(held) == {future_url, short_url}
        assert held[future_url][:2] == ("expect_column_values_to_be_between", "published_at")
        assert held[future_url][2].startswith(str(site.today + timedelta(days=400)))
        assert held[short_url][:2] == ("expect_column_value_lengths_to_be_between", "text")
        assert "tram line to Pirita" in held[short_url][3]  # the whole article is kept
        loaded = {r[0] for r in con.execute("SELECT url FROM articles").fetchall()}
        assert future_url not in loaded and short_url not in loaded
        assert summary["articles_new"] == len(loaded) > 10
        # one row per expectation per validation: the article suite on the batch, then the
        # feed-health suite and the integrity suite on the run
        by_suite = dict(
            con.execute(
                "SELECT suite, count(*) FROM dq_results WHERE run_id = ? GROUP BY 1",
                [summary["run_id"]],
            ).fetchall()
        )
        assert by_suite == {"articles": 15, "feed_health": 4, "warehouse_integrity": 6}
        assert con.execute(
            "SELECT unexpected_count FROM dq_results WHERE suite = 'articles' AND field = 'text'"
        ).fetchall() == [(1,)]
        assert con.execute(
            "SELECT count(*) FROM dq_results WHERE suite = 'warehouse_integrity' AND NOT success"
        ).fetchall() == [(0,)]
        # a quarantined URL is seen: the next run does not fetch it again
        assert con.execute(
            "SELECT status, last_reason FROM seen_urls WHERE url = ?", [short_url]
        ).fetchall() == [("failed", "quarantined")]

    from prefect.client.orchestration import get_client

    async def artifacts() -> dict[str, object]:
        from uuid import UUID

        from prefect.client.schemas.filters import (
            ArtifactFilter,
            ArtifactFilterFlowRunId,
            ArtifactFilterKey,
        )

        async with get_client() as client:
            found = {}
            for key in ("corpus-monitor-data-quality", "corpus-monitor-run-summary"):
                arts = await client.read_artifacts(
                    artifact_filter=ArtifactFilter(
                        key=ArtifactFilterKey(any_=[key]),
                        flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(summary["run_id"])]),
                    )
                )
                found[key] = arts[-1].data if arts else None
            return found

    import asyncio

    arts = asyncio.run(artifacts())
    assert "Quarantined" in str(arts["corpus-monitor-run-summary"])
    assert short_url in str(arts["corpus-monitor-run-summary"])
    table = arts["corpus-monitor-data-quality"]
    table = json.loads(table) if isinstance(table, str) else table
    assert any(r["suite"] == "articles" and r["success"] is False for r in table)

    second = monitor(config=str(cfg))
    assert second["pages_fetched"] == 0 and second["quarantined"] == 0

    # a future date was the config's fault: widen the tolerance and release both; the short
    # page still fails and stays held
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=feeds,
        db=db,
        seeds=seeds_dir,
        pipeline={"min_text_chars": 100},
        quality={"min_text_chars": 500, "future_tolerance": "30000d"},
    )
    out = subprocess.run(
        [sys.executable, "-m", "flows", "quarantine", "release", "--all", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr
    assert "released 1" in out.stdout and "still held" in out.stdout
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute(
            "SELECT dedup_status FROM articles WHERE article_id = ?", [article_id(future_url)]
        ).fetchall() == [("unique",)]
        assert con.execute("SELECT url FROM quarantine WHERE released_at IS NULL").fetchall() == [
            (short_url,)
        ]
        assert con.execute(
            "SELECT count(*) FROM article_feeds WHERE article_id = ?", [article_id(future_url)]
        ).fetchall() == [(1,)]


def test_data_docs_open_offline(tmp_path: Path, q: QualitySettings) -> None:
    from flows.quality.datadocs import build, remote_references

    # a validation first, so there is a result page too
    rows = [good(0), good(1, text="short")]
    quality.check_articles(rows, q, quality.parameters(q))
    index = build(q.expectations_dir, tmp_path / "docs")
    site = index.parent
    pages = list(site.rglob("*.html"))
    assert index.is_file() and len(pages) >= 4  # index, three suites, a validation
    assert remote_references(site) == []
    # every stylesheet, script and image a page loads is a file in the site
    missing = []
    loads = 0
    for page in pages:
        html = page.read_text("utf-8")
        for ref in re.findall(r'<(?:script|img)\b[^>]*\bsrc="([^"#?]+)', html) + re.findall(
            r'<link\b[^>]*\bhref="([^"#?]+)', html
        ):
            loads += 1
            if not (page.parent / ref).resolve().is_file():
                missing.append(f"{page.relative_to(site)}: {ref}")
    assert loads > 20 and missing == []
    css = (site / "static/vendor/bootstrap-4.3.1/dist/css/bootstrap.min.css").read_text("utf-8")
    assert ".container" in css
    fonts = site / "static/vendor/fortawesome-fontawesome-free-6.6.0/webfonts"
    for font in re.findall(
        r"url\(\.\./webfonts/([\w-]+\.woff2)\)",
        (fonts.parent / "css/all.min.css").read_text("utf-8"),
    ):
        assert (fonts / font).is_file(), font


@pytest.mark.e2e
def test_feed_health_warns_or_fails_and_integrity_fails_the_run(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    from flows.quality.gates import QualityError
    from flows.warehouse import store as wh

    db = tmp_path / "corpus.duckdb"
    feeds = [site.url("/feeds/meridian.xml")]  # 2 of its 12 new pages fail (a 500 and a PDF)
    strict = {"feed_max_failed_share": 0.1}
    cfg = write_config(tmp_path / "c.toml", feeds=feeds, db=db, seeds=seeds_dir, quality=strict)
    summary = monitor(config=str(cfg))
    assert summary["status"] == "completed"  # a warning by default
    assert any("failed_share" in w and "meridian.xml" in w for w in summary["dq_warnings"])
    with duckdb.connect(str(db), read_only=True) as con:
        (row,) = con.execute(
            "SELECT success, unexpected_count, severity FROM dq_results "
            "WHERE suite = 'feed_health' AND field = 'failed_share'"
        ).fetchall()
        assert row == (False, 1, "warn")
    out = subprocess.run(
        [sys.executable, "-m", "flows", "dq", "--config", str(cfg), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    shown = [json.loads(x) for x in out.stdout.splitlines()]
    assert len(shown) == 25 and {"suite", "expectation", "field", "success"} <= set(shown[0])

    # set to fail, the same feed fails the run (into a new warehouse, so it has new pages)
    db2 = tmp_path / "second.duckdb"
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=feeds,
        db=db2,
        seeds=seeds_dir,
        quality=strict | {"severity": {"failed_share": "fail"}},
    )
    with pytest.raises(QualityError, match="failed_share"):
        monitor(config=str(cfg))
    with duckdb.connect(str(db2), read_only=True) as con:
        assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
        assert con.execute("SELECT count(*) FROM articles").fetchall()[0][0] > 0  # loaded

    # a topic row pointing at no article: the integrity gate fails the run
    db3 = tmp_path / "third.duckdb"
    with wh.connect(db3) as con:
        con.execute("INSERT INTO article_topics (article_id, topic, mentions) VALUES ('x', 'y', 1)")
    cfg = write_config(
        tmp_path / "c.toml", feeds=[site.url("/feeds/northgate.atom")], db=db3, seeds=seeds_dir
    )
    with pytest.raises(QualityError, match="orphan_topic_rows"):
        monitor(config=str(cfg))


def test_a_batch_mixing_good_and_bad_rows_loads_the_good_and_holds_each_bad(
    tmp_path: Path, q: QualitySettings
) -> None:
    """The four kinds of bad row in one batch, through the gate and the real load."""
    from flows.orchestration import pipeline
    from flows.orchestration.report import run_summary_markdown
    from flows.warehouse import store as wh

    rows = [
        good(0),
        good(1),
        good(2, text="Too short to be an article."),
        good(3, published_at=NOW + timedelta(days=30)),
        good(4, url="ftp://news.example/4"),
        good(5, dedup_status="near_duplicate", duplicate_of="a0", similarity=1.2, cluster_id="a0"),
    ]
    check = quality.check_articles(rows, q, quality.parameters(q))
    held = [(rows[i], f) for i, f in sorted(check.failures.items())]
    batch = wh.LoadBatch()
    batch.rows["articles"] = [r for i, r in enumerate(rows) if i not in check.failures]
    pipeline.add_quality(batch, "r", 1, check, held)
    with wh.connect(tmp_path / "w.duckdb") as con:
        wh.start_run(con, "r", "test", NOW)
        wh.load(con, "r", batch)
        summary = wh.finish_run(con, "r", "completed", NOW)
        summary["quarantine"] = wh.run_quarantine(con, "r")
        assert {r[0] for r in con.execute("SELECT article_id FROM articles").fetchall()} == {
            "a0",
            "a1",
        }
        got = dict(con.execute("SELECT article_id, expectation FROM quarantine").fetchall())
        assert got == {
            "a2": "expect_column_value_lengths_to_be_between",
            "a3": "expect_column_values_to_be_between",
            "a4": "expect_column_values_to_match_regex",
            "a5": "expect_column_values_to_be_between",
        }
        assert summary["quarantined"] == 4
        assert con.execute("SELECT count(*) FROM dq_results").fetchall() == [(15,)]
    text = run_summary_markdown(summary)
    assert "quarantined (data quality) | 4" in text and "ftp://news.example/4" in text
