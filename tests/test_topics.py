from hypothesis import example, given, settings
from hypothesis import strategies as st

from flows.config import DEFAULT_TOPICS
from flows.topics.match import TopicMatcher

M = TopicMatcher(DEFAULT_TOPICS)


def test_word_boundaries_not_substrings() -> None:
    hits = M.match("Muskeln und Muskatnuss; follow @elonmusk. Musk's plan. Elon Musk spoke.")
    assert hits.mentions == {"musk": 2}  # "Musk's" and "Elon Musk" (once, not twice)


def test_short_upper_case_terms_are_case_sensitive() -> None:
    assert "united_states" not in M.match("Tell us what you think.").mentions
    assert M.match("The US and the U.S. are one.").mentions["united_states"] == 2


def test_possessives_and_aliases() -> None:
    hits = M.match("Russia’s economy. The Kremlin said so. Russians in Moscow.")
    assert hits.mentions["russia"] == 4


def test_pairs_count_sentences_with_both() -> None:
    text = "Musk spoke about Russia. Then Russia replied. Musk and the Kremlin met in Moscow."
    hits = M.match(text)
    assert hits.pairs[("musk", "russia")] == 2


def test_pair_present_in_article_but_not_sentence() -> None:
    hits = M.match("Musk tweeted.\nRussia answered.")
    assert hits.pairs[("musk", "russia")] == 0


def test_other_scripts_and_inflections_count() -> None:
    hits = M.match("Маск заявил, что Россия и Кремль... В России говорят о Путине? Путин молчит.")
    assert hits.mentions["musk"] == 1 and hits.mentions["russia"] == 3
    assert hits.mentions["putin"] == 2  # "Путине" (prepositional case) and "Путин"
    assert M.match("Russland und die Ukraine; la Russie.").mentions == {"russia": 2, "ukraine": 1}


# The plain definition: one findall per topic over the whole text. The second matcher's topics
# share terms and overlap (a mention of one starts inside a mention of another).
OVERLAPPING = TopicMatcher(
    {"musk": ["Elon Musk", "Musk"], "people": ["Musk", "Elon"], "tesla": ["Musk Tesla", "Tesla"],
     "us": ["US", "U.S."]}
)  # fmt: skip
TERM_WORDS = sorted({w for terms in DEFAULT_TOPICS.values() for t in terms for w in t.split()})
GLUE = [" ", "  ", "\n", ". ", ".", "'s ", "’s ", "-", "x", "@", "_", ", ", "? ", "\n\n", "é"]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.sampled_from(TERM_WORDS)
        | st.sampled_from(["Elon", "Musk", "Tesla", "US", "U.S."])
        | st.sampled_from(GLUE),
        max_size=40,
    )
)
@example(["Elon", " ", "Musk", " ", "Tesla", ". ", "Musk", "’s "])
def test_mentions_are_each_topics_own_matches(pieces: list[str]) -> None:
    text = "".join(pieces)
    for matcher in (M, OVERLAPPING):
        expected = {t: len(p.findall(text)) for t, p in matcher._patterns.items()}
        assert matcher.match(text).mentions == {t: n for t, n in expected.items() if n}
