"""The Prefect flow: poll feeds → fetch pages → extract → deduplicate → tag topics → load.

Tasks are coarse (one per feed poll, one per batch stage): a task per article would swamp the
Prefect server. The stages themselves are plain functions in flows.orchestration.pipeline.
"""

from __future__ import annotations

import time
import uuid
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

import duckdb
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run
from prefect.utilities.annotations import quote

from flows.config import FeedSettings, NetworkSettings, Settings, load_settings
from flows.errors import WarehouseBusy
from flows.extraction import archive
from flows.extraction.extract import Extracted, Page
from flows.orchestration import pipeline as p
from flows.orchestration.faults import pause_point
from flows.orchestration.report import (
    needs_attention,
    run_summary_markdown,
    topic_rows,
    topic_summary_markdown,
)
from flows.orchestration.runners import lookahead
from flows.sources import registry
from flows.sources.feeds import FeedCursor, FeedPoll
from flows.warehouse import store as wh

# The UI renders a table artifact in the browser; the warehouse has every row.
_ARTIFACT_ROWS = 500
# Batches fetched and extracted ahead of the one being loaded: enough to keep the extraction
# processes busy while a batch loads; each costs a batch of pages in memory.
LOOKAHEAD = 2


def _open(settings: Settings) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    return wh.connect(
        settings.warehouse.path,
        retries=settings.warehouse.busy_retries,
        wait=settings.warehouse.busy_wait,
    )


@task(name="sync-seeds", cache_policy=NO_CACHE, persist_result=False)
def sync_seeds(settings: Settings, run_id: str) -> dict[str, FeedCursor]:
    """Record the run, load new or changed seeds, and read the feed cursors."""
    with _open(settings) as con:
        wh.start_run(con, run_id, flow_run.name, p.now())
        seeds, written = p.sync_seeds(con, settings)
        get_run_logger().info("seed corpus: %d seeds, %d (re)loaded", len(seeds), len(written))
        cursors = wh.feed_cursors(con, settings.network.unconditional_every)
        return {url: FeedCursor(*c) for url, c in cursors.items()}


@task(
    task_run_name="poll {feed.label}",
    retries=1,
    retry_delay_seconds=2,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def poll_feed(feed: FeedSettings, cursor: FeedCursor, net: NetworkSettings) -> FeedPoll:
    result = p.poll(feed, cursor, net)
    pause_point("poll")
    log = get_run_logger()
    if result.status == "error":
        log.warning(
            "feed %s (%s) failed: %s: %s", feed.label, feed.url, result.error, result.detail
        )
    else:
        log.info(
            "feed %s (%s): %s, %d entries", feed.label, feed.url, result.status, len(result.items)
        )
    return result


@task(name="select-new-urls", cache_policy=NO_CACHE, persist_result=False)
def select_new(settings: Settings, polls: list[FeedPoll]) -> p.Plan:
    with _open(settings) as con:
        plan = p.plan(con, polls, settings)
    log = get_run_logger()
    log.info(
        "%d entries, %d new URLs (%d held back by earlier runs), %d already ingested, "
        "%d failed before and not retried",
        plan.items_seen,
        len(plan.work),
        plan.from_pending,
        len(plan.known_links),
        plan.skipped_failed,
    )
    if plan.deferred:
        log.warning(
            "%d more URLs wait for the next runs (network.max_pages_per_run = %d)",
            len(plan.deferred),
            settings.network.max_pages_per_run,
        )
    return plan


_T = TypeVar("_T")


def _as_is(value: _T) -> _T:
    """``value`` handed to a task as it is: Prefect does not walk it looking for futures (a
    batch holds thousands of objects). Only for direct task calls: Dask does not unwrap it."""
    return cast(_T, quote(value))


class _Opaque:
    """A batch passed between tasks. Deliberately not a dataclass or a collection: Prefect walks
    those in every task input and result (looking for futures), which for a batch of pages and
    articles costs milliseconds per article."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, **values: Any) -> None:
        for k, v in values.items():
            setattr(self, k, v)


class Batch(_Opaque):
    """The work of one batch, as a task input."""

    __slots__ = ("work",)
    work: list[p.Work]


class Fetched(_Opaque):
    """A batch's pages after the fetch stage, and how long it took."""

    __slots__ = ("failures", "pages", "seconds")
    pages: list[Page]
    failures: list[p.Failure]
    seconds: float


class ExtractedBatch(_Opaque):
    """A batch's articles after extraction, every failure so far, and the stages' times."""

    __slots__ = ("articles", "extract_seconds", "failures", "fetch_seconds")
    articles: list[Extracted]
    failures: list[p.Failure]
    fetch_seconds: float
    extract_seconds: float


@task(task_run_name="fetch-pages-{n}", cache_policy=NO_CACHE, persist_result=False)
def fetch_pages(n: int, batch: Batch, net: NetworkSettings) -> Fetched:
    started = time.perf_counter()
    work = batch.work
    pages, failures = p.fetch_pages(work, net)
    pause_point("fetch")
    log = get_run_logger()
    for f in failures:
        log.warning("page %s failed: %s: %s", f.url, f.reason, f.detail)
    log.info("batch %d: fetched %d of %d pages", n, len(pages), len(work))
    return Fetched(pages=pages, failures=failures, seconds=time.perf_counter() - started)


@task(task_run_name="extract-{n}", cache_policy=NO_CACHE, persist_result=False)
def extract_articles(n: int, fetched: Fetched, settings: Settings) -> ExtractedBatch:
    started = time.perf_counter()
    articles, failures = p.extract(fetched.pages, settings)
    pause_point("extract")
    log = get_run_logger()
    for f in failures:
        log.warning("no article at %s: %s", f.url, f.detail)
    log.info("batch %d: %d articles extracted from %d pages", n, len(articles), len(fetched.pages))
    if line := p.archive_summary(p.raw_pages(articles, failures)):
        log.info("batch %d: %s", n, line)
    fetched.pages = []  # the bytes are extracted: do not keep them alive with the future
    return ExtractedBatch(
        articles=articles,
        failures=[*fetched.failures, *failures],
        fetch_seconds=fetched.seconds,
        extract_seconds=time.perf_counter() - started,
    )


@task(task_run_name="dedup-and-load-{n}", cache_policy=NO_CACHE, persist_result=False)
def dedup_and_load(
    n: int,
    settings: Settings,
    run_id: str,
    work: list[p.Work],
    articles: list[Extracted],
    failures: list[p.Failure],
    known_links: list[tuple[str, Any]],
    polls: list[FeedPoll] | None,
    plan: p.Plan,
) -> dict[str, float]:
    """Deduplicate against seeds, history and the batch, tag topics, and load — one transaction.

    The feed cursors ride with the last batch, so a crash before it refetches the feeds and
    skips what was loaded.
    """
    log = get_run_logger()
    started = time.perf_counter()
    with _open(settings) as con:
        raws = p.raw_pages(articles, failures)
        articles, links = p.merge_redirects(con, articles, settings)
        batch, held = p.gate_and_build(
            con, settings, run_id, n, work, articles, failures, [*known_links, *links]
        )
        for record, failed in held:
            log.warning(
                "quarantined %s: %s",
                record["url"],
                "; ".join(f"{f['expectation']}({f['field']}) = {f['value']!r}" for f in failed),
            )
        p.add_raw_pages(batch, run_id, raws)
        if polls is not None:
            p.add_polls(batch, run_id, polls, plan, settings)
        wh.load(con, run_id, batch)
    log.info("batch %d loaded: %s", n, batch.counts)
    return {**batch.counts, "seconds": time.perf_counter() - started}


@task(name="prune-archive", cache_policy=NO_CACHE, persist_result=False)
def prune_archive(settings: Settings) -> None:
    """Archived pages older than retention.raw_days go, and files no row refers to (a load
    that never committed)."""
    with _open(settings) as con:
        freed = archive.prune(con, settings.raw_dir, settings.retention.raw_days, p.now())
    log = get_run_logger()
    if freed.files or freed.rows or freed.temp_files:
        log.info(
            "raw archive: %d pages past retention, %d files (%d KB) freed, %d of them orphans",
            freed.rows,
            freed.files + freed.temp_files,
            freed.bytes // 1024,
            freed.orphans + freed.temp_files,
        )
    for error in freed.errors:
        log.warning("raw archive: could not delete %s", error)


@task(name="quality-gates", cache_policy=NO_CACHE, persist_result=False)
def quality_gates(settings: Settings, run_id: str) -> dict[str, Any]:
    """Feed health and warehouse integrity after the run's loads (skipped when nothing loaded:
    Great Expectations costs seconds to import)."""
    with _open(settings) as con:
        ((loaded,),) = con.execute(
            "SELECT articles_new + quarantined FROM runs WHERE run_id = ?", [run_id]
        ).fetchall()
        if not loaded:
            get_run_logger().info("nothing loaded: data-quality suites skipped")
            return {"warnings": [], "errors": []}
        from flows.quality import gates as quality

        check = quality.check_run(
            con, run_id, settings.quality, quality.parameters(settings.quality)
        )
        pause_point("gates")
        rows = quality.result_rows(run_id, None, check.outcomes, {}, p.now())
        for r in rows:
            r["severity"] = check.severity[f"{r['suite']}:{r['field']}"]
        batch = wh.LoadBatch()
        batch.rows["dq_results"] = rows
        wh.load(con, run_id, batch)
    log = get_run_logger()
    warnings = [quality.describe(o, check.feeds) for o in check.warnings]
    errors = [quality.describe(o, check.feeds) for o in check.errors]
    for w in warnings:
        log.warning("data quality: %s", w)
    for e in errors:
        log.error("data quality: %s", e)
    return {"warnings": warnings, "errors": errors}


def due_feeds(settings: Settings, now: datetime | None = None) -> list[FeedSettings]:
    """The feeds (config and registry) due in a scheduled run: their interval (their own
    ``every``, else their group's, else adaptive: flows.sources.cadence) has passed since their last
    poll, and their backoff (after failures, or a server's Retry-After) is over."""
    now = now or p.now()
    with _open(settings) as con:
        settings = registry.merged(con, settings)
        when = registry.schedule(con, settings, settings.feeds, now)
    return [f for f in settings.feeds if when[f.url].due(now)]


@flow(name="corpus-monitor", log_prints=True)
def monitor(
    config: str | None = None, db: str | None = None, due_only: bool = False
) -> dict[str, Any]:
    """One monitoring run over the configured feeds (with ``due_only``, as scheduled runs do:
    only the feeds whose own interval has passed since their last poll)."""
    settings = load_settings(config, db)
    run_id = str(flow_run.id or uuid.uuid4())
    log = get_run_logger()
    try:
        lock = wh.run_lock(settings.warehouse.path, wait=settings.warehouse.run_wait)
        lock.__enter__()
    except WarehouseBusy as e:
        log.warning("%s (waited %d s)", e, settings.warehouse.run_wait)
        return {"run_id": run_id, "status": "skipped", "error": str(e)}
    try:
        try:
            timing = p.StageTimer()
            with _open(settings) as con:  # the config's feeds and the warehouse's registry
                settings = registry.merged(con, settings)
            p.warm_up(settings, quality=True)
            cursors = sync_seeds(settings, run_id)
            timing.mark("seeds")
            feeds = due_feeds(settings) if due_only else settings.feeds
            if len(feeds) < len(settings.feeds):
                log.info("%d of %d feeds are due", len(feeds), len(settings.feeds))
            polls = [
                poll_feed.submit(f, cursors.get(f.url, FeedCursor()), settings.network)
                for f in feeds
            ]
            results = [f.result() for f in polls]
            timing.mark("poll")
            plan = select_new(settings, _as_is(results))
            p.warm_up(settings, pages=len(plan.work))
            timing.mark("select")
            batches = p.batches(plan.work, settings.pipeline.batch_size)
            # Fetching and extraction run ahead of the loads (LOOKAHEAD batches), so the
            # network, the extraction processes and the warehouse work at the same time; the
            # loads stay in order, in this process: the warehouse has one writer.
            ahead: dict[int, PrefectFuture[ExtractedBatch]] = {}

            def submit(k: int) -> None:
                if k <= len(batches) and k not in ahead:
                    # Batch, Fetched: opaque to Prefect, which would walk a batch's thousands of
                    # objects looking for futures in every task input
                    fetched = fetch_pages.submit(k, Batch(work=batches[k - 1]), settings.network)
                    # a future of the fetched batch: Prefect passes the task its result
                    ahead[k] = extract_articles.submit(k, cast(Fetched, fetched), settings)

            for n in range(1, len(batches) + 1):
                for k in range(n, n + lookahead(LOOKAHEAD) + 1):  # more on a Dask cluster
                    submit(k)
                done = ahead.pop(n).result()
                timing.add("fetch", done.fetch_seconds)
                timing.add("extract", done.extract_seconds)
                last = n == len(batches)
                counts = dedup_and_load(
                    n,
                    settings,
                    run_id,
                    _as_is(batches[n - 1]),
                    _as_is(done.articles),
                    _as_is(done.failures),
                    _as_is(plan.known_links if n == 1 else []),
                    _as_is(results if last else None),
                    _as_is(plan),
                )
                timing.add("dedup_and_load", counts["seconds"])
                done.articles = []  # loaded: free the batch while the next ones are in flight
            timing.mark("pages")
            prune_archive(settings)
            dq = quality_gates(settings, run_id)
            timing.mark("gates")
            if dq["errors"]:
                from flows.quality.gates import QualityError

                raise QualityError("data-quality gate failed: " + "; ".join(dq["errors"]))
        except BaseException as e:
            with _open(settings) as con:
                wh.finish_run(con, run_id, "failed", p.now(), f"{type(e).__name__}: {e}")
            raise
        with _open(settings) as con:
            summary = wh.finish_run(con, run_id, "completed", p.now(), stages=timing.report())
            health = wh.feed_health(con, settings, p.now())
            summary["failures"] = wh.run_failures(con, run_id)
            summary["dq_warnings"] = dq["warnings"]
            summary["feeds_attention"] = needs_attention(health)
            summary["quarantine"] = wh.run_quarantine(con, run_id)
            dq_table = wh.run_dq_results(con, run_id)
            new_articles = wh.run_articles(con, run_id)
            topics_md = topic_summary_markdown(
                topic_rows(con, None, (p.now() - timedelta(days=14)).date(), "day")
            )
            if settings.export.dir is not None:
                exported = wh.export_parquet(con, settings.export.dir)
                log.info("exported %d tables and views to %s", len(exported), settings.export.dir)
    finally:
        lock.__exit__(None, None, None)
    create_markdown_artifact(
        run_summary_markdown(summary),
        key="corpus-monitor-run-summary",
        description="What this run found",
    )
    if dq_table:
        create_table_artifact(
            dq_table,
            key="corpus-monitor-data-quality",
            description="Great Expectations results of this run (one row per expectation and "
            "validation; dq_results in the warehouse)",
        )
    create_markdown_artifact(
        topics_md,
        key="corpus-monitor-topics",
        description="Topic mentions over the last 14 days (articles, originals and copies)",
    )
    create_table_artifact(
        health,
        key="corpus-monitor-feed-health",
        description="Every configured feed: last success, consecutive failures, entries per "
        "poll (last 10 polls), state",
    )
    if new_articles:
        shown = new_articles[:_ARTIFACT_ROWS]
        create_table_artifact(
            shown,
            key="corpus-monitor-new-articles",
            description=f"Articles first seen in this run ({len(shown)} of {len(new_articles)}, "
            "newest first; all of them are in the warehouse)",
        )
    return summary
