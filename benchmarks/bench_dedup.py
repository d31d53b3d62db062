"""Near-duplicate detection: accuracy on labelled pairs, and what the index costs at scale.

1. Accuracy. Every labelled pair goes through the real decision (``flows.dedup.detect.decide``: content
   hash, LSH and anchor candidates from the index, verification of each candidate), the first
   text as the history, the second as the new document. Precision and recall overall and by kind
   of edit, on the team's set (benchmarks/data/neardup_team.jsonl), on
   ../shared/realworld/neardup_pairs.jsonl when present, and on BENCH_HELDOUT=FILE when given (a
   set kept outside the repository). The partial-copy set (benchmarks/data/partial_team.jsonl,
   made by partial_set.py) is scored with the other pages of each site known, as a warehouse
   knows them, and again with none (a site's first pages); BENCH_PARTIAL_HELDOUT=FILE scores
   a held-out set made by the same recipe from other texts and outlets.
2. Method. The measured similarity of every pair of the team's set for shingle sizes 3, 4, 5 and 7:
   the best threshold and its precision/recall for each; and the probability that LSH makes a pair
   a candidate, by similarity, for the banding choices.
3. Scale. 10k and 100k stored documents (and 1M with BENCH_SCALE=full), synthetic texts on 500
   sites: signatures/s, inserts/s through the warehouse load, checking a batch of 1,000 new
   documents (250 edited copies, 250 excerpts of stored ones, 500 new; their signatures
   included) against the warehouse, index bytes per document on disk, memory; datasketch's
   MinHashLSH with the same banding (40 bands of 2 values) measured in the same run as the
   baseline. Per-article cost of the extraction worker's dedup work (flows.orchestration.pipeline.Derive)
   against the whole-copy-only work it replaced, on the labelled texts.
4. Rebuild: ``corpus-monitor dedup rebuild`` over the stored history.

    make bench-dedup                   # 10k and 100k
    BENCH_SCALE=full make bench-dedup  # adds 1M (about half an hour, several GB of disk)
"""

from __future__ import annotations

import gc
import json
import os
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from flows.config import DedupSettings
from flows.dedup.detect import (
    Doc,
    MinHasher,
    containment,
    decide,
    hash_words,
    jaccard,
    judge_pair,
    prepare,
)
from flows.dedup.rebuild import rebuild
from flows.extraction.text import words
from flows.warehouse import store as wh

REPO = Path(__file__).resolve().parent.parent
TEAM_SET = REPO / "benchmarks" / "data" / "neardup_team.jsonl"
PARTIAL_SET = REPO / "benchmarks" / "data" / "partial_team.jsonl"
SHARED_SET = REPO.parent / "shared" / "realworld" / "neardup_pairs.jsonl"
SETTINGS = DedupSettings()
SCALES = [10_000, 100_000] + ([1_000_000] if os.environ.get("BENCH_SCALE") == "full" else [])
CHECK_BATCH = 1_000
DATASKETCH_MAX = int(os.environ.get("BENCH_DATASKETCH_MAX", "100000"))
T0 = datetime(2026, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# 1. Accuracy


def read_pairs(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def accuracy(pairs: list[dict], settings: DedupSettings = SETTINGS) -> dict[str, dict]:
    """Precision/recall overall and by kind (an edit kind for duplicates, a trap for the others)."""
    hasher = MinHasher(settings)
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])  # tp fp fn tn
    for p in pairs:
        flagged = judge_pair(p["a_text"], p["b_text"], hasher, settings).status != "unique"
        kind = p.get("kind", "")
        if kind == "variant":  # the shared set names its edits
            kind = "+".join(p.get("edits", [])) or kind
        cell = by_kind[kind]
        cell[(0 if flagged else 2) if p["duplicate"] else (1 if flagged else 3)] += 1
    total = [sum(c[i] for c in by_kind.values()) for i in range(4)]
    return {"all": _pr(total), **{k: _pr(v) for k, v in sorted(by_kind.items())}}


def read_sites(path: Path) -> dict[str, list[str]]:
    """The other pages of each site, beside a partial-copy set (``NAME_sites.jsonl``)."""
    sites = path.with_name(path.stem + "_sites.jsonl")
    return {s["site"]: s["pages"] for s in read_pairs(sites)} if sites.exists() else {}


def partial_accuracy(
    pairs: list[dict], sites: dict[str, list[str]], settings: DedupSettings = SETTINGS
) -> tuple[dict[str, dict], dict[str, tuple[int, int]]]:
    """Precision/recall by kind with each pair's sites known by their other pages (none when
    ``sites`` is empty), and per kind how many got the expected verdict."""
    hasher = MinHasher(settings)
    by_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    status: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for p in pairs:
        pages = [
            (f"https://{s}/page{i}", t)
            for s in {p["a_site"], p["b_site"]}
            for i, t in enumerate(sites.get(s, ()))
        ]
        v = judge_pair(
            p["a_text"],
            p["b_text"],
            hasher,
            settings,
            urls=(f"https://{p['a_site']}/a", f"https://{p['b_site']}/b"),
            site_pages=pages,
        )
        flagged = v.status != "unique"
        cell = by_kind[p["kind"]]
        cell[(0 if flagged else 2) if p["duplicate"] else (1 if flagged else 3)] += 1
        status[p["kind"]][0] += v.status == p["expect"]
        status[p["kind"]][1] += 1
    total = [sum(c[i] for c in by_kind.values()) for i in range(4)]
    status["all"] = [sum(v[0] for v in status.values()), sum(v[1] for v in status.values())]
    result = {"all": _pr(total), **{k: _pr(v) for k, v in sorted(by_kind.items())}}
    return result, {k: (v[0], v[1]) for k, v in status.items()}


def print_partial(name: str, result: dict[str, dict], status: dict[str, tuple[int, int]]) -> None:
    print(f"\n{name}")
    print(
        f"  {'kind':<22} {'pairs':>5} {'precision':>9} {'recall':>7}  tp/fp/fn/tn   "
        "expected verdict"
    )
    for kind, r in result.items():
        ok, n = status[kind]
        print(
            f"  {kind:<22} {r['pairs']:>5} {r['precision']:>9.3f} {r['recall']:>7.3f}  "
            f"{r['tp']}/{r['fp']}/{r['fn']}/{r['tn']:<6} {ok}/{n}"
        )


def derive_cost(texts: list[str], rounds: int = 5) -> tuple[float, float]:
    """ms per article of the dedup part of flows.orchestration.pipeline.Derive, and of the whole-copy-only
    work it replaced (hash, chrome filter, shingles, signature, band keys), median of rounds."""
    from flows.extraction.text import comparison_text

    h = MinHasher(SETTINGS)

    def before(text: str) -> None:
        toks = words(text)
        content = comparison_text(text)
        sh = h.shingles_of_words(toks if content is text else words(content))
        hash_words(toks)
        h.band_keys(h.signature(sh))

    def after(text: str) -> None:
        prepare(Doc("", text, None, "https://site.example/a"), h)

    runs: dict[str, list[float]] = {"before": [], "after": []}
    for _ in range(rounds):  # interleaved, so both see the same machine
        for name, fn in (("before", before), ("after", after)):
            t0 = time.perf_counter()
            for t in texts:
                fn(t)
            runs[name].append((time.perf_counter() - t0) * 1000 / len(texts))
    b, a = sorted(runs["before"]), sorted(runs["after"])
    return b[len(b) // 2], a[len(a) // 2]


def _pr(c: list[int]) -> dict:
    tp, fp, fn, tn = c
    return {
        "pairs": sum(c),
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def print_accuracy(name: str, result: dict[str, dict]) -> None:
    print(f"\n{name}")
    print(f"  {'kind':<34} {'pairs':>5} {'precision':>9} {'recall':>7}  tp/fp/fn/tn")
    for kind, r in result.items():
        print(
            f"  {kind:<34} {r['pairs']:>5} {r['precision']:>9.3f} {r['recall']:>7.3f}  "
            f"{r['tp']}/{r['fp']}/{r['fn']}/{r['tn']}"
        )


# ---------------------------------------------------------------------------------------------
# 2. Method: shingle size and threshold, banding


def method_sweep(pairs: list[dict]) -> None:
    print("\nshingle size and threshold on the team's set (exact similarity, no LSH)")
    print(
        f"  {'k':>2} {'best threshold':>14} {'precision':>9} {'recall':>7}  "
        f"{'min sim of duplicates':>21} {'max sim of others':>17}"
    )
    for k in (3, 4, 5, 7):
        h = MinHasher(DedupSettings(shingle_words=k))
        sims = []
        for p in pairs:
            a, b = h.shingles(p["a_text"]), h.shingles(p["b_text"])
            sims.append((jaccard(a, b), containment(b, a), p["duplicate"]))
        best = max((f1(sims, t / 100), t / 100) for t in range(20, 95))
        t = best[1]
        tp = sum(1 for s, _, d in sims if s >= t and d)
        fp = sum(1 for s, _, d in sims if s >= t and not d)
        fn = sum(1 for s, _, d in sims if s < t and d)
        print(
            f"  {k:>2} {t:>14.2f} {tp / max(tp + fp, 1):>9.3f} {tp / max(tp + fn, 1):>7.3f}  "
            f"{min(s for s, _, d in sims if d):>21.3f} {max(s for s, _, d in sims if not d):>17.3f}"
        )
    print("\nprobability that LSH makes a pair a candidate, bands x rows (40x2 is the default)")
    for s in (0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.8):
        row = "  ".join(
            f"{b}x{r}: {1 - (1 - s**r) ** b:.4f}" for b, r in ((16, 8), (32, 4), (40, 2), (64, 2))
        )
        print(f"  similarity {s:.2f}:  {row}")


def f1(sims: list[tuple[float, float, bool]], t: float) -> float:
    tp = sum(1 for s, _, d in sims if s >= t and d)
    fp = sum(1 for s, _, d in sims if s >= t and not d)
    fn = sum(1 for s, _, d in sims if s < t and d)
    return 2 * tp / max(2 * tp + fp + fn, 1)


# ---------------------------------------------------------------------------------------------
# 3. Scale


def rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


_VOCAB = [f"w{i:x}" for i in range(60_000)]


def synthetic(i: int) -> str:
    """A deterministic text of 150-600 words over a Zipfian vocabulary, in paragraphs."""
    rng = np.random.default_rng(i)
    n = int(rng.integers(150, 600))
    idx = np.minimum(rng.zipf(1.15, n), len(_VOCAB)) - 1
    toks = [_VOCAB[j] for j in idx]
    return "\n\n".join(" ".join(toks[k : k + 60]) for k in range(0, n, 60))


def edited(text: str, rng: random.Random) -> str:
    """A near copy: a span of about 12% of the words removed and a short line inserted."""
    toks = text.split()
    cut = max(1, len(toks) // 8)
    at = rng.randrange(0, len(toks) - cut)
    toks[at : at + cut] = ["breaking", "update", "from", "our", "correspondent"]
    return " ".join(toks)


SITES = 500


def synthetic_url(i: int) -> str:
    return f"https://site{i % SITES}.example/{i}"


def excerpt(text: str) -> str:
    """An aggregator's excerpt: the first third of the text (at least 60 words), and a link."""
    toks = text.split()
    return " ".join(toks[: max(60, len(toks) // 3)]) + "\n\nContinue reading at the publisher"


def signed(ids: range) -> list[tuple[int, str, str, bytes, list[int], list[int], list[int]]]:
    h = MinHasher(SETTINGS)
    out = []
    for i in ids:
        d = Doc("", synthetic(i), None, synthetic_url(i))
        prepare(d, h)
        out.append(
            (
                i,
                d.text,
                d.content_hash,
                d.signature.astype("<u4").tobytes(),
                d.band_keys.tolist(),
                d.anchors.tolist(),
                d.unit_keys.tolist(),
            )
        )
    return out


def fill(con, start: int, stop: int, pool: ProcessPoolExecutor) -> tuple[float, float]:
    """Store documents start..stop-1; returns (seconds computing signatures, seconds loading)."""
    chunks = [range(a, min(a + 2_000, stop)) for a in range(start, stop, 2_000)]
    t_load = 0.0
    t0 = time.perf_counter()
    for rows in pool.map(signed, chunks):
        batch = wh.LoadBatch()
        for i, text, chash, sig, keys, anchors, units in rows:
            doc_id = f"{i:016x}"
            at = T0 + timedelta(seconds=i)
            batch.add(
                "articles",
                article_id=doc_id,
                url=synthetic_url(i),
                text=text,
                feed_url="https://synthetic.example/feed",
                first_seen_at=at,
                run_id="bench",
                content_hash=chash,
                dedup_status="unique",
                cluster_id=doc_id,
            )
            batch.add(
                "dedup_signatures",
                doc_id=doc_id,
                content_hash=chash,
                root_id=doc_id,
                first_seen_at=at,
                minhash=sig,
            )
            for key in keys:
                batch.add("dedup_lsh", band_key=key, doc_id=doc_id)
            for anchor in anchors:
                batch.add("dedup_anchors", anchor=anchor, doc_id=doc_id)
            for unit in set(units):
                batch.add("dedup_site_units", unit_key=unit, site=f"site{i % SITES}.example")
        t1 = time.perf_counter()
        wh.load(con, "bench", batch)
        t_load += time.perf_counter() - t1
    return time.perf_counter() - t0 - t_load, t_load


def check_batch(con, stored: int, seed: int) -> tuple[float, int, float]:
    """Check 1,000 new documents (a quarter edited copies of stored ones, a quarter excerpts of
    stored ones) against the warehouse, signatures included. Returns (seconds, copies found,
    MB of RSS growth)."""
    rng = random.Random(seed)
    copies = [edited(synthetic(rng.randrange(stored)), rng) for _ in range(CHECK_BATCH // 4)]
    copies += [excerpt(synthetic(rng.randrange(stored))) for _ in range(CHECK_BATCH // 4)]
    fresh = [synthetic(10_000_000 + seed * CHECK_BATCH + j) for j in range(CHECK_BATCH // 2)]
    docs = [
        Doc(f"new{j}", text, None, f"https://new.example/{j}")
        for j, text in enumerate(copies + fresh)
    ]
    gc.collect()
    rss0 = rss_mb()
    t0 = time.perf_counter()
    verdicts = decide(docs, MinHasher(SETTINGS), wh.DedupIndex(con), SETTINGS.threshold)
    seconds = time.perf_counter() - t0
    found = sum(1 for j in range(CHECK_BATCH // 2) if verdicts[f"new{j}"].status != "unique")
    false = sum(
        1 for j in range(CHECK_BATCH // 2, CHECK_BATCH) if verdicts[f"new{j}"].status != "unique"
    )
    assert false == 0, f"{false} fresh documents flagged"
    return seconds, found, rss_mb() - rss0


def table_bytes(con, table: str, tmp: Path) -> int:
    """Bytes the table takes on disk: copied alone into a new DuckDB file, checkpointed."""
    path = tmp / f"size_{table}.duckdb"
    path.unlink(missing_ok=True)
    con.execute(f"ATTACH '{path}' AS sizing")
    con.execute(f"CREATE TABLE sizing.t AS SELECT * FROM {table}")
    con.execute("CHECKPOINT sizing")
    con.execute("DETACH sizing")
    empty = tmp / "size_empty.duckdb"
    if not empty.exists():
        con.execute(f"ATTACH '{empty}' AS sizing")
        con.execute("CHECKPOINT sizing")
        con.execute("DETACH sizing")
    size = path.stat().st_size - empty.stat().st_size
    path.unlink()
    return size


def signature_rates(n: int = 2_000) -> tuple[float, float]:
    texts = [synthetic(20_000_000 + i) for i in range(n)]
    h = MinHasher(SETTINGS)
    t0 = time.perf_counter()
    for t in texts:
        h.band_keys(h.signature(h.shingles(t)))
    ours = n / (time.perf_counter() - t0)
    from datasketch import MinHash

    t0 = time.perf_counter()
    for t in texts:
        toks = words(t)
        m = MinHash(num_perm=SETTINGS.num_perm)
        m.update_batch(
            [" ".join(toks[i : i + SETTINGS.shingle_words]).encode() for i in range(len(toks) - 4)]
        )
    return ours, n / (time.perf_counter() - t0)


def datasketch_scale(n: int, sigs: Iterable[np.ndarray], queries: list[np.ndarray]) -> dict:
    from datasketch import LeanMinHash, MinHashLSH

    gc.collect()
    rss0 = rss_mb()
    lsh = MinHashLSH(num_perm=SETTINGS.num_perm, params=(SETTINGS.bands, SETTINGS.rows))
    t0 = time.perf_counter()
    for i, sig in enumerate(sigs):
        lsh.insert(i, LeanMinHash(seed=1, hashvalues=sig, scheme="affine32"))
    insert = n / (time.perf_counter() - t0)
    mem = rss_mb() - rss0
    qs = [LeanMinHash(seed=1, hashvalues=q, scheme="affine32") for q in queries]
    t0 = time.perf_counter()
    for q in qs:
        lsh.query(q)
    query = len(qs) / (time.perf_counter() - t0)
    del lsh
    gc.collect()
    return {"insert": insert, "query": query, "mem_mb": mem}


def scale() -> list[dict]:
    ours_sig, ds_sig = signature_rates()
    print(
        f"\nsignatures/s, one process: ours {ours_sig:,.0f}, datasketch {ds_sig:,.0f} "
        f"({ours_sig / ds_sig:.1f}x)"
    )
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-dedup-") as d,
        ProcessPoolExecutor(os.cpu_count() or 2) as pool,
    ):
        tmp = Path(d)
        with wh.connect(tmp / "w.duckdb") as con:
            con.execute(
                "INSERT INTO runs (run_id, started_at, status) VALUES ('bench', now(), 'running')"
            )
            stored = 0
            for n in SCALES:
                t_sig, t_load = fill(con, stored, n, pool)
                added = n - stored
                stored = n
                con.execute("CHECKPOINT")
                times = [check_batch(con, stored, seed) for seed in range(3)]
                check = sorted(times)[1]
                lsh_b = table_bytes(con, "dedup_lsh", tmp)
                anchor_b = table_bytes(con, "dedup_anchors", tmp)
                units_b = table_bytes(con, "dedup_site_units", tmp)
                sig_b = table_bytes(con, "dedup_signatures", tmp)
                sigs = [
                    np.frombuffer(b, dtype="<u4")
                    for (b,) in con.execute(
                        "SELECT minhash FROM dedup_signatures ORDER BY doc_key"
                    ).fetchall()
                ]
                # datasketch holds everything in memory: ~13 KB/doc measured, 13 GB at 1M
                ds = datasketch_scale(n, sigs, sigs[:CHECK_BATCH]) if n <= DATASKETCH_MAX else None
                del sigs
                r = {
                    "stored": n,
                    "insert_per_s": added / t_load,
                    "check_s": check[0],
                    "check_found": check[1],
                    "check_rss_mb": check[2],
                    "lsh_bytes_per_doc": lsh_b / n,
                    "anchor_bytes_per_doc": anchor_b / n,
                    "site_unit_bytes_per_doc": units_b / n,
                    "signature_bytes_per_doc": sig_b / n,
                    "datasketch": ds,
                }
                results.append(r)
                print(
                    f"\n{n:,} stored: insert {r['insert_per_s']:,.0f} docs/s (signatures apart: "
                    f"{added / t_sig:,.0f}/s on {os.cpu_count()} processes); "
                    f"checking {CHECK_BATCH:,} new docs {check[0]:.2f} s (median of 3; "
                    f"{check[1]}/{CHECK_BATCH // 2} planted copies found, 0 false); "
                    f"index {r['lsh_bytes_per_doc']:.0f} B/doc on disk beyond the signatures "
                    f"({r['signature_bytes_per_doc']:.0f} B/doc); anchors "
                    f"{r['anchor_bytes_per_doc']:.0f} B/doc, site paragraphs "
                    f"{r['site_unit_bytes_per_doc']:.0f} B/doc; check RSS growth "
                    f"{check[2]:.0f} MB"
                )
                if ds is not None:
                    print(
                        f"  datasketch MinHashLSH: insert {ds['insert']:,.0f}/s, "
                        f"query {ds['query']:,.0f}/s, memory {ds['mem_mb']:.0f} MB "
                        f"({ds['mem_mb'] * 2**20 / n:,.0f} B/doc)"
                    )
            base = results[0]["check_s"]
            for r in results[1:]:
                print(
                    f"checking a batch at {r['stored']:,} vs {results[0]['stored']:,}: "
                    f"{r['check_s'] / base:.2f}x"
                )
            summary = rebuild(con, SETTINGS)
            print(
                f"dedup rebuild of {summary.documents:,} documents: {summary.seconds:.1f} s "
                f"({summary.documents / summary.seconds:,.0f} docs/s), "
                f"{summary.changed} verdicts changed"
            )
    return results


def main() -> None:
    team = read_pairs(TEAM_SET)
    print_accuracy(f"team set ({TEAM_SET.relative_to(REPO)})", accuracy(team))
    if SHARED_SET.exists():
        print_accuracy(f"shared set ({SHARED_SET.name})", accuracy(read_pairs(SHARED_SET)))
    if held := os.environ.get("BENCH_HELDOUT"):
        print_accuracy(f"held-out set ({held})", accuracy(read_pairs(Path(held))))
    partial = read_pairs(PARTIAL_SET)
    sites = read_sites(PARTIAL_SET)
    name = PARTIAL_SET.relative_to(REPO)
    print_partial(f"partial copies ({name}), sites known", *partial_accuracy(partial, sites))
    print_partial(f"partial copies ({name}), no site history", *partial_accuracy(partial, {}))
    if held := os.environ.get("BENCH_PARTIAL_HELDOUT"):
        path = Path(held)
        print_partial(f"partial copies, held out ({held}), sites known",
                      *partial_accuracy(read_pairs(path), read_sites(path)))  # fmt: skip
        print_partial(f"partial copies, held out ({held}), no site history",
                      *partial_accuracy(read_pairs(path), {}))  # fmt: skip
    texts = [t for p in partial for t in (p["a_text"], p["b_text"])]
    before, after = derive_cost(texts)
    print(
        f"\ndedup work per article in the extraction worker, {len(texts)} labelled texts "
        f"(mean {sum(len(t.split()) for t in texts) / len(texts):.0f} words): "
        f"whole copies only {before:.3f} ms, with partial-copy anchors and site paragraphs "
        f"{after:.3f} ms ({after / before:.2f}x)"
    )
    method_sweep(team)
    if os.environ.get("BENCH_SCALE") != "none":
        scale()


if __name__ == "__main__":
    main()
