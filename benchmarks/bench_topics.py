"""Topic analytics at scale: `retag` over the history, and `topic_daily` against a text scan.

Synthetic articles (about 250 words over a vocabulary that includes the default topics' terms,
spread over a year) are written straight into a warehouse file; then:

1. `retag` recomputes article_topics and article_topic_pairs for all of them (bulk);
2. the daily counts of two topics from the `topic_daily` view, against the same question asked
   of the text itself (`ILIKE` scan, the baseline), median of 5 each.

    make bench-topics                    # 100k articles
    BENCH_SCALE=full make bench-topics   # and 1M
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

from flows.config import DEFAULT_TOPICS
from flows.topics.retag import retag
from flows.warehouse import store as wh

SCALES = [100_000] + ([1_000_000] if os.environ.get("BENCH_SCALE") == "full" else [])
T0 = datetime(2026, 1, 1, tzinfo=UTC)
FILLER = [f"word{i}" for i in range(5_000)]
TERMS = ["Musk", "Russia", "Kremlin", "Ukraine", "Kyiv", "Tesla", "Putin", "Washington"]


def articles(start: int, stop: int, rng: np.random.Generator) -> pa.Table:
    n = stop - start
    vocab = np.array(FILLER + TERMS)
    weights = np.r_[np.full(len(FILLER), 1.0), np.full(len(TERMS), 15.0)]
    weights /= weights.sum()
    words = rng.choice(vocab, size=(n, 250), p=weights)
    texts = [". ".join(" ".join(row[i : i + 25]) for i in range(0, 250, 25)) + "." for row in words]
    ids = [f"{i:016x}" for i in range(start, stop)]
    days = rng.integers(0, 365, n)
    published = [T0 + timedelta(days=int(d), hours=int(d % 24)) for d in days]
    return pa.table(
        {
            "article_id": ids,
            "url": [f"https://source{i % 50}.example/{i}" for i in range(start, stop)],
            "title": [f"Story {i}" for i in range(start, stop)],
            "text": texts,
            "feed_url": ["https://source.example/feed"] * n,
            "published_at": pa.array(published, pa.timestamp("us", tz="UTC")),
            "first_seen_at": pa.array(published, pa.timestamp("us", tz="UTC")),
            "run_id": ["bench"] * n,
            "content_hash": ids,
            "dedup_status": ["unique"] * n,
            "cluster_id": ids,
        }
    )


def timed(con, sql: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        con.execute(sql).fetchall()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    rng = np.random.default_rng(7)
    with (
        tempfile.TemporaryDirectory(prefix="bench-topics-") as d,
        wh.connect(Path(d) / "w.duckdb") as con,
    ):
        stored = 0
        for n in SCALES:
            for a in range(stored, n, 50_000):
                con.register("stage", articles(a, min(a + 50_000, n), rng))
                con.execute("INSERT INTO articles BY NAME SELECT * FROM stage")
                con.unregister("stage")
            stored = n
            con.execute("CHECKPOINT")
            summary = retag(con, DEFAULT_TOPICS)
            con.execute("CHECKPOINT")
            view = timed(
                con,
                "SELECT day, topic, articles, unique_stories, copies, mentions FROM topic_daily "
                "WHERE topic IN ('musk', 'russia') ORDER BY day, topic",
            )
            scan = timed(
                con,
                "SELECT CAST(coalesce(published_at, first_seen_at) AS DATE) AS day, "
                "count(*) FILTER (WHERE text ILIKE '%musk%'), "
                "count(*) FILTER (WHERE text ILIKE '%russia%' OR text ILIKE '%kremlin%') "
                "FROM articles GROUP BY 1 ORDER BY 1",
            )
            print(
                f"{n:,} articles: retag {summary.seconds:.1f} s "
                f"({n / summary.seconds:,.0f} articles/s, {summary.topic_rows:,} topic rows, "
                f"{summary.pair_rows:,} pair rows); daily counts of two topics: topic_daily "
                f"{view * 1000:.0f} ms, text scan (ILIKE, the baseline) {scan * 1000:.0f} ms "
                f"({scan / view:.1f}x)"
            )


if __name__ == "__main__":
    main()
