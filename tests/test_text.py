"""Seeds and extracted text go through the same cleaning; comparison folds typing differences."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.dedup.detect import content_hash
from flows.dedup.seeds import load_seeds
from flows.errors import ConfigError
from flows.extraction.text import clean_text, normalise, split_title, words

REPO = Path(__file__).resolve().parent.parent


def test_seed_scraped_tail_is_dropped() -> None:
    seeds = {s.seed_id: s for s in load_seeds(REPO / "seeds")}
    text = seeds["000_49a07f57f149fd30"].text
    assert text.rstrip().endswith("Russia said it is still weighing the proposal.")
    for junk in ("Source link", "More to explorer", "[ad_1]", "Pedestrian"):
        assert junk not in text
    # the title printed twice on top is neither kept twice nor left in the text
    assert "US Political News" not in text
    assert text.startswith("The CEO of Tesla")


def test_backtick_quotes_compare_equal_to_straight_quotes() -> None:
    seeds = {s.seed_id: s for s in load_seeds(REPO / "seeds")}
    text = seeds["001_a1ee8a8df1b7c60e"].text
    assert "`serious mistake`" in text  # stored as written
    retyped = text.replace("`", '"').replace("’", "'")
    assert content_hash(retyped) == content_hash(text)


def test_tail_rule_is_general_not_file_specific() -> None:
    body = "\n\n".join(f"Paragraph {i} of a real article about the economy." for i in range(8))
    for marker in ("Read more", "Related Articles", "Advertisement", "You may also like"):
        dirty = f"{body}\n\n{marker}\n\nTen celebrity diets that changed everything"
        assert clean_text(dirty) == clean_text(body)
    # a marker with much text after it is a junk line, not the start of a tail: the line goes,
    # the paragraphs after it stay
    paragraphs = body.split("\n\n")
    middle = "\n\n".join([*paragraphs[:4], "Advertisement", *paragraphs[4:]])
    assert clean_text(middle) == clean_text(body)


def test_clean_text_is_idempotent_and_folds_blank_runs() -> None:
    raw = "Title\r\n\r\nTitle\r\n\r\n\r\n\r\nBody  line\u00a0one.\n\n\n\nBody line two."
    once = clean_text(raw)
    assert once == "Title\n\nBody line one.\n\nBody line two."
    assert clean_text(once) == once


def test_split_title() -> None:
    assert split_title("A headline\n\nThe body. It has sentences.") == (
        "A headline",
        "The body. It has sentences.",
    )
    # a first line that is a sentence is body text
    assert split_title("The body starts here.\nMore body.")[0] is None


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("“Quoted” text — with a dash", '"quoted" TEXT - with a dash'),
        ("Tesla’s CEO", "Tesla's   CEO"),
        ("ﬁne　wide", "fine wide"),  # NFKC: ligature and ideographic space
        ("line\nbreaks\r\nfolded", "line breaks folded"),
        ("sanc\u00adtions in\u200bvisible", "sanctions invisible"),  # soft hyphen, zero width
        ("``Quoted´´ `text'", "\"quoted\" 'text'"),  # backticks
    ],
)
def test_normalise_folds_typing(a: str, b: str) -> None:
    assert normalise(a) == normalise(b)
    assert words(a) == words(b)


def test_seed_manifest_and_errors(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Headline\n\nBody text. More body.", encoding="utf-8")
    (tmp_path / "b.txt").write_bytes("Caf\xe9 in Latin-1".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"b\.txt: seed is not UTF-8"):
        load_seeds(tmp_path)
    (tmp_path / "b.txt").unlink()
    (tmp_path / "manifest.toml").write_text('[a]\ntitle = "Given title"\nlanguage = "en"\n')
    (seed,) = load_seeds(tmp_path)
    assert (seed.seed_id, seed.title, seed.language, seed.text) == (
        "a",
        "Given title",
        "en",
        "Body text. More body.",
    )
    (tmp_path / "manifest.toml").write_text('[zzz]\ntitle = "x"\n')
    with pytest.raises(ConfigError, match=r"\[zzz\] names no file"):
        load_seeds(tmp_path)


def test_comparison_text_leaves_out_page_chrome_not_prose() -> None:
    from flows.extraction.text import comparison_text

    page = "\n".join(
        [
            "THE EVENING COURIER",
            "Home | News | Local | Business | Sport | Opinion | Lifestyle",
            "Published Tuesday 14 May 2024, 18:42 BST",
            "Council approves the harbour budget",
            "The council approved the harbour budget on Tuesday – after a five-hour debate – "
            "and said work on the sea wall would start in spring.",
            "Related stories",
            "Ring road roadworks extended until the end of summer",
            "© 2024 Evening Courier Media Ltd. All rights reserved.",
            "We use cookies to improve your experience. Manage preferences | Accept all",
        ]
    )
    assert comparison_text(page) == (
        "The council approved the harbour budget on Tuesday – after a five-hour debate – "
        "and said work on the sea wall would start in spring."
    )
    # a hard-wrapped paragraph is one unit, not a run of short lines
    wrapped = (
        "The council approved the harbour\nbudget on Tuesday after a long\ndebate in the town hall."
    )
    assert comparison_text(wrapped) is wrapped  # nothing left out: the text itself
    # a text made only of short lines (a list) is compared whole
    listing = "Bread\nMilk\nEggs"
    assert comparison_text(listing) == listing
