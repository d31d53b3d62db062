"""The one-pass byline search gives trafilatura's answer: on real pages and on generated ones
built from the words trafilatura's searches look for."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trafilatura import metadata
from trafilatura.utils import load_html

from flows.extraction import authors

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld" / "pages"
TRAFILATURA_AUTHOR = metadata.extract_author


def pages() -> list[Path]:
    found = sorted((REPO / "flows" / "demo" / "site").rglob("*.html"))
    found += sorted((REPO / "tests" / "data").rglob("*.html"))
    return found + (sorted(REALWORLD.glob("*.html")) if REALWORLD.is_dir() else [])


def test_written_for_the_installed_trafilatura() -> None:
    assert authors.applies()
    assert TRAFILATURA_AUTHOR is not authors.extract_author


def test_real_pages_get_the_same_author() -> None:
    found = pages()
    assert len(found) >= 10
    named = 0
    for page in found:
        tree = load_html(page.read_bytes())
        expected = TRAFILATURA_AUTHOR(tree)
        assert authors.extract_author(tree) == expected, page.name
        named += expected is not None
    assert named >= 3  # the comparison covers pages where a byline is found


# What trafilatura's searches read: element names, attribute values that pick a byline or
# delete a part of the page, and texts of every length that decides.
TAGS = [
    "a", "address", "div", "link", "p", "span", "strong", "h3", "h4", "section", "time",
    "figure", "author", "rel", "article", "ul", "li", "em",
]  # fmt: skip
VALUES = {
    "class": [
        "author",
        "byline",
        "Byline",
        "username",
        "byl",
        "BBL",
        "author-name",
        "authorname",
        "AuthorName",
        "authorName",
        "post-author",
        "writer",
        "screenname",
        "channel-name",
        "posted-by",
        "journalist-name",
        "comments",
        "Comments",
        "commentlist",
        "comments-list",
        "sidebar",
        "is-hidden",
        "quote",
        "print",
        "category",
        "meta-date",
        "title",
        "date",
        "article-share",
        "embedly-instagram",
        "entry",
        "x author y",
    ],
    "id": ["author", "Author", "comments", "comment-list", "ProductReviews", "zuozhe", "main"],
    "itemprop": ["author", "author name", "name", "authorName"],
    "rel": ["author", "me", "nofollow"],
    "data-testid": ["AuthorCard", "AuthorURL", "Other"],
    "data-component": ["Byline", "Figure", "SomeFigureBox", "Text"],
}
TEXTS = [
    "",
    "me",
    "Jo",
    "Jane Doe",
    "By Jane Doe and John Roe",
    "  Posted by\n Ann Lee ",
    "x" * 130,
]


@st.composite
def attributes(draw: st.DrawFn) -> str:
    names = draw(st.lists(st.sampled_from(sorted(VALUES)), max_size=3, unique=True))
    return "".join(f' {n}="{draw(st.sampled_from(VALUES[n]))}"' for n in names)


texts = st.sampled_from(TEXTS)
elements = st.recursive(
    st.builds(lambda t: t, texts),
    lambda children: st.builds(
        lambda tag, attrs, text, kids, tail: f"<{tag}{attrs}>{text}{''.join(kids)}</{tag}>{tail}",
        st.sampled_from(TAGS),
        attributes(),
        texts,
        st.lists(children, max_size=4),
        texts,
    ),
    max_leaves=24,
)


@settings(max_examples=400, deadline=None)
@given(st.lists(elements, min_size=1, max_size=5), attributes())
def test_generated_pages_get_the_same_author(body: list[str], body_attrs: str) -> None:
    tree = load_html(
        f"<html><head><title>t</title></head><body{body_attrs}>{''.join(body)}</body></html>"
    )
    if tree is None:
        return
    assert authors.extract_author(tree) == TRAFILATURA_AUTHOR(tree)


@pytest.mark.parametrize(
    "html",
    [
        # a byline holding a date: its text without the date
        '<div class="byline">By Jane Doe <time>Monday</time> in Paris</div>',
        # a byline inside the comments: not the page's author
        '<div id="comments"><span class="author">A Commenter</span></div>'
        '<span class="author">Jane Doe</span>',
        # an element whose only text is deleted
        '<p class="author"><figure>Photo</figure></p><p class="byline">John Roe</p>',
        # a byline marked by a <rel>me</rel> child
        "<span>Jane Doe<rel>me</rel></span>",
    ],
)
def test_deleted_parts_are_left_out_as_trafilatura_does(html: str) -> None:
    tree = load_html(f"<html><body>{html}<p>{'Text. ' * 30}</p></body></html>")
    expected = TRAFILATURA_AUTHOR(tree)
    assert expected is not None
    assert authors.extract_author(tree) == expected


def test_the_root_is_never_deleted() -> None:
    """The pruning's first search starts below the root: a tree whose root is a comments
    block keeps it; an element below the root is searched as trafilatura does."""
    from copy import deepcopy

    from lxml.html import fragment_fromstring

    inside = fragment_fromstring('<div class="comments"><span class="author">Jane Doe</span></div>')
    assert inside.getparent() is not None
    root = deepcopy(inside)
    assert root.getparent() is None
    for tree in (inside, root):
        assert TRAFILATURA_AUTHOR(tree) == "Jane Doe"
        assert authors.extract_author(tree) == "Jane Doe"
