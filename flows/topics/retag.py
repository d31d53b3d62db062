"""Recompute the topic tables for the whole history after the topics in the config change."""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import Any

import duckdb
import pyarrow as pa

from flows.topics.match import TopicMatcher
from flows.warehouse import store as wh

_CHUNK = 5_000
_POOL_FROM = 10_000  # below this many articles, matching in-process beats starting a pool


@dataclass
class RetagSummary:
    articles: int
    topic_rows: int
    pair_rows: int
    seconds: float


def _match(rows: list[tuple[str, str | None, str]], topics: dict[str, list[str]]) -> tuple:
    matcher = TopicMatcher(topics)
    t_ids, t_topics, t_n = [], [], []
    p_ids, p_a, p_b, p_n = [], [], [], []
    for article_id, title, text in rows:
        hits = matcher.match(f"{title or ''}\n{text}")
        for topic, n in hits.mentions.items():
            t_ids.append(article_id)
            t_topics.append(topic)
            t_n.append(n)
        for (a, b), n in hits.pairs.items():
            p_ids.append(article_id)
            p_a.append(a)
            p_b.append(b)
            p_n.append(n)
    return (t_ids, t_topics, t_n), (p_ids, p_a, p_b, p_n)


def _apply_scopes(
    con: duckdb.DuckDBPyConnection, scopes: Mapping[str, frozenset[str]]
) -> tuple[int, int]:
    """Drop the topics an article's feed groups do not list (articles seen in an unrestricted
    feed keep all); returns the rows left in article_topics and article_topic_pairs."""
    pairs = [(url, topic) for url, allowed in scopes.items() for topic in sorted(allowed)]
    con.register(
        "stage_scopes",
        pa.table(
            {
                "feed_url": pa.array([u for u in scopes], pa.string()),
            }
        ),
    )
    con.register(
        "stage_scope_topics",
        pa.table(
            {
                "feed_url": pa.array([u for u, _ in pairs], pa.string()),
                "topic": pa.array([t for _, t in pairs], pa.string()),
            }
        ),
    )
    restricted = (
        "SELECT article_id FROM article_feeds GROUP BY article_id "
        "HAVING bool_and(feed_url IN (SELECT feed_url FROM stage_scopes))"
    )
    allowed = (
        "SELECT 1 FROM article_feeds af JOIN stage_scope_topics s USING (feed_url) "
        "WHERE af.article_id = {t}.article_id AND s.topic = {t}.{col}"
    )
    con.execute(
        f"DELETE FROM article_topics WHERE article_id IN ({restricted}) "
        f"AND NOT EXISTS ({allowed.format(t='article_topics', col='topic')})"
    )
    con.execute(
        f"DELETE FROM article_topic_pairs WHERE article_id IN ({restricted}) "
        f"AND (NOT EXISTS ({allowed.format(t='article_topic_pairs', col='topic_a')}) "
        f"OR NOT EXISTS ({allowed.format(t='article_topic_pairs', col='topic_b')}))"
    )
    con.unregister("stage_scopes")
    con.unregister("stage_scope_topics")
    ((topics,),) = con.execute("SELECT count(*) FROM article_topics").fetchall()
    ((pair_rows,),) = con.execute("SELECT count(*) FROM article_topic_pairs").fetchall()
    return int(topics), int(pair_rows)


def _chunks(con: duckdb.DuckDBPyConnection) -> Iterator[list[tuple[str, str | None, str]]]:
    cur = con.execute("SELECT article_id, title, text FROM articles ORDER BY article_id")
    rows = cur.fetchall()  # DuckDB 2 wants a result read to its end before the next statement
    for i in range(0, len(rows), _CHUNK):
        yield rows[i : i + _CHUNK]


def retag(
    con: duckdb.DuckDBPyConnection,
    topics: dict[str, list[str]],
    *,
    transaction: bool = True,
    scopes: Mapping[str, frozenset[str]] | None = None,
) -> RetagSummary:
    """Replace article_topics and article_topic_pairs for every article, in one transaction.
    The caller holds the run lock. With ``transaction=False`` it runs inside the caller's
    transaction, which commits or rolls back. ``scopes``: feed URL -> the only topics matched
    in its articles (Settings.topic_scopes)."""
    t0 = time.perf_counter()
    ((n,),) = con.execute("SELECT count(*) FROM articles").fetchall()
    pool: Executor | None = None
    if n >= _POOL_FROM:
        pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("forkserver"))
    match = partial(_match, topics=topics)
    topic_rows = pair_rows = 0
    try:
        with wh.transaction(con, own=transaction):
            chunks = list(_chunks(con))
            results: Any = pool.map(match, chunks) if pool is not None else map(match, chunks)
            con.execute("DELETE FROM article_topic_pairs")
            con.execute("DELETE FROM article_topics")
            for (t_ids, t_topics, t_n), (p_ids, p_a, p_b, p_n) in results:
                if t_ids:
                    con.register(
                        "stage_topics",
                        pa.table({"article_id": t_ids, "topic": t_topics, "mentions": t_n}),
                    )
                    con.execute("INSERT INTO article_topics BY NAME SELECT * FROM stage_topics")
                    con.unregister("stage_topics")
                    topic_rows += len(t_ids)
                if p_ids:
                    con.register(
                        "stage_pairs",
                        pa.table(
                            {
                                "article_id": p_ids,
                                "topic_a": p_a,
                                "topic_b": p_b,
                                "sentences_together": p_n,
                            }
                        ),
                    )
                    con.execute("INSERT INTO article_topic_pairs BY NAME SELECT * FROM stage_pairs")
                    con.unregister("stage_pairs")
                    pair_rows += len(p_ids)
            if scopes:
                topic_rows, pair_rows = _apply_scopes(con, scopes)
    finally:
        if pool is not None:
            pool.shutdown()
    return RetagSummary(n, topic_rows, pair_rows, round(time.perf_counter() - t0, 2))
