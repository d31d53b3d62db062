"""The raw page archive: every fetched page's bytes, gzip-compressed, named by their SHA-256.

A page is the file ``<raw_dir>/<sha256[0:2]>/<sha256>.gz`` (``retention.raw_dir``, by default
``<warehouse file>.raw`` beside the warehouse); the ``raw_pages`` table says which URL, article
and run each file belongs to. Identical bytes are stored once. Files are written by the
extraction workers before the batch's transaction commits, so a run that dies in between leaves
files no row refers to: :func:`prune` deletes those along with the pages older than
``retention.raw_days``.

Nothing here needs the network: ``corpus-monitor reextract`` reads the pages back with
:func:`load`.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import re
import secrets
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

# zlib level 1: on 52 real pages (102 KB mean) 24% of the raw size for 0.6-0.9 ms a page, against
# 20.7% for 1.6 ms at level 6 and 20.5% for 2.75 ms at level 9: the archive is written by the
# extraction workers, so its time comes out of extraction's.
GZIP_LEVEL = 1

_NAME = re.compile(r"^([0-9a-f]{64})\.gz$")
_TEMP = re.compile(r"^\.[0-9a-f]{64}\.[0-9a-f]+\.tmp$")


@dataclass(frozen=True)
class Stored:
    """A page's bytes in the archive."""

    sha256: str
    size: int  # raw bytes
    written: int  # compressed bytes written by this call; 0 when the file was there already
    seconds: float  # hashing, compressing and writing


class Unreadable(ValueError):
    """An archive file that is not a gzip of the bytes its name promises."""


def path_for(raw_dir: Path, sha256: str) -> Path:
    return raw_dir / sha256[:2] / f"{sha256}.gz"


def store(raw_dir: Path, body: bytes) -> Stored:
    """Write ``body`` to the archive unless a file with the same bytes is there already.

    The gzip goes to a temporary file in the same folder, then is renamed into place: a reader
    (or a killed process) never meets half a file under the final name. There is no fsync per
    page (it stalled the extraction worker 0.5-0.8 ms a page): after a power loss a file may be
    empty, and :func:`load` reports it as unreadable rather than returning wrong bytes.
    """
    t0 = time.perf_counter()
    sha = hashlib.sha256(body).hexdigest()
    path = path_for(raw_dir, sha)
    if path.exists():
        return Stored(sha, len(body), 0, time.perf_counter() - t0)
    data = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{sha}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return Stored(sha, len(body), len(data), time.perf_counter() - t0)


def load(raw_dir: Path, sha256: str) -> bytes:
    """The archived bytes. FileNotFoundError when the file is gone; :class:`Unreadable` when it
    is not a gzip, or does not hold the bytes its name promises."""
    path = path_for(raw_dir, sha256)
    packed = path.read_bytes()  # FileNotFoundError propagates
    try:
        body = gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as e:
        raise Unreadable(f"{path}: not a readable gzip file: {e}") from None
    if hashlib.sha256(body).hexdigest() != sha256:
        raise Unreadable(f"{path}: the bytes do not match their SHA-256")
    return body


@dataclass
class PruneSummary:
    """What :func:`prune` freed."""

    rows: int = 0  # raw_pages rows older than retention.raw_days, deleted
    files: int = 0  # archive files deleted: no row refers to them any more
    bytes: int = 0  # their size on disk
    orphans: int = 0  # of those files, the ones no row referred to before (an uncommitted load)
    temp_files: int = 0  # half-written temporary files of a write that never finished
    errors: list[str] = field(default_factory=list)  # files that could not be deleted
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


def prune(
    con: duckdb.DuckDBPyConnection, raw_dir: Path, raw_days: int | None, now: datetime
) -> PruneSummary:
    """Delete archived pages fetched more than ``raw_days`` days before ``now`` (None: keep
    them), then every archive file no row refers to.

    The rows go first (one statement), the files after: a crash in between leaves files without
    rows, which the next prune deletes; a row never points at a deleted file. The caller holds
    the run lock, so no run is writing files meanwhile. Listing the archive costs about 0.15 s
    per 200,000 files.
    """
    t0 = time.perf_counter()
    out = PruneSummary()
    expired: set[str] = set()
    if raw_days is not None:
        deleted = con.execute(
            "DELETE FROM raw_pages WHERE fetched_at < ? RETURNING sha256",
            [now - timedelta(days=raw_days)],
        ).fetchall()
        out.rows = len(deleted)
        expired = {sha for (sha,) in deleted}
    if not raw_dir.is_dir():
        out.seconds = round(time.perf_counter() - t0, 3)
        return out
    files: dict[str, Path] = {}
    temps: list[Path] = []
    with os.scandir(raw_dir) as top:
        for sub in top:
            if len(sub.name) != 2 or not sub.is_dir(follow_symlinks=False):
                continue
            with os.scandir(sub.path) as entries:
                for e in entries:
                    if (m := _NAME.match(e.name)) and m.group(1).startswith(sub.name):
                        files[m.group(1)] = Path(e.path)
                    elif _TEMP.match(e.name):
                        temps.append(Path(e.path))
    con.register("archive_files", pa.table({"sha256": pa.array(list(files), pa.string())}))
    try:
        unreferenced = con.execute(
            "SELECT sha256 FROM archive_files ANTI JOIN raw_pages USING (sha256)"
        ).fetchall()
    finally:
        con.unregister("archive_files")
    for (sha,) in unreferenced:
        if (size := _unlink(files[sha], out.errors)) is not None:
            out.files += 1
            out.bytes += size
            out.orphans += sha not in expired
    for path in temps:
        if (size := _unlink(path, out.errors)) is not None:
            out.temp_files += 1
            out.bytes += size
    out.seconds = round(time.perf_counter() - t0, 3)
    return out


def _unlink(path: Path, errors: list[str]) -> int | None:
    """Delete a file; its size, or None when it was gone already or could not be deleted (the
    reason goes to ``errors``)."""
    try:
        size = path.stat().st_size
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as e:
        errors.append(f"{path}: {e.strerror or e}")
        return None
    return size
