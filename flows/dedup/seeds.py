"""The seed corpus: a folder of UTF-8 .txt files (file stem = seed id) and an optional manifest.

``manifest.toml`` in the same folder may give each seed a title, language and origin::

    ["000_49a07f57f149fd30"]
    title = "Elon Musk calls for more communication between the US and Russia"
    language = "en"
    origin = "scraped news page"

A seed is cleaned exactly like an extracted article (flows.extraction.text.clean_text). A short
first line
that is not a sentence is the document's title, not its text; the manifest's title wins.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from flows.errors import ConfigError
from flows.extraction.text import split_title

MANIFEST = "manifest.toml"
_MANIFEST_KEYS = {"title", "language", "origin"}


@dataclass(frozen=True)
class Seed:
    seed_id: str
    title: str | None
    language: str | None
    origin: str | None
    text: str
    file_sha256: str

    @property
    def doc_id(self) -> str:
        return f"seed:{self.seed_id}"


def load_seeds(folder: Path) -> list[Seed]:
    if not folder.is_dir():
        raise ConfigError(f"seeds.path: {folder} is not a folder")
    manifest: dict[str, dict[str, str]] = {}
    mpath = folder / MANIFEST
    if mpath.is_file():
        try:
            manifest = tomllib.loads(mpath.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ConfigError(f"{mpath}: not valid TOML: {e}") from None
    files = sorted(folder.glob("*.txt"))
    ids = {f.stem for f in files}
    for seed_id, meta in manifest.items():
        if seed_id not in ids:
            raise ConfigError(f"{mpath}: [{seed_id}] names no file {seed_id}.txt in {folder}")
        if not isinstance(meta, dict) or set(meta) - _MANIFEST_KEYS:
            raise ConfigError(f"{mpath}: [{seed_id}]: allowed keys are {sorted(_MANIFEST_KEYS)}")
    seeds = []
    for f in files:
        raw = f.read_bytes()
        try:
            content = raw.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise ConfigError(
                f"{f}: seed is not UTF-8 (byte {raw[e.start]:#04x} at offset {e.start})"
            ) from None
        meta = manifest.get(f.stem, {})
        first_line_title, body = split_title(content)
        title = meta.get("title") or first_line_title
        if not body.strip():
            raise ConfigError(f"{f}: seed has no text")
        seeds.append(
            Seed(
                seed_id=f.stem,
                title=title,
                language=meta.get("language"),
                origin=meta.get("origin"),
                text=body,
                file_sha256=hashlib.sha256(raw).hexdigest(),
            )
        )
    return seeds
