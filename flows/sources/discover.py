"""Find a site's feeds from any URL of it, as feed readers do.

In order, stopping at the first step that finds something:

1. the URL itself, when it already is a feed or a sitemap;
2. the page's ``<link rel="alternate">`` to RSS, Atom or JSON feeds (each one fetched and
   checked);
3. common feed paths on the site (``/feed``, ``/rss.xml``, ``/atom.xml``, ...): the first that
   answers with a feed;
4. the site's news sitemap: ``Sitemap:`` lines of robots.txt, then the usual names; a sitemap
   index is looked into. A plain sitemap (no ``<news:news>``) is offered only when nothing else
   was found.

Every request goes through the Fetcher (address checks, time limits, byte caps), so discovery
is as safe as polling; nothing is stored.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

from flows.config import NetworkSettings
from flows.errors import FetchError
from flows.sources import sitemaps
from flows.sources.feeds import ParsedFeed, fetch_feed, read_source
from flows.sources.fetch import Fetcher

COMMON_PATHS = (
    "/feed",
    "/rss",
    "/rss.xml",
    "/atom.xml",
    "/feed.xml",
    "/index.xml",
    "/feeds/all.atom.xml",
    "/?feed=rss2",
)
SITEMAP_PATHS = ("/news-sitemap.xml", "/sitemap_news.xml", "/sitemap-news.xml", "/sitemap.xml")
FEED_TYPES = (
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/json",
    "application/rdf+xml",
    "application/xml",
    "text/xml",
)
MAX_CANDIDATES = 10  # <link rel="alternate"> checked per page


@dataclass(frozen=True)
class Found:
    """A feed (or news sitemap) found on a site."""

    url: str
    title: str | None
    kind: str  # rss, atom, news_sitemap, sitemap, ...
    entries: int
    via: str  # how it was found


@dataclass
class Discovery:
    found: list[Found] = field(default_factory=list)
    tried: list[tuple[str, str]] = field(default_factory=list)  # (url, why it is not a feed)


def _kind(parsed: ParsedFeed) -> str:
    v = parsed.version or ""
    if v.startswith("atom"):
        return "atom"
    if v.startswith(("rss", "rdf")):
        return "rss"
    if v.startswith("json"):
        return "json"
    return parsed.kind


async def _check(
    fetcher: Fetcher,
    url: str,
    net: NetworkSettings,
    via: str,
    out: Discovery,
    fetched: tuple[dict[str, str], bytes] | None = None,
) -> Found | None:
    """Fetch ``url`` (unless ``fetched`` holds its headers and body) and return it when it is
    a feed or a sitemap."""
    try:
        if fetched is None:
            status, headers, body, _ = await fetch_feed(fetcher, url, net.max_feed_bytes)
            if status != 200:
                raise FetchError(f"http_{status}", f"{url}: answered {status}")
        else:
            headers, body = fetched
            if body[:2] == b"\x1f\x8b":
                body = sitemaps.gunzip(url, body, net.max_feed_bytes)
        parsed = await read_source(fetcher, url, body, headers, net.max_feed_bytes)
    except FetchError as e:
        out.tried.append((url, e.reason))
        return None
    if not parsed.version:
        out.tried.append((url, "not_a_feed"))
        return None
    return Found(url, parsed.title, _kind(parsed), len(parsed.items), via)


def alternate_links(page_url: str, body: bytes) -> list[tuple[str, str | None]]:
    """(URL, title) of the feeds a page declares with ``<link rel="alternate" type=...>``."""
    import lxml.html

    try:
        doc = lxml.html.fromstring(body)
    except (ValueError, lxml.etree.ParserError):
        return []
    base = page_url
    for b in doc.iter("base"):
        if b.get("href"):
            base = urljoin(page_url, b.get("href"))
            break
    out: list[tuple[str, str | None]] = []
    for link in doc.iter("link"):
        rel = (link.get("rel") or "").lower().split()
        kind = (link.get("type") or "").split(";")[0].strip().lower()
        href = (link.get("href") or "").strip()
        if "alternate" in rel and kind in FEED_TYPES and href:
            url = urljoin(base, href)
            if url.startswith(("http://", "https://")) and url not in [u for u, _ in out]:
                out.append((url, (link.get("title") or "").strip() or None))
    return out


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


async def _robots_sitemaps(fetcher: Fetcher, origin: str) -> list[str]:
    try:
        resp = await fetcher.get(origin + "/robots.txt", max_bytes=512_000)
    except FetchError:
        return []
    if resp.status != 200:
        return []
    out = []
    for line in resp.body.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "sitemap" and value.strip().startswith(("http://", "https://")):
            out.append(value.strip())
    return out


async def discover_with(fetcher: Fetcher, url: str, net: NetworkSettings) -> Discovery:
    out = Discovery()
    # 1. the URL itself: a feed or a sitemap?
    try:
        resp = await fetcher.get(url, max_bytes=max(net.max_page_bytes, net.max_feed_bytes))
    except FetchError as e:
        out.tried.append((url, e.reason))
        if not e.reason.startswith("http_"):
            return out  # the site cannot be reached (or may not be): no guessing around it
        resp = None
    page = None
    if resp is not None and resp.status == 200:
        head = resp.body[:1024].lstrip().lower()
        xml = head.startswith(b"<?xml") or any(t in head for t in (b"<rss", b"<feed", b"<urlset"))
        if not xml and (
            resp.content_type in ("text/html", "application/xhtml+xml")
            or head.startswith((b"<!doctype html", b"<html"))
        ):
            page = resp
        else:
            found = await _check(fetcher, url, net, "the URL given", out, (resp.headers, resp.body))
            if found is not None:
                out.found.append(found)
                return out
    elif resp is not None:
        out.tried.append((url, f"http_{resp.status}"))
    origin = _origin(resp.url if resp is not None else url)
    # 2. <link rel="alternate"> on the page
    if page is not None:
        for link, title in alternate_links(page.url, page.body)[:MAX_CANDIDATES]:
            found = await _check(fetcher, link, net, 'link rel="alternate"', out)
            if found is not None:
                out.found.append(
                    Found(found.url, found.title or title, found.kind, found.entries, found.via)
                )
        if out.found:
            return out
    # 3. common paths
    for path in COMMON_PATHS:
        found = await _check(fetcher, origin + path, net, f"common path {path}", out)
        if found is not None and found.kind != "sitemap":
            out.found.append(found)
            return out
    # 4. sitemaps: robots.txt first, then the usual names
    plain: list[Found] = []
    candidates = [
        *[(u, "robots.txt Sitemap") for u in await _robots_sitemaps(fetcher, origin)],
        *[(origin + p, f"sitemap path {p}") for p in SITEMAP_PATHS],
    ]
    checked: set[str] = set()
    for sitemap, via in candidates:
        if sitemap in checked:
            continue
        checked.add(sitemap)
        found = await _check(fetcher, sitemap, net, via, out)
        if found is None:
            continue
        if found.kind == "news_sitemap":
            out.found.append(found)
            return out
        plain.append(found)
    out.found.extend(plain[:1])
    return out


def discover(url: str, net: NetworkSettings) -> Discovery:
    """The feeds of the site at ``url`` (see the module's documentation)."""

    async def go() -> Discovery:
        async with Fetcher(net) as fetcher:
            return await discover_with(fetcher, url, net)

    return asyncio.run(go())
