"""The flow on a real Dask cluster: polls, fetches and extractions on the Dask workers, the
warehouse written by the flow's own process, and the same warehouse as a local run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import distributed
import duckdb
import pytest
from conftest import DEMO_FEEDS, write_config

from flows.config import Settings, load_settings
from flows.demo.server import SiteServer

pytestmark = pytest.mark.e2e

# What a run leaves in the warehouse that does not depend on when or where it ran.
SNAPSHOT = {
    "articles": "SELECT article_id, url, title, author, published_at, language, site_name, "
    "md5(text), feed_url, content_hash, dedup_status, duplicate_of, round(similarity, 6), "
    "cluster_id FROM articles",
    "article_feeds": "SELECT article_id, feed_url, entry_url FROM article_feeds",
    "article_topics": "SELECT * FROM article_topics",
    "fetch_errors": "SELECT url, feed_url, stage, reason FROM fetch_errors",
    "seen_urls": "SELECT url, article_id, status, attempts, last_reason FROM seen_urls",
    "raw_pages": "SELECT url, article_id, sha256, bytes, content_type FROM raw_pages",
    "quarantine": "SELECT article_id, suite, expectation, field FROM quarantine",
    "feeds": "SELECT url, etag, last_modified, last_status FROM feeds",
}


def snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            name: sorted(con.execute(sql).fetchall(), key=repr) for name, sql in SNAPSHOT.items()
        }


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A real Dask cluster on this machine: a scheduler and two worker processes (under
    nannies, as `dask worker` starts them), and a client of the test's own."""
    with (
        distributed.LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as c,
        distributed.Client(c) as client,
    ):
        yield client


def config(tmp_path: Path, name: str, site: SiteServer, seeds: Path, **pipeline: Any) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return write_config(
        folder / "corpus-monitor.toml",
        feeds=[site.url(f"/feeds/{f}") for f in DEMO_FEEDS],
        db=folder / "corpus.duckdb",
        seeds=seeds,
        # several batches, so the fetch and extract tasks spread over both workers
        pipeline={"batch_size": 8, **pipeline},
    )


def test_flow_on_a_dask_cluster_loads_what_a_local_run_loads(
    prefect, cluster: Any, site: SiteServer, seeds_dir: Path, tmp_path: Path
) -> None:
    from flows.cli.app import _run_flow

    address = cluster.scheduler.address
    on_dask = config(tmp_path, "dask", site, seeds_dir, task_runner="dask", dask_address=address)
    local = config(tmp_path, "local", site, seeds_dir)

    # the run as `corpus-monitor run` starts it; the scheduler records every task it hands out
    with distributed.get_task_stream(cluster) as stream:
        summary = _run_flow(on_dask, None)
    assert summary["status"] == "completed"
    assert summary["feeds_polled"] == 4 and summary["feeds_failed"] == 0
    assert summary["articles_new"] == 30 and summary["seed_copies"] == 1

    # the polls, fetches and extractions ran on the cluster's two worker processes
    workers = cluster.run(os.getpid)  # worker address -> its process id
    assert len(workers) == 2 and os.getpid() not in workers.values()
    ran: dict[str, set[str]] = {}
    for t in stream.data:
        ran.setdefault(t["key"].split("-")[0], set()).add(t["worker"])
    batches = -(-summary["new_urls"] // 8)
    assert summary["new_urls"] > 24 and batches >= 4
    counts = {name: sum(t["key"].startswith(name) for t in stream.data) for name in ran}
    assert counts == {"poll_feed": 4, "fetch_pages": batches, "extract_articles": batches}
    assert set().union(*ran.values()) == set(workers)  # both workers took tasks

    # the same run with the default runner (threads and the local process pool) loads the
    # same rows: articles, verdicts, clusters, topics, failures, archived pages
    assert _run_flow(local, None)["status"] == "completed"
    expected = snapshot(local.parent / "corpus.duckdb")
    assert len(expected["articles"]) == 30
    assert snapshot(on_dask.parent / "corpus.duckdb") == expected


def test_the_deployment_entrypoint_runs_with_the_config_s_runner(
    prefect, cluster: Any, site: SiteServer, seeds_dir: Path, tmp_path: Path
) -> None:
    """What a Prefect work-pool worker runs (flows/orchestration/deployment.py:monitor_deployment): the
    monitoring flow with the task runner of its config."""
    from flows.orchestration.deployment import monitor_deployment

    address = cluster.scheduler.address
    cfg = config(tmp_path, "deployed", site, seeds_dir, task_runner="dask", dask_address=address)
    with distributed.get_task_stream(cluster) as stream:
        summary = monitor_deployment(config=str(cfg))
    assert summary["status"] == "completed" and summary["articles_new"] == 30
    batches = -(-summary["new_urls"] // 8)
    assert sum(t["key"].startswith("extract_articles") for t in stream.data) == batches


def test_on_dask_as_many_batches_run_ahead_as_the_cluster_has_threads(
    prefect, cluster: Any
) -> None:
    from prefect import flow
    from prefect_dask import DaskTaskRunner

    from flows.orchestration.runners import lookahead

    @flow
    def probe() -> int:
        return lookahead(1)

    assert probe() == 1  # the default runner: the local extraction processes set the pace
    on_dask = probe.with_options(task_runner=DaskTaskRunner(address=cluster.scheduler.address))
    assert on_dask() == 2  # two workers, one thread each


def test_a_dask_worker_extracts_a_large_batch_in_its_own_process(cluster: Any) -> None:
    """A batch big enough for the extraction process pool is extracted in the worker's own
    process: a worker under a nanny is daemonic and may not start processes."""
    from datetime import UTC, datetime

    from flows.demo import SITE
    from flows.extraction import extract
    from flows.extraction.extract import Page
    from flows.orchestration.pipeline import extract as extract_batch
    from flows.sources.feeds import FeedItem

    settings = Settings.model_validate({"retention": {"archive_raw": False}})
    files = sorted((SITE / "articles").glob("*.html"))
    pages = []
    for i in range(extract.POOL_MIN_PAGES + 2):
        f = files[i % len(files)]
        url = f"https://news.example/{i}/{f.name}"
        item = FeedItem("https://news.example/rss", url, url, None, None, None, None)
        pages.append(Page(url, f.read_bytes(), "utf-8", item, "text/html", datetime.now(UTC)))

    def on_worker() -> tuple[int, bool, int, list[str], int]:
        import multiprocessing

        articles, failures = extract_batch(pages, settings)
        return (
            os.getpid(),
            multiprocessing.current_process().daemon,
            len(multiprocessing.active_children()),
            [a.url for a in articles],
            len(failures),
        )

    pid, daemonic, children, urls, failed = cluster.submit(on_worker, pure=False).result(120)
    assert pid in cluster.run(os.getpid).values() and daemonic
    assert children == 0  # no extraction process was started
    articles, failures = extract_batch(pages, settings)  # here: the local process pool
    assert urls == [a.url for a in articles] and failed == len(failures)
    assert len(urls) > extract.POOL_MIN_PAGES / 2


def test_the_runner_follows_the_config(tmp_path: Path) -> None:
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect_dask import DaskTaskRunner

    from flows.orchestration.monitor import monitor
    from flows.orchestration.runners import configured, task_runner

    def runner(pipeline: str) -> Any:
        cfg = tmp_path / "c.toml"
        cfg.write_text(f"[pipeline]\n{pipeline}\n", encoding="utf-8")
        return task_runner(load_settings(cfg).pipeline)

    assert isinstance(runner(""), ThreadPoolTaskRunner)
    remote = runner('task_runner = "dask"\ndask_address = "tcp://10.0.0.5:8786"')
    assert isinstance(remote, DaskTaskRunner) and remote.address == "tcp://10.0.0.5:8786"
    assert remote.cluster_kwargs == {}
    started = runner('task_runner = "dask"\ndask_workers = 3')
    assert isinstance(started, DaskTaskRunner) and started.address is None
    assert started.cluster_kwargs["n_workers"] == 3
    assert started.cluster_kwargs["processes"] and started.cluster_kwargs["threads_per_worker"] == 2
    default = runner('task_runner = "dask"')
    assert default.cluster_kwargs["n_workers"] == (os.cpu_count() or 1)
    # the flow the CLI runs and serves carries it
    cfg = tmp_path / "c.toml"
    flow = configured(monitor, load_settings(cfg))
    assert isinstance(flow.task_runner, DaskTaskRunner) and flow.name == monitor.name
