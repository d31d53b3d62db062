"""Build a labelled set of partial copies, rewrites and look-alikes that are not copies.

Each pair is an earlier text (``a_text``, published on site ``a_site``) and a newer one
(``b_text`` on ``b_site``), labelled with whether the newer text copies the earlier one and the
verdict it should get. Originals are articles under their outlet's page furniture: a header, a
footer and a long prose block every page of the outlet carries (about us, funding, corrections
policy). A second file, ``*_sites.jsonl``, holds other pages of every site (the same furniture
around other text): what a warehouse knows about a site after a few runs, so that text repeated
across a site's pages can be told from the article.

Copies (the newer text is the same story):
  excerpt      an aggregator page: the headline and the first paragraphs (20-60% of the
               text), "Continue reading at ..." and the aggregator's own furniture
  truncated    a mirror of a paywalled page: the first half, cut at a sentence, and
               "Subscribe to read more"
  rewrite      a local outlet's version: new headline, a local framing paragraph on top, a
               quarter of the sentences cut, quote marks and apostrophes retyped
  update       the outlet's own updated version: an update paragraph on top, sometimes a
               correction at the end
Not copies:
  digest       a briefing page holding this headline and lead among four to six others
  digest_first the article itself, when the briefing that quoted its lead came first
  same_template_short  two different short items under one outlet's header and footer
  shared_boilerplate   two different articles (the newer one short) of one outlet, both
                       with the outlet's long prose block

Expected verdicts: excerpt and truncated ``partial_copy``; rewrite and update
``near_duplicate``; the others ``unique``.

    python benchmarks/partial_set.py                         # the tuning set (committed)
    python benchmarks/partial_set.py --heldout --html ../shared/realworld/pages \\
        --out /tmp/partial_heldout.jsonl --seed 4111        # the held-out set (other texts)
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from neardup_set import (
    Article,
    Kit,
    language_of,
    read_article,
    read_html,
    read_kit,
    sentences,
    shared_words,
)

HERE = Path(__file__).resolve().parent
NEARDUP = HERE / "data" / "neardup"
DATA = HERE / "data" / "partial"
OUT = HERE / "data" / "partial_team.jsonl"
SEED = 20261126
COPIES = ("excerpt", "truncated", "rewrite", "update")
NOT_COPIES = ("digest", "digest_first", "same_template_short", "shared_boilerplate")
EXPECT = {
    "excerpt": "partial_copy",
    "truncated": "partial_copy",
    "rewrite": "near_duplicate",
    "update": "near_duplicate",
}
BACKGROUND_PAGES = 6  # other pages of each site the warehouse has seen

CONTINUE = {
    "de": "Weiterlesen bei {outlet} …",
    "fr": "Lire la suite sur {outlet} …",
    "es": "Sigue leyendo en {outlet} …",
    "pt": "Continue a ler em {outlet} …",
}
SUBSCRIBE = {
    "de": "Dieser Artikel ist Abonnenten vorbehalten. Jetzt abonnieren, um weiterzulesen.",
    "fr": "Cet article est réservé aux abonnés. Abonnez-vous pour lire la suite.",
    "es": "Este artículo es exclusivo para suscriptores. Suscríbete para seguir leyendo.",
    "pt": "Este artigo é exclusivo para assinantes. Assine para continuar a ler.",
}
QUOTES = {"de": ("„", "“"), "fr": ("« ", " »"), "es": ("«", "»"), "pt": ("«", "»")}


@dataclass
class Outlet:
    """A site: its page furniture (header, footer) and the long block on every page."""

    site: str
    kind: str  # outlet (publishes originals) | aggregator | mirror | local | digest
    name: str
    kit: Kit
    block: str

    def page(self, title: str, paragraphs: list[str], *, block: bool = True) -> str:
        parts = [self.kit.header, title, *paragraphs]
        if block:
            parts.append(self.block)
        parts.append(self.kit.footer)
        return "\n\n".join(p for p in parts if p)


def _sections(path: Path) -> list[tuple[str, str]]:
    """``== label`` sections of a data file (lines starting with # are comments)."""
    out: list[tuple[str, str]] = []
    label, lines = None, []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and label is None:
            continue
        if line.startswith("== "):
            if label is not None:
                out.append((label, "\n".join(lines).strip()))
            label, lines = line[3:].strip(), []
        elif label is not None:
            lines.append(line)
    if label is not None:
        out.append((label, "\n".join(lines).strip()))
    return out


def read_outlets(path: Path) -> list[Outlet]:
    """``== kind site`` sections: header, ``---``, footer, ``+++``, block."""
    out = []
    for label, body in _sections(path):
        kind, site = label.split()
        furniture, _, block = body.partition("\n+++\n")
        header, _, footer = furniture.partition("\n---\n")
        name = header.strip().splitlines()[0]
        out.append(Outlet(site, kind, name, Kit(site, header.strip(), footer.strip()), block))
    return out


def team_outlets() -> list[Outlet]:
    """The team set's four outlet kits, each with its long block."""
    blocks = dict(_sections(DATA / "tuning" / "blocks.txt"))
    out = []
    for p in sorted((NEARDUP / "boilerplate").glob("*.txt")):
        kit = read_kit(p)
        site = p.stem.replace("_", "-") + ".example"
        out.append(Outlet(site, "outlet", kit.header.splitlines()[0], kit, blocks[p.stem]))
    return out


def by_lang(path: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label, body in _sections(path):
        out.setdefault(label, []).append(body)
    return out


def pick(table: dict[str, list[str]], key: str, fallback: str, rnd: random.Random) -> str:
    return rnd.choice(table.get(key) or table[fallback])


def retype_quotes(text: str, lang: str, rnd: random.Random) -> str:
    """Straight quotes to the language's own (or curly), apostrophes curled."""
    left, right = QUOTES.get(lang, rnd.choice([("“", "”"), ("‘", "’")]))
    count = 0

    def quote(_: re.Match[str]) -> str:
        nonlocal count
        count += 1
        return left if count % 2 else right

    return re.sub(r"[\"“”„«»]", quote, text).replace("'", "’")


def words_of(paragraphs: list[str]) -> int:
    return sum(len(p.split()) for p in paragraphs)


class Maker:
    def __init__(self, data: Path, outlets: list[Outlet], seed: int) -> None:
        self.rnd = random.Random(seed)
        copiers = read_outlets(data / "kits.txt")
        self.outlets = outlets
        self.by_kind = {k: [o for o in copiers if o.kind == k] for k in {o.kind for o in copiers}}
        self.framing = by_lang(data / "framing.txt")
        self.updates = by_lang(data / "updates.txt")
        self.places = (data / "places.txt").read_text(encoding="utf-8").split("\n")
        self.places = [p for p in self.places if p.strip()]

    def copier(self, kind: str) -> Outlet:
        return self.rnd.choice(self.by_kind[kind])

    # -- copies --------------------------------------------------------------------------
    def excerpt(self, a: Article, home: Outlet) -> str | None:
        total = words_of(a.paragraphs)
        n = 1
        while n < len(a.paragraphs) and words_of(a.paragraphs[:n]) < max(50, 0.2 * total):
            n += 1
        n += self.rnd.random() < 0.3 and n + 1 < len(a.paragraphs)
        if words_of(a.paragraphs[:n]) > 0.6 * total or n >= len(a.paragraphs):
            return None
        more = CONTINUE.get(a.lang, "Continue reading at {outlet} …").format(outlet=home.name)
        return self.copier("aggregator").page(a.title, [*a.paragraphs[:n], more])

    def truncated(self, a: Article) -> str | None:
        sents = [(i, s) for i, p in enumerate(a.paragraphs) for s in sentences(p)]
        total = sum(len(s.split()) for _, s in sents)
        kept, count = [], 0
        for i, s in sents:  # up to half of the words, cut at a sentence end
            if count + len(s.split()) > 0.5 * total and kept:
                break
            kept.append((i, s))
            count += len(s.split())
        if count < 40 or count > 0.65 * total:
            return None
        paras: list[str] = []
        last = -1
        for i, s in kept:
            if i != last:
                paras.append(s)
                last = i
            else:
                paras[-1] += " " + s
        more = SUBSCRIBE.get(a.lang, "This article is for subscribers. Subscribe to read more.")
        return self.copier("mirror").page(a.title, [*paras, more])

    def rewrite(self, a: Article) -> str:
        rnd = self.rnd
        place = rnd.choice(self.places)
        frame = pick(self.framing, a.lang, "en", rnd).format(place=place)
        sents = [(i, s) for i, p in enumerate(a.paragraphs) for s in sentences(p)]
        cut = set(rnd.sample(range(1, len(sents)), k=round(0.25 * len(sents)))) if sents else set()
        paras: dict[int, list[str]] = {}
        for j, (i, s) in enumerate(sents):
            if j not in cut:
                paras.setdefault(i, []).append(s)
        body = [retype_quotes(" ".join(v), a.lang, rnd) for _, v in sorted(paras.items())]
        title_words = a.title.split()
        headline = f"{place}: " + " ".join(title_words[: max(4, math.ceil(len(title_words) * 0.6))])
        return self.copier("local").page(headline, [frame, *body])

    def update(self, a: Article, home: Outlet) -> str:
        rnd = self.rnd
        top = pick(self.updates, f"{a.lang} update", "en update", rnd)
        paras = [top, *a.paragraphs]
        if rnd.random() < 0.5:
            paras.append(pick(self.updates, f"{a.lang} correction", "en correction", rnd))
        return home.page(a.title, paras)

    # -- not copies ----------------------------------------------------------------------
    def digest(self, a: Article, others: list[Article]) -> str:
        items = [a, *self.rnd.sample(others, min(self.rnd.randint(4, 6), len(others)))]
        self.rnd.shuffle(items)
        body = [x for it in items for x in (it.title, it.paragraphs[0])]
        return self.copier("digest").page("Today's briefing", body)

    def short_item(self, a: Article) -> list[str]:
        out: list[str] = []
        for p in a.paragraphs:
            if out and words_of([*out, p]) > 130:
                break
            out.append(p)
        if words_of(out) > 130:
            out = [" ".join(out[0].split()[:120])]
        return out


def build(base: list[Article], outlets: list[Outlet], data: Path, seed: int):
    mk = Maker(data, outlets, seed)
    rnd = mk.rnd
    pairs: list[dict[str, object]] = []
    home_of = {a.name: outlets[i % len(outlets)] for i, a in enumerate(base)}

    def add(kind: str, a: Article, a_site: str, a_text: str, b_site: str, b_text: str) -> None:
        expect = EXPECT.get(kind, "unique")
        pairs.append(
            {
                "id": f"p{len(pairs):04d}",
                "duplicate": expect != "unique",
                "kind": kind,
                "expect": expect,
                "lang": a.lang,
                "a_doc": a.name,
                "a_site": a_site,
                "b_site": b_site,
                "a_text": a_text,
                "b_text": b_text,
            }
        )

    for a in base:
        home = home_of[a.name]
        original = home.page(a.title, a.paragraphs)
        others = [o for o in base if o.name != a.name and shared_words(a, o) < 0.5]
        same_lang = [o for o in others if o.lang == a.lang]
        same_lang = same_lang if len(same_lang) >= 2 else others
        if (b := mk.excerpt(a, home)) is not None:
            add("excerpt", a, home.site, original, _site_in(b, mk), b)
        if (b := mk.truncated(a)) is not None:
            add("truncated", a, home.site, original, _site_in(b, mk), b)
        b = mk.rewrite(a)
        add("rewrite", a, home.site, original, _site_in(b, mk), b)
        add("update", a, home.site, original, home.site, mk.update(a, home))
        digest = mk.digest(a, same_lang)
        add("digest", a, home.site, original, _site_in(digest, mk), digest)
        add("digest_first", a, _site_in(digest, mk), digest, home.site, original)
        o1, o2 = rnd.sample(same_lang, 2)
        add(
            "same_template_short",
            a,
            home.site,
            home.page(o1.title, mk.short_item(o1), block=False),
            home.site,
            home.page(o2.title, mk.short_item(o2), block=False),
        )
        other = rnd.choice(same_lang)
        b_paras = mk.short_item(other) if rnd.random() < 0.7 else other.paragraphs
        add(
            "shared_boilerplate", a, home.site, original, home.site, home.page(other.title, b_paras)
        )
    return pairs, sites(base, outlets + [o for v in mk.by_kind.values() for o in v], rnd)


def _site_in(text: str, mk: Maker) -> str:
    """The copier whose header opens the text."""
    for group in mk.by_kind.values():
        for o in group:
            if text.startswith(o.kit.header):
                return o.site
    raise ValueError("no copier header")


def sites(base: list[Article], outlets: list[Outlet], rnd: random.Random) -> list[dict]:
    """Other pages of each site: its furniture around other text (two paragraphs of a base
    article each, a different one per page)."""
    out = []
    for o in outlets:
        pages = []
        for a in rnd.sample(base, BACKGROUND_PAGES):
            paras = a.paragraphs[1:3] or a.paragraphs
            pages.append(o.page(f"{a.title} ({o.name})", paras))
        out.append({"site": o.site, "pages": pages})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--heldout", action="store_true", help="the held-out outlets and texts")
    ap.add_argument("--html", type=Path, help="take original articles from these HTML pages")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=SEED)
    args = ap.parse_args()

    data = DATA / ("heldout" if args.heldout else "tuning")
    if args.html:
        base = [a for p in sorted(args.html.glob("*.htm*")) if (a := read_html(p)) is not None]
        base = [a for a in base if a.words >= 120]
    else:
        files = sorted((NEARDUP / "base").glob("*.txt"))
        base = [read_article(p, language_of(p.stem, int(p.stem))) for p in files]
    distinct: list[Article] = []
    for a in base:
        if all(shared_words(a, d) < 0.5 for d in distinct):
            distinct.append(a)
    outlets = read_outlets(data / "outlets.txt") if args.heldout else team_outlets()
    pairs, site_pages = build(distinct, outlets, data, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as fh:
        for p in pairs:
            fh.write(json.dumps(p, ensure_ascii=False) + "\n")
    sites_out = args.out.with_name(args.out.stem + "_sites.jsonl")
    with sites_out.open("w", encoding="utf-8") as fh:
        for s in site_pages:
            fh.write(json.dumps(s, ensure_ascii=False) + "\n")
    dup = sum(1 for p in pairs if p["duplicate"])
    print(
        f"{args.out}: {len(pairs)} pairs ({dup} copies) from {len(distinct)} articles; "
        f"{sites_out.name}: {len(site_pages)} sites"
    )


if __name__ == "__main__":
    main()
