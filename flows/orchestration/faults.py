"""Pause points for crash rehearsals: stop a real run at a chosen stage, then kill it.

Set ``CORPUS_MONITOR_PAUSE_AT=<stage>[:<n>]`` (stages: poll, fetch, extract, load, gates) and
``CORPUS_MONITOR_PAUSE_FILE=<path>``: the n-th time (default the first) the run reaches that
point it writes the path and sleeps, so a supervisor (or `kill -9`) can stop it exactly there.
``load`` pauses inside the load transaction, after the rows are written and before COMMIT.
Without the variables a pause point costs one dictionary lookup.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

STAGES = ("poll", "fetch", "extract", "load", "gates")
_seen: dict[str, int] = {}
_lock = threading.Lock()


def pause_point(stage: str) -> None:
    want = os.environ.get("CORPUS_MONITOR_PAUSE_AT")
    if not want:
        return
    name, _, nth = want.partition(":")
    if name != stage:
        return
    with _lock:
        _seen[stage] = _seen.get(stage, 0) + 1
        if _seen[stage] != int(nth or 1):
            return
    marker = os.environ.get("CORPUS_MONITOR_PAUSE_FILE")
    if marker:  # written whole: a supervisor that sees the file may kill at once
        tmp = Path(f"{marker}.tmp")
        tmp.write_text(stage, encoding="utf-8")
        tmp.replace(marker)
    while True:  # until the process is killed
        time.sleep(3600)
