"""Extraction modes: trafilatura's fallback extractors run for short extractions (adaptive) or
for every page (thorough)."""

from __future__ import annotations

import pytest

from flows.extract import THOROUGH_BELOW_CHARS, Page, extract_page
from flows.feeds import FeedItem

SENTENCE = "The council voted on the new budget for the harbour district after a long debate."


def list_page(items: int) -> Page:
    """A story written as a bulleted list: trafilatura's own extractor drops the bullets, its
    fallbacks (jusText) keep them as "- "."""
    body = "".join(f"<li>{SENTENCE} Part {i}.</li>" for i in range(items))
    url = f"http://news.test/list-{items}"
    item = FeedItem("http://news.test/feed", url, url, None, None, None, None)
    return Page(url, f"<html><body><ul>{body}</ul></body></html>".encode(), "utf-8", item)


@pytest.mark.parametrize(("items", "fallbacks_ran"), [(10, True), (20, False)])
def test_fallbacks_run_for_short_extractions_only(items: int, fallbacks_ran: bool) -> None:
    page = list_page(items)
    thorough = extract_page(page, thorough=True).text
    adaptive = extract_page(page).text
    assert thorough.startswith("- ")  # the fallbacks' rendering of the list
    fast_length = len(adaptive.replace("- ", ""))
    assert (fast_length < THOROUGH_BELOW_CHARS) == fallbacks_ran
    assert (adaptive == thorough) == fallbacks_ran
    if not fallbacks_ran:
        assert not adaptive.startswith("- ") and SENTENCE in adaptive
