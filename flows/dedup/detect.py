"""Exact and near-duplicate detection: content hashes, MinHash signatures, LSH band keys.

- Exact: the hash of the normalised word sequence (:func:`content_hash`), so case, quote marks,
  dashes and whitespace never hide a copy.
- Near: Jaccard similarity of word shingles (``shingle_words`` words each). MinHash with
  ``num_perm`` permutations split in ``bands`` bands gives LSH candidates; every candidate is then
  verified on its real shingle sets, so banding never flags a pair by itself. With 128
  permutations in 32 bands of 4 rows, a pair at Jaccard 0.6 becomes a candidate with
  probability 0.988, at 0.74 (the least similar labelled syndicated copy) 0.99999.
- Partial: a new text whose content shingles are mostly (``containment``) found in one earlier
  text, that covers one stretch of that text (not the whole of it: a whole copy with cuts or
  additions is a near duplicate) and that shares at least ``MIN_PARTIAL_SHINGLES`` shingles with
  it is a partial copy: an excerpt, a truncated page. Candidates come from anchors: the
  shingles whose top 3 bits are zero (one in eight, chosen by content, so a copy and its
  original pick the same ones), the first ``MAX_ANCHORS`` of each original indexed. A digest
  holding a lead is not a copy: only a small share of the digest is in the article.
- Site boilerplate: a content unit (paragraph or line) found in ``boilerplate_docs`` or more
  documents of one site (the warehouse counts them per site, the batch adds its own) is that
  site's furniture, not its content, and counts for nothing in either comparison.
- The original a duplicate points to is its story's root: a seed first, then the earliest
  document. Within a batch, documents are decided in (published_at, url) order, so the verdict
  never depends on which fetch finished first.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from urllib.parse import urlsplit

import numpy as np

from flows.config import DedupSettings
from flows.extraction.text import comparison_text, content_units, text_units, words

_SEED = 20260522  # fixed: signatures must be comparable across runs and machines
# Band b's keys are XORed with (b + 1) * 0x9E3779B1 mod 2^32 (warehouse migration 002 does the same)
_BAND_SALT = (
    (np.arange(1, 256, dtype=np.uint64) * np.uint64(0x9E3779B1)) % np.uint64(1 << 32)
).astype(np.uint32)


def content_hash(text: str) -> str:
    return hash_words(words(text))


def hash_words(toks: list[str]) -> str:
    """content_hash of a text from its words (:func:`flows.extraction.text.words`)."""
    return hashlib.sha256(" ".join(toks).encode("utf-8")).hexdigest()[:32]


_WORD_HASHES: dict[str, int] = {}  # news vocabulary is Zipfian: most words are hashed once


def _word_hash(word: str) -> int:
    h = _WORD_HASHES.get(word)
    if h is None:
        if len(_WORD_HASHES) >= 1_000_000:
            _WORD_HASHES.clear()
        h = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
        _WORD_HASHES[word] = h
    return h


Units = tuple[list[list[str]], np.ndarray]  # words of each unit, and the units' keys


class MinHasher:
    """Word-shingle sets, MinHash signatures and LSH band keys, vectorised with numpy."""

    def __init__(self, settings: DedupSettings) -> None:
        self.settings = settings
        self.k = settings.shingle_words
        self.num_perm = settings.num_perm
        self.bands = settings.bands
        self.rows = settings.rows
        rng = np.random.default_rng(_SEED)
        # Multiply-shift hashing: h(x) = ((a*x + b) mod 2^64) >> 32 with a odd is a universal
        # family; the uint64 wrap-around is the mod. (A small-range (a*x + b) mod p with no
        # wrap-around is nearly monotone in x: every "permutation" then picks the same minimum.)
        self._a = rng.integers(0, 1 << 63, size=self.num_perm, dtype=np.uint64) * np.uint64(
            2
        ) + np.uint64(1)
        self._b = rng.integers(0, 1 << 63, size=self.num_perm, dtype=np.uint64)
        mult = rng.integers(1, 1 << 62, size=self.k, dtype=np.uint64) | np.uint64(1)
        self._mult = mult

    def shingles(self, text: str, *, content_only: bool = True) -> np.ndarray:
        """Sorted unique 64-bit hashes of the word k-shingles of the text's content lines
        (page chrome left out: :func:`flows.extraction.text.comparison_text`; one shingle if
        shorter),
        or of the whole text."""
        return self.shingles_of_words(words(comparison_text(text) if content_only else text))

    def shingles_of_words(self, toks: list[str]) -> np.ndarray:
        """:meth:`shingles` of a text already split into words."""
        return np.unique(self.sequence(toks))

    def sequence(self, toks: list[str]) -> np.ndarray:
        """The 64-bit hashes of the word k-shingles in text order (repeats kept)."""
        if not toks:
            return np.empty(0, dtype=np.uint64)
        h = np.fromiter((_word_hash(w) for w in toks), dtype=np.uint64, count=len(toks))
        k = min(self.k, len(toks))
        n = len(toks) - k + 1
        acc = np.zeros(n, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(k):  # order-sensitive mix of k consecutive word hashes
                acc = (acc ^ (h[j : j + n] * self._mult[j])) * np.uint64(0x9E3779B97F4A7C15)
        return acc

    @staticmethod
    def anchors(sequence: np.ndarray) -> np.ndarray:
        """The text's first ``MAX_ANCHORS`` distinct anchor shingles (top 3 bits zero: one
        shingle in eight), as signed 32-bit keys (their low 32 bits)."""
        picked = sequence[(sequence >> np.uint64(61)) == 0]
        if picked.size == 0:
            return np.empty(0, dtype=np.int32)
        _, first = np.unique(picked, return_index=True)
        picked = picked[np.sort(first)][:MAX_ANCHORS]
        return (picked & np.uint64(0xFFFFFFFF)).astype(np.uint32).view(np.int32)

    def content(
        self,
        text: str,
        site: str | None,
        boilerplate: Callable[[int], bool] | None = None,
        *,
        whole: bool = False,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The shingle sequence of the text's content units (``whole``: of all its units, page
        chrome included), the site's boilerplate units left out (unless fewer than
        MIN_CONTENT_WORDS words would be left), and the keys of those units for that site
        (empty without a site)."""
        toks, keys = self.units(text, site, whole=whole)
        return self.joined(toks, keys, boilerplate), keys

    @staticmethod
    def units(text: str, site: str | None, *, whole: bool = False) -> Units:
        """The words of each content unit of the text (``whole``: of every unit), and the
        units' keys for the site (empty without a site)."""
        toks = [words(u) for u in (text_units(text) if whole else content_units(text))]
        toks = [t for t in toks if t]
        keys = (
            np.array([unit_key(site, t) for t in toks], dtype=np.int64)
            if site
            else np.empty(0, dtype=np.int64)
        )
        return toks, keys

    def joined(
        self, toks: list[list[str]], keys: np.ndarray, boilerplate: Callable[[int], bool] | None
    ) -> np.ndarray:
        """The shingle sequence of the units, boilerplate units left out (see :meth:`content`)."""
        if boilerplate is not None and keys.size:
            kept = [t for t, k in zip(toks, keys.tolist(), strict=True) if not boilerplate(k)]
            if len(kept) < len(toks) and sum(map(len, kept)) >= MIN_CONTENT_WORDS:
                toks = kept
        return self.sequence([w for t in toks for w in t])

    def signature(self, shingles: np.ndarray) -> np.ndarray:
        if shingles.size == 0:
            return np.full(self.num_perm, 0xFFFFFFFF, dtype=np.uint32)
        with np.errstate(over="ignore"):
            hv = (np.outer(shingles, self._a) + self._b) >> np.uint64(32)
        return hv.min(axis=0).astype(np.uint32)

    def band_keys(self, signature: np.ndarray) -> np.ndarray:
        """One signed 32-bit key per band (DuckDB INTEGER): the first 4 bytes of BLAKE2b over
        the band's values, XOR a constant of the band's own, so one key column serves every
        band. 32 bits keep the index small; a chance collision only adds a candidate, which
        the signature check and verification then drop.
        """
        rows = signature[: self.bands * self.rows].astype("<u4").reshape(self.bands, self.rows)
        keys = np.array(
            [
                int.from_bytes(hashlib.blake2b(r.tobytes(), digest_size=8).digest()[:4], "little")
                for r in rows
            ],
            dtype=np.uint32,
        )
        return (keys ^ _BAND_SALT[: self.bands]).view(np.int32)


# Anchors indexed per original: the first 48 of them cover its first ~400 words, where
# excerpts and truncated copies come from.
MAX_ANCHORS = 48
# Below this many words, what is left of a text once its site's boilerplate is left out is not
# enough to judge it: it is compared whole.
MIN_CONTENT_WORDS = 20
# A partial copy shares at least this many shingles with its original (about two sentences).
MIN_PARTIAL_SHINGLES = 40
# ... and covers at most this share of the original's text, from its first to its last shared
# shingle; a copy spanning more of it is a whole copy with cuts or additions (near duplicate).
MAX_PARTIAL_SPAN = 0.8
# Anchor candidates: stored originals sharing at least this many anchors, the best few.
MIN_SHARED_ANCHORS = 2
MIN_ANCHOR_SHARE = 0.5
MAX_ANCHOR_CANDIDATES = 8


def site_of(url: str | None) -> str | None:
    """The site a URL belongs to: its host, lower-case, without ``www.`` (None: not a URL)."""
    if not url or "://" not in url:
        return None
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return None
    return host.removeprefix("www.") or None


def unit_key(site: str, toks: list[str]) -> int:
    """A content unit (its words) on a site, as a signed 64-bit key (dedup_site_units)."""
    data = f"{site}\n{' '.join(toks)}".encode()
    return int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "little", signed=True)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    if a.size == 0 and b.size == 0:
        return 1.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def containment(a: np.ndarray, b: np.ndarray) -> float:
    """The share of ``a``'s shingles that are also in ``b``."""
    if a.size == 0:
        return 1.0
    return np.intersect1d(a, b, assume_unique=True).size / a.size


@dataclass
class Doc:
    """A document to decide: an article of this batch or a seed."""

    doc_id: str
    text: str
    published_at: datetime | None
    url: str
    content_hash: str = ""
    shingles: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    signature: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint32))
    band_keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    unit_keys: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    anchors: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))

    @property
    def site(self) -> str | None:
        return site_of(self.url)


def prepare(doc: Doc, hasher: MinHasher, boilerplate: Callable[[int], bool] | None = None) -> None:
    """Fill in a document's hash, shingles, anchors, signature and band keys (what the
    extraction worker computes ahead for an article: flows.orchestration.pipeline.Derive)."""
    seq, doc.unit_keys = hasher.content(doc.text, doc.site, boilerplate)
    doc.content_hash = content_hash(doc.text)
    doc.shingles = np.unique(seq)
    doc.anchors = hasher.anchors(seq)
    doc.signature = hasher.signature(doc.shingles)
    doc.band_keys = hasher.band_keys(doc.signature)


@dataclass(frozen=True)
class Stored:
    """A document already in the warehouse, as the index knows it."""

    doc_id: str
    root_id: str
    first_seen_at: datetime
    text: str
    url: str | None = None  # None for a seed

    @property
    def site(self) -> str | None:
        return site_of(self.url)


@dataclass(frozen=True)
class Verdict:
    status: str  # unique | exact_duplicate | near_duplicate | partial_copy
    duplicate_of: str | None
    similarity: float | None
    root_id: str  # the story this document belongs to (itself when unique)
    containment: float | None = None  # share of this text's shingles found in duplicate_of


STATUSES = ("unique", "exact_duplicate", "near_duplicate", "partial_copy")


class History(Protocol):
    """What the deduplicator reads from the warehouse (implemented by warehouse.DedupIndex)."""

    def by_hash(self, hashes: Sequence[str]) -> dict[str, str]:
        """content_hash -> the doc_id of a stored document with that hash."""
        ...

    def candidates(self, keys: Sequence[int]) -> dict[int, list[str]]:
        """band_key -> doc_ids of stored documents with that band key."""
        ...

    def anchored(self, keys: Sequence[int]) -> dict[int, list[str]]:
        """anchor -> doc_ids of stored originals with that anchor among their first ones."""
        ...

    def unit_counts(self, keys: Sequence[int]) -> dict[int, int]:
        """unit_key -> how many stored documents of its site hold that unit."""
        ...

    def signatures(self, doc_ids: Iterable[str]) -> dict[str, np.ndarray]:
        """The MinHash signatures of these stored documents (unknown ids are left out)."""
        ...

    def docs(self, doc_ids: Iterable[str]) -> dict[str, Stored]:
        """The stored documents with these ids (unknown ids are left out)."""
        ...


# A candidate whose signature agrees with the new document's on fewer than (threshold - this)
# of the permutations is dropped before its text is read: with 128 permutations the estimate's
# standard deviation is at most 0.044, so a pair at the threshold is lost with p < 1e-3.
ESTIMATE_MARGIN = 0.15


def _plausible(sig: np.ndarray, other: np.ndarray | None, threshold: float) -> bool:
    if other is None or other.shape != sig.shape:
        return True  # signed with other settings (a rebuild is due): verify on the text
    return float((sig == other).mean()) >= threshold - ESTIMATE_MARGIN


def _order_key(doc: Doc) -> tuple[bool, datetime | None, str]:
    return (doc.published_at is None, doc.published_at, doc.url)


def _rank(doc_id: str, stored: dict[str, Stored], batch_pos: dict[str, int]) -> tuple:
    """Which original is earliest: seeds, then history by first sight, then this batch."""
    if doc_id.startswith("seed:"):
        return (0, doc_id)
    if doc_id in stored:
        return (1, stored[doc_id].first_seen_at, doc_id)
    return (2, batch_pos.get(doc_id, 0))


def _anchor_hits(anchors: np.ndarray, postings: dict[int, list[str]]) -> set[str]:
    """The originals sharing the most anchors with a text: at least MIN_SHARED_ANCHORS, and at
    least MIN_ANCHOR_SHARE of the text's own (a copy mostly contained in an original's opening
    shares most of them; a stock phrase or two does not make a candidate)."""
    need = max(MIN_SHARED_ANCHORS, MIN_ANCHOR_SHARE * anchors.size)
    counts = Counter(i for a in anchors.tolist() for i in postings.get(a, ()))
    return {i for i, n in counts.most_common(MAX_ANCHOR_CANDIDATES) if n >= need}


# A stretch copied from the original is a run of at least this many shingles in a row found in
# the copy (12 words with 5-word shingles): a name or stock phrase met again later in the
# original is not.
MIN_RUN = 8


def partial_cover(new: np.ndarray, original: np.ndarray) -> tuple[float, int, float]:
    """How ``new`` (sorted unique shingles) sits in ``original`` (a shingle sequence):
    containment of new in original, shingles shared, and the share of the original from the
    first to the last stretch of it found in new (runs of MIN_RUN shingles or more)."""
    if new.size == 0 or original.size == 0:
        return 0.0, 0, 0.0
    shared = int(np.intersect1d(new, np.unique(original), assume_unique=True).size)
    if shared == 0:
        return 0.0, 0, 0.0
    hit = np.flatnonzero(np.isin(original, new))
    # runs of consecutive positions: starts where the gap to the previous hit is not 1
    starts = np.flatnonzero(np.diff(hit, prepend=-2) != 1)
    ends = np.append(starts[1:], hit.size) - 1
    long_runs = (ends - starts + 1) >= MIN_RUN
    if not long_runs.any():
        return shared / new.size, shared, 0.0
    first, last = hit[starts[long_runs][0]], hit[ends[long_runs][-1]]
    return shared / new.size, shared, float((last - first + 1) / original.size)


def decide(
    batch: list[Doc], hasher: MinHasher, history: History, threshold: float
) -> dict[str, Verdict]:
    """Verdicts for a batch against the history (seeds + earlier articles) and itself."""
    settings = hasher.settings
    for d in batch:
        if d.signature.size == 0:  # not computed ahead (by the extraction worker)
            prepare(d, hasher)
    ordered = sorted(batch, key=_order_key)
    batch_pos = {d.doc_id: i for i, d in enumerate(ordered)}

    # Site boilerplate: units held by boilerplate_docs or more documents of one site, counting
    # the stored ones and this batch's (each text once).
    unit_docs: Counter[int] = Counter()
    counted: set[str] = set()
    for d in ordered:
        if d.content_hash not in counted:
            counted.add(d.content_hash)
            unit_docs.update(set(d.unit_keys.tolist()))
    known_units: set[int] = set()

    def learn_units(keys: Iterable[int]) -> None:
        missing = sorted(set(keys) - known_units)
        if missing:
            unit_docs.update(history.unit_counts(missing))
            known_units.update(missing)

    learn_units(unit_docs)

    def boilerplate(key: int) -> bool:
        return unit_docs.get(key, 0) >= settings.boilerplate_docs

    for d in ordered:
        if any(boilerplate(k) for k in d.unit_keys.tolist()):
            seq, _ = hasher.content(d.text, d.site, boilerplate)
            d.shingles, d.anchors = np.unique(seq), hasher.anchors(seq)

    hashes = history.by_hash([d.content_hash for d in ordered])
    # an exact copy of a stored text needs no near-duplicate candidates: its verdict is set
    # (syndicated copies would otherwise fetch every earlier copy of the story)
    fresh = [d for d in ordered if d.content_hash not in hashes]
    cand = history.candidates(sorted({int(k) for d in fresh for k in d.band_keys}))
    posted = history.anchored(sorted({int(a) for d in fresh for a in d.anchors}))
    near_stored: dict[str, set[str]] = {d.doc_id: set() for d in ordered}
    part_stored: dict[str, set[str]] = {d.doc_id: set() for d in ordered}
    for d in fresh:
        near_stored[d.doc_id] = {i for k in d.band_keys for i in cand.get(int(k), ())}
        part_stored[d.doc_id] = _anchor_hits(d.anchors, posted)
    sigs = history.signatures(set().union(*near_stored.values()) if near_stored else set())
    for d in ordered:
        near_stored[d.doc_id] = {
            i for i in near_stored[d.doc_id] if _plausible(d.signature, sigs.get(i), threshold)
        }
    needed: set[str] = set(hashes.values()).union(*near_stored.values(), *part_stored.values())
    stored = history.docs(needed)
    stored.update(history.docs({s.root_id for s in stored.values()} - stored.keys()))
    units: dict[str, Units] = {}

    def units_of(doc_id: str) -> Units:
        if doc_id not in units:
            doc = decided_docs[doc_id] if doc_id in decided_docs else stored[doc_id]
            units[doc_id] = hasher.units(doc.text, doc.site)
        return units[doc_id]

    decided_docs: dict[str, Doc] = {}
    learn_units(k for i, st in stored.items() if st.site for k in units_of(i)[1].tolist())
    sequences: dict[str, np.ndarray] = {}
    stored_shingles: dict[str, np.ndarray] = {}
    whole_shingles: dict[str, np.ndarray] = {}

    def sequence_of(doc_id: str) -> np.ndarray:
        """An original's content shingles in text order, its site's boilerplate left out."""
        if doc_id not in sequences:
            sequences[doc_id] = hasher.joined(*units_of(doc_id), boilerplate)
        return sequences[doc_id]

    def shingles_of(doc_id: str) -> np.ndarray:
        if doc_id in decided_docs:
            return decided_docs[doc_id].shingles
        if doc_id not in stored_shingles:
            stored_shingles[doc_id] = np.unique(sequence_of(doc_id))
        return stored_shingles[doc_id]

    def whole(doc_id: str) -> np.ndarray:
        if doc_id not in whole_shingles:
            doc = decided_docs[doc_id] if doc_id in decided_docs else stored[doc_id]
            seq = hasher.content(doc.text, doc.site, boilerplate, whole=True)[0]
            whole_shingles[doc_id] = np.unique(seq)
        return whole_shingles[doc_id]

    def similarity(d: Doc, other: str) -> float:
        """Jaccard of the content shingles; when that falls short, of the whole texts (the
        content lines of a text re-wrapped or retyped may be told apart differently)."""
        sim = jaccard(d.shingles, shingles_of(other))
        if sim < threshold:
            if d.doc_id not in whole_shingles:
                seq = hasher.content(d.text, d.site, boilerplate, whole=True)[0]
                whole_shingles[d.doc_id] = np.unique(seq)
            sim = max(sim, jaccard(whole_shingles[d.doc_id], whole(other)))
        return sim

    def partial(d: Doc, other: str) -> bool:
        """``d`` is mostly one stretch of ``other``'s text, and substantial in itself."""
        cont, shared, span = partial_cover(d.shingles, sequence_of(other))
        return (
            cont >= settings.containment
            and shared >= MIN_PARTIAL_SHINGLES
            and span <= MAX_PARTIAL_SPAN
        )

    def root_of(doc_id: str) -> str:
        if doc_id in verdicts:
            return verdicts[doc_id].root_id
        return stored[doc_id].root_id if doc_id in stored else doc_id

    verdicts: dict[str, Verdict] = {}
    batch_hash: dict[str, str] = {}
    batch_bands: dict[int, list[str]] = {}
    batch_anchors: dict[int, list[str]] = {}
    for d in ordered:
        verdict: Verdict | None = None
        exact = hashes.get(d.content_hash) or batch_hash.get(d.content_hash)
        if exact is not None:
            root = root_of(exact)
            sim = 1.0 if root == exact else similarity(d, root)
            cont = 1.0 if root == exact else containment(d.shingles, shingles_of(root))
            verdict = Verdict("exact_duplicate", root, round(sim, 4), root, round(cont, 4))
        else:
            near = {i for i in near_stored[d.doc_id] if i in stored}
            for k in d.band_keys:
                near.update(
                    i
                    for i in batch_bands.get(int(k), ())
                    if _plausible(d.signature, decided_docs[i].signature, threshold)
                )
            parts = {i for i in part_stored[d.doc_id] if i in stored}
            parts |= _anchor_hits(d.anchors, batch_anchors)
            partial_of = {i for i in parts | near if partial(d, i)}
            matches = partial_of | {i for i in near - partial_of if similarity(d, i) >= threshold}
            if matches:
                roots = {root_of(i) for i in matches}
                root = min(roots, key=lambda r: _rank(r, stored, batch_pos))
                status = "partial_copy" if partial_of else "near_duplicate"
                sim = similarity(d, root)
                cont = containment(d.shingles, shingles_of(root))
                verdict = Verdict(status, root, round(sim, 4), root, round(cont, 4))
        if verdict is None:
            verdict = Verdict("unique", None, None, d.doc_id)
            for a in d.anchors.tolist():
                batch_anchors.setdefault(a, []).append(d.doc_id)
        verdicts[d.doc_id] = verdict
        decided_docs[d.doc_id] = d
        batch_hash.setdefault(d.content_hash, d.doc_id)
        for k in d.band_keys:
            batch_bands.setdefault(int(k), []).append(d.doc_id)
    return verdicts


class MemoryIndex:
    """A History held in memory (the seed folder read directly, for checks that write nothing).

    ``docs``: (doc_id, text) or (doc_id, text, url); ``site_pages``: other pages of sites, whose
    units count towards those sites' boilerplate only."""

    def __init__(
        self,
        hasher: MinHasher,
        docs: Iterable[tuple[str, str] | tuple[str, str, str | None]],
        at: datetime,
        site_pages: Iterable[tuple[str, str]] = (),
    ) -> None:
        self._hash: dict[str, str] = {}
        self._bands: dict[int, list[str]] = {}
        self._anchors: dict[int, list[str]] = {}
        self._units: Counter[int] = Counter()
        self._docs: dict[str, Stored] = {}
        self._sigs: dict[str, np.ndarray] = {}
        for page_url, page in site_pages:
            self._units.update(set(hasher.content(page, site_of(page_url))[1].tolist()))
        for row in docs:
            doc_id, text = row[0], row[1]
            url: str | None = row[2] if len(row) > 2 else None
            doc = Doc(doc_id, text, None, url or doc_id)
            prepare(doc, hasher, lambda k: self._units[k] >= hasher.settings.boilerplate_docs)
            self._sigs[doc_id] = doc.signature
            self._hash.setdefault(doc.content_hash, doc_id)
            for k in doc.band_keys:
                self._bands.setdefault(int(k), []).append(doc_id)
            for a in doc.anchors.tolist():
                self._anchors.setdefault(a, []).append(doc_id)
            self._units.update(set(doc.unit_keys.tolist()))
            self._docs[doc_id] = Stored(doc_id, doc_id, at, text, url)

    def by_hash(self, hashes: Sequence[str]) -> dict[str, str]:
        return {h: self._hash[h] for h in hashes if h in self._hash}

    def candidates(self, keys: Sequence[int]) -> dict[int, list[str]]:
        return {k: self._bands[k] for k in keys if k in self._bands}

    def anchored(self, keys: Sequence[int]) -> dict[int, list[str]]:
        return {k: self._anchors[k] for k in keys if k in self._anchors}

    def unit_counts(self, keys: Sequence[int]) -> dict[int, int]:
        return {k: self._units[k] for k in keys if k in self._units}

    def signatures(self, doc_ids: Iterable[str]) -> dict[str, np.ndarray]:
        return {i: self._sigs[i] for i in doc_ids if i in self._sigs}

    def docs(self, doc_ids: Iterable[str]) -> dict[str, Stored]:
        return {i: self._docs[i] for i in doc_ids if i in self._docs}


class MergedHistory:
    """Several histories read as one; the first that knows a document wins."""

    def __init__(self, *parts: History) -> None:
        self.parts = parts

    def by_hash(self, hashes: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in reversed(self.parts):
            out.update(part.by_hash(hashes))
        return out

    def candidates(self, keys: Sequence[int]) -> dict[int, list[str]]:
        return self._postings([part.candidates(keys) for part in self.parts])

    def anchored(self, keys: Sequence[int]) -> dict[int, list[str]]:
        return self._postings([part.anchored(keys) for part in self.parts])

    @staticmethod
    def _postings(answers: list[dict[int, list[str]]]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for answer in answers:
            for key, ids in answer.items():
                out.setdefault(key, []).extend(i for i in ids if i not in out.get(key, []))
        return out

    def unit_counts(self, keys: Sequence[int]) -> dict[int, int]:
        out: Counter[int] = Counter()
        for part in self.parts:
            out.update(part.unit_counts(keys))
        return dict(out)

    def signatures(self, doc_ids: Iterable[str]) -> dict[str, np.ndarray]:
        wanted = set(doc_ids)
        out: dict[str, np.ndarray] = {}
        for part in self.parts:
            out.update(part.signatures(wanted - out.keys()))
        return out

    def docs(self, doc_ids: Iterable[str]) -> dict[str, Stored]:
        wanted = set(doc_ids)
        out: dict[str, Stored] = {}
        for part in self.parts:
            out.update(part.docs(wanted - out.keys()))
        return out


def judge_pair(
    original: str,
    new: str,
    hasher: MinHasher,
    settings: DedupSettings,
    *,
    urls: tuple[str | None, str] = (None, "new"),
    site_pages: Iterable[tuple[str, str]] = (),
) -> Verdict:
    """The verdict on ``new`` when ``original`` is the whole history (how pairs are evaluated).
    ``urls``: where each was published; ``site_pages``: (url, text) of other pages of their
    sites, as the warehouse would know them."""
    index = MemoryIndex(hasher, [("original", original, urls[0])], datetime(1970, 1, 1), site_pages)
    return decide([Doc("new", new, None, urls[1])], hasher, index, settings.threshold)["new"]
