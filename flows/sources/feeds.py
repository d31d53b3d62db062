"""Poll one feed: conditional GET with the stored cursor, then feedparser on the bytes.

A news sitemap (or a sitemap index, or a gzip sitemap) is accepted wherever a feed URL is:
its URLs become entries (flows.sources.sitemaps).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import feedparser

from flows.errors import FetchError
from flows.sources import sitemaps
from flows.sources.cadence import feed_ttl
from flows.sources.fetch import Fetcher
from flows.sources.urls import canonical_url


@dataclass(frozen=True)
class FeedCursor:
    """What the last successful poll of a feed left behind, for a conditional GET.

    ``validate`` False: send no validators this time (the periodic unconditional fetch that
    catches servers answering 304 while their feed changes).
    """

    etag: str | None = None
    last_modified: str | None = None
    validate: bool = True

    @property
    def headers(self) -> dict[str, str]:
        out = {}
        if self.validate and self.etag:
            out["If-None-Match"] = self.etag
        if self.validate and self.last_modified:
            out["If-Modified-Since"] = self.last_modified
        return out


@dataclass(frozen=True)
class FeedItem:
    """One entry of a feed, with its link already canonicalised."""

    feed_url: str
    entry_url: str  # the link as written in the feed
    url: str  # canonical_url(entry_url)
    title: str | None
    author: str | None
    published_at: datetime | None
    summary: str | None


@dataclass
class FeedPoll:
    """The outcome of polling one feed. ``status`` is ok, not_modified or error."""

    feed_url: str
    feed_name: str
    status: Literal["ok", "not_modified", "error"]
    polled_at: datetime
    http_status: int | None = None
    cursor: FeedCursor = FeedCursor()
    items: list[FeedItem] = field(default_factory=list)
    error: str | None = None  # a documented reason code
    detail: str | None = None  # free text: the error, or why a parsable feed was flagged bozo
    seconds: float = 0.0
    sent: FeedCursor = FeedCursor()  # the cursor the request was made with
    entries_dropped: int = 0  # entries beyond the per-feed cap
    retry_after: float | None = None  # seconds the server asked to wait (429/503)
    ttl: int | None = None  # seconds: the shortest interval the feed asks for (<ttl>, sy:*)

    @property
    def conditional(self) -> bool:
        return bool(self.sent.headers)


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            try:
                return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
            except (OverflowError, ValueError, TypeError):
                continue
    return None


def _entry_link(entry: Any) -> str | None:
    link = entry.get("link")
    if link:
        return str(link)
    for candidate in entry.get("links", []):
        if candidate.get("rel", "alternate") == "alternate" and candidate.get("href"):
            return str(candidate["href"])
    # feedparser already turns a permalink <guid> into the link; a guid with
    # isPermaLink="false" is an identifier, never fetched as a page.
    return None


def newest(items: list[FeedItem], cap: int) -> tuple[list[FeedItem], int]:
    """The ``cap`` newest entries (undated ones count as newest: feeds list the latest first)
    in feed order, and how many were dropped."""
    if len(items) <= cap:
        return items, 0
    far = datetime.max.replace(tzinfo=UTC)
    order = sorted(
        range(len(items)), key=lambda i: (-(items[i].published_at or far).timestamp(), i)
    )
    keep = sorted(order[:cap])
    return [items[i] for i in keep], len(items) - cap


@dataclass
class ParsedFeed:
    """What a feed (or sitemap) document holds."""

    items: list[FeedItem]
    warning: str | None = None  # why feedparser flagged a readable feed
    ttl: int | None = None
    title: str | None = None
    kind: str = "feed"  # feed, news_sitemap, sitemap, sitemap_index
    children: list[str] = field(default_factory=list)  # a sitemap index: its sitemaps
    version: str | None = None  # what feedparser recognised (rss20, atom10, ...), or the kind


def parse_feed(
    feed_url: str, body: bytes, headers: dict[str, str]
) -> tuple[list[FeedItem], str | None]:
    """Parse feed bytes into items and a warning (why feedparser flagged a readable feed).

    Raise FetchError(not_a_feed | malformed_feed) when nothing is usable.
    """
    parsed = read_feed(feed_url, body, headers)
    return parsed.items, parsed.warning


def _sitemap_items(feed_url: str, sm: sitemaps.Sitemap) -> list[FeedItem]:
    items: list[FeedItem] = []
    seen: set[str] = set()
    for u in sm.urls:
        url = canonical_url(u.loc)
        if url not in seen:
            seen.add(url)
            items.append(FeedItem(feed_url, u.loc, url, u.title, None, u.published_at, None))
    return items


def read_feed(feed_url: str, body: bytes, headers: dict[str, str]) -> ParsedFeed:
    """Parse a feed or sitemap document. Raise FetchError(not_a_feed | malformed_feed) when
    nothing is usable."""
    if sitemaps.looks_like_sitemap(body):
        sm = sitemaps.parse_sitemap(feed_url, body)
        if sm.is_index:
            return ParsedFeed(
                [], kind="sitemap_index", children=sm.children, version="sitemap_index"
            )
        kind = "news_sitemap" if sm.is_news else "sitemap"
        return ParsedFeed(_sitemap_items(feed_url, sm), title=sm.title, kind=kind, version=kind)
    parsed = feedparser.parse(
        body,
        response_headers={
            "content-type": headers.get("content-type", "application/xml"),
            "content-location": feed_url,
        },
    )
    items: list[FeedItem] = []
    seen: set[str] = set()
    for entry in parsed.entries:
        link = _entry_link(entry)
        if not link or not link.startswith(("http://", "https://")):
            continue
        url = canonical_url(link)
        if url in seen:
            continue
        seen.add(url)
        items.append(
            FeedItem(
                feed_url=feed_url,
                entry_url=link,
                url=url,
                title=(entry.get("title") or "").strip() or None,
                author=(entry.get("author") or "").strip() or None,
                published_at=_entry_time(entry),
                summary=(entry.get("summary") or "").strip() or None,
            )
        )
    if not items and parsed.bozo:  # nothing usable came out of an ill-formed document
        head = body[:512].lstrip().lower()
        if not parsed.get("version") and (
            head.startswith((b"<!doctype html", b"<html")) or not head.startswith(b"<")
        ):
            raise FetchError("not_a_feed", f"{feed_url}: the response is not RSS or Atom")
        raise FetchError(
            "malformed_feed", f"{feed_url}: {parsed.get('bozo_exception', 'unreadable')}"
        )
    warning = f"recovered from: {parsed.get('bozo_exception')}" if parsed.bozo else None
    title = (parsed.feed.get("title") or "").strip() or None
    version = parsed.get("version") or None
    return ParsedFeed(items, warning, feed_ttl(parsed.feed), title, version=version)


async def fetch_feed(
    fetcher: Fetcher, feed_url: str, max_bytes: int, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes, float]:
    """GET a feed or sitemap: (status, headers, body, seconds). A gzip sitemap (``.gz``) is
    fetched as bytes and inflated up to ``max_bytes``; a 304 comes back with an empty body."""
    gz = feed_url.split("?", 1)[0].lower().endswith(".gz")
    resp = await fetcher.get(
        feed_url, expect="any" if gz else "feed", max_bytes=max_bytes, headers=headers
    )
    body = resp.body
    if gz and resp.status != 304 and body[:2] == b"\x1f\x8b":
        body = sitemaps.gunzip(feed_url, body, max_bytes)
    return resp.status, resp.headers, body, resp.elapsed


async def read_source(
    fetcher: Fetcher, feed_url: str, body: bytes, headers: dict[str, str], max_bytes: int
) -> ParsedFeed:
    """Parse fetched bytes; a sitemap index has its newest few sitemaps fetched and read."""
    parsed = read_feed(feed_url, body, headers)
    if parsed.kind != "sitemap_index":
        return parsed
    read: list[ParsedFeed] = []
    problems = []
    for child in parsed.children[: sitemaps.INDEX_CHILDREN]:
        try:
            _, child_headers, child_body, _ = await fetch_feed(fetcher, child, max_bytes)
            read.append(read_feed(child, child_body, child_headers))
        except FetchError as e:
            problems.append(f"{child}: {e.reason}")
    # an index that holds news sitemaps: their articles, not the site's other pages
    news = [r for r in read if r.kind == "news_sitemap"]
    items: list[FeedItem] = []
    known: set[str] = set()
    for sub in news or read:
        for i in sub.items:
            if i.url not in known:
                known.add(i.url)
                items.append(
                    FeedItem(feed_url, i.entry_url, i.url, i.title, i.author, i.published_at, None)
                )
    if not items and problems:
        raise FetchError(
            "malformed_feed",
            f"{feed_url}: no sitemap of the index could be read: " + "; ".join(problems),
        )
    warning = ("sitemaps not read: " + "; ".join(problems)) if problems else None
    kind = "news_sitemap" if news else "sitemap"
    title = next((r.title for r in news if r.title), None)
    return ParsedFeed(
        items, warning, title=title, kind=kind, children=parsed.children, version=kind
    )


async def poll_feed(
    fetcher: Fetcher,
    feed_url: str,
    feed_name: str,
    cursor: FeedCursor,
    max_bytes: int,
    max_entries: int | None = None,
) -> FeedPoll:
    """Conditional GET of a feed; never raises for feed problems, they become the poll's status."""
    polled_at = datetime.now(UTC)
    headers = {
        "Accept": "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
    } | cursor.headers
    try:
        status, resp_headers, body, elapsed = await fetch_feed(
            fetcher, feed_url, max_bytes, headers
        )
        if status == 304:
            return FeedPoll(
                feed_url,
                feed_name,
                "not_modified",
                polled_at,
                304,
                cursor,
                seconds=elapsed,
                sent=cursor,
            )
        parsed = await read_source(fetcher, feed_url, body, resp_headers, max_bytes)
        items, warning = parsed.items, parsed.warning
    except FetchError as e:
        return FeedPoll(
            feed_url,
            feed_name,
            "error",
            polled_at,
            None,
            cursor,
            error=e.reason,
            detail=e.detail,
            sent=cursor,
            retry_after=e.retry_after,
        )
    dropped = 0
    if max_entries is not None:
        items, dropped = newest(items, max_entries)
        if dropped:
            note = f"{dropped} older entries beyond network.max_entries_per_feed not read"
            warning = f"{warning}; {note}" if warning else note
    new_cursor = FeedCursor(
        etag=resp_headers.get("etag"), last_modified=resp_headers.get("last-modified")
    )
    return FeedPoll(
        feed_url,
        feed_name,
        "ok",
        polled_at,
        status,
        new_cursor,
        items,
        detail=warning,
        seconds=elapsed,
        sent=cursor,
        entries_dropped=dropped,
        ttl=parsed.ttl,
    )
