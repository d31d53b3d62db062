import pytest

from flows.sources.urls import article_id, canonical_url, source_of


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("HTTP://Example.COM/News/Story.html", "http://example.com/News/Story.html"),
        ("https://example.com/a?utm_source=rss&utm_medium=feed&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a?fbclid=x&gclid=y&ref=home", "https://example.com/a"),
        ("https://example.com/a#comments", "https://example.com/a"),
        ("https://example.com:443/a", "https://example.com/a"),
        ("http://example.com:8080/a", "http://example.com:8080/a"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com/a?b=2&a=1", "https://example.com/a?b=2&a=1"),  # order kept
        ("https://example.com/a?page=2&utm_campaign=x", "https://example.com/a?page=2"),
        ("https://example.com/a?q=hello%20world", "https://example.com/a?q=hello+world"),
        ("http://[::1]:8000/x#y", "http://[::1]:8000/x"),
    ],
)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected


def test_tracking_variants_share_one_id() -> None:
    a = canonical_url("https://news.example/x.html?utm_source=rss")
    b = canonical_url("https://NEWS.example/x.html?fbclid=abc#top")
    assert a == b
    assert article_id(a) == article_id(b)
    assert len(article_id(a)) == 16


def test_article_id_is_stable_across_processes() -> None:
    # A fixed value: the id must not depend on Python's per-process hash seed.
    assert article_id("https://example.com/") == "14ba2eb79c27555b"


def test_source_drops_www() -> None:
    assert source_of("https://www.Example.org/a") == "example.org"
