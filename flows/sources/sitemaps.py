"""Sitemaps as a source: a news sitemap (``<urlset>`` with ``<news:news>``) is read like a feed.

A news sitemap lists a site's articles of the last two days with their title and publication
date (Google's format: ``<news:publication_date>``, ``<news:title>``); a plain sitemap lists
pages with an optional ``<lastmod>``. A sitemap index lists sitemaps: the newest few are read.
Everything goes through lxml with entities, DTDs and the network off, on bytes the Fetcher
already capped; gzip sitemaps (``.xml.gz``) are inflated up to the same cap.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

from lxml import etree

from flows.errors import FetchError

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
NEWS_NS = "http://www.google.com/schemas/sitemap-news/0.9"
INDEX_CHILDREN = 3  # sitemaps of an index read per poll: the newest (by lastmod, else the last)


def safe_parser() -> etree.XMLParser:
    """An XML parser that expands no entity, loads no DTD, reaches no network, and refuses
    documents deeper or larger than libxml2's default limits (billion laughs included)."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def looks_like_sitemap(body: bytes) -> bool:
    head = body[:2048].lower()
    return b"<urlset" in head or b"<sitemapindex" in head


def gunzip(url: str, body: bytes, cap: int) -> bytes:
    """Inflate a gzip sitemap, stopping at ``cap`` bytes (a gzip bomb ends as too_large)."""
    inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflate.decompress(body, cap + 1)
    except zlib.error as e:
        raise FetchError("bad_encoding", f"{url}: not a valid gzip file: {e}") from None
    if len(out) > cap or inflate.unconsumed_tail:
        raise FetchError("too_large", f"{url}: more than {cap} bytes once inflated")
    return out


@dataclass(frozen=True)
class SitemapUrl:
    loc: str
    title: str | None
    published_at: datetime | None
    news: bool


@dataclass
class Sitemap:
    """A parsed ``<urlset>`` (``urls``) or ``<sitemapindex>`` (``children``, newest first)."""

    urls: list[SitemapUrl] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
    title: str | None = None

    @property
    def is_index(self) -> bool:
        return bool(self.children) and not self.urls

    @property
    def is_news(self) -> bool:
        return any(u.news for u in self.urls)


def _date(text: str | None) -> datetime | None:
    """W3C datetime as sitemaps write it: a date, or a date and time with a zone."""
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _text(el: etree._Element | None) -> str | None:
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


def parse_sitemap(url: str, body: bytes) -> Sitemap:
    """Read a sitemap; raise FetchError(malformed_feed) for XML that is not one."""
    try:
        root = etree.fromstring(body, safe_parser())
    except etree.XMLSyntaxError as e:
        raise FetchError("malformed_feed", f"{url}: not a readable sitemap: {e}") from None
    if root is None:
        raise FetchError("malformed_feed", f"{url}: an empty document")
    tag = etree.QName(root).localname
    out = Sitemap()
    if tag == "sitemapindex":
        dated = []
        for n, sm in enumerate(root.iter(f"{{{SITEMAP_NS}}}sitemap", "sitemap")):
            loc = _text(sm.find(f"{{{SITEMAP_NS}}}loc")) or _text(sm.find("loc"))
            if loc and loc.startswith(("http://", "https://")):
                lastmod = _text(sm.find(f"{{{SITEMAP_NS}}}lastmod")) or _text(sm.find("lastmod"))
                stamp = _date(lastmod)
                dated.append(((stamp.timestamp() if stamp else 0.0), n, loc))
        out.children = [loc for _, _, loc in sorted(dated, reverse=True)]
        return out
    if tag != "urlset":
        raise FetchError("not_a_feed", f"{url}: <{tag}> is neither a feed nor a sitemap")
    for u in root.iter(f"{{{SITEMAP_NS}}}url", "url"):
        loc = _text(u.find(f"{{{SITEMAP_NS}}}loc")) or _text(u.find("loc"))
        if not loc or not loc.startswith(("http://", "https://")):
            continue
        news = u.find(f"{{{NEWS_NS}}}news")
        if news is not None:
            out.urls.append(
                SitemapUrl(
                    loc,
                    _text(news.find(f"{{{NEWS_NS}}}title")),
                    _date(_text(news.find(f"{{{NEWS_NS}}}publication_date"))),
                    True,
                )
            )
            if out.title is None:
                out.title = _text(news.find(f"{{{NEWS_NS}}}publication/{{{NEWS_NS}}}name"))
        else:
            lastmod = _text(u.find(f"{{{SITEMAP_NS}}}lastmod")) or _text(u.find("lastmod"))
            out.urls.append(SitemapUrl(loc, None, _date(lastmod), False))
    if out.is_news:  # a news sitemap's other URLs (section pages) are not articles
        out.urls = [u for u in out.urls if u.news]
    return out
