"""kill -9 in the middle of a run: the next run finishes the work, loses nothing, doubles nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_FEEDS, write_config
from prefect.settings import PREFECT_API_URL

from flows.demo import SITE
from flows.demo.server import SiteServer
from flows.orchestration.monitor import monitor

pytestmark = pytest.mark.e2e


def start_run(cfg: Path, env: dict[str, str]) -> subprocess.Popen:
    """`corpus-monitor run` in a child process, to be killed."""
    return subprocess.Popen(
        [sys.executable, "-m", "flows", "run", "--config", str(cfg)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for(child: subprocess.Popen, reached: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 120
    while not reached():
        assert child.poll() is None, f"the run ended before reaching {what}"
        assert time.monotonic() < deadline, f"the run never reached {what}"
        time.sleep(0.05)


def count(db: Path, sql: str) -> int:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()[0][0]


def test_kill_mid_run_then_rerun(prefect, tmp_path: Path, seeds_dir: Path) -> None:
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    db = tmp_path / "w.duckdb"
    # The slow page hangs for a minute: the run is killed while it waits for it, after the
    # batches before it have been loaded.
    with SiteServer(root, slow_seconds=60) as site:
        cfg = write_config(
            tmp_path / "c.toml",
            feeds=[site.url(f"/feeds/{f}") for f in DEMO_FEEDS],
            db=db,
            seeds=seeds_dir,
            network={"timeout_seconds": 90},
            pipeline={"batch_size": 4},
        )
        # the session's test server: a child's own temporary server would outlive a kill -9
        env = os.environ | {"PREFECT_API_URL": str(PREFECT_API_URL.value())}
        child = start_run(cfg, env)
        try:
            wait_for(child, lambda: bool(site.paths("/slow/")), "the slow page")
            time.sleep(0.5)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
    loaded_before = count(db, "SELECT count(*) FROM articles")
    print(f"{loaded_before} articles were loaded before the kill")
    assert loaded_before > 0  # some batches were committed before the kill
    assert count(db, "SELECT count(*) FROM runs WHERE status = 'running'") == 1  # the crashed run
    assert count(db, "SELECT count(*) FROM feed_polls") == 0  # cursors ride with the last batch

    port = int(site.base_url.rsplit(":", 1)[1])
    with SiteServer(root, slow_seconds=0.1, port=port) as site2:  # the same site, same URLs
        summary = monitor(config=str(cfg))
        fetched = [p for p in site2.paths() if p.startswith("/articles/")]
    assert summary["status"] == "completed"
    assert count(db, "SELECT count(*) FROM runs WHERE status = 'crashed'") == 1
    # nothing lost: every article the undisturbed demo run gets is there, once
    assert count(db, "SELECT count(*) FROM articles") == 30
    assert count(db, "SELECT count(*) - count(DISTINCT url) FROM articles") == 0
    assert (
        count(
            db,
            "SELECT count(*) FROM (SELECT article_id, topic FROM article_topics GROUP BY ALL HAVING count(*) > 1)",
        )
        == 0
    )
    assert (
        count(
            db,
            "SELECT count(*) FROM (SELECT doc_key, band_key FROM dedup_lsh GROUP BY ALL HAVING count(*) > 1)",
        )
        == 0
    )
    # nothing refetched that was loaded before the kill
    assert len(fetched) <= 31 - loaded_before
    # the raw archive: every article's page, and no file left that no page refers to (files
    # written for a batch that never committed are pruned at the end of the next run)
    assert (
        count(
            db,
            "SELECT count(*) FROM articles a WHERE NOT EXISTS "
            "(SELECT 1 FROM raw_pages r WHERE r.article_id = a.article_id)",
        )
        == 0
    )
    with duckdb.connect(str(db), read_only=True) as con:
        shas = {s for (s,) in con.execute("SELECT sha256 FROM raw_pages").fetchall()}
    archived = {p.name for p in Path(f"{db}.raw").rglob("*") if p.is_file()}
    assert archived == {f"{s}.gz" for s in shas}


# --- kill -9 at each stage, then a normal run: the warehouse equals an uninterrupted run's ------

SAME = {
    "articles": "SELECT url, title, text, content_hash, dedup_status, duplicate_of, cluster_id, "
    "round(similarity, 6) FROM articles",
    "article_feeds": "SELECT article_id, feed_url, entry_url FROM article_feeds",
    "article_topics": "SELECT article_id, topic, mentions FROM article_topics",
    "article_topic_pairs": "SELECT * FROM article_topic_pairs",
    "seen_urls": "SELECT url, status, article_id FROM seen_urls",
    "dedup_signatures": "SELECT doc_id, content_hash, root_id, minhash FROM dedup_signatures",
    "dedup_lsh": "SELECT s.doc_id, l.band_key FROM dedup_lsh l JOIN dedup_signatures s "
    "USING (doc_key)",
    "feeds": "SELECT url, etag, last_modified, state, consecutive_failures FROM feeds",
    "pending_items": "SELECT url FROM pending_items",
    "seeds": "SELECT seed_id, content_hash FROM seeds",
}


def snapshot(db: Path) -> dict[str, list[tuple]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in SAME.items()}


@pytest.mark.parametrize(
    "stage",
    ["poll", "fetch:2", "extract:3", "load:1", "load:5", "gates"],
    ids=lambda s: s.replace(":", "-"),
)
def test_kill_at_each_stage_then_rerun_equals_an_uninterrupted_run(
    prefect, tmp_path: Path, site: SiteServer, seeds_dir: Path, stage: str
) -> None:
    from flows.config import load_settings
    from flows.quality import gates as quality

    feeds = [site.url(f"/feeds/{f}") for f in DEMO_FEEDS]
    common = {"seeds": seeds_dir, "pipeline": {"batch_size": 8}}  # 34 URLs: 5 batches
    ref = write_config(
        tmp_path / "ref" / "c.toml", feeds=feeds, db=tmp_path / "ref.duckdb", **common
    )
    assert monitor(config=str(ref))["status"] == "completed"

    db = tmp_path / "w.duckdb"
    cfg = write_config(tmp_path / "c.toml", feeds=feeds, db=db, **common)
    marker = tmp_path / "paused"
    env = os.environ | {
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),  # the session's test server
        "CORPUS_MONITOR_PAUSE_AT": stage,
        "CORPUS_MONITOR_PAUSE_FILE": str(marker),
    }
    child = start_run(cfg, env)
    try:
        wait_for(child, marker.exists, stage)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert marker.read_text() == stage.split(":")[0]
    if stage == "load:5":  # killed inside the transaction that carries the feed cursors
        assert count(db, "SELECT count(*) FROM feed_polls") == 0

    summary = monitor(config=str(cfg))
    assert summary["status"] == "completed"
    assert snapshot(db) == snapshot(tmp_path / "ref.duckdb")
    assert count(db, "SELECT count(*) FROM runs WHERE status = 'crashed'") == 1
    assert count(db, "SELECT count(*) - count(DISTINCT url) FROM articles") == 0
    # the warehouse opens and passes the integrity suite
    settings = load_settings(cfg)
    with duckdb.connect(str(db)) as con:
        check = quality.check_run(
            con, summary["run_id"], settings.quality, quality.parameters(settings.quality)
        )
    integrity = [o for o in check.outcomes if o.suite == quality.INTEGRITY]
    assert integrity and all(o.success for o in integrity)
