"""Text cleaning shared by seeds and extracted articles, and the normal form used to compare them.

Two levels:
- :func:`clean_text` keeps the text readable (what lands in ``articles.text``): line breaks
  unified, blank runs collapsed, a title repeated at the top dropped, scraped tails cut.
- :func:`normalise` is what dedup compares: NFKC, case-folded, quote marks, dashes and
  whitespace folded, so the same text typed differently is the same text.
"""

from __future__ import annotations

import re
import unicodedata

# A line that starts the junk scrapers append after an article: link lists, "more" teasers,
# ad-network markers. Matched on whole lines, case-insensitively.
_TAIL_MARKER = re.compile(
    r"""^\s*(?:
        source\s+link | source:\s*link | original\s+source
      | more\s+to\s+explor\w* | read\s+more(?:\s+(?:here|at|on)\b.*)? | continue\s+reading\b.*
      | related(?:\s+(?:articles?|stories|posts|news|content|reading))?
      | (?:you\s+)?(?:may|might)\s+also\s+like | recommended(?:\s+for\s+you)?
      | advertisement | sponsored(?:\s+content)? | share\s+this(?:\s+article|\s+story)?
      | \[ad_?\d*\].*
    )\s*:?\s*$""",
    re.IGNORECASE | re.VERBOSE,
)
_AD_TOKEN = re.compile(r"\[/?ad_?\d*\]", re.IGNORECASE)
# A marker starts a tail only when little follows it (at most this share of the text);
# elsewhere the marker line alone is dropped, so a "Read more" or "Advertisement" line inserted
# mid-article never costs the paragraphs after it.
_TAIL_MAX_FRACTION = 0.25


def clean_text(text: str) -> str:
    """Readable, trimmed article text (see module doc). Idempotent."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    lines = [ln.strip() for ln in text.split("\n")]
    lines = _cut_tail(lines)
    lines = [_AD_TOKEN.sub("", ln).strip() for ln in lines]
    # Drop a line repeated right after itself (a title printed twice by a scraper).
    kept: list[str] = []
    for ln in lines:
        if ln and kept and ln == _last_nonblank(kept):
            continue
        kept.append(ln)
    out = "\n".join(kept)
    out = re.sub(r"[ \t]+", " ", out)
    out = re.sub(r"\n{3,}", "\n\n", out)
    return out.strip()


def _last_nonblank(lines: list[str]) -> str | None:
    for ln in reversed(lines):
        if ln:
            return ln
    return None


def _cut_tail(lines: list[str]) -> list[str]:
    total = sum(len(ln) for ln in lines) or 1
    remaining = total
    kept: list[str] = []
    for ln in lines:
        remaining -= len(ln)
        if _TAIL_MARKER.match(ln):
            if remaining / total <= _TAIL_MAX_FRACTION and any(kept):
                return kept
            continue  # a junk line inside the text: drop the line only
        kept.append(ln)
    return kept


# Page chrome that survives extraction: navigation, bylines, dates, share bars, headline lists
# are short lines that are not sentences; sign-up, copyright and cookie notices carry markers.
_CHROME_MARKERS = (
    "©", "(c) 2", "copyright", "all rights reserved", "alle rechte vorbehalten", "tous droits",
    "derechos reservados", "cookie", "newsletter", "unsubscribe", "sign up", "signing up",
    "subscribe", "abonnieren", "anmelden", "abonnez", "suscríbete", "suscribete",
    "privacy policy", "privacy notice", "datenschutz",
)  # fmt: skip
_CLOSERS = "\"'”’»)]"
_SHORT_LINE_WORDS = 12
_MARKED_LINE_WORDS = 60
# "Home | News", "Share · Print" (not dashes: prose sets asides off with them)
_SEPARATOR_TOKEN = re.compile(r"(?<!\S)[|·•»/](?!\S)")
# Below this share of the words left, the text is made of short lines (a list, a poem, a
# digest) and is compared whole.
_MIN_KEPT = 0.25


def _ends_sentence(line: str) -> bool:
    return line.rstrip().rstrip(_CLOSERS)[-1:] in (".", "!", "?", "…")


def _is_chrome(line: str) -> bool:
    tokens = line.split()
    if len(tokens) > 2 * _MARKED_LINE_WORDS:  # a long paragraph: content (the common case)
        return False
    n = len(tokens) - len(_SEPARATOR_TOKEN.findall(line))
    if n == 0:
        return False
    if n <= _SHORT_LINE_WORDS and not _ends_sentence(line):
        return True
    if n > _MARKED_LINE_WORDS:
        return False
    if len(tokens) - n >= 2:  # "Home | News | Sport", "Share · Print · Email"
        return True
    low = line.casefold()
    return any(m in low for m in _CHROME_MARKERS)


def _units(text: str) -> list[str]:
    """Lines, except that a hard-wrapped paragraph (a block whose lines run on without sentence
    ends until its last) is one unit."""
    units: list[str] = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [ln.strip() for ln in block.split("\n") if ln.strip()]
        ends = [_ends_sentence(ln) for ln in lines]
        if len(lines) >= 2 and ends[-1] and sum(ends[:-1]) < (len(lines) - 1) / 2:
            units.append(" ".join(lines))
        else:
            units.extend(lines)
    return units


def text_units(text: str) -> list[str]:
    """Every unit (paragraph or line) of ``text``, page chrome included (see _units)."""
    return _units(text)


def content_units(text: str) -> list[str]:
    """The units (paragraphs or lines, see _units) of ``text`` that carry its content: page
    chrome left out (see _is_chrome), unless that would leave a quarter of the words or less
    (then every unit)."""
    units = _units(text)
    kept = [u for u in units if not _is_chrome(u)]
    if len(kept) == len(units):
        return units
    if sum(len(u.split()) for u in kept) <= _MIN_KEPT * sum(len(u.split()) for u in units):
        return units
    return kept


def comparison_text(text: str) -> str:
    """The parts of ``text`` that carry its content (:func:`content_units`), as one text."""
    units = _units(text)
    kept = [u for u in units if not _is_chrome(u)]
    if len(kept) == len(units):
        return text  # the same object: callers may reuse what they computed from ``text``
    if sum(len(u.split()) for u in kept) <= _MIN_KEPT * sum(len(u.split()) for u in units):
        return text
    return "\n".join(kept)


def split_title(text: str) -> tuple[str | None, str]:
    """For a plain-text document: a short first line that is not a sentence is its title."""
    cleaned = clean_text(text)
    first, sep, rest = cleaned.partition("\n")
    first = first.strip()
    if sep and rest.strip() and 0 < len(first) <= 200 and not first.endswith((".", "!", "?", ":")):
        return first, clean_text(rest)
    return None, cleaned


_QUOTE_FOLDS = {
    **{c: "'" for c in "‘’‚‛`´′ʼ"},
    **{c: '"' for c in "“”„‟″«»〝〞"},
    **{c: "-" for c in "‐‑‒–—―−"},
}
# a regex substitution, not str.translate: translate looks every character up in a dict
# (0.3 ms for a 5,000-character article), the regex scans in C and calls back only on a match
_QUOTE_MARK = re.compile("[" + "".join(_QUOTE_FOLDS) + "]")
_INVISIBLE = re.compile("[\u00ad\u200b\u200c\u200d\u2060\ufeff]")
_WORD = re.compile(r"\w+(?:'\w+)*")


def _fold_quotes(text: str) -> str:
    return _QUOTE_MARK.sub(lambda m: _QUOTE_FOLDS[m.group()], text)


def normalise(text: str) -> str:
    """The comparison form: NFKC, case-folded, quotes/dashes/whitespace folded (``TeX''
    double quotes too), soft hyphens and zero-width characters removed (they split words)."""
    # quote marks first: NFKC decomposes some of them (´ becomes a space + combining accent)
    text = _fold_quotes(_INVISIBLE.sub("", text))
    if not unicodedata.is_normalized("NFKC", text):  # most text is: the quick check suffices
        text = _fold_quotes(unicodedata.normalize("NFKC", text))
    text = text.replace("''", '"').casefold()
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """Words of the comparison form; punctuation and quote marks do not count."""
    return _WORD.findall(normalise(text))
