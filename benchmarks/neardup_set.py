"""Build a labelled near-duplicate set: pairs of texts, each labelled duplicate or not, by kind.

The pairs are made from original articles (``base/NNN.txt``: a headline line, then paragraphs
separated by blank lines), outlet boilerplate kits (``boilerplate/NAME.txt``: header, a line
``---``, footer) and pairs of independent reports of one event (``same_event/NNN_a|b.txt``).
Everything is derived with a fixed random seed, so the committed set can be rebuilt byte for
byte:

    python benchmarks/neardup_set.py                     # -> benchmarks/data/neardup_team.jsonl
    python benchmarks/neardup_set.py --base DIR --out FILE --seed N   # another set, same recipe

``--html DIR`` takes the base articles from HTML pages instead (their text and title extracted
with trafilatura), which is how a set of pairs never used for tuning is made from other text.

Duplicates (the same story, typed or framed differently):
  chrome_swap        the copy under another outlet's header/footer and a title prefix
  short_with_chrome  a short item (< 200 words) copied under a full header and footer
  drop_paragraphs    two paragraphs left out (of five or more), lines re-wrapped
  reorder_drop       sentences reordered in each paragraph, one paragraph left out
  truncated_tail     the last quarter of the paragraphs cut, "Read more" added
  typography         curly/straight/backtick quotes, dashes, NFKC forms, nbsp, soft hyphens,
                     zero-width spaces, hard line wraps
  corrections        an "Update" paragraph on top and a few words (numbers, names) changed
  combined           chrome + title prefix + a paragraph dropped + reordering + typography
Not duplicates:
  quotes_paragraphs  another article that quotes one or two paragraphs of this one
  digest             a briefing page with this headline and lead among four others
  same_outlet_chrome two different articles under one outlet's header and footer
  same_topic         two different articles on the same subject (nearest by shared words)
  same_event         two outlets' own reports of one event (same facts, their own words)
"""

from __future__ import annotations

import argparse
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "neardup"
OUT = HERE / "data" / "neardup_team.jsonl"
SEED = 20261125

POSITIVE = (
    "chrome_swap",
    "short_with_chrome",
    "drop_paragraphs",
    "reorder_drop",
    "truncated_tail",
    "typography",
    "corrections",
    "combined",
)
NEGATIVE = ("quotes_paragraphs", "digest", "same_outlet_chrome", "same_topic", "same_event")
TITLE_PREFIXES = ("BREAKING: ", "Analysis: ", "UPDATED - ", "Exclusive: ", "WATCH: ", "Live | ")
SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÄÖÜÀ-Ý\"“„«])")
WORD = re.compile(r"\w+", re.UNICODE)


@dataclass
class Article:
    name: str
    title: str
    paragraphs: list[str]
    lang: str = "en"

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


@dataclass
class Kit:
    name: str
    header: str
    footer: str


def read_article(path: Path, lang: str = "en") -> Article:
    blocks = [b.strip() for b in re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))]
    blocks = [" ".join(b.split()) for b in blocks if b]
    return Article(path.stem, blocks[0], blocks[1:], lang)


def read_html(path: Path) -> Article | None:
    import trafilatura

    raw = path.read_bytes()
    lang = re.search(rb"<html[^>]*\blang=[\"']?([a-zA-Z]{2})", raw[:5000])
    doc = trafilatura.bare_extraction(
        raw, with_metadata=True, include_comments=False, favor_precision=True
    )
    if doc is None or not doc.text:
        return None
    paras = [" ".join(p.split()) for p in doc.text.split("\n") if len(p.split()) >= 8]
    if len(paras) < 3:
        return None
    language = doc.language or (lang.group(1).decode().lower() if lang else "und")
    return Article(path.stem, doc.title or paras[0][:80], paras, language)


def read_kit(path: Path) -> Kit:
    header, _, footer = path.read_text(encoding="utf-8").partition("\n---\n")
    return Kit(path.stem, header.strip(), footer.strip())


def render(title: str, paragraphs: list[str], kit: Kit | None = None) -> str:
    parts = [title, *paragraphs]
    if kit is not None:
        parts = [kit.header, *parts, kit.footer]
    return "\n\n".join(parts)


def sentences(paragraph: str) -> list[str]:
    return [s for s in SENTENCE.split(paragraph) if s]


def rewrap(text: str, rnd: random.Random) -> str:
    """Hard line breaks every 60-80 characters, double spaces here and there."""
    out: list[str] = []
    for block in text.split("\n\n"):
        line, lines = "", []
        for w in block.split(" "):
            if len(line) + len(w) > rnd.randint(60, 80):
                lines.append(line)
                line = ""
            line = f"{line}  {w}" if line and rnd.random() < 0.05 else f"{line} {w}".strip()
        lines.append(line)
        out.append("\n".join(lines))
    return "\n\n\n".join(out)


def typography(text: str, rnd: random.Random) -> str:
    """The same text typed differently: quote marks, dashes, NFKC forms, invisible characters."""
    quotes = rnd.choice([("“", "”"), ("``", "''"), ("„", "“"), ("«", "»"), ('"', '"')])
    count = 0

    def quote(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return quotes[(count - 1) % 2]

    text = re.sub(r"[\"“”„]", quote, text)
    text = text.replace("'", rnd.choice(["’", "`", "´"]))
    text = text.replace(" - ", rnd.choice([" – ", " — ", " -- "]))
    text = text.replace("fi", "ﬁ") if rnd.random() < 0.5 else text
    text = re.sub(r"(?<=\d) (?=\d)", "\u00a0", text)
    text = re.sub(r"\b(\d)", lambda m: chr(0xFF10 + int(m.group(1))), text, count=3)
    words = text.split(" ")
    for i in rnd.sample(range(len(words)), k=min(6, len(words))):
        w = words[i]
        if len(w) > 8 and w.isalpha():
            words[i] = w[:4] + rnd.choice(["\u00ad", "\u200b"]) + w[4:]
    text = " ".join(words).replace(". ", ".\u00a0", 3)
    return rewrap(text, rnd)


def shuffle_sentences(paragraph: str, rnd: random.Random) -> str:
    parts = sentences(paragraph)
    if len(parts) > 1:
        first = parts[:]
        while parts == first:
            rnd.shuffle(parts)
    return " ".join(parts)


def drop(paragraphs: list[str], n: int, rnd: random.Random) -> list[str]:
    """Leave out n paragraphs, never the first (the lead)."""
    if len(paragraphs) <= n + 1:
        return paragraphs[:]
    gone = set(rnd.sample(range(1, len(paragraphs)), n))
    return [p for i, p in enumerate(paragraphs) if i not in gone]


def corrections(a: Article, rnd: random.Random) -> list[str]:
    paras = a.paragraphs[:]
    for _ in range(4):
        i = rnd.randrange(len(paras))
        words = paras[i].split(" ")
        spots = [j for j, w in enumerate(words) if re.fullmatch(r"\d[\d,.]*", w)] or [
            j for j, w in enumerate(words) if len(w) > 6
        ]
        if spots:
            j = rnd.choice(spots)
            words[j] = str(rnd.randint(2, 99)) if words[j][0].isdigit() else words[j][::-1]
        paras[i] = " ".join(words)
    update = {
        "de": "Aktualisierung: Dieser Artikel wurde um neue Angaben ergänzt.",
        "fr": "Mise à jour : cet article a été complété par de nouvelles informations.",
        "es": "Actualización: este artículo se ha ampliado con nueva información.",
    }.get(a.lang, "UPDATE: This story has been updated with new figures and a correction.")
    return [update, *paras]


def shared_words(a: Article, b: Article) -> float:
    wa = {w.lower() for p in a.paragraphs for w in WORD.findall(p) if len(w) > 3}
    wb = {w.lower() for p in b.paragraphs for w in WORD.findall(p) if len(w) > 3}
    return len(wa & wb) / (len(wa | wb) or 1)


def positive(kind: str, a: Article, kits: list[Kit], rnd: random.Random) -> tuple[str, str]:
    k1, k2 = rnd.sample(kits, 2)
    if kind == "chrome_swap":
        return (
            render(a.title, a.paragraphs, k1),
            render(rnd.choice(TITLE_PREFIXES) + a.title, a.paragraphs, k2),
        )
    if kind == "short_with_chrome":
        return render(a.title, a.paragraphs), render(a.title, a.paragraphs, k2)
    if kind == "drop_paragraphs":
        return render(a.title, a.paragraphs), rewrap(
            render(a.title, drop(a.paragraphs, 2, rnd)), rnd
        )
    if kind == "reorder_drop":
        paras = [shuffle_sentences(p, rnd) for p in drop(a.paragraphs, 1, rnd)]
        return render(a.title, a.paragraphs), render(a.title, paras)
    if kind == "truncated_tail":
        keep = max(2, round(len(a.paragraphs) * 0.75))
        more = "Read more at the original publisher's website."
        return render(a.title, a.paragraphs), render(a.title, [*a.paragraphs[:keep], more])
    if kind == "typography":
        return render(a.title, a.paragraphs), typography(render(a.title, a.paragraphs), rnd)
    if kind == "corrections":
        return render(a.title, a.paragraphs), render(a.title, corrections(a, rnd))
    if kind == "combined":
        paras = drop(a.paragraphs, 1, rnd)
        i = rnd.randrange(len(paras))
        paras[i] = shuffle_sentences(paras[i], rnd)
        b = render(rnd.choice(TITLE_PREFIXES) + a.title, paras, k2)
        return render(a.title, a.paragraphs, k1), typography(b, rnd)
    raise ValueError(kind)


def negative(
    kind: str, a: Article, others: list[Article], kits: list[Kit], rnd: random.Random
) -> tuple[str, str]:
    not_a = [o for o in others if o.name != a.name]
    same_lang = [o for o in not_a if o.lang == a.lang] or not_a
    if kind == "quotes_paragraphs":
        host = max(rnd.sample(same_lang, min(3, len(same_lang))), key=lambda o: o.words)
        pool = a.paragraphs[1:] or a.paragraphs  # the lead is what a digest would take
        quoted = rnd.sample(pool, min(rnd.choice([1, 2]), len(pool)))
        paras = host.paragraphs[:]
        at = rnd.randrange(1, len(paras) + 1)
        intro = f"As {rnd.choice(['one report', 'a rival outlet', 'the original report'])} put it:"
        paras[at:at] = [intro, *(f'"{q}"' for q in quoted)]
        return render(a.title, a.paragraphs), render(host.title, paras)
    if kind == "digest":
        items = [a, *rnd.sample(same_lang, min(4, len(same_lang)))]
        rnd.shuffle(items)
        lines = ["Morning briefing: the stories you need to know today"]
        for item in items:
            lines += [item.title, item.paragraphs[0]]
        return render(a.title, a.paragraphs), "\n\n".join(lines)
    if kind == "same_outlet_chrome":
        other = rnd.choice(same_lang)
        kit = rnd.choice(kits)
        return render(a.title, a.paragraphs, kit), render(other.title, other.paragraphs, kit)
    if kind == "same_topic":
        other = max(same_lang, key=lambda o: shared_words(a, o))
        return render(a.title, a.paragraphs), render(other.title, other.paragraphs)
    raise ValueError(kind)


def build(base: list[Article], kits: list[Kit], events: list[tuple[Article, Article]], seed: int):
    rnd = random.Random(seed)
    pairs: list[dict[str, object]] = []

    def add(kind: str, dup: bool, a: Article, texts: tuple[str, str]) -> None:
        pairs.append(
            {
                "id": f"t{len(pairs):04d}",
                "duplicate": dup,
                "kind": kind,
                "lang": a.lang,
                "a_doc": a.name,
                "a_text": texts[0],
                "b_text": texts[1],
            }
        )

    short = [a for a in base if a.words < 200]
    for a in base:
        for kind in POSITIVE:
            if kind == "short_with_chrome" and a not in short:
                continue
            if kind == "drop_paragraphs" and len(a.paragraphs) < 5:
                continue
            texts = positive(kind, a, kits, rnd)
            # a copy keeps most of its original: an edit that left out most of the words
            # (one paragraph holding most of the text) is no longer a copy, so no pair
            if len(texts[1].split()) >= 0.6 * len(render(a.title, a.paragraphs).split()):
                add(kind, True, a, texts)
        for kind in NEGATIVE[:-1]:
            add(kind, False, a, negative(kind, a, base, kits, rnd))
    for ea, eb in events:
        add(
            "same_event",
            False,
            ea,
            (render(ea.title, ea.paragraphs), render(eb.title, eb.paragraphs)),
        )
    return pairs


def language_of(name: str, index: int) -> str:
    """The team's base set: 001-036 English, 037-042 German, 043-045 Spanish, 046-048 French."""
    return "en" if index <= 36 else "de" if index <= 42 else "es" if index <= 45 else "fr"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--base", type=Path, default=DATA, help="folder with base/, boilerplate/, same_event/"
    )
    ap.add_argument(
        "--html", type=Path, help="take base articles from the HTML pages in this folder"
    )
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()

    if args.html:
        base = [a for p in sorted(args.html.glob("*.htm*")) if (a := read_html(p)) is not None]
    else:
        files = sorted((args.base / "base").glob("*.txt"))
        base = [read_article(p, language_of(p.stem, int(p.stem))) for p in files]
    kits = [read_kit(p) for p in sorted((args.base / "boilerplate").glob("*.txt"))]
    events = [
        (read_article(p), read_article(p.with_name(p.name.replace("_a.", "_b."))))
        for p in sorted((args.base / "same_event").glob("*_a.txt"))
    ]
    distinct: list[Article] = []  # the same page twice (mirrors, reposts) is not two articles
    for a in base:
        if all(shared_words(a, d) < 0.5 for d in distinct):
            distinct.append(a)
    pairs = build(distinct, kits, events, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    dup = sum(1 for p in pairs if p["duplicate"])
    print(f"{args.out}: {len(pairs)} pairs ({dup} duplicates) from {len(base)} articles")


if __name__ == "__main__":
    main()
