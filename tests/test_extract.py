"""Extraction: trafilatura's fallback extractors run for short extractions (adaptive) or for every
page (thorough); the extraction processes skip the metadata the warehouse does not keep and
search bylines in one pass."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from flows.errors import FetchError
from flows.extraction.extract import THOROUGH_BELOW_CHARS, Page, extract_page
from flows.sources.feeds import FeedItem

REPO = Path(__file__).resolve().parent.parent

SENTENCE = "The council voted on the new budget for the harbour district after a long debate."


def list_page(items: int) -> Page:
    """A story written as a bulleted list: trafilatura's own extractor drops the bullets, its
    fallbacks (jusText) keep them as "- "."""
    body = "".join(f"<li>{SENTENCE} Part {i}.</li>" for i in range(items))
    url = f"http://news.test/list-{items}"
    item = FeedItem("http://news.test/feed", url, url, None, None, None, None)
    head = (
        "<head><title>Harbour budget | The Gazette</title>"
        '<meta name="author" content="Ann Lee"><meta property="og:site_name" content="Gazette">'
        '<meta property="article:published_time" content="2026-03-02T10:00:00Z"></head>'
    )
    html = f"<html lang='en'>{head}<body><ul>{body}</ul></body></html>"
    return Page(url, html.encode(), "utf-8", item)


@pytest.mark.parametrize(("items", "fallbacks_ran"), [(10, True), (20, False)])
def test_fallbacks_run_for_short_extractions_only(items: int, fallbacks_ran: bool) -> None:
    page = list_page(items)
    thorough_article = extract_page(page, thorough=True)
    adaptive_article = extract_page(page)
    # the metadata of the first, fast pass is what the thorough extraction finds
    assert adaptive_article.author == "Ann Lee" and adaptive_article.site_name == "Gazette"
    assert replace(adaptive_article, text="") == replace(thorough_article, text="")
    thorough, adaptive = thorough_article.text, adaptive_article.text
    assert thorough.startswith("- ")  # the fallbacks' rendering of the list
    fast_length = len(adaptive.replace("- ", ""))
    assert (fast_length < THOROUGH_BELOW_CHARS) == fallbacks_ran
    assert (adaptive == thorough) == fallbacks_ran
    if not fallbacks_ran:
        assert not adaptive.startswith("- ") and SENTENCE in adaptive


def _metadata_collectors(_: int) -> tuple[bool, bool, bool]:
    from trafilatura import metadata

    from flows.extraction import authors

    return (
        metadata.extract_catstags([], None) == [],  # type: ignore[arg-type]
        metadata.extract_license(None) is None,  # type: ignore[arg-type]
        metadata.extract_author is authors.extract_author,
    )


def test_extraction_processes_use_lighter_metadata_and_extract_the_same(tmp_path: Path) -> None:
    """The pool's processes leave out categories, tags and license (the warehouse keeps none
    of them), search bylines in one pass, and extract exactly what this process does with
    trafilatura untouched."""
    from trafilatura import metadata

    from flows.extraction.extract import POOL_MIN_PAGES, _pool, extract_pages

    articles = sorted((REPO / "flows" / "demo" / "site" / "articles").glob("*.html"))
    pages = []
    for i in range(POOL_MIN_PAGES):
        url = f"http://news.test/{i}/{articles[i % len(articles)].name}"
        item = FeedItem("http://news.test/feed", url, url, None, None, None, None)
        pages.append(Page(url, articles[i % len(articles)].read_bytes(), "utf-8", item))

    def comparable(results: list[Any]) -> list[Any]:
        return [(r.reason, r.detail) if isinstance(r, FetchError) else r for r in results]

    in_pool = comparable(extract_pages(pages, workers=2))
    # untouched here
    assert metadata.extract_catstags.__module__ == "trafilatura.metadata"
    assert metadata.extract_author.__module__ == "trafilatura.metadata"
    here = comparable(extract_pages(pages, workers=1))
    assert in_pool == here
    assert sum(1 for a in here if not isinstance(a, tuple)) >= len(articles) - 2
    # the stubs and the byline search are in place in the pool's processes (the saving is not
    # silently lost)
    assert set(_pool(2).map(_metadata_collectors, range(4))) == {(True, True, True)}


def test_the_page_date_wins_but_a_bare_first_of_january_does_not() -> None:
    from datetime import UTC, datetime

    from flows.extraction.extract import _published

    feed = datetime(2026, 10, 3, 8, 0, tzinfo=UTC)
    page = datetime(2026, 10, 2, 21, 15, tzinfo=UTC)
    assert _published(page, feed) == page and _published(None, feed) == feed
    assert _published(page, None) == page
    # a date-only page value: the feed's time on the same day, the page's day otherwise
    assert _published(datetime(2026, 10, 3, tzinfo=UTC), feed) == feed
    assert _published(datetime(2026, 9, 30, tzinfo=UTC), feed) == datetime(2026, 9, 30, tzinfo=UTC)
    # a year alone in the text comes out as 1 January: the feed entry's date is better
    assert _published(datetime(2027, 1, 1, tzinfo=UTC), feed) == feed
    assert _published(datetime(2027, 1, 1, tzinfo=UTC), None) == datetime(2027, 1, 1, tzinfo=UTC)
    new_year = datetime(2027, 1, 1, 9, 30, tzinfo=UTC)
    assert _published(datetime(2027, 1, 1, tzinfo=UTC), new_year) == new_year
