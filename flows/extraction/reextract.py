"""Extract every archived page again (after an extractor upgrade) without a single request.

Pages come from the raw archive (flows.extraction.archive) and go through the same extraction,
cleaning and process pool as a run (flows.extraction.extract), with the feed entry that led to
each page filling what the page lacks, as it did the first time. Articles whose text or metadata
changed are updated, and what depends on them follows in the same transaction: the dedup index,
verdicts and story clusters (flows.dedup.rebuild) and the topic tables (flows.topics.retag). An
article whose archived page is missing, or yields no text any more, keeps what it has.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from flows.config import Settings
from flows.dedup.detect import content_hash
from flows.dedup.rebuild import rebuild
from flows.errors import FetchError
from flows.extraction.extract import ArchivedPage, Extracted, MissingFile, extract_archived
from flows.sources.feeds import FeedItem
from flows.sources.urls import canonical_url
from flows.topics.retag import retag

_CHUNK = 1_000  # pages per round: memory stays flat in the size of the archive
_SHOWN = 5  # missing files named in the summary

_STAGE = pa.schema(
    [
        ("article_id", pa.string()),
        ("title", pa.string()),
        ("author", pa.string()),
        ("published_at", pa.timestamp("us", tz="UTC")),
        ("language", pa.string()),
        ("site_name", pa.string()),
        ("text", pa.string()),
        ("content_hash", pa.string()),
    ]
)
_FIELDS = [f.name for f in _STAGE if f.name != "article_id"]


@dataclass
class ReextractSummary:
    pages: int = 0  # archived pages read
    articles: int = 0  # articles those pages belong to
    texts_changed: int = 0
    metadata_changed: int = 0  # same text; title, author, date, language or site name changed
    unchanged: int = 0
    missing_files: int = 0  # archived pages whose file is gone or unreadable (left as they were)
    no_text: int = 0  # articles whose page yields no text now (left as they were)
    new_texts: int = 0  # pages without an article (no text before, or held back) that yield text
    dedup_rebuilt: bool = False
    verdicts_changed: int = 0  # articles whose dedup verdict or story cluster changed
    topics_retagged: bool = False
    missing: list[str] = field(default_factory=list)  # the first few missing files
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _archived(row: dict[str, Any]) -> ArchivedPage:
    entry = row["entry_url"] or row["url"]
    item = FeedItem(
        row["feed_url"] or "",
        entry,
        canonical_url(entry),
        row["entry_title"],
        row["entry_author"],
        row["entry_published_at"],
        None,
    )
    return ArchivedPage(row["url"], row["sha256"], row["charset"], item, row["content_type"])


def _stage_row(article: str, a: Extracted) -> dict[str, Any]:
    return dict(
        article_id=article,
        title=a.title,
        author=a.author,
        published_at=a.published_at,
        language=a.language,
        site_name=a.site_name,
        text=a.text,
        content_hash=content_hash(a.text),
    )


def reextract(
    con: duckdb.DuckDBPyConnection, settings: Settings, since: datetime | None = None
) -> ReextractSummary:
    """Extract the archived pages (those fetched at or after ``since``, or all) again and update
    the articles, their dedup verdicts and topics in one transaction. The caller holds the run
    lock. An article with several archived pages (redirects that landed on it) takes its text
    from the first one fetched that yields text."""
    t0 = time.perf_counter()
    out = ReextractSummary()
    pages = con.sql(
        """
        SELECT url, article_id, sha256, content_type, charset, feed_url, entry_url,
               entry_title, entry_author, entry_published_at
        FROM raw_pages WHERE ?::TIMESTAMPTZ IS NULL OR fetched_at >= ?
        ORDER BY article_id NULLS LAST, fetched_at, url
        """,
        params=[since, since],
    ).to_arrow_table()
    current: str | None = None  # the article whose pages are being read
    found = tried = False  # it has its new text / a page of it was read

    def next_article(article: str | None) -> None:
        nonlocal current, found, tried
        if current is not None and not found and tried:
            out.no_text += 1
        current, found, tried = article, False, False
        out.articles += article is not None

    con.execute("BEGIN")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE reextracted AS "
            "SELECT article_id, title, author, published_at, language, site_name, text, "
            "content_hash FROM articles LIMIT 0"
        )
        for start in range(0, pages.num_rows, _CHUNK):
            rows = pages.slice(start, _CHUNK).to_pylist()
            results = extract_archived(
                [_archived(r) for r in rows],
                settings.raw_dir,
                min_chars=settings.pipeline.min_text_chars,
                thorough=settings.pipeline.extraction == "thorough",
                workers=settings.pipeline.extract_workers,
            )
            staged: list[dict[str, Any]] = []
            for row, result in zip(rows, results, strict=True):
                out.pages += 1
                article = row["article_id"]
                if article != current:
                    next_article(article)
                if isinstance(result, MissingFile):
                    out.missing_files += 1
                    if len(out.missing) < _SHOWN:
                        out.missing.append(result.detail)
                    continue
                if article is None:
                    out.new_texts += isinstance(result, Extracted)
                    continue
                tried = True
                if found or isinstance(result, FetchError):
                    continue
                found = True
                staged.append(_stage_row(article, result))
            if staged:
                con.register("stage_reextracted", pa.Table.from_pylist(staged, schema=_STAGE))
                con.execute("INSERT INTO reextracted SELECT * FROM stage_reextracted")
                con.unregister("stage_reextracted")
        next_article(None)
        changed = " OR ".join(f"a.{f} IS DISTINCT FROM n.{f}" for f in _FIELDS)
        ((texts, metadata, unchanged, for_dedup, for_topics),) = con.execute(
            f"""
            SELECT count(*) FILTER (WHERE a.text IS DISTINCT FROM n.text),
                   count(*) FILTER (WHERE a.text = n.text AND ({changed})),
                   count(*) FILTER (WHERE NOT ({changed})),
                   count(*) FILTER (WHERE a.text IS DISTINCT FROM n.text
                                    OR a.content_hash IS DISTINCT FROM n.content_hash
                                    OR a.published_at IS DISTINCT FROM n.published_at),
                   count(*) FILTER (WHERE a.text IS DISTINCT FROM n.text
                                    OR a.title IS DISTINCT FROM n.title)
            FROM articles a JOIN reextracted n USING (article_id)
            """
        ).fetchall()
        out.texts_changed, out.metadata_changed = int(texts), int(metadata)
        out.unchanged = int(unchanged)
        if texts or metadata:
            sets = ", ".join([*(f"{f} = n.{f}" for f in _FIELDS), "text_chars = length(n.text)"])
            con.execute(
                f"UPDATE articles a SET {sets} FROM reextracted n "
                f"WHERE a.article_id = n.article_id AND ({changed})"
            )
        con.execute("DROP TABLE reextracted")
        if for_dedup:
            out.verdicts_changed = rebuild(con, settings.dedup, transaction=False).changed
            out.dedup_rebuilt = True
        if for_topics:
            retag(con, settings.topics, transaction=False, scopes=settings.topic_scopes())
            out.topics_retagged = True
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    out.seconds = round(time.perf_counter() - t0, 2)
    return out
