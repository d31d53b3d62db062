"""Main text and metadata from page bytes, with trafilatura; the feed entry fills the gaps.

The functions here are plain and picklable: they run in-process for small batches and in a
process pool for large ones (extraction is the CPU-bound stage of the pipeline).
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import re
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flows.errors import FetchError
from flows.extraction import archive
from flows.extraction.text import clean_text
from flows.sources.feeds import FeedItem
from flows.sources.urls import canonical_url


@dataclass(frozen=True)
class Page:
    """A fetched page waiting for extraction."""

    url: str  # canonical URL after redirects
    body: bytes
    charset: str | None
    item: FeedItem  # the feed entry that led here (title/author/date fallbacks)
    content_type: str | None = None  # as the server declared it, without parameters
    fetched_at: datetime | None = None


@dataclass(frozen=True)
class ArchivedPage:
    """A page whose bytes are in the raw archive: the extraction worker reads them itself."""

    url: str
    sha256: str
    charset: str | None
    item: FeedItem
    content_type: str | None = None

    def page(self, body: bytes) -> Page:
        return Page(self.url, body, self.charset, self.item, self.content_type)


@dataclass(frozen=True)
class MissingFile:
    """An archived page whose file is gone or unreadable."""

    url: str
    detail: str


@dataclass(frozen=True)
class Extracted:
    """What extraction made of a page: text and metadata, fallbacks already applied."""

    url: str
    title: str | None
    author: str | None
    published_at: datetime | None
    language: str | None
    site_name: str | None
    text: str
    item: FeedItem
    # Per-article work done next to the extraction, in the same worker (see extract_pages).
    derived: Any = None
    # The archived page it came from (flows.orchestration.pipeline.RawPage), when the archive is on.
    raw: Any = None


_DATE_PARAMS = {
    "extensive_search": True,
    "original_date": True,
    "outputformat": "%Y-%m-%dT%H:%M:%S%z",
}
_LANG = re.compile(rb"<html[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]+)?", re.I)
_META_LANG = re.compile(
    rb"<meta[^>]+http-equiv\s*=\s*[\"']?content-language[\"']?[^>]*content\s*=\s*[\"']?([A-Za-z]{2,3})",
    re.I,
)


_META_CHARSET = re.compile(rb"<meta[^>]+?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]+)", re.I)
# Labels browsers read as windows-1252 (the WHATWG Encoding Standard): pages labelled
# latin-1 are nearly always cp1252 (curly quotes, the euro sign).
_AS_CP1252 = {
    "iso-8859-1", "iso8859-1", "iso_8859-1", "latin-1", "latin1", "l1", "us-ascii", "ascii",
    "cp819", "ibm819", "windows-1252", "cp1252", "x-cp1252",
}  # fmt: skip


def _codec(label: str) -> str | None:
    import codecs

    label = label.strip().strip("\"'").lower()
    if label in _AS_CP1252:
        return "cp1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _decode(body: bytes, charset: str | None) -> str:
    """Text from page bytes, whatever the server claims.

    Bytes that are valid UTF-8 and not plain ASCII are UTF-8 (other encodings almost never
    produce valid UTF-8 by accident, while servers often label UTF-8 pages latin-1); then the
    declared charset, then the page's own ``<meta charset>``; then windows-1252, the most common
    undeclared legacy encoding of Western news sites (a bad byte becomes U+FFFD, never an error).
    """
    if not body.isascii():
        try:
            return body.decode("utf-8")
        except UnicodeDecodeError:
            pass
    m = _META_CHARSET.search(body[:4096])
    for label in (charset, m.group(1).decode("ascii") if m else None):
        codec = _codec(label) if label else None
        if codec is None or codec == "utf-8":
            continue  # not UTF-8: the bytes said so above
        try:
            return body.decode(codec)
        except UnicodeDecodeError:
            continue
    return body.decode("cp1252", errors="replace")


def _language(body: bytes) -> str | None:
    head = body[:8192]
    m = _LANG.search(head) or _META_LANG.search(head)
    return m.group(1).decode("ascii").lower() if m else None


def _page_date(value: str | None) -> datetime | None:
    if not value:
        return None
    for fmt in ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d"):
        try:
            parsed = datetime.strptime(value, fmt)
        except ValueError:
            continue
        return parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _published(page_date: datetime | None, feed_date: datetime | None) -> datetime | None:
    """The page's date wins; a feed timestamp on the same day adds the time the page lacks.
    A bare 1 January (what a year alone in the text, "the 2027 budget", comes out as) does not
    win over the feed entry's date."""
    if page_date is None or feed_date is None or page_date.time() != datetime.min.time():
        return page_date or feed_date
    if page_date.date() == feed_date.date():
        return feed_date
    if (page_date.month, page_date.day) == (1, 1):
        return feed_date
    return page_date


# A page that is only a consent or paywall notice is not an article, however long the notice.
_WALL = re.compile(
    r"\b(?:cookies?|consent|privacy (?:policy|settings|preferences)|accept (?:all|cookies)|"
    r"subscribe|subscription|sign in to (?:continue|read)|disable your ad ?blocker|"
    r"continue reading|manage (?:preferences|settings))\b",
    re.IGNORECASE,
)
_SENTENCES = re.compile(r"(?<=[.!?])\s+|\n+")


def is_wall(text: str) -> bool:
    """True when most sentences of a short text are about cookies, consent or subscriptions."""
    if len(text) > 1500:
        return False
    sentences = [s for s in _SENTENCES.split(text) if len(s.split()) >= 3]
    if not sentences:
        return False
    walled = sum(1 for s in sentences if _WALL.search(s))
    return walled / len(sentences) >= 0.5


def _canonical_link(fetched: str, declared: str | None) -> str:
    """The page's own <link rel=canonical> / og:url when it names the same host; else the URL
    the page was fetched from. A page may not claim another site's article."""
    if not declared or not declared.startswith(("http://", "https://")):
        return fetched
    declared = canonical_url(declared)
    return declared if urlsplit(declared).netloc == urlsplit(fetched).netloc else fetched


# trafilatura compares its own extraction with readability's and jusText's (``fast=False``),
# which costs about a fifth of an extraction and changed none of the 52 real pages' texts in
# ../shared/realworld (BENCHMARKS.md). Those fallbacks earn their cost when the extraction
# comes back short: below this many characters a page is extracted again with them.
THOROUGH_BELOW_CHARS = 1500


def _bare_extraction(html: str, url: str, *, fast: bool, metadata: bool = True) -> Any:
    import trafilatura  # imported here: a worker process pays for it once, the CLI never

    return trafilatura.bare_extraction(
        html,
        url=url,
        with_metadata=metadata,
        include_comments=False,
        date_extraction_params=_DATE_PARAMS,
        fast=fast,
    )


def extract_page(page: Page, min_chars: int = 0, *, thorough: bool = False) -> Extracted:
    """Extract one page; raise FetchError('empty_extraction') when no article text is found.

    ``thorough``: always run trafilatura's fallback extractors; otherwise only when the fast
    extraction is shorter than THOROUGH_BELOW_CHARS.
    """
    try:
        html = _decode(page.body, page.charset)
        doc = _bare_extraction(html, page.url, fast=not thorough)
        if not thorough and len(getattr(doc, "text", None) or "") < THOROUGH_BELOW_CHARS:
            if doc is None:
                doc = _bare_extraction(html, page.url, fast=False)
            else:  # the fallbacks change the text only: the metadata found stays
                full = _bare_extraction(html, page.url, fast=False, metadata=False)
                doc.text = None if full is None else full.text
    except Exception as e:  # trafilatura raises a wide range of lxml/parser errors
        raise FetchError("empty_extraction", f"{page.url}: extraction failed: {e}") from None
    if isinstance(doc, dict):  # only with as_dict=True; keeps the type checker honest
        raise TypeError("bare_extraction returned a dict")
    text = clean_text(doc.text or "") if doc is not None else ""
    if not text or len(text) < min_chars:
        raise FetchError(
            "empty_extraction",
            f"{page.url}: {len(text)} characters of main text (minimum {min_chars})",
        )
    if is_wall(text):
        raise FetchError(
            "empty_extraction", f"{page.url}: only a cookie, consent or paywall notice"
        )
    assert doc is not None
    item = page.item
    return Extracted(
        url=_canonical_link(page.url, doc.url),
        title=(doc.title or "").strip() or item.title,
        author=(doc.author or "").strip() or item.author,
        published_at=_published(_page_date(doc.date), item.published_at),
        language=(doc.language or None) or _language(page.body),
        site_name=(doc.sitename or "").strip() or None,
        text=text,
        item=item,
    )


def _extract_or_error(
    args: tuple[Page, int, bool, Callable[[Extracted], Any] | None],
) -> Extracted | FetchError:
    page, min_chars, thorough, derive = args
    try:
        extracted = extract_page(page, min_chars, thorough=thorough)
    except FetchError as e:
        return e
    return replace(extracted, derived=derive(extracted)) if derive else extracted


def _extract_and_store(
    args: tuple[Page, int, bool, Callable[[Extracted], Any] | None, Path],
) -> tuple[Extracted | FetchError, archive.Stored | str]:
    """Extract a page and store its bytes in the archive (an OSError there is returned as text:
    the article is not lost because the archive could not take its page)."""
    page, min_chars, thorough, derive, raw_dir = args
    stored: archive.Stored | str
    try:
        stored = archive.store(raw_dir, page.body)
    except OSError as e:
        stored = f"{page.url}: {type(e).__name__}: {e}"
    return _extract_or_error((page, min_chars, thorough, derive)), stored


def _load_and_extract(
    args: tuple[ArchivedPage, int, bool, Path],
) -> Extracted | FetchError | MissingFile:
    ref, min_chars, thorough, raw_dir = args
    try:
        body = archive.load(raw_dir, ref.sha256)
    except FileNotFoundError:
        return MissingFile(ref.url, f"{archive.path_for(raw_dir, ref.sha256)}: no such file")
    except (OSError, archive.Unreadable) as e:
        return MissingFile(ref.url, str(e))
    return _extract_or_error((ref.page(body), min_chars, thorough, None))


# Below this many pages a process pool costs more (worker start-up, imports) than it saves.
POOL_MIN_PAGES = 48
_pools: dict[int, ProcessPoolExecutor] = {}


def _context() -> multiprocessing.context.BaseContext:
    """forkserver, not fork: the flow process runs threads (Prefect, httpx), and forking a
    threaded process can copy a held lock into the child."""
    context = multiprocessing.get_context("forkserver")
    # the server imports the main module (as by default) and trafilatura once, and every
    # extraction process starts with them (when this process's fork server is not running yet)
    context.set_forkserver_preload(["__main__", "trafilatura"])
    return context


def start_fork_server() -> None:
    """Start the fork server the extraction processes start from: it imports trafilatura, about
    a second of one core, which a run can spend while it waits for Prefect's server to start."""
    _context()
    from multiprocessing import forkserver

    forkserver.ensure_running()


def _pool(workers: int) -> ProcessPoolExecutor:
    """One pool per process and size, kept for the next batch (workers import trafilatura once)."""
    if workers not in _pools:
        _pools[workers] = ProcessPoolExecutor(
            max_workers=workers, mp_context=_context(), initializer=lighter_metadata
        )
        if len(_pools) == 1:
            atexit.register(shutdown_pools)
    return _pools[workers]


def _no_categories_or_tags(*_args: Any, **_kwargs: Any) -> list[str]:
    return []


def _no_license(*_args: Any, **_kwargs: Any) -> None:
    return None


def lighter_metadata() -> None:
    """In an extraction process, which runs trafilatura for nothing else: its metadata pass
    without what the warehouse does not keep, and with a faster byline search. Text, title,
    author, date, site name and language do not change (tests/test_extract.py extracts the
    same pages both ways; tests/test_authors.py compares the byline searches).

    - Categories, tags and license: about 2 ms of a page's 16 (BENCHMARKS.md). trafilatura has
      no option to leave them out, so their two collectors are replaced with ones that find
      nothing.
    - Bylines: trafilatura's search costs about 5 ms on a page whose meta tags name no author;
      :mod:`flows.extraction.authors` gives the same answer in about 2 (when it applies to the
      installed
      trafilatura).
    """
    from trafilatura import metadata

    from flows.extraction import authors

    for name, stub in (
        ("extract_catstags", _no_categories_or_tags),
        ("extract_license", _no_license),
    ):
        if callable(getattr(metadata, name, None)):
            setattr(metadata, name, stub)
    authors.install()


def _ready(_: int) -> int:
    import trafilatura  # noqa: F401 - the import is the work

    time.sleep(0.2)  # hold this worker so that the next job starts another one
    return os.getpid()


def warm_pool(workers: int = 0) -> None:
    """Start the extraction processes and import trafilatura in each (about a second per
    process), so the first batch does not wait for it."""
    workers = workers or os.cpu_count() or 1
    if workers > 1:
        list(_pool(workers).map(_ready, range(workers)))


def shutdown_pools() -> None:
    for pool in _pools.values():
        pool.shutdown(cancel_futures=True)
    _pools.clear()


_T = TypeVar("_T")
_R = TypeVar("_R")


def _map(fn: Callable[[_T], _R], jobs: list[_T], workers: int) -> list[_R]:
    """``fn`` over ``jobs``, in the pool when the batch is large enough to pay for it."""
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < POOL_MIN_PAGES:
        return [fn(j) for j in jobs]
    return list(_pool(workers).map(fn, jobs, chunksize=4))


def extract_pages(
    pages: list[Page],
    *,
    min_chars: int = 0,
    thorough: bool = False,
    workers: int = 0,
    derive: Callable[[Extracted], Any] | None = None,
) -> list[Extracted | FetchError]:
    """Extract many pages, in a process pool when the batch is large enough to pay for it.

    ``derive`` (a picklable callable) runs on each article in the same worker, so per-article
    CPU work after extraction (signatures, topic matching) is spread over the cores too; its
    result is ``Extracted.derived``.
    """
    return _map(_extract_or_error, [(p, min_chars, thorough, derive) for p in pages], workers)


def extract_and_archive(
    pages: list[Page],
    raw_dir: Path,
    *,
    min_chars: int = 0,
    thorough: bool = False,
    workers: int = 0,
    derive: Callable[[Extracted], Any] | None = None,
) -> list[tuple[Extracted | FetchError, archive.Stored | str]]:
    """:func:`extract_pages`, and each page's bytes stored in the raw archive by the same worker
    (hashing and compressing are CPU work too). Each result comes with what was stored, or why
    the page could not be."""
    jobs = [(p, min_chars, thorough, derive, raw_dir.resolve()) for p in pages]
    return _map(_extract_and_store, jobs, workers)


def extract_archived(
    pages: list[ArchivedPage],
    raw_dir: Path,
    *,
    min_chars: int = 0,
    thorough: bool = False,
    workers: int = 0,
) -> list[Extracted | FetchError | MissingFile]:
    """Extract pages again from the raw archive: each worker reads and decompresses its pages
    itself, so the bytes never pass through the calling process. No request is made."""
    jobs = [(p, min_chars, thorough, raw_dir.resolve()) for p in pages]
    return _map(_load_and_extract, jobs, workers)
