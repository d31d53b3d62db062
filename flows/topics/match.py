"""Topic tags computed at load time: mentions per topic and topics meeting in one sentence.

Terms match on word boundaries, never as substrings (``Musk`` does not match ``Muskeln`` or
``elonmusk``), with an optional possessive (``Russia's``). A term written with a capital letter
matches case-sensitively when it is short (≤ 3 letters, like ``US``), so ``us`` is not a country.
Overlapping terms count once: ``Elon Musk`` is one mention of musk, not two.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations

_SENTENCE = re.compile(r"(?<=[.!?…])[\"'”’»)]*\s+|\n+")


@dataclass(frozen=True)
class TopicHits:
    mentions: dict[str, int]
    pairs: dict[tuple[str, str], int]  # (topic_a, topic_b) with a < b -> sentences with both

    def only(self, allowed: frozenset[str] | None) -> TopicHits:
        """The hits of the ``allowed`` topics (None: all), for articles of a feed group that
        lists its topics."""
        if allowed is None:
            return self
        return TopicHits(
            {t: n for t, n in self.mentions.items() if t in allowed},
            {k: n for k, n in self.pairs.items() if k[0] in allowed and k[1] in allowed},
        )


def scope_of(
    feed_urls: Iterable[str], scopes: Mapping[str, frozenset[str]]
) -> frozenset[str] | None:
    """The topics matched in an article seen in these feeds: None (all) when one of them is
    unrestricted, else the union of their groups' topics."""
    allowed: set[str] = set()
    for url in feed_urls:
        scope = scopes.get(url)
        if scope is None:
            return None
        allowed |= scope
    return frozenset(allowed)


# A mention starts where no word character or dot precedes, and ends at a word's end (with an
# optional possessive).
_BEFORE = r"(?<![\w.])"
_AFTER = r"(?:['’]s)?(?!\w)"


class TopicMatcher:
    def __init__(self, topics: dict[str, list[str]]) -> None:
        self._patterns: dict[str, re.Pattern[str]] = {}
        terms_of: list[str] = []
        for topic, terms in topics.items():
            folded = sorted({t for t in terms if not _case_sensitive(t)}, key=len, reverse=True)
            exact = sorted({t for t in terms if _case_sensitive(t)}, key=len, reverse=True)
            parts = []
            if folded:
                parts.append("(?i:" + "|".join(_term(t) for t in folded) + ")")
            if exact:
                parts.append("(?:" + "|".join(_term(t) for t in exact) + ")")
            terms_of.append("(?:" + "|".join(parts) + ")")
            self._patterns[topic] = re.compile(_BEFORE + terms_of[-1] + _AFTER)
        # Where any topic's mention starts (a zero-width match at each such position, so that
        # overlapping ones are all found): one scan of the text instead of one per topic.
        self._starts = re.compile(_BEFORE + "(?=(?:" + "|".join(terms_of) + ")" + _AFTER + ")")

    def _count(self, pattern: re.Pattern[str], text: str, starts: list[int]) -> int:
        """``len(pattern.findall(text))``, trying only the positions where a mention starts:
        findall scans left to right and resumes after each match, and so does this."""
        n = resume = 0
        for start in starts:
            if start >= resume and (m := pattern.match(text, start)) is not None:
                n += 1
                resume = m.end()
        return n

    def match(self, text: str) -> TopicHits:
        starts = [m.start() for m in self._starts.finditer(text)]
        mentions = {}
        if starts:
            for topic, pattern in self._patterns.items():
                n = self._count(pattern, text, starts)
                if n:
                    mentions[topic] = n
        pairs: dict[tuple[str, str], int] = {}
        if len(mentions) > 1:
            for a, b in combinations(sorted(mentions), 2):
                pairs[(a, b)] = 0
            for sentence in _SENTENCE.split(text):
                present = sorted(t for t in mentions if self._patterns[t].search(sentence))
                for a, b in combinations(present, 2):
                    pairs[(a, b)] += 1
        return TopicHits(mentions, pairs)


def _case_sensitive(term: str) -> bool:
    letters = [c for c in term if c.isalpha()]
    return len(letters) <= 3 and any(c.isupper() for c in letters)


def _term(term: str) -> str:
    return r"\s+".join(re.escape(w) for w in term.split())
