"""Exact and near-duplicate detection: content hashes, MinHash signatures, LSH band keys.

- Exact: the hash of the normalised word sequence (:func:`content_hash`), so case, quote marks,
  dashes and whitespace never hide a copy.
- Near: Jaccard similarity of word shingles (``shingle_words`` words each). MinHash with
  ``num_perm`` permutations split in ``bands`` bands gives LSH candidates; every candidate is then
  verified on its real shingle sets, so banding never flags a pair by itself. With 128
  permutations in 32 bands of 4 rows, a pair at Jaccard 0.6 becomes a candidate with
  probability 0.988, at 0.74 (the least similar labelled syndicated copy) 0.99999.
- The original a duplicate points to is its story's root: a seed first, then the earliest
  document. Within a batch, documents are decided in (published_at, url) order, so the verdict
  never depends on which fetch finished first.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import numpy as np

from flows.config import DedupSettings
from flows.text import comparison_text, words

_SEED = 20260522  # fixed: signatures must be comparable across runs and machines
# Band b's keys are XORed with (b + 1) * 0x9E3779B1 mod 2^32 (warehouse migration 002 does the same)
_BAND_SALT = (
    (np.arange(1, 256, dtype=np.uint64) * np.uint64(0x9E3779B1)) % np.uint64(1 << 32)
).astype(np.uint32)


def content_hash(text: str) -> str:
    return hash_words(words(text))


def hash_words(toks: list[str]) -> str:
    """content_hash of a text from its words (:func:`flows.text.words`)."""
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


class MinHasher:
    """Word-shingle sets, MinHash signatures and LSH band keys, vectorised with numpy."""

    def __init__(self, settings: DedupSettings) -> None:
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
        (page chrome left out: :func:`flows.text.comparison_text`; one shingle if shorter),
        or of the whole text."""
        return self.shingles_of_words(words(comparison_text(text) if content_only else text))

    def shingles_of_words(self, toks: list[str]) -> np.ndarray:
        """:meth:`shingles` of a text already split into words."""
        if not toks:
            return np.empty(0, dtype=np.uint64)
        h = np.fromiter((_word_hash(w) for w in toks), dtype=np.uint64, count=len(toks))
        k = min(self.k, len(toks))
        n = len(toks) - k + 1
        acc = np.zeros(n, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for j in range(k):  # order-sensitive mix of k consecutive word hashes
                acc = (acc ^ (h[j : j + n] * self._mult[j])) * np.uint64(0x9E3779B97F4A7C15)
        return np.unique(acc)

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


@dataclass(frozen=True)
class Stored:
    """A document already in the warehouse, as the index knows it."""

    doc_id: str
    root_id: str
    first_seen_at: datetime
    text: str


@dataclass(frozen=True)
class Verdict:
    status: str  # unique | exact_duplicate | near_duplicate
    duplicate_of: str | None
    similarity: float | None
    root_id: str  # the story this document belongs to (itself when unique)


class History(Protocol):
    """What the deduplicator reads from the warehouse (implemented by warehouse.DedupIndex)."""

    def by_hash(self, hashes: Sequence[str]) -> dict[str, str]:
        """content_hash -> the doc_id of a stored document with that hash."""
        ...

    def candidates(self, keys: Sequence[int]) -> dict[int, list[str]]:
        """band_key -> doc_ids of stored documents with that band key."""
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


def decide(
    batch: list[Doc], hasher: MinHasher, history: History, threshold: float
) -> dict[str, Verdict]:
    """Verdicts for a batch against the history (seeds + earlier articles) and itself."""
    for d in batch:
        if d.signature.size == 0:  # not computed ahead (by the extraction worker)
            d.content_hash = content_hash(d.text)
            d.shingles = hasher.shingles(d.text)
            d.signature = hasher.signature(d.shingles)
            d.band_keys = hasher.band_keys(d.signature)
    ordered = sorted(batch, key=_order_key)
    batch_pos = {d.doc_id: i for i, d in enumerate(ordered)}

    hashes = history.by_hash([d.content_hash for d in ordered])
    # an exact copy of a stored text needs no near-duplicate candidates: its verdict is set
    # (syndicated copies would otherwise fetch every earlier copy of the story)
    probe = {int(k) for d in ordered if d.content_hash not in hashes for k in d.band_keys}
    cand = history.candidates(sorted(probe))
    near_stored: dict[str, set[str]] = {}
    for d in ordered:
        near_stored[d.doc_id] = (
            set()
            if d.content_hash in hashes
            else {i for k in d.band_keys for i in cand.get(int(k), ())}
        )
    sigs = history.signatures(set().union(*near_stored.values()) if near_stored else set())
    for d in ordered:
        near_stored[d.doc_id] = {
            i for i in near_stored[d.doc_id] if _plausible(d.signature, sigs.get(i), threshold)
        }
    needed: set[str] = set(hashes.values()).union(*near_stored.values())
    stored = history.docs(needed)
    stored.update(history.docs({s.root_id for s in stored.values()} - stored.keys()))
    stored_shingles: dict[str, np.ndarray] = {}
    whole_shingles: dict[str, np.ndarray] = {}

    def text_of(doc_id: str) -> str:
        return decided_docs[doc_id].text if doc_id in decided_docs else stored[doc_id].text

    def shingles_of(doc_id: str) -> np.ndarray:
        if doc_id in decided_docs:
            return decided_docs[doc_id].shingles
        if doc_id not in stored_shingles:
            stored_shingles[doc_id] = hasher.shingles(stored[doc_id].text)
        return stored_shingles[doc_id]

    def whole(doc_id: str) -> np.ndarray:
        if doc_id not in whole_shingles:
            whole_shingles[doc_id] = hasher.shingles(text_of(doc_id), content_only=False)
        return whole_shingles[doc_id]

    def similarity(d: Doc, other: str) -> float:
        """Jaccard of the content shingles; when that falls short, of the whole texts (the
        content lines of a text re-wrapped or retyped may be told apart differently)."""
        sim = jaccard(d.shingles, shingles_of(other))
        if sim < threshold:
            if d.doc_id not in whole_shingles:
                whole_shingles[d.doc_id] = hasher.shingles(d.text, content_only=False)
            sim = max(sim, jaccard(whole_shingles[d.doc_id], whole(other)))
        return sim

    def root_of(doc_id: str) -> str:
        if doc_id in verdicts:
            return verdicts[doc_id].root_id
        return stored[doc_id].root_id if doc_id in stored else doc_id

    verdicts: dict[str, Verdict] = {}
    decided_docs: dict[str, Doc] = {}
    batch_hash: dict[str, str] = {}
    batch_bands: dict[int, list[str]] = {}
    for d in ordered:
        verdict: Verdict | None = None
        exact = hashes.get(d.content_hash) or batch_hash.get(d.content_hash)
        if exact is not None:
            root = root_of(exact)
            sim = 1.0 if root == exact else similarity(d, root)
            verdict = Verdict("exact_duplicate", root, round(sim, 4), root)
        else:
            near = {i for i in near_stored[d.doc_id] if i in stored}
            for k in d.band_keys:
                near.update(
                    i
                    for i in batch_bands.get(int(k), ())
                    if _plausible(d.signature, decided_docs[i].signature, threshold)
                )
            matches = [i for i in near if similarity(d, i) >= threshold]
            if matches:
                roots = {root_of(i) for i in matches}
                root = min(roots, key=lambda r: _rank(r, stored, batch_pos))
                sim = similarity(d, root)
                verdict = Verdict("near_duplicate", root, round(sim, 4), root)
        if verdict is None:
            verdict = Verdict("unique", None, None, d.doc_id)
        verdicts[d.doc_id] = verdict
        decided_docs[d.doc_id] = d
        batch_hash.setdefault(d.content_hash, d.doc_id)
        for k in d.band_keys:
            batch_bands.setdefault(int(k), []).append(d.doc_id)
    return verdicts


class MemoryIndex:
    """A History held in memory (the seed folder read directly, for checks that write nothing)."""

    def __init__(self, hasher: MinHasher, docs: Iterable[tuple[str, str]], at: datetime) -> None:
        self._hash: dict[str, str] = {}
        self._bands: dict[int, list[str]] = {}
        self._docs: dict[str, Stored] = {}
        self._sigs: dict[str, np.ndarray] = {}
        for doc_id, text in docs:
            sig = hasher.signature(hasher.shingles(text))
            self._sigs[doc_id] = sig
            self._hash.setdefault(content_hash(text), doc_id)
            for k in hasher.band_keys(sig):
                self._bands.setdefault(int(k), []).append(doc_id)
            self._docs[doc_id] = Stored(doc_id, doc_id, at, text)

    def by_hash(self, hashes: Sequence[str]) -> dict[str, str]:
        return {h: self._hash[h] for h in hashes if h in self._hash}

    def candidates(self, keys: Sequence[int]) -> dict[int, list[str]]:
        return {k: self._bands[k] for k in keys if k in self._bands}

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
        out: dict[int, list[str]] = {}
        for part in self.parts:
            for key, ids in part.candidates(keys).items():
                out.setdefault(key, []).extend(i for i in ids if i not in out.get(key, []))
        return out

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


def judge_pair(original: str, new: str, hasher: MinHasher, settings: DedupSettings) -> Verdict:
    """The verdict on ``new`` when ``original`` is the whole history (how pairs are evaluated)."""
    index = MemoryIndex(hasher, [("original", original)], datetime(1970, 1, 1))
    return decide([Doc("new", new, None, "new")], hasher, index, settings.threshold)["new"]
