"""Poll one feed: conditional GET with the stored cursor, then feedparser on the bytes."""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import feedparser

from flows.errors import FetchError
from flows.fetch import Fetcher
from flows.urls import canonical_url


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


def parse_feed(
    feed_url: str, body: bytes, headers: dict[str, str]
) -> tuple[list[FeedItem], str | None]:
    """Parse feed bytes into items and a warning (why feedparser flagged a readable feed).

    Raise FetchError(not_a_feed | malformed_feed) when nothing is usable.
    """
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
    return items, warning


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
        resp = await fetcher.get(feed_url, expect="feed", max_bytes=max_bytes, headers=headers)
        if resp.status == 304:
            return FeedPoll(
                feed_url,
                feed_name,
                "not_modified",
                polled_at,
                304,
                cursor,
                seconds=resp.elapsed,
                sent=cursor,
            )
        items, warning = parse_feed(feed_url, resp.body, resp.headers)
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
        etag=resp.headers.get("etag"), last_modified=resp.headers.get("last-modified")
    )
    return FeedPoll(
        feed_url,
        feed_name,
        "ok",
        polled_at,
        resp.status,
        new_cursor,
        items,
        detail=warning,
        seconds=resp.elapsed,
        sent=cursor,
        entries_dropped=dropped,
    )
