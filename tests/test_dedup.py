"""Dedup verdicts against a real warehouse file: seeds, history and the batch itself."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from stories import BLOCK, WIRE

from flows.config import DedupSettings
from flows.dedup.detect import Doc, MinHasher, content_hash, decide, jaccard, prepare
from flows.warehouse import store as wh

SETTINGS = DedupSettings()
T0 = datetime(2026, 10, 1, tzinfo=UTC)

VOCAB = [
    "the",
    "council",
    "said",
    "on",
    "tuesday",
    "that",
    "grain",
    "exports",
    "through",
    "the",
    "port",
    "rose",
    "sharply",
    "while",
    "officials",
    "in",
    "kyiv",
    "warned",
    "of",
    "new",
    "strikes",
    "on",
    "power",
    "plants",
    "and",
    "ministers",
    "met",
    "in",
    "brussels",
    "to",
    "discuss",
    "sanctions",
    "budgets",
    "energy",
    "prices",
    "wheat",
    "shipping",
    "insurance",
    "drones",
    "factories",
]


def article(seed: int, n_words: int = 300) -> str:
    rng = random.Random(seed)
    sentences = []
    while sum(len(s.split()) for s in sentences) < n_words:
        sentences.append(
            " ".join(rng.choice(VOCAB) for _ in range(rng.randint(8, 18))).capitalize() + "."
        )
    return "\n\n".join(" ".join(sentences[i : i + 3]) for i in range(0, len(sentences), 3))


def store(con, doc_id: str, text: str, root: str | None = None, at: datetime = T0) -> None:
    h = MinHasher(SETTINGS)
    sig = h.signature(h.shingles(text))
    batch = wh.LoadBatch()
    wh.signature_rows(doc_id, content_hash(text), root or doc_id, at, sig, h.band_keys(sig), batch)
    if doc_id.startswith("seed:"):
        con.execute(
            "INSERT INTO seeds VALUES (?, NULL, NULL, NULL, ?, ?, 'x', ?)",
            [doc_id[5:], text, content_hash(text), at],
        )
    else:
        con.execute(
            "INSERT INTO articles (article_id, url, text, feed_url, first_seen_at, run_id, content_hash, "
            "dedup_status, duplicate_of, cluster_id) VALUES (?, ?, ?, 'f', ?, 'r', ?, ?, ?, ?)",
            [
                doc_id,
                f"https://x/{doc_id}",
                text,
                at,
                content_hash(text),
                "unique" if root is None else "near_duplicate",
                root,
                root or doc_id,
            ],
        )
    wh.load(con, "r", batch)


@pytest.fixture
def con(tmp_path: Path):
    with wh.connect(tmp_path / "w.duckdb") as c:
        c.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r', now(), 'running')")
        yield c


def run(con, docs: list[Doc]):
    return decide(docs, MinHasher(SETTINGS), wh.DedupIndex(con), SETTINGS.threshold)


def test_seed_copy_with_edits_points_at_seed(con) -> None:
    seed = article(1)
    store(con, "seed:s1", seed)
    store(con, "a-old", article(2))
    paragraphs = seed.split("\n\n")
    copy = (
        "Breaking: "
        + "\n\n".join(paragraphs[:-1]).replace(".", " .")
        + "\n\nSubscribe to our newsletter."
    )
    v = run(con, [Doc("new", copy, T0, "https://y/new")])["new"]
    assert v.status == "near_duplicate"
    assert v.duplicate_of == "seed:s1"
    assert 0.6 <= v.similarity < 1.0


def test_exact_copy_typed_differently(con) -> None:
    text = article(3)
    store(con, "orig", text)
    retyped = text.upper().replace(" ", "  ")
    v = run(con, [Doc("new", retyped, T0, "https://y/new")])["new"]
    assert (v.status, v.duplicate_of, v.similarity) == ("exact_duplicate", "orig", 1.0)


def test_different_articles_are_unique(con) -> None:
    store(con, "seed:s1", article(10))
    store(con, "a1", article(11))
    verdicts = run(con, [Doc(f"n{i}", article(20 + i), T0, f"https://y/{i}") for i in range(5)])
    assert {v.status for v in verdicts.values()} == {"unique"}


def test_quoting_one_paragraph_is_not_a_duplicate(con) -> None:
    base = article(30)
    store(con, "a1", base)
    quote = base.split("\n\n")[0]
    other = article(31) + "\n\n" + quote
    v = run(con, [Doc("n", other, T0, "https://y/n")])["n"]
    assert v.status == "unique"


def test_batch_original_is_earliest_published_not_arrival_order(con) -> None:
    text = article(40)
    later = Doc(
        "b-later", text + "\n\nExtra line from the copy.", T0 + timedelta(hours=2), "https://a/1"
    )
    earlier = Doc("a-earlier", text, T0, "https://z/2")
    for order in ([later, earlier], [earlier, later]):
        verdicts = run(con, [Doc(d.doc_id, d.text, d.published_at, d.url) for d in order])
        assert verdicts["a-earlier"].status == "unique"
        assert verdicts["b-later"].duplicate_of == "a-earlier"


def test_copy_of_a_copy_points_at_the_root(con) -> None:
    text = article(50)
    store(con, "root", text, at=T0)
    store(con, "copy1", text + "\n\nSyndicated.", root="root", at=T0 + timedelta(days=1))
    v = run(con, [Doc("copy2", text + "\n\nSyndicated. Again.", T0, "https://y/c2")])["copy2"]
    assert v.duplicate_of == "root"


def test_signature_agreement_estimates_jaccard() -> None:
    """MinHash is only as good as its hash family: agreement must track real Jaccard."""
    h = MinHasher(DedupSettings(num_perm=512, bands=128))
    base = article(60, 600).split()
    errors = []
    for keep in (0.95, 0.8, 0.6, 0.4):
        other = base[: int(len(base) * keep)] + article(61, int(len(base) * (1 - keep))).split()
        a, b = h.shingles(" ".join(base)), h.shingles(" ".join(other))
        agreement = float((h.signature(a) == h.signature(b)).mean())
        errors.append(abs(agreement - jaccard(a, b)))
    assert max(errors) < 0.08, errors


def test_similarity_is_real_jaccard() -> None:
    h = MinHasher(SETTINGS)
    a = h.shingles("one two three four five six seven")
    b = h.shingles("one two three four five six eight")
    # 3 shingles each, 2 shared → 2 / 4
    assert jaccard(a, b) == pytest.approx(0.5)


def test_rebuild_applies_new_seeds_and_thresholds(tmp_path: Path, seeds_dir: Path) -> None:
    from flows.config import Settings
    from flows.dedup.rebuild import rebuild
    from flows.orchestration import pipeline

    seed_file = sorted(seeds_dir.glob("*.txt"))[0]
    seed_text = seed_file.read_text(encoding="utf-8")
    seed_copy = "Reposted from the wire\n\n" + seed_text + "\n\nShare this story."
    text = article(70)
    db = tmp_path / "w.duckdb"
    with wh.connect(db) as c:
        c.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r', now(), 'completed')")
        # stored before there were any seeds: the seed copy was unique then
        store(c, "a1", text)
        store(c, "c1", text + "\n\nSyndicated by the Evening Courier.", root="a1")
        store(c, "s-copy", seed_copy)
        settings = Settings(seeds={"path": seeds_dir})
        pipeline.sync_seeds(c, settings)
        seed_id = "seed:" + seed_file.stem

        summary = rebuild(c, settings.dedup)
        rows = dict(
            (r[0], r[1:])
            for r in c.execute(
                "SELECT article_id, dedup_status, duplicate_of, cluster_id FROM articles"
            ).fetchall()
        )
        assert rows["s-copy"] == ("near_duplicate", seed_id, seed_id)
        assert rows["c1"] == ("near_duplicate", "a1", "a1")
        assert rows["a1"] == ("unique", None, "a1")
        assert summary.changed == 1 and summary.articles == 3
        n_seeds = len(list(seeds_dir.glob("*.txt")))
        assert summary.seeds == n_seeds
        docs, keys, lsh = c.execute(
            "SELECT count(*), count(DISTINCT doc_key), "
            "(SELECT count(*) FROM dedup_lsh) FROM dedup_signatures"
        ).fetchall()[0]
        assert docs == keys == 3 + n_seeds and lsh == docs * SETTINGS.bands

        assert rebuild(c, settings.dedup).changed == 0  # a rebuild of a rebuild changes nothing

        strict = DedupSettings(threshold=0.99)
        summary = rebuild(c, strict)
        statuses = dict(c.execute("SELECT article_id, dedup_status FROM articles").fetchall())
        assert statuses == {"a1": "unique", "c1": "unique", "s-copy": "unique"}
        assert summary.before["near_duplicate"] == 2 and summary.after == {"unique": 3}
        # the rebuilt index still answers: a new copy of a1 is found through it
        v = decide(
            [Doc("n", text + "\n\nAgain.", T0, "https://y/n")],
            MinHasher(strict),
            wh.DedupIndex(c),
            0.9,
        )["n"]
        assert v.duplicate_of == "a1"


def test_floor_on_the_team_labelled_set() -> None:
    """The team's labelled pairs (benchmarks/data/neardup_team.jsonl, 13 kinds of edits and
    traps) go through the real decision; `make bench-dedup` prints the same by kind."""
    import json

    from flows.dedup.detect import judge_pair

    path = Path(__file__).resolve().parent.parent / "benchmarks" / "data" / "neardup_team.jsonl"
    pairs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert len(pairs) >= 500
    h = MinHasher(SETTINGS)
    tp = fp = fn = 0
    missed: list[str] = []
    for p in pairs:
        flagged = judge_pair(p["a_text"], p["b_text"], h, SETTINGS).status != "unique"
        tp += flagged and p["duplicate"]
        fp += flagged and not p["duplicate"]
        fn += not flagged and p["duplicate"]
        if flagged != p["duplicate"]:
            missed.append(f"{p['id']} {p['kind']}")
    assert tp / (tp + fp) >= 0.995, missed
    assert tp / (tp + fn) >= 0.98, missed


# --- partial copies and site boilerplate ------------------------------------------------------

SHORT_ITEMS = [
    "The city's ferry to the Hel peninsula will run an extra evening crossing on Fridays from "
    "next month, the operator said, after record summer passenger numbers.",
    "Harbour pilots held a one-hour warning strike on Tuesday over pension changes, delaying "
    "the departure of two container ships from the deep-water terminal.",
    "A new cold store for fish landings opened at the northern quay, with room for four "
    "hundred tonnes and solar panels covering most of its roof.",
    "Dredging of the inner channel will pause for three weeks during the herring spawning "
    "season, environmental officials confirmed after talks with the contractor.",
    "The port museum reopens on Saturday after a two-year renovation that added a gallery on "
    "the history of the shipyard strikes and a rooftop viewing deck.",
    "Customs officers at the car terminal seized forty stolen vehicles bound for Central Asia, "
    "hidden in containers declared as used machinery parts.",
    "A coastal rowing race returns to the harbour this weekend for the first time since 2019, "
    "with crews from Sweden, Denmark and Lithuania taking part.",
]


def load_decided(con, docs: list[Doc], run_id: str = "r") -> dict:
    """Decide a batch against the warehouse and load it as a run does (articles + index rows)."""
    from flows.orchestration.pipeline import index_rows

    verdicts = run(con, docs)
    batch = wh.LoadBatch()
    for d in docs:
        v = verdicts[d.doc_id]
        batch.add(
            "articles",
            article_id=d.doc_id,
            url=d.url,
            title=None,
            author=None,
            published_at=d.published_at,
            language=None,
            site_name=None,
            text=d.text,
            feed_url="f",
            first_seen_at=d.published_at,
            run_id=run_id,
            content_hash=d.content_hash,
            dedup_status=v.status,
            duplicate_of=v.duplicate_of,
            similarity=v.similarity,
            containment=v.containment,
            cluster_id=v.root_id,
        )
        index_rows(d, v, d.published_at or T0, batch)
    wh.load(con, run_id, batch)
    return verdicts


def page(title: str, paragraphs: list[str], block: bool = True) -> str:
    header = "Harbour Ledger\nPorts | Shipping | Coast | Opinion"
    footer = "© 2026 Harbour Ledger. All rights reserved."
    return "\n\n".join([header, title, *paragraphs, *([BLOCK] if block else []), footer])


def test_excerpt_and_truncated_page_are_partial_copies_of_a_stored_article(con) -> None:
    original = page("Grain shipments through Gdansk rise by a third", WIRE)
    load_decided(con, [Doc("orig", original, T0, "https://harbourledger.example/grain")])
    assert con.execute("SELECT count(*) FROM dedup_anchors").fetchall()[0][0] > 0
    excerpt = "\n\n".join(
        [
            "NewsWatch | Top stories",
            "Grain shipments through Gdansk rise by a third",
            *WIRE[:2],
            "Continue reading at Harbour Ledger",
        ]
    )
    truncated = "\n\n".join(
        ["Grain shipments through Gdansk rise by a third", *WIRE[:4], "Subscribe to read more."]
    )
    digest = "\n\n".join(
        ["Morning briefing", "Grain shipments through Gdansk rise by a third", WIRE[0]]
        + [x for s in SHORT_ITEMS[:4] for x in ("Also today", s)]
    )
    later = T0 + timedelta(hours=2)
    verdicts = run(
        con,
        [
            Doc("excerpt", excerpt, later, "https://newswatch.example/1"),
            Doc("truncated", truncated, later, "https://readlater.example/2"),
            Doc("digest", digest, later, "https://brief.example/3"),
        ],
    )
    for name in ("excerpt", "truncated"):
        v = verdicts[name]
        assert (v.status, v.duplicate_of, v.root_id) == ("partial_copy", "orig", "orig"), name
        assert v.containment is not None and v.containment >= 0.9
        assert v.similarity is not None and v.similarity < 0.6  # not a whole copy
    assert verdicts["digest"].status == "unique"  # a lead among other leads copies nothing

    # the whole article with an update on top is a near duplicate, not a partial copy
    update = page(
        "Grain shipments through Gdansk rise by a third",
        ["UPDATE: The ministry confirmed the figures on Tuesday evening.", *WIRE],
    )
    v = run(con, [Doc("update", update, later, "https://harbourledger.example/grain-2")])["update"]
    assert (v.status, v.duplicate_of) == ("near_duplicate", "orig")


def test_an_excerpt_is_found_within_its_batch(con) -> None:
    original = page("Grain shipments through Gdansk rise by a third", WIRE)
    excerpt = "\n\n".join(
        ["Grain shipments through Gdansk rise by a third", *WIRE[:2], "Continue reading"]
    )
    verdicts = run(
        con,
        [
            Doc("excerpt", excerpt, T0 + timedelta(hours=1), "https://newswatch.example/1"),
            Doc("orig", original, T0, "https://harbourledger.example/grain"),
        ],
    )
    assert verdicts["orig"].status == "unique"
    assert (verdicts["excerpt"].status, verdicts["excerpt"].duplicate_of) == (
        "partial_copy",
        "orig",
    )


def test_shared_boilerplate_is_learned_from_the_sites_stored_pages(con) -> None:
    """Two different short items carrying the site's long block: a copy while the site is
    unknown, not a copy once the warehouse has seen the block on the site's other pages."""
    first = Doc("item0", page("Ferry", [SHORT_ITEMS[0]]), T0, "https://harbourledger.example/0")
    second = page("Strike", [SHORT_ITEMS[1]])
    # without the site's history the block dominates both texts
    blind = run(con, [first, Doc("blind", second, T0, "https://harbourledger.example/1")])
    assert blind["blind"].status in ("near_duplicate", "partial_copy")

    for i, item in enumerate(SHORT_ITEMS[2:], start=2):
        at = T0 + timedelta(hours=i)
        load_decided(
            con,
            [Doc(f"item{i}", page(f"Item {i}", [item]), at, f"https://harbourledger.example/{i}")],
        )
    ((docs,),) = con.execute(
        "SELECT max(docs) FROM dedup_site_units WHERE site = 'harbourledger.example'"
    ).fetchall()
    assert docs == len(SHORT_ITEMS) - 2
    later = T0 + timedelta(days=1)
    verdicts = run(
        con,
        [
            Doc("item0", page("Ferry", [SHORT_ITEMS[0]]), later, "https://harbourledger.example/0"),
            Doc("item1", second, later, "https://harbourledger.example/1"),
        ],
    )
    assert {v.status for v in verdicts.values()} == {"unique"}


def test_rebuild_indexes_partial_copies_and_site_boilerplate(tmp_path: Path) -> None:
    from flows.dedup.rebuild import rebuild

    db = tmp_path / "w.duckdb"
    with wh.connect(db) as c:
        c.execute("INSERT INTO runs (run_id, started_at, status) VALUES ('r', now(), 'completed')")
        original = page("Grain shipments through Gdansk rise by a third", WIRE)
        excerpt = "\n\n".join(
            ["Grain shipments through Gdansk rise by a third", *WIRE[:2], "Continue reading"]
        )
        # stored as a schema-5 warehouse had them: no anchors, the excerpt judged unique
        store(c, "orig", original)
        store(c, "excerpt", excerpt, at=T0 + timedelta(hours=1))
        c.execute("UPDATE articles SET published_at = first_seen_at")
        assert c.execute("SELECT count(*) FROM dedup_anchors").fetchall() == [(0,)]
        summary = rebuild(c, SETTINGS)
        status, dup, cont = c.execute(
            "SELECT dedup_status, duplicate_of, containment FROM articles "
            "WHERE article_id = 'excerpt'"
        ).fetchall()[0]
        assert (status, dup) == ("partial_copy", "orig") and cont >= 0.9
        assert summary.after == {"unique": 1, "partial_copy": 1} and summary.changed == 1
        anchors, units = c.execute(
            "SELECT (SELECT count(DISTINCT doc_key) FROM dedup_anchors), "
            "(SELECT count(*) FROM dedup_site_units)"
        ).fetchall()[0]
        assert anchors == 1 and units > 0  # only the original is an anchored original


def test_a_schema_5_warehouse_is_migrated(tmp_path: Path) -> None:
    import duckdb

    db = tmp_path / "v5.duckdb"
    v5 = (Path(__file__).resolve().parent / "data" / "schema_v5.sql").read_text(encoding="utf-8")
    with duckdb.connect(str(db)) as raw:
        raw.execute(v5)
        raw.execute("INSERT INTO schema_info (version) VALUES (5)")
        raw.execute(
            "INSERT INTO articles (article_id, url, text, feed_url, first_seen_at, run_id, "
            "content_hash, dedup_status, duplicate_of, similarity, cluster_id) VALUES "
            "('a', 'https://x/a', 'text', 'f', now(), 'r', 'h', 'unique', NULL, NULL, 'a'), "
            "('b', 'https://x/b', 'text', 'f', now(), 'r', 'h', 'near_duplicate', 'a', 0.5, 'a')"
        )
        with pytest.raises(duckdb.ConstraintException):
            raw.execute("UPDATE articles SET dedup_status = 'partial_copy' WHERE article_id = 'b'")
    with wh.connect(db) as c:
        # 006 (partial copies), 007 (the feed registry), 008 (text lengths)
        assert [m.name[:3] for m in wh.migrations(5)] == ["006", "007", "008"]
        assert wh.schema_version(c) == wh.SCHEMA_VERSION == 8
        assert c.execute("SELECT count(*) FROM feed_registry").fetchall() == [(0,)]
        rows = c.execute(
            "SELECT article_id, dedup_status, duplicate_of, similarity, containment, text_chars "
            "FROM articles ORDER BY 1"
        ).fetchall()
        assert rows == [
            ("a", "unique", None, None, None, 4),
            ("b", "near_duplicate", "a", 0.5, None, 4),
        ]
        c.execute(
            "UPDATE articles SET dedup_status = 'partial_copy', containment = 0.9 "
            "WHERE article_id = 'b'"
        )
        with pytest.raises(duckdb.ConstraintException):  # a partial copy says how much
            c.execute("UPDATE articles SET containment = NULL WHERE article_id = 'b'")
        with pytest.raises(duckdb.ConstraintException):
            c.execute("UPDATE articles SET dedup_status = 'copied' WHERE article_id = 'b'")
        # keys survive the rebuilt table, and the views count the partial copy as a copy
        with pytest.raises(duckdb.ConstraintException):
            c.execute(
                "INSERT INTO articles (article_id, url, text, feed_url, first_seen_at, run_id, "
                "content_hash, dedup_status, cluster_id) "
                "VALUES ('a', 'https://x/c', 't', 'f', now(), 'r', 'h', 'unique', 'a')"
            )
        c.execute("INSERT INTO article_topics VALUES ('a', 'musk', 1), ('b', 'musk', 2)")
        assert c.execute("SELECT unique_stories, copies FROM topic_daily").fetchall() == [(1, 1)]
        assert c.execute("SELECT count(*) FROM dedup_anchors").fetchall() == [(0,)]
        comment = c.execute(
            "SELECT comment FROM duckdb_columns() WHERE table_name = 'articles' "
            "AND column_name = 'containment'"
        ).fetchall()[0][0]
        assert "duplicate_of" in comment


def test_floor_on_the_partial_copy_labelled_set() -> None:
    """Excerpts, truncated pages, rewrites and updates found; digests, same-template short items
    and shared boilerplate left alone (benchmarks/data/partial_team.jsonl, with the other pages
    of each site that a warehouse would have seen); `make bench-dedup` prints it by kind."""
    import json

    from flows.dedup.detect import judge_pair

    data = Path(__file__).resolve().parent.parent / "benchmarks" / "data"
    pairs = [
        json.loads(line)
        for line in (data / "partial_team.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    sites = {
        s["site"]: s["pages"]
        for s in map(json.loads, (data / "partial_team_sites.jsonl").read_text().splitlines())
    }
    assert len(pairs) >= 350
    h = MinHasher(SETTINGS)
    tp = fp = fn = status_ok = 0
    missed: list[str] = []
    for p in pairs:
        pages = [
            (f"https://{s}/page{i}", t)
            for s in {p["a_site"], p["b_site"]}
            for i, t in enumerate(sites[s])
        ]
        v = judge_pair(
            p["a_text"],
            p["b_text"],
            h,
            SETTINGS,
            urls=(f"https://{p['a_site']}/a", f"https://{p['b_site']}/b"),
            site_pages=pages,
        )
        flagged = v.status != "unique"
        tp += flagged and p["duplicate"]
        fp += flagged and not p["duplicate"]
        fn += not flagged and p["duplicate"]
        status_ok += v.status == p["expect"]
        if flagged != p["duplicate"]:
            missed.append(f"{p['id']} {p['kind']}")
    assert tp / (tp + fp) >= 0.99, missed
    assert tp / (tp + fn) >= 0.95, missed
    assert status_ok / len(pairs) >= 0.97  # partial copies told from whole copies


def test_the_extraction_workers_derive_what_the_check_would() -> None:
    """Derive runs in the extraction processes (pickled there); its hash, shingles, anchors and
    paragraph keys are what decide() would compute itself, so both paths give one verdict."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from flows.config import Settings
    from flows.extraction.extract import Extracted
    from flows.orchestration.pipeline import Derive
    from flows.sources.feeds import FeedItem

    url = "https://www.harbourledger.example/grain"
    text = page("Grain shipments through Gdansk rise by a third", WIRE)
    item = FeedItem("https://harbourledger.example/feed", url, url, None, None, None, None)
    article = Extracted(url, "Grain", None, None, "en", None, text, item)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        derived = pool.submit(Derive.of(Settings()), article).result()
    doc = Doc("d", text, None, url)
    prepare(doc, MinHasher(SETTINGS))
    assert doc.site == "harbourledger.example"
    assert derived.content_hash == doc.content_hash
    for name in ("shingles", "signature", "band_keys", "unit_keys", "anchors"):
        assert np.array_equal(getattr(derived, name), getattr(doc, name)), name
    assert doc.anchors.size > 0 and doc.unit_keys.size == len(WIRE) + 1  # + the block
