"""The raw page archive: every fetched page kept, extracted again without a request, pruned."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb
import pytest
from conftest import DEMO_FEEDS, REPO, cli, rows, write_config

from flows.demo import SITE
from flows.demo.server import SiteServer, render
from flows.extraction import archive
from flows.extraction.extract import (
    ArchivedPage,
    Extracted,
    MissingFile,
    Page,
    extract_and_archive,
    extract_archived,
    extract_pages,
)
from flows.orchestration.monitor import monitor
from flows.sources.feeds import FeedItem
from flows.sources.urls import article_id

pytestmark = pytest.mark.e2e

ARTICLE_COLUMNS = (
    "article_id, url, title, author, published_at, language, site_name, text, content_hash, "
    "dedup_status, duplicate_of, similarity, cluster_id"
)


def execute(db: Path, sql: str, params: list | None = None) -> None:
    with duckdb.connect(str(db)) as con:
        con.execute(sql, params or [])


def files(raw_dir: Path) -> set[Path]:
    return {p for p in raw_dir.rglob("*") if p.is_file()}


@dataclass
class Demo:
    folder: Path
    site_root: Path
    base_url: str
    feeds: list[str]
    seeds: Path
    today: date  # the day the site's dates were relative to

    @property
    def db(self) -> Path:
        return self.folder / "w.duckdb"


@pytest.fixture(scope="module")
def demo_run(prefect, tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One real run over the demo site; its site server is stopped afterwards."""
    folder = tmp_path_factory.mktemp("archive")
    root = folder / "site"
    shutil.copytree(SITE, root)
    seeds = folder / "seeds"
    shutil.copytree(REPO / "seeds", seeds)
    with SiteServer(root, slow_seconds=0.3) as site:
        feeds = [site.url(f"/feeds/{f}") for f in DEMO_FEEDS]
        cfg = write_config(folder / "c.toml", feeds=feeds, db=folder / "w.duckdb", seeds=seeds)
        summary = monitor(config=str(cfg))
    assert summary["status"] == "completed" and summary["articles_new"] == 30
    return Demo(folder, root, site.base_url, feeds, seeds, site.today)


@dataclass
class Copy:
    db: Path
    raw_dir: Path
    config: Path


@pytest.fixture
def warehouse(demo_run: Demo, tmp_path: Path) -> Iterator[Copy]:
    """The demo run's warehouse and archive, copied for one test to change."""
    db = tmp_path / "w.duckdb"
    shutil.copy(demo_run.db, db)
    shutil.copytree(Path(f"{demo_run.db}.raw"), Path(f"{db}.raw"))
    cfg = write_config(tmp_path / "c.toml", feeds=demo_run.feeds, db=db, seeds=demo_run.seeds)
    yield Copy(db, Path(f"{db}.raw"), cfg)


def with_retention(cfg: Path, **values: object) -> Path:
    lines = [f"{k} = {json.dumps(v)}" for k, v in values.items()]
    cfg.write_text(cfg.read_text() + "[retention]\n" + "\n".join(lines) + "\n")
    return cfg


def test_every_fetched_page_is_in_the_archive(demo_run: Demo) -> None:
    db, raw_dir = demo_run.db, Path(f"{demo_run.db}.raw")
    # every article has its page, byte for byte as the site served it
    missing = rows(
        db,
        "SELECT url FROM articles a WHERE NOT EXISTS "
        "(SELECT 1 FROM raw_pages r WHERE r.article_id = a.article_id)",
    )
    assert missing == []
    archived = rows(
        db,
        "SELECT url, article_id, sha256, bytes, content_type, charset, feed_url, entry_url "
        "FROM raw_pages ORDER BY url",
    )
    assert len(archived) == 31  # 30 articles and the cookie wall
    for url, aid, sha, size, ctype, charset, feed_url, entry_url in archived:
        path = raw_dir / sha[:2] / f"{sha}.gz"
        body = gzip.decompress(path.read_bytes())
        assert hashlib.sha256(body).hexdigest() == sha and len(body) == size
        assert len(path.read_bytes()) < size / 2  # compressed
        assert (ctype, charset) == ("text/html", "utf-8")
        assert feed_url in demo_run.feeds and entry_url.startswith(demo_run.base_url)
        path = url.removeprefix(demo_run.base_url + "/")
        if path.startswith("slow/"):  # the slow path serves an article after a delay
            path = f"articles/{path.removeprefix('slow/')}.html"
        assert body == render(demo_run.site_root / path, demo_run.base_url, demo_run.today)
        # (a page names its article: the slow path's page is /articles/coral-reef-heat-study)
        assert aid is None or aid in {
            article_id(url),
            article_id(url.replace("/slow/", "/articles/") + ".html"),
        }
    # the page with no article text is kept too, for a better extractor later
    (cookie_wall,) = [r for r in archived if r[0].endswith("/cookie-wall.html")]
    assert cookie_wall[1] is None
    # the redirect is archived under the URL it landed on
    assert any(
        r[0] == f"{demo_run.base_url}/articles/tallinn-tram-extension.html" for r in archived
    )
    # the 404, the 500 and the PDF never had a page to keep; no file without a row
    assert not [r for r in archived if "/broken/" in r[0] or r[0].endswith(".pdf")]
    assert {p.name for p in files(raw_dir)} == {f"{r[2]}.gz" for r in archived}


def test_reextract_rebuilds_every_text_without_a_request(
    warehouse: Copy, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = warehouse.db
    original = rows(db, f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY article_id")
    topics = rows(db, "SELECT * FROM article_topics ORDER BY ALL")
    pairs = rows(db, "SELECT * FROM article_topic_pairs ORDER BY ALL")
    index = rows(
        db, "SELECT doc_id, content_hash, root_id, minhash FROM dedup_signatures ORDER BY 1"
    )
    execute(
        db,
        "UPDATE articles SET text = 'lost', text_chars = 4, content_hash = 'x', title = NULL, "
        "author = NULL, "
        "published_at = NULL, language = NULL, site_name = NULL",
    )
    execute(db, "DELETE FROM article_topics")

    # the site is down (its server stopped after the run), and no client may even be built
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("reextract built an HTTP client")

    monkeypatch.setattr("flows.sources.fetch.Fetcher.__init__", no_network)
    code, out = cli("reextract", "--config", str(warehouse.config))
    assert code == 0, out
    assert "read 31 archived pages (30 articles)" in out
    assert "texts changed: 30, metadata only: 0, unchanged: 0" in out
    assert "missing files: 0" in out

    # every text, hash, title, byline and date (the feed's, where the page has none) is back,
    # and with them the verdicts, clusters, index and topics
    assert rows(db, f"SELECT {ARTICLE_COLUMNS} FROM articles ORDER BY article_id") == original
    assert rows(db, "SELECT * FROM article_topics ORDER BY ALL") == topics
    assert rows(db, "SELECT count(*) FROM articles WHERE text_chars = length(text)") == [(30,)]
    assert rows(db, "SELECT * FROM article_topic_pairs ORDER BY ALL") == pairs
    assert (
        rows(db, "SELECT doc_id, content_hash, root_id, minhash FROM dedup_signatures ORDER BY 1")
        == index
    )

    # again: nothing changes, nothing is rebuilt
    code, out = cli("reextract", "--config", str(warehouse.config), "--format", "json")
    summary = json.loads(out)
    assert code == 0 and summary["unchanged"] == 30 and summary["texts_changed"] == 0
    assert not summary["dedup_rebuilt"] and not summary["topics_retagged"]

    # a file gone from the archive is reported; its article stays as it is
    (sha,) = rows(
        db,
        "SELECT sha256 FROM raw_pages WHERE url LIKE '%/articles/tesla-q3-deliveries.html'",
    )[0]
    archive.path_for(warehouse.raw_dir, sha).unlink()
    execute(db, "UPDATE articles SET text = 'stale' WHERE url LIKE '%/tesla-q3-deliveries.html'")
    code, out = cli("reextract", "--config", str(warehouse.config), "-f", "json")
    summary = json.loads(out)
    assert code == 0 and summary["missing_files"] == 1 and summary["unchanged"] == 29
    assert sha in summary["missing"][0]
    assert rows(db, "SELECT text FROM articles WHERE url LIKE '%/tesla-q3-deliveries.html'") == [
        ("stale",)
    ]

    # only the pages fetched since a day
    code, out = cli("reextract", "--config", str(warehouse.config), "--since", "2999-01-01")
    assert code == 0 and "read 0 archived pages" in out
    code, out = cli("reextract", "--config", str(warehouse.config), "--since", "yesterday")
    assert code == 2


@pytest.mark.clock
def test_prune_frees_old_pages_and_orphans(warehouse: Copy) -> None:
    db, raw_dir = warehouse.db, warehouse.raw_dir
    cfg = with_retention(warehouse.config, raw_days=30)
    old = rows(db, "SELECT url, sha256 FROM raw_pages ORDER BY url LIMIT 5")
    execute(
        db,
        "UPDATE raw_pages SET fetched_at = now() - INTERVAL 40 DAY "
        "WHERE url IN (SELECT unnest(?::VARCHAR[]))",
        [[u for u, _ in old]],
    )
    # a recent page with the same bytes as an old one keeps the file
    shared = old[0][1]
    execute(
        db,
        "INSERT INTO raw_pages SELECT * REPLACE ('https://mirror.example/a' AS url, now() AS "
        "fetched_at) FROM raw_pages WHERE url = ?",
        [old[0][0]],
    )
    # a file whose load never committed, and a write that never finished
    orphan = archive.store(raw_dir, b"<html>a page whose batch never committed</html>")
    temp = raw_dir / "ab" / f".{'ab' * 32}.1234.tmp"
    temp.parent.mkdir(exist_ok=True)
    temp.write_bytes(b"half")
    before = files(raw_dir)
    freed = sum(
        archive.path_for(raw_dir, sha).stat().st_size for _, sha in old if sha != shared
    ) + (orphan.written + 4)

    code, out = cli("prune", "--config", str(cfg))
    assert code == 0, out
    assert f"freed 6 files, {freed / 1024:.1f} KB: 5 archived pages older than 30 days, " in out
    assert "2 files no page referred to" in out
    gone = before - files(raw_dir)
    assert gone == {archive.path_for(raw_dir, sha) for _, sha in old[1:]} | {
        archive.path_for(raw_dir, orphan.sha256),
        temp,
    }
    assert archive.path_for(raw_dir, shared).exists()
    assert rows(db, "SELECT count(*) FROM raw_pages WHERE fetched_at < now() - INTERVAL 30 DAY")[
        0
    ] == (0,)
    assert rows(db, "SELECT count(*) FROM raw_pages") == [(27,)]
    # every remaining row has its file, every file its row
    shas = {sha for (sha,) in rows(db, "SELECT sha256 FROM raw_pages")}
    assert {p.name for p in files(raw_dir)} == {f"{s}.gz" for s in shas}

    code, out = cli("prune", "--config", str(cfg), "--format", "json")
    again = json.loads(out)
    assert code == 0 and (again["rows"], again["files"], again["bytes"]) == (0, 0, 0)


def test_prune_keeps_pages_forever_when_told(warehouse: Copy) -> None:
    db = warehouse.db
    cfg = with_retention(warehouse.config, raw_days="forever")
    execute(db, "UPDATE raw_pages SET fetched_at = now() - INTERVAL 4000 DAY")
    code, out = cli("prune", "--config", str(cfg))
    assert code == 0 and "freed 0 files, 0 bytes: 0 archived pages (kept forever)" in out
    assert rows(db, "SELECT count(*) FROM raw_pages") == [(31,)]


@pytest.mark.clock
def test_each_run_prunes_at_its_end(prefect, demo_run: Demo, warehouse: Copy) -> None:
    db, raw_dir = warehouse.db, warehouse.raw_dir
    cfg = with_retention(warehouse.config, raw_days=30)
    old = rows(db, "SELECT url, sha256 FROM raw_pages ORDER BY url LIMIT 3")
    execute(
        db,
        "UPDATE raw_pages SET fetched_at = now() - INTERVAL 31 DAY "
        "WHERE url IN (SELECT unnest(?::VARCHAR[]))",
        [[u for u, _ in old]],
    )
    orphan = archive.store(raw_dir, b"<html>left by a run that died before its commit</html>")
    port = int(demo_run.base_url.rsplit(":", 1)[1])
    # the same site, the same URLs, the same dates
    with SiteServer(demo_run.site_root, port=port, today=demo_run.today) as site:
        summary = monitor(config=str(cfg))
        assert not [p for p in site.paths() if p.startswith("/articles/")]
    assert summary["status"] == "completed"
    assert rows(db, "SELECT count(*) FROM raw_pages") == [(28,)]
    for _, sha in old:
        assert not archive.path_for(raw_dir, sha).exists()
    assert not archive.path_for(raw_dir, orphan.sha256).exists()


def said(result: object) -> str:
    """What an extraction result says: the article's text, or the reason it has none."""
    return result.text if isinstance(result, Extracted) else getattr(result, "reason", "missing")


def test_pages_are_archived_and_read_back_in_the_worker_pool(tmp_path: Path) -> None:
    """With a batch big enough for the process pool, the workers compress and write the files,
    and read them back for a second extraction."""
    raw_dir = tmp_path / "w.duckdb.raw"
    pages = []
    for n, path in enumerate(sorted((SITE / "articles").glob("*.html")) * 2):
        url = f"http://news.example/{n}/{path.name}"
        item = FeedItem("http://news.example/feed.xml", url, url, None, None, None, None)
        pages.append(Page(url, path.read_bytes(), "utf-8", item, "text/html"))
    assert len(pages) >= 48  # the pool's threshold
    first = extract_pages(pages, min_chars=200, workers=2)
    stored = extract_and_archive(pages, raw_dir, min_chars=200, workers=2)
    assert [said(r) for r, _ in stored] == [said(r) for r in first]
    assert said(first[3]) == "empty_extraction"  # the cookie wall, archived all the same
    shas = {s.sha256 for _, s in stored if isinstance(s, archive.Stored)}
    assert len(shas) == len(pages) // 2  # the same bytes are stored once
    assert {p.name for p in files(raw_dir)} == {f"{s}.gz" for s in shas}

    refs = [
        ArchivedPage(p.url, s.sha256, p.charset, p.item, p.content_type)
        for p, (_, s) in zip(pages, stored, strict=True)
        if isinstance(s, archive.Stored)
    ]
    gone = refs[0].sha256
    archive.path_for(raw_dir, gone).unlink()
    broken = refs[1].sha256
    archive.path_for(raw_dir, broken).write_bytes(gzip.compress(b"other bytes"))
    again = extract_archived(refs, raw_dir, min_chars=200, workers=2)
    for ref, before, after in zip(refs, first, again, strict=True):
        if ref.sha256 in (gone, broken):
            assert isinstance(after, MissingFile)
        elif isinstance(before, Extracted):
            assert isinstance(after, Extracted) and after.text == before.text
    assert sum(isinstance(r, MissingFile) for r in again) == 4


def test_store_is_atomic_and_idempotent(tmp_path: Path) -> None:
    body = b"<html>" + os.urandom(2000).hex().encode() + b"</html>"
    first = archive.store(tmp_path, body)
    second = archive.store(tmp_path, body)
    assert first.written > 0 and second.written == 0 and first.sha256 == second.sha256
    assert archive.load(tmp_path, first.sha256) == body
    assert [p.name for p in files(tmp_path)] == [f"{first.sha256}.gz"]  # no temporary file left
    with pytest.raises(FileNotFoundError):
        archive.load(tmp_path, "0" * 64)


def test_retention_settings(tmp_path: Path) -> None:
    from flows.config import load_settings

    cfg = tmp_path / "c.toml"
    cfg.write_text('[warehouse]\npath = "data/w.duckdb"\n')
    settings = load_settings(cfg)
    assert settings.retention.archive_raw and settings.retention.raw_days == 90
    assert settings.raw_dir == tmp_path / "data" / "w.duckdb.raw"
    cfg.write_text('[retention]\nraw_dir = "pages"\narchive_raw = false\n')
    settings = load_settings(cfg)
    assert settings.raw_dir == tmp_path / "pages" and not settings.retention.archive_raw
