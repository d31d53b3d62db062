"""Partial copies through the real flow: a loopback site → Prefect runs → DuckDB file.

One site publishes a wire story and short items that all carry the site's long "about us"
block; later an excerpt and a truncated copy of the story appear, and another short item."""

from __future__ import annotations

from html import escape
from pathlib import Path

import pytest
import stories
from conftest import rows, write_config

from flows.demo.server import SiteServer
from flows.orchestration.monitor import monitor
from flows.sources.urls import article_id

pytestmark = [pytest.mark.e2e, pytest.mark.clock]  # clock: also run a year ahead

TITLE = "Grain shipments through Gdansk rise by a third"
# the story as the site tells it names Russia (the topic the copies are counted under)
WIRE = [
    stories.WIRE[0].replace(
        "reopened in spring.",
        "reopened after Russian strikes on Black Sea ports pushed traders north.",
    ),
    *stories.WIRE[1:],
]
BLOCK = stories.BLOCK
ITEMS = [
    ("Extra evening ferry", "The city's ferry to the Hel peninsula will run an extra evening "
     "crossing on Fridays from next month, the operator said, after record summer passenger "
     "numbers and long queues at the terminal."),
    ("Pilots' warning strike", "Harbour pilots held a one-hour warning strike on Tuesday over "
     "pension changes, delaying the departure of two container ships from the deep-water "
     "terminal by several hours."),
    ("New cold store", "A new cold store for fish landings opened at the northern quay, with "
     "room for four hundred tonnes and solar panels covering most of its roof, the harbour "
     "board said."),
    ("Dredging pause", "Dredging of the inner channel will pause for three weeks during the "
     "herring spawning season, environmental officials confirmed after talks with the "
     "contractor on Wednesday."),
    ("Museum reopens", "The port museum reopens on Saturday after a two-year renovation that "
     "added a gallery on the history of the shipyard strikes and a rooftop viewing deck."),
    ("Stolen cars seized", "Customs officers at the car terminal seized forty stolen vehicles "
     "bound for Central Asia, hidden in containers declared as used machinery parts."),
    ("Rowing race returns", "A coastal rowing race returns to the harbour this weekend for the "
     "first time since 2019, with crews from Sweden, Denmark and Lithuania taking part."),
]  # fmt: skip


def html(title: str, paragraphs: list[str], published: str) -> str:
    body = "\n".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta property="og:title" content="{escape(title)}">
<meta property="article:published_time" content="{published}">
</head><body>
<nav><a href="/">Home</a> | <a href="/ports">Ports</a> | <a href="/shipping">Shipping</a></nav>
<article><h1>{escape(title)}</h1>
{body}
</article>
<footer>© 2026 Harbour Ledger. All rights reserved.</footer>
</body></html>
"""


def feed(entries: list[tuple[str, str, str]]) -> str:
    items = "".join(
        f"<item><title>{escape(t)}</title><link>{{{{BASE_URL}}}}{path}</link>"
        f"<pubDate>{date}</pubDate></item>"
        for path, t, date in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Harbour Ledger</title><link>{{{{BASE_URL}}}}/</link>{items}</channel></rss>"
    )


def test_excerpt_and_truncated_pages_are_partial_copies_shared_boilerplate_is_not(
    prefect, tmp_path: Path, seeds_dir: Path
) -> None:
    root = tmp_path / "site"
    (root / "articles").mkdir(parents=True)
    (root / "feeds").mkdir()
    (root / "articles" / "grain.html").write_text(
        html(TITLE, [*WIRE, BLOCK], "{{DATE -17 08:00 iso}}"), encoding="utf-8"
    )
    entries = [("/articles/grain.html", TITLE, "{{DATE -17 08:00 rfc822}}")]
    for i, (title, text) in enumerate(ITEMS):
        (root / "articles" / f"item{i}.html").write_text(
            html(title, [text, BLOCK], f"{{{{DATE -17 1{i}:00 iso}}}}"), encoding="utf-8"
        )
    entries += [
        (f"/articles/item{i}.html", t, f"{{{{DATE -17 1{i}:00 rfc822}}}}")
        for i, (t, _) in enumerate(ITEMS[:-1])
    ]
    (root / "feeds" / "ledger.xml").write_text(feed(entries), encoding="utf-8")
    db = tmp_path / "corpus.duckdb"
    with SiteServer(root, slow_seconds=0.3) as site:
        cfg = write_config(
            tmp_path / "c.toml", feeds=[site.url("/feeds/ledger.xml")], db=db, seeds=seeds_dir
        )
        first = monitor(config=str(cfg))
        assert first["status"] == "completed" and first["articles_new"] == len(ITEMS)
        # the block is on every page of the site: the short items under it are all unique
        assert rows(db, "SELECT DISTINCT dedup_status FROM articles") == [("unique",)]

        # later: an aggregator's excerpt, a paywalled mirror's first half, one more item
        (root / "articles" / "grain-excerpt.html").write_text(
            html(TITLE, [*WIRE[:2], "Continue reading at the Harbour Ledger"],
                 "{{DATE -16 07:00 iso}}"),
            encoding="utf-8",
        )  # fmt: skip
        (root / "articles" / "grain-mirror.html").write_text(
            html(TITLE, [*WIRE[:4], "Subscribe to read more."], "{{DATE -16 07:30 iso}}"),
            encoding="utf-8",
        )
        entries += [
            ("/articles/grain-excerpt.html", TITLE, "{{DATE -16 07:00 rfc822}}"),
            ("/articles/grain-mirror.html", TITLE, "{{DATE -16 07:30 rfc822}}"),
            (f"/articles/item{len(ITEMS) - 1}.html", ITEMS[-1][0], "{{DATE -16 08:00 rfc822}}"),
        ]
        (root / "feeds" / "ledger.xml").write_text(feed(entries), encoding="utf-8")
        second = monitor(config=str(cfg))
        original = article_id(site.url("/articles/grain.html"))
        copies = [article_id(site.url(f"/articles/grain-{k}.html")) for k in ("excerpt", "mirror")]
        last_item = article_id(site.url(f"/articles/item{len(ITEMS) - 1}.html"))

    assert second["status"] == "completed" and second["articles_new"] == 3
    assert second["partial_copies"] == 2 and second["unique_articles"] == 1
    for copy in copies:
        status, dup, cluster, sim, cont = rows(
            db,
            "SELECT dedup_status, duplicate_of, cluster_id, similarity, containment "
            "FROM articles WHERE article_id = ?",
            [copy],
        )[0]
        assert (status, dup, cluster) == ("partial_copy", original, original)
        assert cont >= 0.9 and sim < 0.6
    assert rows(db, "SELECT dedup_status FROM articles WHERE article_id = ?", [last_item]) == [
        ("unique",)
    ]
    # the site's block was learned from its pages: counted once per page that holds it
    assert rows(db, "SELECT max(docs) FROM dedup_site_units") == [(len(ITEMS) + 1,)]
    # analytics count the partial copies as copies of one story
    assert rows(
        db,
        "SELECT articles, unique_stories, copies FROM topic_daily WHERE topic = 'russia' "
        "ORDER BY day",
    ) == [(1, 1, 0), (2, 0, 2)]
    assert rows(db, "SELECT count(*) FROM quarantine") == [(0,)]
