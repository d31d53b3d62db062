"""Recompute every dedup verdict, story cluster and the whole index after seeds or settings change.

The history is replayed in the order it was ingested: seeds first, then each run's articles
(runs by their first article) decided together against everything before them, exactly as a
run decides a batch. The new index is built in the warehouse itself, inside one transaction
with the new verdicts, so memory stays flat in the size of the history and a crash (or any
error) leaves the old index and verdicts untouched.
"""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from flows.config import DedupSettings
from flows.dedup.detect import Doc, MinHasher, decide, prepare
from flows.orchestration.pipeline import index_rows
from flows.warehouse import store as wh

_CHUNK = 2_000  # documents per signing task and per decision round within a big run
_POOL_FROM = 5_000  # below this many documents, signing in-process beats starting a pool


@dataclass
class RebuildSummary:
    documents: int
    seeds: int
    articles: int
    changed: int  # articles whose status, duplicate_of or cluster changed
    before: dict[str, int]
    after: dict[str, int]
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


Signed = tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _sign(docs: list[tuple[str, str | None]], settings: DedupSettings) -> list[Signed]:
    """(text, url) -> content hash, shingles, signature, band keys, paragraph keys, anchors."""
    hasher = MinHasher(settings)
    out = []
    for text, url in docs:
        d = Doc("", text, None, url or "")
        prepare(d, hasher)
        out.append((d.content_hash, d.shingles, d.signature, d.band_keys, d.unit_keys, d.anchors))
    return out


def _groups(con: duckdb.DuckDBPyConnection) -> Iterator[list[tuple]]:
    """Articles run by run in ingestion order, big runs in chunks (rows: id, text, published,
    url, first_seen_at, status, duplicate_of, cluster_id)."""
    runs = con.execute(
        "SELECT run_id FROM articles GROUP BY run_id ORDER BY min(first_seen_at), run_id"
    ).fetchall()
    for (run_id,) in runs:
        rows = con.execute(
            "SELECT article_id, text, published_at, url, first_seen_at, dedup_status, "
            "duplicate_of, cluster_id FROM articles WHERE run_id = ? "
            "ORDER BY published_at NULLS LAST, url",
            [run_id],
        ).fetchall()
        for i in range(0, len(rows), _CHUNK):
            yield rows[i : i + _CHUNK]


def _signed(
    groups: Iterator[list[tuple]], settings: DedupSettings, pool: Executor | None
) -> Iterator[tuple[list[tuple], list[Signed]]]:
    """Each chunk with its signatures; with a pool, the next chunk is signed while the
    current one is decided (one chunk ahead, so memory does not grow with the history)."""
    sign = partial(_sign, settings=settings)
    if pool is None:
        for rows in groups:
            yield rows, sign([(r[1], r[3]) for r in rows])
        return
    ahead: list[tuple[list[tuple], Future]] = []
    for rows in groups:
        ahead.append((rows, pool.submit(sign, [(r[1], r[3]) for r in rows])))
        if len(ahead) > 2:
            done_rows, fut = ahead.pop(0)
            yield done_rows, fut.result()
    for done_rows, fut in ahead:
        yield done_rows, fut.result()


def rebuild(
    con: duckdb.DuckDBPyConnection, settings: DedupSettings, *, transaction: bool = True
) -> RebuildSummary:
    """Rebuild the dedup index and every article's verdict and cluster, in one transaction.

    The caller holds the run lock (no run may write meanwhile) and has synced the seeds. With
    ``transaction=False`` it runs inside the caller's transaction, which commits or rolls back.
    """
    t0 = time.perf_counter()
    hasher = MinHasher(settings)
    before = dict(con.execute("SELECT dedup_status, count(*) FROM articles GROUP BY 1").fetchall())
    (n_articles,) = con.execute("SELECT count(*) FROM articles").fetchall()[0]
    pool: Executor | None = None
    if n_articles >= _POOL_FROM:
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
    after: Counter[str] = Counter()
    changed = 0
    try:
        with wh.transaction(con, own=transaction):
            for table in ("dedup_lsh", "dedup_anchors", "dedup_site_units", "dedup_signatures"):
                con.execute(f"DELETE FROM {table}")
            seeds = con.execute(
                "SELECT 'seed:' || seed_id, text, loaded_at FROM seeds ORDER BY seed_id"
            ).fetchall()
            batch = wh.LoadBatch()
            for (doc_id, _, at), (chash, _, sig, keys, _, anchors) in zip(
                seeds, _sign([(s[1], None) for s in seeds], settings), strict=True
            ):
                wh.signature_rows(doc_id, chash, doc_id, at, sig, keys, batch, anchors=anchors)
            wh.write(con, batch)

            con.execute(
                "CREATE OR REPLACE TEMP TABLE rebuild_verdicts (article_id VARCHAR, "
                "content_hash VARCHAR, dedup_status VARCHAR, duplicate_of VARCHAR, "
                "similarity DOUBLE, containment DOUBLE, cluster_id VARCHAR)"
            )
            for rows, sigs in _signed(_groups(con), settings, pool):
                docs = [
                    Doc(r[0], r[1], r[2], r[3], *signed)
                    for r, signed in zip(rows, sigs, strict=True)
                ]
                verdicts = decide(docs, hasher, wh.DedupIndex(con), settings.threshold)
                batch = wh.LoadBatch()
                updates: list[dict[str, Any]] = []
                for r, d in zip(rows, docs, strict=True):
                    v = verdicts[d.doc_id]
                    first_seen: datetime = r[4]
                    index_rows(d, v, first_seen, batch)
                    after[v.status] += 1
                    if (v.status, v.duplicate_of, v.root_id) != (r[5], r[6], r[7]):
                        changed += 1
                    updates.append(
                        dict(
                            article_id=d.doc_id,
                            content_hash=d.content_hash,
                            dedup_status=v.status,
                            duplicate_of=v.duplicate_of,
                            similarity=v.similarity,
                            containment=v.containment,
                            cluster_id=v.root_id,
                        )
                    )
                wh.write(con, batch)
                con.register("stage_verdicts", pa.Table.from_pylist(updates))
                con.execute("INSERT INTO rebuild_verdicts SELECT * FROM stage_verdicts")
                con.unregister("stage_verdicts")
            con.execute(
                """
                UPDATE articles a SET content_hash = v.content_hash,
                    dedup_status = v.dedup_status, duplicate_of = v.duplicate_of,
                    similarity = v.similarity, containment = v.containment,
                    cluster_id = v.cluster_id
                FROM rebuild_verdicts v WHERE a.article_id = v.article_id
                """
            )
            con.execute("DROP TABLE rebuild_verdicts")
    finally:
        if pool is not None:
            pool.shutdown()
    return RebuildSummary(
        documents=len(seeds) + n_articles,
        seeds=len(seeds),
        articles=n_articles,
        changed=changed,
        before=before,
        after=dict(after),
        seconds=round(time.perf_counter() - t0, 2),
    )
