"""The pipeline's stages as plain functions: the Prefect flow (flows.orchestration.monitor) only
composes them.

Each stage takes data in and gives data out; the ones that touch the warehouse take an open
connection. They run the same under Prefect, in a test or in a benchmark.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import duckdb
import numpy as np

from flows.config import DedupSettings, FeedSettings, NetworkSettings, Settings
from flows.dedup.detect import Doc, MinHasher, Verdict, decide, hash_words, prepare, site_of
from flows.dedup.seeds import Seed, load_seeds
from flows.errors import FetchError
from flows.extraction.archive import Stored
from flows.extraction.extract import (
    POOL_MIN_PAGES,
    Extracted,
    Page,
    extract_and_archive,
    extract_pages,
    start_fork_server,
    warm_pool,
)
from flows.extraction.text import words
from flows.orchestration.runners import on_dask_worker
from flows.sources.feeds import FeedCursor, FeedItem, FeedPoll, poll_feed
from flows.sources.fetch import Fetcher
from flows.sources.urls import article_id, canonical_url
from flows.topics.match import TopicHits, TopicMatcher, scope_of
from flows.warehouse import store as wh


@dataclass(frozen=True)
class Failure:
    """A feed or page that failed: where, at which stage, why (a documented reason code)."""

    url: str
    feed_url: str | None
    stage: str  # feed | page | robots | extract
    reason: str
    detail: str
    raw: RawPage | None = None  # a page that failed extraction is archived all the same


@dataclass(frozen=True)
class RawPage:
    """A fetched page as the raw archive holds it (its raw_pages row, less the article)."""

    url: str  # canonical URL after redirects
    stored: Stored | None  # None: the archive could not take it (``error`` says why)
    content_type: str | None
    charset: str | None
    fetched_at: datetime
    item: FeedItem  # the feed entry: its title, author and date are extraction fallbacks
    error: str | None = None


@dataclass
class Work:
    """A new canonical URL to fetch, and every feed entry that pointed at it."""

    url: str
    items: list[FeedItem]


@dataclass
class Plan:
    """What the polls amount to: new URLs to fetch and links to articles already known."""

    work: list[Work] = field(default_factory=list)
    known_links: list[tuple[str, FeedItem]] = field(default_factory=list)  # (article_id, item)
    skipped_failed: int = 0
    items_seen: int = 0
    deferred: list[Work] = field(default_factory=list)  # over the pages-per-run cap
    from_pending: int = 0  # work items held back by earlier runs
    unseen: set[str] = field(default_factory=set)  # URLs no run had met before (nor queued)


def now() -> datetime:
    return datetime.now(UTC)


def warm_up(
    settings: Settings, *, quality: bool = False, pages: int = 0, fork_server: bool = False
) -> threading.Thread:
    """In the background: load the data-quality suites (Great Expectations takes seconds to
    import) and, for a run with enough pages for the process pool, start the extraction
    processes; the run goes on reading feeds and fetching meanwhile. ``fork_server``: start
    only the process the extraction processes will fork from, before the run knows whether it
    has pages (``corpus-monitor run`` does this while Prefect's server starts). Errors are left
    to the real calls to report."""
    local_pool = (
        settings.pipeline.task_runner == "local"
        and (settings.pipeline.extract_workers or os.cpu_count() or 1) > 1
    )

    def go() -> None:
        with contextlib.suppress(Exception):
            if fork_server and local_pool:
                start_fork_server()
            if quality and settings.quality.enabled:
                from flows.quality import gates as q

                q.gates(settings.quality.expectations_dir)
            if pages >= POOL_MIN_PAGES and local_pool:
                warm_pool(settings.pipeline.extract_workers)

    thread = threading.Thread(target=go, name="corpus-monitor-warm-up", daemon=True)
    thread.start()
    return thread


class StageTimer:
    """Where a run's time goes: wall time of its phases (seeds, poll, select, pages, gates) and
    busy time of the page stages, which overlap (fetch, extract, dedup_and_load)."""

    def __init__(self) -> None:
        self.started = self._last = time.perf_counter()
        self.wall: dict[str, float] = {}
        self.busy: dict[str, float] = {}

    def mark(self, phase: str) -> None:
        """The phase that just ended."""
        t = time.perf_counter()
        self.wall[phase] = self.wall.get(phase, 0.0) + t - self._last
        self._last = t

    def add(self, stage: str, seconds: float) -> None:
        self.busy[stage] = self.busy.get(stage, 0.0) + seconds

    def report(self) -> dict[str, Any]:
        r3 = lambda d: {k: round(v, 3) for k, v in d.items()}  # noqa: E731
        return {
            "seconds": round(time.perf_counter() - self.started, 3),
            "phases": r3(self.wall),
            "page_stages": r3(self.busy),
        }


def bottleneck(stages: dict[str, Any]) -> tuple[str, float] | None:
    """The stage that took longest: a page stage by its busy time, or another phase."""
    candidates = {
        **{k: v for k, v in stages.get("phases", {}).items() if k != "pages"},
        **stages.get("page_stages", {}),
    }
    if not candidates:
        return None
    name = max(candidates, key=lambda k: candidates[k])
    return name, candidates[name]


# --- seeds ---------------------------------------------------------------------------------


def sync_seeds(con: duckdb.DuckDBPyConnection, settings: Settings) -> tuple[list[Seed], list[str]]:
    """Load the seed folder and write new or changed seeds (text + dedup index) to the warehouse."""
    seeds = load_seeds(settings.seeds.path)
    hasher = MinHasher(settings.dedup)
    at = now()
    index = wh.LoadBatch()
    rows = []
    for s in seeds:
        doc = Doc(s.doc_id, s.text, None, s.doc_id)
        prepare(doc, hasher)
        chash = doc.content_hash
        wh.signature_rows(
            s.doc_id, chash, s.doc_id, at, doc.signature, doc.band_keys, index, anchors=doc.anchors
        )
        rows.append(
            {
                "seed_id": s.seed_id,
                "title": s.title,
                "language": s.language,
                "origin": s.origin,
                "text": s.text,
                "content_hash": chash,
                "file_sha256": s.file_sha256,
                "loaded_at": at,
            }
        )
    return seeds, wh.sync_seeds(con, rows, index)


# --- feeds ---------------------------------------------------------------------------------


def poll(feed: FeedSettings, cursor: FeedCursor, net: NetworkSettings) -> FeedPoll:
    """Poll one feed (conditional GET + feedparser). Feed problems come back as the status."""

    async def go() -> FeedPoll:
        async with Fetcher(net) as f:
            return await poll_feed(
                f, feed.url, feed.label, cursor, net.max_feed_bytes, net.max_entries_per_feed
            )

    return asyncio.run(go())


# The first and the last batch of a run hold at most this many pages: the extraction processes
# start as soon as the first is fetched, and the last load, which no extraction overlaps, is short.
EDGE_BATCH = 100


def batches(work: list[Work], size: int) -> list[list[Work]]:
    """The run's work in load batches of ``size``, the first and the last at most EDGE_BATCH
    (one empty batch when there is no work: the feed cursors still need their transaction)."""
    edge = min(size, EDGE_BATCH)
    if len(work) <= edge:
        return [work]
    tail = edge if len(work) > 2 * edge else len(work) - edge
    middle = work[edge : len(work) - tail]
    return [
        work[:edge],
        *(middle[i : i + size] for i in range(0, len(middle), size)),
        work[len(work) - tail :],
    ]


def plan(con: duckdb.DuckDBPyConnection, polls: Sequence[FeedPoll], settings: Settings) -> Plan:
    """Group feed entries by canonical URL and keep the ones not ingested (or worth retrying).

    Entries held back by earlier runs come first (oldest first); at most
    ``network.max_pages_per_run`` URLs are fetched, the rest are deferred to later runs."""
    by_url: dict[str, list[FeedItem]] = {}
    out = Plan()
    pending = wh.pending_items(con)
    for row in pending:
        item = FeedItem(
            row["feed_url"],
            row["entry_url"],
            row["url"],
            row["title"],
            row["author"],
            row["published_at"],
            row["summary"],
        )
        by_url.setdefault(item.url, []).append(item)
    for p in polls:
        out.items_seen += len(p.items)
        for item in p.items:
            by_url.setdefault(item.url, []).append(item)
    known = wh.known_urls(con, list(by_url), settings.pipeline.retry_failed_pages)
    work = []
    for url, items in by_url.items():
        if url not in known:
            work.append(Work(url, items))
        elif (aid := known[url]) is not None:
            out.known_links.extend((aid, it) for it in items)
        else:
            out.skipped_failed += 1
    cap = settings.network.max_pages_per_run
    out.work, out.deferred = work[:cap], work[cap:]
    held = {row["url"] for row in pending}
    out.unseen = wh.unseen_urls(con, [w.url for w in work if w.url not in held])
    out.from_pending = sum(1 for w in out.work if w.url in held)
    return out


def new_item_counts(polls: Sequence[FeedPoll], plan: Plan) -> dict[str, int]:
    new_urls = {w.url for w in plan.work}
    return {p.feed_url: sum(1 for it in p.items if it.url in new_urls) for p in polls}


# --- pages ---------------------------------------------------------------------------------


def fetch_pages(work: Sequence[Work], net: NetworkSettings) -> tuple[list[Page], list[Failure]]:
    """Fetch the batch's pages concurrently (per-host limits, caps, timeouts in Fetcher)."""

    async def one(f: Fetcher, w: Work) -> Page | Failure:
        item = w.items[0]
        try:
            resp = await f.get(
                item.entry_url, expect="html", max_bytes=net.max_page_bytes, robots=True
            )
        except FetchError as e:
            return Failure(w.url, item.feed_url, e.stage or "page", e.reason, e.detail)
        return Page(
            canonical_url(resp.url),
            resp.body,
            resp.charset,
            item,
            content_type=resp.content_type or None,
            fetched_at=now(),
        )

    async def go() -> list[Page | Failure]:
        async with Fetcher(net) as f:
            return await asyncio.gather(*(one(f, w) for w in work))

    results = asyncio.run(go()) if work else []
    return [r for r in results if isinstance(r, Page)], [
        r for r in results if isinstance(r, Failure)
    ]


@dataclass(frozen=True)
class Derived:
    """What an article's text yields for dedup and topics, computed in the extraction worker."""

    content_hash: str
    shingles: np.ndarray
    signature: np.ndarray
    band_keys: np.ndarray
    topics: TopicHits
    unit_keys: np.ndarray  # the article's paragraphs on its site (site boilerplate counts)
    anchors: np.ndarray  # partial-copy anchors


@lru_cache(maxsize=4)
def _hasher(settings: DedupSettings) -> MinHasher:
    return MinHasher(settings)


@lru_cache(maxsize=4)
def _matcher(topics: tuple[tuple[str, tuple[str, ...]], ...]) -> TopicMatcher:
    return TopicMatcher({name: list(terms) for name, terms in topics})


@dataclass(frozen=True)
class Derive:
    """Signatures and topic tags of one article (picklable: it runs in the extraction pool)."""

    dedup: DedupSettings
    topics: tuple[tuple[str, tuple[str, ...]], ...]

    @classmethod
    def of(cls, settings: Settings) -> Derive:
        return cls(settings.dedup, tuple((k, tuple(v)) for k, v in settings.topics.items()))

    def __call__(self, a: Extracted) -> Derived:
        hasher = _hasher(self.dedup)
        seq, unit_keys = hasher.content(a.text, site_of(a.url))
        shingles = np.unique(seq)
        signature = hasher.signature(shingles)
        return Derived(
            hash_words(words(a.text)),
            shingles,
            signature,
            hasher.band_keys(signature),
            _matcher(self.topics).match(f"{a.title or ''}\n{a.text}"),
            unit_keys,
            hasher.anchors(seq),
        )


def extract(pages: Sequence[Page], settings: Settings) -> tuple[list[Extracted], list[Failure]]:
    """Extract articles; their signatures and topics are computed in the same worker, which
    also stores the page's bytes in the raw archive (``retention.archive_raw``). Each article
    and extraction failure carries its :class:`RawPage`."""
    options: dict[str, Any] = dict(
        min_chars=settings.pipeline.min_text_chars,
        thorough=settings.pipeline.extraction == "thorough",
        # a Dask worker extracts in its own process (it may not start a pool)
        workers=1 if on_dask_worker() else settings.pipeline.extract_workers,
        derive=Derive.of(settings),
    )
    results: list[tuple[Extracted | FetchError, Stored | str | None]]
    if settings.retention.archive_raw:
        results = list(extract_and_archive(list(pages), settings.raw_dir, **options))
    else:
        results = [(r, None) for r in extract_pages(list(pages), **options)]
    articles, failures = [], []
    for page, (r, stored) in zip(pages, results, strict=True):
        raw = None
        if stored is not None:
            raw = RawPage(
                page.url,
                stored if isinstance(stored, Stored) else None,
                page.content_type,
                page.charset,
                page.fetched_at or now(),
                page.item,
                stored if isinstance(stored, str) else None,
            )
        if isinstance(r, FetchError):
            # keyed by the feed's URL for the page, which is what the next run looks up
            failures.append(
                Failure(page.item.url, page.item.feed_url, "extract", r.reason, r.detail, raw)
            )
        else:
            articles.append(replace(r, raw=raw))
    return articles, failures


def raw_pages(articles: Sequence[Extracted], failures: Sequence[Failure]) -> list[RawPage]:
    """The archived pages of a batch (before redirects are merged: every page counts)."""
    return [a.raw for a in articles if a.raw is not None] + [
        f.raw for f in failures if f.raw is not None
    ]


def archive_summary(raws: Sequence[RawPage]) -> str | None:
    """One log line on what the batch added to the raw archive."""
    if not raws:
        return None
    stored = [r.stored for r in raws if r.stored is not None]
    new = [s for s in stored if s.written]
    size, packed = sum(s.size for s in new), sum(s.written for s in new)
    ms = 1000 * sum(s.seconds for s in stored) / max(len(stored), 1)
    line = (
        f"archived {len(new)} new pages, {size / 1024:.0f} KB as {packed / 1024:.0f} KB gzip "
        f"({len(stored) - len(new)} already there; {ms:.2f} ms a page)"
    )
    failed = [r for r in raws if r.error]
    if failed:
        line += f"; {len(failed)} could not be archived, e.g. {failed[0].error}"
    return line


# --- dedup, topics, load ---------------------------------------------------------------------


def merge_redirects(
    con: duckdb.DuckDBPyConnection, articles: Sequence[Extracted], settings: Settings
) -> tuple[list[Extracted], list[tuple[str, FeedItem]]]:
    """One article per final URL: redirects that land on a URL already known (in the warehouse or
    earlier in this batch) become feed links to that article instead of new articles."""
    finals = [a.url for a in articles]
    known = wh.known_urls(con, finals, settings.pipeline.retry_failed_pages)
    kept: dict[str, Extracted] = {}
    links: list[tuple[str, FeedItem]] = []
    for a in sorted(articles, key=lambda a: (a.url, a.item.url)):
        if known.get(a.url):
            links.append((str(known[a.url]), a.item))
        elif a.url in kept:
            links.append((article_id(a.url), a.item))
        else:
            kept[a.url] = a
    return list(kept.values()), links


def deduplicate(
    con: duckdb.DuckDBPyConnection, articles: Sequence[Extracted], settings: Settings
) -> tuple[dict[str, Verdict], dict[str, Doc]]:
    docs = []
    for a in articles:
        doc = Doc(article_id(a.url), a.text, a.published_at, a.url)
        if isinstance(a.derived, Derived):
            doc.content_hash, doc.shingles = a.derived.content_hash, a.derived.shingles
            doc.signature, doc.band_keys = a.derived.signature, a.derived.band_keys
            doc.unit_keys, doc.anchors = a.derived.unit_keys, a.derived.anchors
        docs.append(doc)
    verdicts = decide(docs, MinHasher(settings.dedup), wh.DedupIndex(con), settings.dedup.threshold)
    return verdicts, {d.doc_id: d for d in docs}


RUN_COUNTERS = {
    "unique": "unique_articles",
    "exact_duplicate": "exact_duplicates",
    "near_duplicate": "near_duplicates",
    "partial_copy": "partial_copies",
}


def index_rows(d: Doc, v: Verdict, at: datetime, batch: wh.LoadBatch) -> None:
    """The dedup index rows of a decided document: anchors only for an original, its
    paragraphs counted for its site unless it is an exact copy."""
    wh.signature_rows(
        d.doc_id,
        d.content_hash,
        v.root_id,
        at,
        d.signature,
        d.band_keys,
        batch,
        anchors=d.anchors if v.status == "unique" else None,
        site=d.site if v.status != "exact_duplicate" else None,
        unit_keys=d.unit_keys,
    )


def _seen(url: str, at: datetime, article: str | None, reason: str | None = None) -> dict:
    """A seen_urls row: ingested as ``article``, or failed with ``reason``."""
    status = "article" if article is not None else "failed"
    return dict(url=url, article_id=article, status=status, last_reason=reason, at=at)


def _error(batch: wh.LoadBatch, run_id: str, f: Failure, at: datetime) -> None:
    batch.add(
        "fetch_errors",
        run_id=run_id,
        url=f.url,
        feed_url=f.feed_url,
        stage=f.stage,
        reason=f.reason,
        detail=f.detail,
        at=at,
    )


def build_load(
    run_id: str,
    work: Sequence[Work],
    articles: Sequence[Extracted],
    verdicts: dict[str, Verdict],
    docs: dict[str, Doc],
    failures: Sequence[Failure],
    links: Sequence[tuple[str, FeedItem]],
    topics: TopicMatcher,
    scopes: Mapping[str, frozenset[str]] | None = None,
) -> wh.LoadBatch:
    """Rows for one transaction: articles, their feeds, topics, dedup index, seen URLs, errors.
    ``scopes``: feed URL -> the only topics matched in its articles (its group's topics)."""
    at = now()
    batch = wh.LoadBatch()
    all_links = list(links)
    seen: dict[str, dict] = {}
    items_by_url = {w.url: w.items for w in work}
    for a in articles:
        aid = article_id(a.url)
        v, d = verdicts[aid], docs[aid]
        batch.add(
            "articles",
            article_id=aid,
            url=a.url,
            title=a.title,
            author=a.author,
            published_at=a.published_at,
            language=a.language,
            site_name=a.site_name,
            text=a.text,
            feed_url=a.item.feed_url,
            first_seen_at=at,
            run_id=run_id,
            content_hash=d.content_hash,
            dedup_status=v.status,
            duplicate_of=v.duplicate_of,
            similarity=v.similarity,
            containment=v.containment,
            cluster_id=v.root_id,
        )
        batch.count("articles_new")
        batch.count(RUN_COUNTERS[v.status])
        index_rows(d, v, at, batch)
        all_links.extend((aid, item) for item in items_by_url.get(a.item.url, [a.item]))
        seen[a.url] = _seen(a.url, at, aid)
        for item in items_by_url.get(a.item.url, [a.item]):
            seen[item.url] = _seen(item.url, at, aid)
        hits = (
            a.derived.topics
            if isinstance(a.derived, Derived)
            else topics.match(f"{a.title or ''}\n{a.text}")
        )
        if scopes:
            feeds = [i.feed_url for i in items_by_url.get(a.item.url, [a.item])]
            hits = hits.only(scope_of(feeds, scopes))
        for topic, n in hits.mentions.items():
            batch.add("article_topics", article_id=aid, topic=topic, mentions=n)
        for (ta, tb), n in hits.pairs.items():
            batch.add(
                "article_topic_pairs", article_id=aid, topic_a=ta, topic_b=tb, sentences_together=n
            )
    linked: set[tuple[str, str]] = set()
    for aid, item in all_links:
        if (aid, item.feed_url) in linked:
            continue
        linked.add((aid, item.feed_url))
        batch.add(
            "article_feeds",
            article_id=aid,
            feed_url=item.feed_url,
            entry_url=item.entry_url,
            seen_at=at,
        )
        seen.setdefault(item.url, _seen(item.url, at, aid))
    for f in failures:
        _error(batch, run_id, f, at)
        if f.stage != "feed":
            seen[f.url] = _seen(f.url, at, None, f.reason)
            batch.count("extract_failures" if f.stage == "extract" else "page_failures")
    batch.rows["seen_urls"] = list(seen.values())
    batch.count("pages_fetched", sum(1 for f in failures if f.stage == "extract") + len(articles))
    return batch


def add_polls(
    batch: wh.LoadBatch, run_id: str, polls: Sequence[FeedPoll], plan: Plan, settings: Settings
) -> None:
    """Feed cursors, poll rows and deferred entries go in the run's last batch, with the
    articles they led to: a crash before it leaves the cursors where they were."""
    new_items = new_item_counts(polls, plan)
    batch.count("items_seen", plan.items_seen)
    batch.count("new_urls", len(plan.work))
    batch.count("pages_deferred", len(plan.deferred))
    every = {f.url: settings.feed_every(f) for f in settings.feeds}
    default = settings.schedule.every if settings.schedule is not None else None
    for p in polls:
        n_new = new_items.get(p.feed_url, 0)
        batch.add(
            "feed_polls",
            run_id=run_id,
            feed_url=p.feed_url,
            feed_name=p.feed_name,
            polled_at=p.polled_at,
            status=p.status,
            http_status=p.http_status,
            items=len(p.items),
            new_items=n_new,
            error=p.error,
            detail=p.detail,
            seconds=p.seconds,
            etag=p.cursor.etag,
            last_modified=p.cursor.last_modified,
            conditional=p.conditional,
            entries_dropped=p.entries_dropped,
            retry_after=p.retry_after,
            unreliable=hid_entries(p, sum(1 for it in p.items if it.url in plan.unseen)),
            backoff_base=every.get(p.feed_url) or default or DEFAULT_BACKOFF,
            max_backoff=settings.network.max_backoff,
            failing_after=settings.network.failing_after,
            ttl=p.ttl,
        )
        if p.status == "ok":
            for item in p.items:
                batch.add(
                    "feed_entries",
                    feed_url=p.feed_url,
                    url=item.url,
                    published_at=item.published_at,
                    first_seen_at=p.polled_at,
                )
        if p.status == "error":
            failure = Failure(p.feed_url, p.feed_url, "feed", p.error or "network", p.detail or "")
            _error(batch, run_id, failure, p.polled_at)
    at = now()
    for w in plan.deferred:
        it = w.items[0]
        batch.add(
            "pending_items",
            url=w.url,
            feed_url=it.feed_url,
            entry_url=it.entry_url,
            title=it.title,
            author=it.author,
            published_at=it.published_at,
            summary=it.summary,
            queued_at=at,
            run_id=run_id,
        )
    batch.count("feeds_polled", len(polls))
    batch.count("feeds_not_modified", sum(p.status == "not_modified" for p in polls))
    batch.count("feeds_failed", sum(p.status == "error" for p in polls))


DEFAULT_BACKOFF = 900  # seconds: the first wait after a failure when a feed has no interval


def hid_entries(p: FeedPoll, unseen: int) -> bool:
    """An unconditional fetch found entries never seen before under the very validators the
    server had been answering 304 to: its conditional answers cannot be trusted."""
    if p.status != "ok" or p.conditional or not unseen:
        return False
    sent = p.sent
    return bool(
        (sent.etag and sent.etag == p.cursor.etag)
        or (sent.last_modified and sent.last_modified == p.cursor.last_modified)
    )


def add_raw_pages(batch: wh.LoadBatch, run_id: str, raws: Sequence[RawPage]) -> None:
    """raw_pages rows for the batch's archived pages, in the batch's transaction. Call it once
    the batch is built: a page belongs to the article its feed entry became (seen_urls), or to
    none (no text, or held in quarantine)."""
    became = {r["url"]: r["article_id"] for r in batch.rows["seen_urls"]}
    rows: dict[str, dict[str, Any]] = {}
    for r in raws:
        if r.stored is None:
            continue
        aid = became.get(r.item.url)
        if r.url in rows and (aid is None or rows[r.url]["article_id"] is not None):
            continue  # two entries that led to one page: the one that made an article wins
        rows[r.url] = dict(
            url=r.url,
            article_id=aid,
            sha256=r.stored.sha256,
            bytes=r.stored.size,
            content_type=r.content_type,
            charset=r.charset,
            fetched_at=r.fetched_at,
            run_id=run_id,
            feed_url=r.item.feed_url,
            entry_url=r.item.entry_url,
            entry_title=r.item.title,
            entry_author=r.item.author,
            entry_published_at=r.item.published_at,
        )
    batch.rows["raw_pages"] += rows.values()


Held = list[tuple[dict[str, Any], list[dict[str, Any]]]]  # (article record, what it failed)


def gate_and_build(
    con: duckdb.DuckDBPyConnection,
    settings: Settings,
    run_id: str,
    n: int,
    work: Sequence[Work],
    articles: Sequence[Extracted],
    failures: Sequence[Failure],
    links: Sequence[tuple[str, FeedItem]],
) -> tuple[wh.LoadBatch, Held]:
    """Deduplicate and build the batch's rows, then validate the article rows (the
    ``articles`` suite). Rows that fail are held back and the batch is decided again without
    them, so no loaded article points at a held-back one. Returns the batch to load (with the
    quarantine rows and the suite's results in it) and what was held back."""
    held: Held = []
    first = None
    kept = list(articles)
    while True:
        verdicts, docs = deduplicate(con, kept, settings)
        batch = build_load(
            run_id,
            work,
            kept,
            verdicts,
            docs,
            failures,
            links,
            TopicMatcher(settings.topics),
            settings.topic_scopes(),
        )
        if not (settings.quality.enabled and batch.rows["articles"]):
            break
        from flows.quality import gates as quality

        check = quality.check_articles(
            batch.rows["articles"], settings.quality, quality.parameters(settings.quality)
        )
        first = first or check
        if not check.failures:
            break
        rows = batch.rows["articles"]
        bad = {rows[i]["url"]: failed for i, failed in check.failures.items()}
        items = {a.url: a.item for a in kept}
        held += [
            ({**r, "item": _item_record(items[r["url"]])}, bad[r["url"]])
            for r in rows
            if r["url"] in bad
        ]
        kept = [a for a in kept if a.url not in bad]
    if first is not None:
        add_quality(batch, run_id, n, first, held)
    return batch, held


def _item_record(item: FeedItem) -> dict[str, Any]:
    return {"feed_url": item.feed_url, "entry_url": item.entry_url, "url": item.url}


def add_quality(
    batch: wh.LoadBatch,
    run_id: str,
    n: int,
    check: Any,
    held: Sequence[tuple[dict[str, Any], list[dict[str, Any]]]],
) -> None:
    """The article suite's results and the held-back rows, into the batch's transaction. A
    held-back URL is recorded as seen (reason ``quarantined``) so the next run does not fetch it
    again: the quarantine table has the whole article."""
    from flows.quality import gates as quality

    at = now()
    batch.rows["dq_results"] += quality.result_rows(
        run_id, n, check.outcomes, {quality.ARTICLES: "quarantine"}, at
    )
    for record, failed in held:
        batch.add("quarantine", **quality.quarantine_row(run_id, record, failed, at))
        batch.add("seen_urls", **_seen(record["url"], at, None, "quarantined"))
        batch.count("quarantined")
        batch.count("pages_fetched")


def release(
    con: duckdb.DuckDBPyConnection, settings: Settings, ids: Sequence[str], run_id: str
) -> tuple[list[str], dict[str, list[dict[str, Any]]]]:
    """Re-validate held-back articles against the current suites and load those that pass, as
    a run of their own (deduplicated against everything loaded since). Returns the released
    quarantine ids and, for the others, what they still fail."""
    import json

    from flows.quality import gates as quality

    rows = con.execute(
        "SELECT quarantine_id, record FROM quarantine WHERE released_at IS NULL "
        "AND quarantine_id IN (SELECT unnest(?::VARCHAR[]))",
        [list(ids)],
    ).fetchall()
    by_url: dict[str, str] = {}
    articles: list[Extracted] = []
    for qid, raw in rows:
        r = json.loads(raw)
        it = r["item"]
        item = FeedItem(it["feed_url"], it["entry_url"], it["url"], None, None, None, None)
        published = datetime.fromisoformat(r["published_at"]) if r.get("published_at") else None
        articles.append(
            Extracted(
                r["url"],
                r.get("title"),
                r.get("author"),
                published,
                r.get("language"),
                r.get("site_name"),
                r["text"],
                item,
            )
        )
        by_url[r["url"]] = qid
    still: dict[str, list[dict[str, Any]]] = {}
    while articles:
        verdicts, docs = deduplicate(con, articles, settings)
        work = [Work(a.item.url, [a.item]) for a in articles]
        batch = build_load(
            run_id,
            work,
            articles,
            verdicts,
            docs,
            [],
            [],
            TopicMatcher(settings.topics),
            settings.topic_scopes(),
        )
        check = quality.check_articles(
            batch.rows["articles"], settings.quality, quality.parameters(settings.quality)
        )
        if check.failures:
            for i, failed in check.failures.items():
                still[by_url[batch.rows["articles"][i]["url"]]] = failed
            bad = {batch.rows["articles"][i]["url"] for i in check.failures}
            articles = [a for a in articles if a.url not in bad]
            continue
        batch.rows["dq_results"] = quality.result_rows(
            run_id, 1, check.outcomes, {quality.ARTICLES: "quarantine"}, now()
        )
        released = [by_url[a.url] for a in articles]
        mark = (
            "UPDATE quarantine SET released_at = ?, released_run = ? "
            "WHERE quarantine_id IN (SELECT unnest(?::VARCHAR[]))"
        )
        # their archived pages belong to the articles now
        link = (
            "UPDATE raw_pages r SET article_id = a.article_id FROM articles a "
            "WHERE r.article_id IS NULL AND r.url = a.url AND a.run_id = ?"
        )
        wh.load(con, run_id, batch, also=[(mark, [now(), run_id, released]), (link, [run_id])])
        return released, still
    return [], still
