"""kill -9 in the middle of a run: the next run finishes the work, loses nothing, doubles nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_FEEDS, write_config

from flows.demo import SITE
from flows.demo.server import SiteServer
from flows.monitor import monitor

pytestmark = pytest.mark.e2e


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
        env = os.environ | {"PREFECT_HOME": str(tmp_path / "prefect-child")}
        env.pop("PREFECT_API_URL", None)
        child = subprocess.Popen(
            [sys.executable, "-m", "flows", "run", "--config", str(cfg)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 120
            while not site.paths("/slow/"):
                assert child.poll() is None, "the run ended before reaching the slow page"
                assert time.monotonic() < deadline, "the run never reached the slow page"
                time.sleep(0.1)
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
