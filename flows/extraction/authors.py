"""trafilatura's byline search (``trafilatura.metadata.extract_author``), in one pass.

When a page's meta tags and JSON-LD name no author, trafilatura copies the whole page tree,
deletes the parts where a byline is not (comments, sidebars, dates, figures, ...) and runs
three XPath searches over the copy, each testing regular expressions on the attributes of
every element: about 5 ms of an extraction's 16 (BENCHMARKS.md). :func:`extract_author` gives
the same answer from one XPath pass without regular expressions, which picks the elements
carrying any attribute those searches read; Python tests them. A candidate that contains a
deleted part is copied and pruned as trafilatura does, on its own.

The extraction processes use it only when trafilatura's searches are the ones it was written
from (:func:`applies`: their XPath text, by hash); another trafilatura version keeps its own.
tests/test_authors.py compares the two on real pages and on generated ones.
"""

from __future__ import annotations

import hashlib
import re
from copy import deepcopy
from typing import Any

from lxml.etree import XPath
from trafilatura.metadata import extract_author as trafilatura_search  # before install()

# sha256 of the XPath text of trafilatura 2.3.1's AUTHOR_XPATHS then AUTHOR_DISCARD_XPATHS,
# one per line: the searches written out below
SOURCE_SHA256 = "bd5f280624916a837f627a558a6f87d6ebde80d97a00908c8a856c7b7b9eae82"

# every element any of the searches may pick or delete, in document order
_READ = XPath(
    "//*[@class or @id or @itemprop or @rel or @data-testid or @data-component or rel"
    " or self::time or self::figure or self::author]"
)
_REL_ME = XPath("rel='me'")

# AUTHOR_XPATHS[0]: specific, on these elements (and any <author>)
_NAMED_TAGS = frozenset({"a", "address", "div", "link", "p", "span", "strong"})
_NAMED_CLASS = re.compile("author-?name|AuthorName|authorName")
# AUTHOR_XPATHS[1]: generic, on these elements
_GENERIC_TAGS = frozenset({"a", "div", "h3", "h4", "p", "span"})
_GENERIC_ID = re.compile("author|zuozhe|bianji|xiaobian")
_GENERIC_CLASS = re.compile(
    "author|channel-name|zuozhe|bianji|xiaobian|submitted-by|posted-by|journalist-name"
)
# AUTHOR_XPATHS[2]: last resort, on any element
_ANY_ID = re.compile("[Aa]uthor")
_ANY_CLASS = re.compile("[Aa]uthor|screenname|writer|[Bb]yline")
# AUTHOR_DISCARD_XPATHS[0], below the root, on these elements; [1] is every <time> and <figure>
_DISCARD_TAGS = frozenset({"a", "div", "section", "span"})
_DISCARD_ID = re.compile("^comments|comment-?list|ProductReviews")
_DISCARD_CLASS = re.compile(
    "^[Cc]omments|commentlist|comments-list|sidebar|is-hidden|quote|embedly-instagram"
    "|article-(?:share|support)|print|category|meta-date|meta-reviewer"
)


def _sources() -> str:
    from trafilatura import xpaths

    return "\n".join(x.path for x in (*xpaths.AUTHOR_XPATHS, *xpaths.AUTHOR_DISCARD_XPATHS))


def applies() -> bool:
    """True when the installed trafilatura searches for bylines as this module does."""
    return hashlib.sha256(_sources().encode()).hexdigest() == SOURCE_SHA256


def _deleted(el: Any, tag: str, cls: str | None, id_: str | None, comp: str | None) -> bool:
    if tag in ("time", "figure"):
        return True
    return (
        tag in _DISCARD_TAGS
        and el.getparent() is not None  # ".//*": not the root
        and (
            id_ == "comments"
            or cls in ("comments", "title", "date")
            or (id_ is not None and _DISCARD_ID.search(id_) is not None)
            or (cls is not None and _DISCARD_CLASS.search(cls) is not None)
            or (comp is not None and "Figure" in comp)
        )
    )


def _search(tree: Any) -> tuple[tuple[list[Any], list[Any], list[Any]], set[Any]]:
    """The candidates of each of the three searches, in document order, and the elements the
    pruning deletes (each with everything under it)."""
    named: list[Any] = []
    generic: list[Any] = []
    last: list[Any] = []
    deleted: set[Any] = set()
    for el in _READ(tree):
        tag, get = el.tag, el.get
        cls, id_, prop, comp = get("class"), get("id"), get("itemprop"), get("data-component")
        if _deleted(el, tag, cls, id_, comp):
            deleted.add(el)
        if tag == "author" or (
            tag in _NAMED_TAGS
            and (
                get("rel") == "author"
                or id_ == "author"
                or cls == "author"
                or prop == "author name"
                or (el.find("rel") is not None and _REL_ME(el))
                or get("data-testid") in ("AuthorCard", "AuthorURL")
                or (cls is not None and _NAMED_CLASS.search(cls) is not None)
            )
        ):
            named.append(el)
        author_prop = prop is not None and "author" in prop
        if tag in _GENERIC_TAGS and (
            cls in ("byline", "username", "byl", "BBL")
            or author_prop
            or (id_ is not None and _GENERIC_ID.search(id_) is not None)
            or (cls is not None and _GENERIC_CLASS.search(cls) is not None)
        ):
            generic.append(el)
        if (
            (comp is not None and "Byline" in comp)
            or author_prop
            or (id_ is not None and _ANY_ID.search(id_) is not None)
            or (cls is not None and _ANY_CLASS.search(cls) is not None)
        ):
            last.append(el)
    return (named, generic, last), deleted


def extract_author(tree: Any) -> str | None:
    """What ``trafilatura.metadata.extract_author(tree)`` returns (in one pass for a root)."""
    from trafilatura import metadata
    from trafilatura.htmlprocessing import prune_unwanted_nodes
    from trafilatura.xpaths import AUTHOR_DISCARD_XPATHS

    if tree.getparent() is not None:  # written for the root: trafilatura's own search
        return trafilatura_search(tree)
    searches, deleted = _search(tree)
    # elements with a deleted part under them
    holding = {a for d in deleted for a in d.iterancestors()}
    for candidates in searches:
        for el in candidates:
            if el in deleted or any(a in deleted for a in el.iterancestors()):
                continue  # pruned away
            if el in holding:  # its text without the deleted parts, pruned as trafilatura does
                el = prune_unwanted_nodes(deepcopy(el), AUTHOR_DISCARD_XPATHS)
            content = metadata.trim(" ".join(el.itertext()))
            if content and 2 < len(content) < 120:
                return metadata.normalize_authors(None, content)
    return None


def install() -> bool:
    """Use :func:`extract_author` for trafilatura's metadata in this process, when it
    applies; True when it is in place."""
    from trafilatura import metadata

    if metadata.extract_author is extract_author:
        return True
    if not applies():
        return False
    metadata.extract_author = extract_author
    return True
