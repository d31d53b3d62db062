"""Pipeline throughput, the no-change rerun and peak memory, as measured in one invocation.

1. End-to-end. Real flow runs (``python -m flows run``: Prefect, DuckDB, the extraction
   processes) over a loopback site of BENCH_PAGES pages: the real pages in
   ../shared/realworld/pages (the demo site's articles when that folder is absent) replicated
   under many URLs, each copy with its index appended as an HTML comment, so every URL serves
   different bytes (the raw archive stores each one) while the extraction work stays that of the
   real page; the extracted texts repeat, so most articles end as exact duplicates. A run is
   timed from its first task to its last commit: ``runs.started_at`` (set by the first task) to
   ``runs.finished_at`` (the flow's last write, after the quality gates). The process start
   (interpreter, imports, Prefect's temporary server) and the teardown are reported apart.
   The baseline is bare ``trafilatura.extract(body, output_format="json", with_metadata=True)``
   over the same bytes, in a pool of ``os.cpu_count()`` processes whose imports are warm,
   measured before the first run and after every run; the ratio divides the median run's
   articles/s by the median of these baselines (the ratio against the fastest one is printed
   too). Each run's peak memory is measured as in 3, with the CPU seconds of each kind of
   process (the flow process, the extraction processes, Prefect's server) and the share of the
   cores the extraction processes used during the run.
2. A rerun when nothing changed: BENCH_RERUN_FEEDS feeds of BENCH_RERUN_ENTRIES entries on
   another loopback site; a first run, then a second one, both through ``monitor()`` in this
   process (Prefect's temporary server is already up for the second). Printed: the second
   run's requests by kind (feeds conditional / unconditional, pages, robots.txt), its seconds
   from first task to last commit, and the rest of the ``monitor()`` call (Prefect's share).
3. Peak memory against history size: the warehouse is preloaded with H synthetic stored
   articles (text and dedup index, written through ``flows.warehouse.store`` by bench_dedup's
   ``fill``), then a BENCH_MEMORY_PAGES-page run in a child process. Every process under the
   child is polled in /proc: the high-water mark (VmHWM) of the flow process and the sum of
   those of its extraction processes, and the peak of their summed resident memory (VmRSS,
   sampled every 0.1 s); Prefect's temporary server is reported apart.
4. Load: the flow's own dedup-and-load stage (rows written, busy seconds, from the run's
   ``runs.stage_seconds``), and Arrow-batch inserts against row-by-row ``executemany``.
   Warehouse inserts/s and near-duplicate checks at 10k/100k/1M stored documents are
   bench_dedup.py's; topic query times at 100k/1M are bench_topics.py's.

Settings (environment):

    BENCH_PAGES=3000          pages of the end-to-end runs
    BENCH_RUNS=3              end-to-end runs (the median counts)
    BENCH_RERUN_FEEDS=100     feeds of the no-change rerun
    BENCH_RERUN_ENTRIES=10    entries per feed there
    BENCH_MEMORY_PAGES=300    pages of each memory run
    BENCH_HISTORY=0,10000,100000
                              stored articles before each memory run (BENCH_SCALE=full adds
                              1,000,000)
    BENCH_PARTS=throughput,rerun,memory,load
                              which parts to run
    BENCH_LOG_DIR=DIR         keep the child runs' output (Prefect's log) there
    BENCH_EXTRACTION=thorough the runs' pipeline.extraction (default: the config's default,
                              adaptive)

    make bench-pipeline                              # the defaults
    BENCH_PAGES=600 BENCH_RUNS=1 make bench-pipeline # a quick check

Prefect keeps its state in a temporary folder for the invocation (removed at the end), so the
runs use a temporary server of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld" / "pages"
N_PAGES = int(os.environ.get("BENCH_PAGES", "3000"))
N_RUNS = int(os.environ.get("BENCH_RUNS", "3"))
RERUN_FEEDS = int(os.environ.get("BENCH_RERUN_FEEDS", "100"))
RERUN_ENTRIES = int(os.environ.get("BENCH_RERUN_ENTRIES", "10"))
MEMORY_PAGES = int(os.environ.get("BENCH_MEMORY_PAGES", "300"))
HISTORY = [int(h) for h in os.environ.get("BENCH_HISTORY", "0,10000,100000").split(",")] + (
    [1_000_000] if os.environ.get("BENCH_SCALE") == "full" else []
)
PARTS = set(os.environ.get("BENCH_PARTS", "throughput,rerun,memory,load").split(","))
LOG_DIR = Path(os.environ["BENCH_LOG_DIR"]) if os.environ.get("BENCH_LOG_DIR") else None
EXTRACTION = os.environ.get("BENCH_EXTRACTION")
ENTRIES_PER_FEED = 300  # below network.max_entries_per_feed (500)
CORES = os.cpu_count() or 1


# ---------------------------------------------------------------------------------------------
# Pages and the loopback site


def real_pages() -> list[bytes]:
    folder = REALWORLD if REALWORLD.is_dir() else REPO / "flows" / "demo" / "site" / "articles"
    return [f.read_bytes() for f in sorted(folder.glob("*.html"))]


def replicate(bodies: list[bytes], n: int, tag: str = "") -> list[bytes]:
    """n pages: the real ones in turn, each copy with its own trailing comment."""
    return [bodies[i % len(bodies)] + f"\n<!-- copy {tag}{i} -->\n".encode() for i in range(n)]


@contextmanager
def loopback_site(root: Path, pages: list[bytes], feeds: int) -> Iterator[Any]:
    """pages under /p/<i>/story.html, spread round-robin over feeds/<f>.xml (static files, so
    conditional requests get 304)."""
    from flows.demo.server import Answer, SiteServer

    (root / "feeds").mkdir(parents=True)
    head = (("Content-Type", "text/html"),)  # no charset: the bytes say it
    with SiteServer(root) as site:
        site.route("/p/*", lambda path, _h: Answer(200, pages[int(path.split("/")[2])], head))
        for f in range(feeds):
            items = "".join(
                f"<item><title>Page {i}</title><link>{site.url(f'/p/{i}/story.html')}</link>"
                f"<guid>{site.url(f'/p/{i}/story.html')}</guid></item>"
                for i in range(f, len(pages), feeds)
            )
            (root / "feeds" / f"{f}.xml").write_text(
                f"<?xml version='1.0'?><rss version='2.0'><channel><title>Feed {f}</title>"
                f"<link>{site.base_url}/</link><description>bench</description>{items}"
                "</channel></rss>",
                encoding="utf-8",
            )
        yield site


@cache
def _write_config() -> Any:
    """The tests' config writer (the loopback host allowed, no per-host delay)."""
    sys.path.insert(0, str(REPO / "tests"))
    saved = dict(os.environ)
    import conftest

    # importing it points Prefect at a folder of its own: undo that
    shutil.rmtree(conftest._PREFECT_HOME, ignore_errors=True)
    os.environ.clear()
    os.environ.update(saved)
    return conftest.write_config


def config(folder: Path, site: Any, feeds: int, db: Path) -> Path:
    return _write_config()(
        folder / "corpus-monitor.toml",
        feeds=[site.url(f"/feeds/{f}.xml") for f in range(feeds)],
        db=db,
        seeds=REPO / "seeds",
        network={"timeout_seconds": 30},
        **({"pipeline": {"extraction": EXTRACTION}} if EXTRACTION else {}),
    )


# ---------------------------------------------------------------------------------------------
# The baseline: bare trafilatura in a pool


def _bare(body: bytes) -> bool:
    import trafilatura

    return trafilatura.extract(body, output_format="json", with_metadata=True) is not None


def _warm(_: int) -> None:
    import trafilatura

    trafilatura.extract("<html><body><p>" + "warm " * 50 + "</p></body></html>")
    time.sleep(0.2)  # so that every worker takes one


def bare_rate(pages: list[bytes]) -> float:
    """Pages/s of bare extraction over the same bytes, one process per core, imports warm."""
    import multiprocessing

    ctx = multiprocessing.get_context("forkserver")  # this process runs threads
    with ProcessPoolExecutor(max_workers=CORES, mp_context=ctx) as pool:
        list(pool.map(_warm, range(CORES)))
        t0 = time.perf_counter()
        done = sum(pool.map(_bare, pages, chunksize=4))
        seconds = time.perf_counter() - t0
    if done < len(pages):
        print(f"  (bare extraction found no article in {len(pages) - done} pages)")
    return len(pages) / seconds


def _time_bare(pages: list[bytes]) -> float:
    import trafilatura

    t0 = time.perf_counter()
    for body in pages:
        trafilatura.extract(body, output_format="json", with_metadata=True)
    return (time.perf_counter() - t0) / len(pages)


def _time_job(jobs: list[Any], raw: Path, min_chars: int, derive: Any) -> float:
    from flows.extraction.extract import extract_and_archive

    t0 = time.perf_counter()
    extract_and_archive(jobs, raw, min_chars=min_chars, workers=1, derive=derive)
    return (time.perf_counter() - t0) / len(jobs)


def worker_cost(pages: list[bytes], folder: Path) -> tuple[float, float]:
    """Seconds per page in one process: bare extraction (a process with trafilatura as it is),
    and the job the flow's extraction processes do per page (extraction with its date search
    and fallbacks, signatures and topics, the raw archive; in a process set up as theirs).
    Alternated three times, the median of each."""
    import multiprocessing

    from flows.config import load_settings
    from flows.extraction.extract import Page, lighter_metadata
    from flows.orchestration.pipeline import Derive
    from flows.sources.feeds import FeedItem

    feed = "http://127.0.0.1:9/feed.xml"
    cfg = _write_config()(
        folder / "corpus-monitor.toml", feeds=[feed], db=folder / "w.duckdb", seeds=REPO / "seeds"
    )
    settings = load_settings(str(cfg))
    jobs = []
    for i, body in enumerate(pages):
        url = f"http://127.0.0.1:9/p/{i}/story.html"
        jobs.append(Page(url, body, "utf-8", FeedItem(feed, url, url, None, None, None, None)))
    ctx = multiprocessing.get_context("forkserver")
    bare, flow = [], []
    with (
        ProcessPoolExecutor(1, mp_context=ctx) as plain,
        ProcessPoolExecutor(1, mp_context=ctx, initializer=lighter_metadata) as tuned,
    ):
        plain.submit(_time_bare, pages[:2]).result()  # imports
        tuned.submit(_time_bare, pages[:2]).result()
        for n in range(3):
            bare.append(plain.submit(_time_bare, pages).result())
            raw = folder / f"raw{n}"
            args = (jobs, raw, settings.pipeline.min_text_chars, Derive.of(settings))
            flow.append(tuned.submit(_time_job, *args).result())
    return statistics.median(bare), statistics.median(flow)


# ---------------------------------------------------------------------------------------------
# A flow run in a child process, its memory polled in /proc


def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(("VmHWM:", "VmRSS:", "PPid:")):
                    k, v = line.split(":", 1)
                    out[k] = int(v.split()[0])
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return out


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return ""


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            stat = fh.read()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _parents() -> dict[int, int]:
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    stat = fh.read()
                out[int(entry)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                pass
    return out


@dataclass
class Memory:
    """Memory and CPU of a process tree: per process its kind, high-water mark and CPU time,
    and the peak of the flow's and extraction processes' summed resident memory."""

    root: int
    kinds: dict[int, str] = field(default_factory=dict)
    hwm_kb: dict[int, int] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    peak_rss_kb: int = 0
    # (wall clock, CPU seconds so far by kind) at every sample, for the CPU of a time window
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)

    def _kind(self, pid: int, parents: dict[int, int]) -> str:
        if pid == self.root:
            return "flow"
        cmd = _cmdline(pid)
        if "uvicorn" in cmd:
            return "prefect"
        if "multiprocessing.forkserver" in cmd or "multiprocessing.spawn" in cmd:
            return "extraction"
        parent = parents.get(pid)
        return self.kinds.get(parent, "other") if parent in self.kinds else "other"

    def sample(self) -> None:
        parents = _parents()
        tree, frontier = {self.root}, [self.root]
        while frontier:
            p = frontier.pop()
            kids = [c for c, pp in parents.items() if pp == p and c not in tree]
            tree.update(kids)
            frontier += kids
        rss = 0
        for pid in sorted(tree):
            st = _status(pid)
            if not st:
                continue
            if pid not in self.kinds:
                self.kinds[pid] = self._kind(pid, parents)
            self.hwm_kb[pid] = max(self.hwm_kb.get(pid, 0), st.get("VmHWM", 0))
            self.cpu[pid] = max(self.cpu.get(pid, 0.0), _cpu_seconds(pid))
            if self.kinds[pid] != "prefect":
                rss += st.get("VmRSS", 0)
        self.peak_rss_kb = max(self.peak_rss_kb, rss)
        kinds = ("flow", "extraction", "prefect", "other")
        self.timeline.append((time.time(), {k: self.cpu_s(k) for k in kinds}))

    def cpu_between(self, start: float, end: float) -> dict[str, float]:
        """CPU seconds by kind of process from wall-clock ``start`` to ``end`` (the samples
        nearest inside the window; one sample every 0.1 s)."""
        inside = [c for t, c in self.timeline if start <= t <= end]
        if len(inside) < 2:
            return {}
        return {k: inside[-1][k] - inside[0].get(k, 0.0) for k in inside[-1]}

    def mb(self, kind: str) -> float:
        return sum(v for p, v in self.hwm_kb.items() if self.kinds[p] == kind) / 1024

    def cpu_s(self, kind: str) -> float:
        return sum(v for p, v in self.cpu.items() if self.kinds[p] == kind)

    def workers(self) -> int:
        return sum(1 for k in self.kinds.values() if k == "extraction")


@dataclass
class ChildRun:
    wall: float  # process start to exit
    before: float  # process start to the first task
    after: float  # last commit to exit
    seconds: float  # first task to last commit (the runs row)
    row: dict[str, Any]
    stages: dict[str, Any]
    memory: Memory
    rows_loaded: int
    harness_cpu: float  # this process: the loopback site's threads and the polling
    window_cpu: dict[str, float]  # CPU seconds by kind of process, first task to last commit


def warehouse_run(db: Path) -> tuple[dict[str, Any], int]:
    """The newest runs row, and how many rows the run wrote to the main tables."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        cur = con.execute("SELECT * FROM runs ORDER BY started_at DESC LIMIT 1")
        cols = [d[0] for d in cur.description]
        row = dict(zip(cols, cur.fetchall()[0], strict=True))
        rid = row["run_id"]
        rows = 0
        for table, where in (
            ("articles", "run_id = ?"),
            ("raw_pages", "run_id = ?"),
            ("fetch_errors", "run_id = ?"),
            ("article_feeds", "article_id IN (SELECT article_id FROM articles WHERE run_id = ?)"),
            ("article_topics", "article_id IN (SELECT article_id FROM articles WHERE run_id = ?)"),
            (
                "dedup_lsh",
                "doc_key IN (SELECT s.doc_key FROM dedup_signatures s JOIN articles a "
                "ON a.article_id = s.doc_id WHERE a.run_id = ?)",
            ),
            (
                "dedup_signatures",
                "doc_id IN (SELECT article_id FROM articles WHERE run_id = ?)",
            ),
        ):
            ((n,),) = con.execute(f"SELECT count(*) FROM {table} WHERE {where}", [rid]).fetchall()
            rows += n
    return row, rows


def run_child(cfg: Path, db: Path, name: str) -> ChildRun:
    """``python -m flows run --config cfg`` (what ``corpus-monitor run`` does), polled."""
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_LOGGING_LEVEL"}
    out = (LOG_DIR / f"{name}.log") if LOG_DIR else cfg.parent / "run.log"
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as log:
        launched = time.time()
        t0 = time.perf_counter()
        cpu0 = sum(os.times()[:2])
        proc = subprocess.Popen(
            [sys.executable, "-m", "flows", "run", "--config", str(cfg)],
            env=env,
            cwd=cfg.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        memory = Memory(proc.pid)
        harness_timeline = []
        while proc.poll() is None:
            memory.sample()
            harness_timeline.append((time.time(), sum(os.times()[:2])))
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        exited = launched + wall
        harness = sum(os.times()[:2]) - cpu0
    if proc.returncode != 0:
        print(out.read_text(errors="replace")[-4000:])
        raise SystemExit(f"the flow run failed (exit {proc.returncode}); output in {out}")
    row, rows = warehouse_run(db)
    started = row["started_at"].timestamp()
    finished = row["finished_at"].timestamp()
    raw = row.get("stage_seconds")
    stages = (json.loads(raw) if isinstance(raw, str) else raw) or {}
    window = memory.cpu_between(started, finished)
    site = [c for t, c in harness_timeline if started <= t <= finished]
    if window and len(site) >= 2:
        window["site"] = site[-1] - site[0]
    return ChildRun(
        wall,
        started - launched,
        exited - finished,
        finished - started,
        row,
        stages,
        memory,
        rows,
        harness,
        window,
    )


def memory_line(m: Memory) -> str:
    return (
        f"peak memory: flow process {m.mb('flow'):.0f} MB + {m.workers()} extraction processes "
        f"{m.mb('extraction'):.0f} MB (sum of high-water marks); flow and extraction together "
        f"{m.peak_rss_kb / 1024:.0f} MB (peak of sampled RSS); Prefect's server "
        f"{m.mb('prefect'):.0f} MB apart"
    )


def cpu_line(r: ChildRun) -> str:
    m = r.memory
    return (
        f"CPU seconds: flow process {m.cpu_s('flow'):.0f}, extraction processes "
        f"{m.cpu_s('extraction'):.0f}, Prefect's server {m.cpu_s('prefect'):.0f}, other "
        f"{m.cpu_s('other'):.0f}; the loopback site (in the benchmark's process) "
        f"{r.harness_cpu:.0f}; {CORES} cores x {r.wall:.0f} s of the process = "
        f"{CORES * r.wall:.0f}; the extraction processes were busy "
        f"{m.cpu_s('extraction') / (CORES * r.seconds):.0%} of {CORES} cores x the run's "
        f"{r.seconds:.0f} s"
    )


def window_line(r: ChildRun, pages: int, bare_ms: float) -> str:
    """Where the cores went while the run was timed: with every core busy, the ratio to bare
    extraction is about bare CPU per page over the run's CPU per page."""
    w = r.window_cpu
    if not w:
        return "CPU in the timed window: too short to sample"
    total = sum(w.values())
    parts = ", ".join(f"{k} {v / pages * 1000:.1f}" for k, v in w.items())
    return (
        f"CPU ms per page from first task to last commit: {parts}; total {total / pages * 1000:.1f}"
        f" against bare extraction's {bare_ms:.1f} (cores busy {total / (CORES * r.seconds):.0%})"
    )


def stages_line(stages: dict[str, Any]) -> str:
    phases = ", ".join(f"{k} {v:.1f}" for k, v in stages.get("phases", {}).items())
    busy = ", ".join(f"{k} {v:.1f}" for k, v in stages.get("page_stages", {}).items())
    return f"the flow's stage times (s): phases {phases or '-'}; page stages, busy {busy or '-'}"


# ---------------------------------------------------------------------------------------------
# 1. End-to-end


def throughput(bodies: list[bytes]) -> None:
    pages = replicate(bodies, N_PAGES)
    feeds = max(10, -(-N_PAGES // ENTRIES_PER_FEED))
    mean_kb = sum(map(len, bodies)) / len(bodies) / 1024
    print(
        f"\n== end-to-end: {N_PAGES} pages ({len(bodies)} real pages, mean {mean_kb:.0f} KB, "
        f"each copy with its own bytes) in {feeds} feeds; {CORES} cores; {N_RUNS} run(s); "
        f"pipeline.extraction = {EXTRACTION or 'adaptive (the default)'}"
    )
    baselines = [bare_rate(pages)]
    print(f"baseline 1: bare trafilatura extract, pool of {CORES}: {baselines[-1]:.1f} pages/s")
    runs: list[ChildRun] = []
    for n in range(1, N_RUNS + 1):
        with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as d:
            tmp = Path(d)
            with loopback_site(tmp / "site", pages, feeds) as site:
                db = tmp / "w.duckdb"
                r = run_child(config(tmp, site, feeds, db), db, f"end-to-end-{n}")
        runs.append(r)
        articles = r.row["articles_new"]
        print(
            f"run {n}: {articles} articles ({r.row['pages_fetched']} pages fetched, "
            f"{r.row['exact_duplicates']} exact and {r.row['near_duplicates']} near duplicates, "
            f"{r.row['quarantined']} quarantined) in {r.seconds:.1f} s from first task to last "
            f"commit: {articles / r.seconds:.1f} articles/s; process start to first task "
            f"{r.before:.1f} s, last commit to exit {r.after:.1f} s (Prefect's start and "
            f"teardown, apart)"
        )
        if r.stages:
            print(f"  {stages_line(r.stages)}")
        print(f"  {memory_line(r.memory)}")
        print(f"  {cpu_line(r)}")
        baselines.append(bare_rate(pages))
        print(f"  {window_line(r, r.row['pages_fetched'], CORES * 1000 / baselines[-1])}")
        print(f"baseline {n + 1}: {baselines[-1]:.1f} pages/s")
    rates = [r.row["articles_new"] / r.seconds for r in runs]
    median_run = sorted(zip(rates, range(len(runs)), strict=True))[(len(runs) - 1) // 2][1]
    rate = rates[median_run]
    base = statistics.median(baselines)
    print(
        f"end-to-end (median of {N_RUNS} runs): {rate:.1f} articles/s; bare extraction "
        f"(median of {len(baselines)} measurements, before and after the runs): {base:.1f} "
        f"pages/s (range {min(baselines):.1f}-{max(baselines):.1f})"
    )
    print(f"end-to-end/bare-extraction ratio: {rate / base:.2f}")
    print(f"  against the fastest baseline measurement: {rate / max(baselines):.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-worker-") as d:
        bare_s, job_s = worker_cost(pages[: len(bodies)], Path(d))
    print(
        f"per page in one process (the {len(bodies)} real pages, median of 3): bare extraction "
        f"{bare_s * 1000:.0f} ms, the flow's extraction job {job_s * 1000:.0f} ms "
        f"({job_s / bare_s:.2f}x: extraction with date search and fallbacks, signatures, "
        f"topics, raw archive)"
    )
    r = runs[median_run]
    busy = r.stages.get("page_stages", {}).get("dedup_and_load")
    if busy:
        print(
            f"load (median run, the flow's dedup-and-load stage): {r.row['articles_new']} "
            f"articles, {r.rows_loaded:,} rows in the main tables, {busy:.1f} s busy: "
            f"{r.rows_loaded / busy:,.0f} rows/s, {r.row['articles_new'] / busy:,.0f} articles/s "
            f"(deduplication included)"
        )


# ---------------------------------------------------------------------------------------------
# 2. The no-change rerun


def request_kinds(requests: list[Any]) -> str:
    feeds = [r for r in requests if r.path.startswith("/feeds/")]
    cond = [r for r in feeds if "if-none-match" in r.headers or "if-modified-since" in r.headers]
    not_modified = sum(1 for r in cond if r.status == 304)
    pages = sum(1 for r in requests if r.path.startswith("/p/"))
    robots = sum(1 for r in requests if r.path == "/robots.txt")
    other = len(requests) - len(feeds) - pages - robots
    return (
        f"feeds {len(cond)} conditional ({not_modified} answered 304) and "
        f"{len(feeds) - len(cond)} unconditional; pages {pages}; robots.txt {robots}; "
        f"other {other}"
    )


def rerun(bodies: list[bytes]) -> None:
    from flows.orchestration.monitor import monitor

    n = RERUN_FEEDS * RERUN_ENTRIES
    print(f"\n== no-change rerun: {RERUN_FEEDS} feeds x {RERUN_ENTRIES} entries ({n} pages)")
    with tempfile.TemporaryDirectory(prefix="bench-rerun-") as d:
        tmp = Path(d)
        with loopback_site(tmp / "site", replicate(bodies, n, "r"), RERUN_FEEDS) as site:
            db = tmp / "w.duckdb"
            cfg = config(tmp, site, RERUN_FEEDS, db)
            for label in ("first run", "rerun"):
                before = len(site.requests)
                t0 = time.perf_counter()
                summary = monitor(config=str(cfg))
                wall = time.perf_counter() - t0
                row, _ = warehouse_run(db)
                secs = (row["finished_at"] - row["started_at"]).total_seconds()
                print(
                    f"{label}: {summary['articles_new']} new articles; requests: "
                    f"{request_kinds(site.requests[before:])}; {secs:.2f} s from first task to "
                    f"last commit, {wall - secs:.2f} s more in the monitor() call (Prefect)"
                )
                if row.get("stage_seconds"):
                    stages = row["stage_seconds"]
                    print(
                        f"  {stages_line(json.loads(stages) if isinstance(stages, str) else stages)}"
                    )


# ---------------------------------------------------------------------------------------------
# 3. Peak memory against history size


def preload(db: Path, start: int, stop: int) -> float:
    """Store synthetic articles start..stop-1 (text and dedup index) as bench_dedup does."""
    import multiprocessing

    import bench_dedup

    from flows.warehouse import store as wh

    t0 = time.perf_counter()
    ctx = multiprocessing.get_context("forkserver")
    with wh.connect(db) as con, ProcessPoolExecutor(CORES, mp_context=ctx) as pool:
        if start == 0:
            con.execute(
                "INSERT INTO runs (run_id, started_at, finished_at, status) "
                "VALUES ('bench', now(), now(), 'completed') ON CONFLICT DO NOTHING"
            )
        if stop > start:
            bench_dedup.fill(con, start, stop, pool)
        con.execute("CHECKPOINT")
    return time.perf_counter() - t0


def memory_vs_history(bodies: list[bytes]) -> None:
    print(
        f"\n== peak memory vs history: a {MEMORY_PAGES}-page run after H stored articles "
        f"(synthetic, with their dedup index)"
    )
    results: list[tuple[int, ChildRun]] = []
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as d:
        tmp = Path(d)
        db = tmp / "w.duckdb"
        stored = 0
        for h in sorted(HISTORY):
            secs = preload(db, stored, h)
            # the earlier runs' articles count as history too
            history = h + sum(r.row["articles_new"] for _, r in results)
            stored = max(stored, h)
            pages = replicate(bodies, MEMORY_PAGES, f"h{h}-")
            run_dir = tmp / f"h{h}"
            with loopback_site(run_dir / "site", pages, 10) as site:
                r = run_child(config(run_dir, site, 10, db), db, f"memory-{h}")
            results.append((history, r))
            print(
                f"H = {history:,} (preloaded in {secs:.0f} s): {r.row['articles_new']} articles "
                f"in {r.seconds:.1f} s; {memory_line(r.memory)}"
            )
            if r.stages:
                print(f"  {stages_line(r.stages)}")
    h0, r0 = results[0]
    for h, r in results[1:]:
        together = (r.memory.peak_rss_kb - r0.memory.peak_rss_kb) / 1024
        # per 100k only over a span where it is more than sampling noise
        rate = (
            f" ({together * 100_000 / (h - h0):+.0f} MB per 100k stored)"
            if h - h0 >= 50_000
            else ""
        )
        print(
            f"growth from H = {h0:,} to {h:,}: flow process "
            f"{r.memory.mb('flow') - r0.memory.mb('flow'):+.0f} MB, flow and extraction "
            f"{together:+.0f} MB{rate}; run {r.seconds:.1f} s vs {r0.seconds:.1f} s"
        )


# ---------------------------------------------------------------------------------------------
# 4. Load


def bulk_load_ratio(rows: int = 2000) -> tuple[float, float]:
    import duckdb
    import pyarrow as pa

    data = [(f"id{i}", f"https://example.org/{i}", "text " * 200, i * 0.5) for i in range(rows)]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (id VARCHAR PRIMARY KEY, url VARCHAR, text VARCHAR, x DOUBLE)")
    t0 = time.perf_counter()
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", data)
    row_by_row = rows / (time.perf_counter() - t0)
    con.execute("CREATE TABLE u (id VARCHAR PRIMARY KEY, url VARCHAR, text VARCHAR, x DOUBLE)")
    table = pa.table({k: [r[i] for r in data] for i, k in enumerate(("id", "url", "text", "x"))})
    t0 = time.perf_counter()
    con.register("stage", table)
    con.execute("INSERT INTO u SELECT * FROM stage")
    arrow = rows / (time.perf_counter() - t0)
    return arrow, row_by_row


def main() -> None:
    home = tempfile.mkdtemp(prefix="bench-pipeline-prefect-")
    os.environ["PREFECT_HOME"] = home
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    with open("/proc/loadavg") as fh:
        load = " ".join(fh.read().split()[:3])
    print(
        f"corpus-monitor pipeline benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{CORES} cores, load average {load}"
    )
    bodies = real_pages()
    try:
        if "throughput" in PARTS:
            throughput(bodies)
        if "memory" in PARTS:
            memory_vs_history(bodies)
        if "rerun" in PARTS:
            os.environ["PREFECT_LOGGING_LEVEL"] = "ERROR"  # the flows run in this process
            rerun(bodies)
        if "load" in PARTS:
            arrow, rbr = bulk_load_ratio()
            print(
                f"\nload, 2,000 rows of 1 KB: Arrow batch {arrow:,.0f} rows/s vs executemany "
                f"{rbr:,.0f} rows/s = {arrow / rbr:.0f}x (warehouse inserts/s at 10k-1M stored: "
                "bench_dedup.py)"
            )
    finally:
        with open("/proc/loadavg") as fh:
            print(f"load average at the end: {' '.join(fh.read().split()[:3])}")
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
