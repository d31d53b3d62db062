"""Pipeline throughput as ratios against baselines measured in the same run.

1. End-to-end: a real flow run (Prefect, DuckDB) over a loopback site of BENCH_PAGES pages
   (the real pages in ../shared/realworld/pages replicated under many URLs, or the demo site's
   pages when that folder is absent), articles/s from the run's first task to its last commit,
   divided by bare ``trafilatura.extract(..., output_format="json", with_metadata=True)`` over the
   same bytes in a process pool with one worker per core. Prefect's own start is reported apart.
2. A rerun when nothing changed: requests by kind and seconds of the run.
3. Bulk load: rows/s through an Arrow batch vs row-by-row ``executemany``.

    make bench                          # BENCH_PAGES=600 BENCH_RUNS=1 by default
    BENCH_PAGES=3000 BENCH_RUNS=3 make bench
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REALWORLD = REPO.parent / "shared" / "realworld" / "pages"
N_PAGES = int(os.environ.get("BENCH_PAGES", "600"))
N_RUNS = int(os.environ.get("BENCH_RUNS", "1"))
N_FEEDS = 10

os.environ.setdefault("PREFECT_HOME", str(REPO / ".prefect"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def page_bodies() -> list[bytes]:
    folder = REALWORLD if REALWORLD.is_dir() else REPO / "flows" / "demo" / "site" / "articles"
    files = sorted(folder.glob("*.html"))
    return [f.read_bytes() for f in files]


def _bare(body: bytes) -> bool:
    import trafilatura

    return trafilatura.extract(body, output_format="json", with_metadata=True) is not None


def bare_extraction_rate(bodies: list[bytes]) -> float:
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers) as pool:
        list(pool.map(_bare, bodies[: workers * 2]))  # warm the workers' imports
        t0 = time.perf_counter()
        list(pool.map(_bare, bodies, chunksize=4))
        return len(bodies) / (time.perf_counter() - t0)


def loopback_site(root: Path, bodies: list[bytes]):
    from flows.demo.server import Answer, SiteServer

    (root / "feeds").mkdir(parents=True)
    site = SiteServer(root).start()
    head = (("Content-Type", "text/html"),)
    site.route(
        "/p/*", lambda path, _h: Answer(200, bodies[int(path.split("/")[2]) % len(bodies)], head)
    )
    for f in range(N_FEEDS):
        items = "".join(
            f"<item><title>Page {i}</title><link>{site.url(f'/p/{i}/story.html')}</link></item>"
            for i in range(f, N_PAGES, N_FEEDS)
        )
        (root / "feeds" / f"{f}.xml").write_text(
            f"<?xml version='1.0'?><rss version='2.0'><channel><title>{f}</title>{items}"
            "</channel></rss>",
            encoding="utf-8",
        )
    return site


def run_seconds(db: Path, run_id: str) -> float:
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        (secs,) = con.execute(
            "SELECT epoch(finished_at) - epoch(started_at) FROM runs WHERE run_id = ?", [run_id]
        ).fetchall()[0]
    return float(secs)


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
    sys.path.insert(0, str(REPO / "tests"))
    from conftest import write_config  # the tests' config writer: one way to write a config

    from flows.monitor import monitor

    bodies = page_bodies()
    replicated = [bodies[i % len(bodies)] for i in range(N_PAGES)]
    print(
        f"pages: {N_PAGES} ({len(bodies)} distinct real pages, mean {sum(map(len, bodies)) // len(bodies) // 1000} KB), "
        f"{os.cpu_count()} cores, {N_RUNS} run(s)"
    )
    ceiling = bare_extraction_rate(replicated)
    print(
        f"baseline  bare trafilatura extract (json, metadata), pool of {os.cpu_count()}: {ceiling:6.1f} pages/s"
    )

    rates, starts, reruns = [], [], []
    for n in range(N_RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            tmp_path = Path(tmp)
            site = loopback_site(tmp_path / "site", bodies)
            db = tmp_path / "w.duckdb"
            cfg = write_config(
                tmp_path / "c.toml",
                feeds=[site.url(f"/feeds/{f}.xml") for f in range(N_FEEDS)],
                db=db,
                seeds=REPO / "seeds",
                network={"timeout_seconds": 30},
            )
            t0 = time.perf_counter()
            summary = monitor(config=str(cfg))
            wall = time.perf_counter() - t0
            secs = run_seconds(db, summary["run_id"])
            rates.append(summary["articles_new"] / secs)
            starts.append(wall - secs)
            print(
                f"run {n + 1}: {summary['articles_new']} articles in {secs:.1f}s of run "
                f"({rates[-1]:.1f}/s); Prefect start and teardown {wall - secs:.1f}s"
            )
            before = len(site.requests)
            t0 = time.perf_counter()
            second = monitor(config=str(cfg))
            again = site.requests[before:]
            reruns.append(
                (
                    len([r for r in again if r.path.startswith("/feeds/")]),
                    len([r for r in again if not r.path.startswith("/feeds/")]),
                    run_seconds(db, second["run_id"]),
                )
            )
            site.stop()
    rate = statistics.median(rates)
    print(
        f"end-to-end (median of {N_RUNS}): {rate:6.1f} articles/s = {rate / ceiling:.2f} x the bare-extraction ceiling"
    )
    feeds, pages, secs = reruns[-1]
    print(
        f"no-change rerun: {feeds} feed requests (all conditional), {pages} page requests, {secs:.2f}s of run"
    )
    arrow, rbr = bulk_load_ratio()
    print(
        f"load: Arrow batch {arrow:,.0f} rows/s vs executemany {rbr:,.0f} rows/s = {arrow / rbr:.0f}x"
    )


if __name__ == "__main__":
    main()
