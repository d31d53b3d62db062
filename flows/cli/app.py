"""The ``corpus-monitor`` command line (``python -m flows`` works too).

Exit codes: 0 done (a completed run is 0 even if some feeds or pages failed), 1 the run failed,
2 usage or config error, 3 warehouse busy after retries or run skipped.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    import duckdb

from flows import __version__
from flows.errors import ConfigError, CorpusMonitorError, WarehouseBusy

app = typer.Typer(
    name="corpus-monitor",
    help="Watch a news corpus: poll feeds, extract articles, flag duplicates, load DuckDB.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # help text is plain text: "[schedule]" and "[default: ...]" are words, not rich markup
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config TOML [default: ./corpus-monitor.toml, then $CORPUS_MONITOR_CONFIG]",
    ),
]
DbOpt = Annotated[
    Path | None, typer.Option("--db", help="Warehouse file (overrides warehouse.path)")
]


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", "-f", help="Output format")]

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _prefect_env() -> None:
    """Keep Prefect's state in the project folder and its telemetry off, unless set otherwise."""
    os.environ.setdefault("PREFECT_HOME", str(Path.cwd() / ".prefect"))
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Prefect's temporary server gets 20 s to start by default: not always enough on a busy
    # 2-core machine, or the first time, when it creates its database.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_SERVER_LOGGING_LEVEL", "WARNING")


def _fail(err: CorpusMonitorError) -> typer.Exit:
    typer.echo(f"corpus-monitor: {err}", err=True)
    _forget_frames(err)
    return typer.Exit(err.exit_code)


def _forget_frames(err: BaseException) -> None:
    """Drop the frames an error carries (and the errors it chains). Prefect keeps a failed
    run's exception until the process ends; its frames hold DuckDB objects, which the
    interpreter then cannot free and reports at exit as dozens of `nanobind: leaked` lines."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [err]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        tb = e.__traceback__
        while tb is not None:
            with suppress(RuntimeError):  # a frame still running is left alone
                tb.tb_frame.clear()
            tb = tb.tb_next
        todo += [e.__cause__, e.__context__]


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, bytes):
        return v.hex()
    return v


def _print_rows(
    columns: list[str], rows: list[tuple[Any, ...]], fmt: Format, title: str | None = None
) -> None:
    if fmt is Format.json:
        for r in rows:
            typer.echo(
                json.dumps(
                    {c: _jsonable(v) for c, v in zip(columns, r, strict=True)}, ensure_ascii=False
                )
            )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for c in columns:
        table.add_column(c, overflow="fold")
    for r in rows:
        table.add_row(*("" if v is None else str(_jsonable(v)) for v in r))
    Console().print(table)


def _run_flow(config: Path | None, db: Path | None, due_only: bool = False) -> dict[str, Any]:
    from flows.config import load_settings

    settings = load_settings(config, db)  # a bad config stops here, before Prefect starts
    _preflight(settings, config)
    _prefect_env()
    from flows.orchestration.monitor import monitor
    from flows.orchestration.pipeline import warm_up
    from flows.orchestration.runners import api_for_workers, configured

    # what the run will need, loaded while Prefect's temporary server starts (seconds in which
    # this process mostly waits): the quality suites, and the extraction processes' fork server
    warm_up(settings, quality=True, fork_server=True)
    flow = configured(monitor, settings)  # [pipeline] task_runner: local threads or Dask
    with api_for_workers(settings):
        return flow(
            config=str(config) if config else None, db=str(db) if db else None, due_only=due_only
        )


def _preflight(settings: Any, config: Path | None) -> None:
    """What a run needs, checked before Prefect starts: the seed corpus's folder, a warehouse
    that opens (not some other file), and a feed at all (in the config or the registry)."""
    from flows.config import check_seeds_folder

    check_seeds_folder(settings, config)
    if _registry_size(settings) or settings.feeds:
        return
    raise ConfigError(
        f"{config or 'config'}: feeds: no [[feeds]] configured and none added "
        "(corpus-monitor feeds add URL, or feeds import FILE.opml)"
    )


def _registry_size(settings: Any) -> int:
    """Feeds in the warehouse's registry (0 without a warehouse). With feeds in the config, a
    warehouse held by another process counts 0: the run itself waits for it."""
    from flows.warehouse import store as wh

    ws = settings.warehouse
    if not ws.path.exists():
        return 0
    retries = 0 if settings.feeds else ws.busy_retries
    try:
        with wh.connect(ws.path, read_only=True, retries=retries, wait=ws.busy_wait) as con:
            if wh.schema_version(con) < 7:
                return 0  # no registry before schema 7
            ((n,),) = con.execute("SELECT count(*) FROM feed_registry").fetchall()
            return int(n)
    except WarehouseBusy:
        if settings.feeds:
            return 0
        raise


@app.command()
def run(
    config: ConfigOpt = None,
    db: DbOpt = None,
    due_only: Annotated[
        bool,
        typer.Option("--due-only", help="Poll only the feeds that are due, as scheduled runs do"),
    ] = False,
) -> None:
    """Run the pipeline once over every feed (config and registry; each polled conditionally)."""
    from flows.orchestration.report import run_summary_text

    try:
        summary = _run_flow(config, db, due_only)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    except Exception as e:  # the flow failed: Prefect has logged the traceback
        typer.echo(f"corpus-monitor: the run failed: {type(e).__name__}: {e}", err=True)
        _forget_frames(e)
        raise typer.Exit(1) from None
    if summary.get("status") == "skipped":
        typer.echo(f"corpus-monitor: {summary['error']}", err=True)
        raise typer.Exit(3)
    typer.echo(run_summary_text(summary))


DEFAULT_PORT = 4200
DEMO_SITE_PORT = 8765  # fixed, so the demo's article URLs stay the same across restarts


def _demo_config(base_url: str, root: Path, folder: Path, extra: str = "") -> Path:
    cfg = folder / "demo.toml"
    text = (Path(__file__).resolve().parents[1] / "demo" / "demo.toml").read_text(encoding="utf-8")
    text = (
        text.replace("{{BASE_URL}}", base_url)
        .replace("{{HOST}}", base_url.split("://", 1)[1].rstrip("/"))
        .replace("{{ROOT}}", root.as_posix())
        .replace("{{SEEDS}}", (PROJECT_ROOT / "seeds").as_posix())
    )
    cfg.write_text(text + extra, encoding="utf-8")
    return cfg


@app.command()
def server(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1")] = DEFAULT_PORT,
) -> None:
    """Start a local Prefect server (API and UI) on 127.0.0.1, its database in ./.prefect."""
    _prefect_env()
    os.environ["PREFECT_SERVER_API_HOST"] = "127.0.0.1"
    os.environ["PREFECT_SERVER_API_PORT"] = str(port)
    # the UI asks this address for its data (by default it assumes port 4200)
    os.environ["PREFECT_UI_API_URL"] = f"http://127.0.0.1:{port}/api"
    typer.echo(
        f"Prefect UI: http://127.0.0.1:{port}  (then, in another terminal: "
        f"corpus-monitor serve --config corpus-monitor.toml)"
    )
    cmd = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    os.execv(sys.executable, [*cmd, "--port", str(port)])


@app.command()
def serve(
    config: ConfigOpt = None,
    db: DbOpt = None,
    api: Annotated[
        str | None,
        typer.Option(help="Prefect API [default: $PREFECT_API_URL, else the local server]"),
    ] = None,
    demo: Annotated[
        bool, typer.Option(help="Serve the bundled demo site and a demo config (every minute)")
    ] = False,
) -> None:
    """Register the deployment with the [schedule] from the config and run its scheduled (and
    manually triggered) runs until stopped. Scheduled runs poll only the feeds that are due."""
    if demo:
        from flows.demo import SITE
        from flows.demo.server import SiteServer

        with SiteServer(SITE, port=DEMO_SITE_PORT) as site, tempfile.TemporaryDirectory() as tmp:
            typer.echo(f"demo news site: {site.base_url}/  (a run every minute)")
            # the demo site never changes: poll its feeds at every run (conditionally, 304)
            # rather than at the daily pace its week-old entries would earn
            extra = '\n[schedule]\nevery = "1m"\n\n[cadence]\nadaptive = false\n'
            cfg = _demo_config(site.base_url, Path.cwd(), Path(tmp), extra)
            serve(config=cfg, db=db, api=api, demo=False)
        return
    from flows.config import load_settings

    try:
        settings = load_settings(config, db)
        if settings.schedule is None:
            raise ConfigError(
                f'{config or "config"}: schedule: no [schedule] (every = "15m" or cron = ...)'
            )
        _preflight(settings, config)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    _prefect_env()
    url = api or os.environ.get("PREFECT_API_URL") or f"http://127.0.0.1:{DEFAULT_PORT}/api"
    os.environ["PREFECT_API_URL"] = url
    _check_api(url)

    from flows.config import find_config
    from flows.orchestration.monitor import monitor
    from flows.orchestration.runners import configured

    try:
        # the served runs use the task runner of the config as it is now
        flow = configured(monitor, settings)
    except CorpusMonitorError as e:
        raise _fail(e) from None

    found = find_config(config)
    params: dict[str, Any] = {"config": str(found.resolve()) if found else None, "due_only": True}
    if db is not None:
        params["db"] = str(db.resolve())
    sched = settings.schedule
    typer.echo(
        f"serving deployment corpus-monitor/corpus-monitor "
        f"({'every ' + str(sched.every) + ' s' if sched.every else 'cron ' + str(sched.cron)}) "
        f"against {url}; Ctrl-C stops"
    )
    from prefect.schedules import Cron, Interval

    schedule = (
        Interval(timedelta(seconds=sched.every), timezone=sched.timezone)
        if sched.every
        else Cron(str(sched.cron), timezone=sched.timezone)
    )
    flow.serve(
        name="corpus-monitor",
        schedule=schedule,
        parameters=params,
        # one run at a time: Prefect holds the next one until the slot frees (and the
        # warehouse lock covers runs started any other way)
        global_limit=1,
        print_starting_message=False,
    )


def _check_api(url: str) -> None:
    import httpx

    try:
        httpx.get(url.rstrip("/") + "/health", timeout=5).raise_for_status()
    except httpx.HTTPError as e:
        typer.echo(
            f"corpus-monitor: no Prefect server at {url} ({type(e).__name__}): start one with "
            "`corpus-monitor server` (or `make server`), or pass --api",
            err=True,
        )
        raise typer.Exit(2) from None


@app.command()
def demo(
    keep_serving: Annotated[
        bool, typer.Option(help="Keep the demo site up after the runs")
    ] = False,
) -> None:
    """Serve the bundled demo news site on loopback and run the pipeline on it, twice."""
    from flows.demo import SITE
    from flows.demo.server import SiteServer
    from flows.orchestration.report import run_summary_text

    root = Path.cwd()
    db = root / "warehouse" / "demo.duckdb"
    for stale in (db, Path(f"{db}.wal")):
        stale.unlink(missing_ok=True)
    shutil.rmtree(f"{db}.raw", ignore_errors=True)  # the last demo's raw page archive
    with SiteServer(SITE) as site, tempfile.TemporaryDirectory() as tmp:
        cfg = _demo_config(site.base_url, root, Path(tmp))
        typer.echo(f"demo news site: {site.base_url}/  (4 feeds, 31 articles, a few broken links)")
        typer.echo(f"warehouse:      {db}\n")
        try:
            t0 = time.monotonic()
            first = _run_flow(cfg, None)
            typer.secho(f"\nFirst run ({time.monotonic() - t0:.1f}s):", bold=True)
            typer.echo(run_summary_text(first))
            requests_before = len(site.requests)
            t0 = time.monotonic()
            second = _run_flow(cfg, None)
            page_requests = [
                p for p in site.paths()[requests_before:] if not p.startswith("/feeds/")
            ]
            typer.secho(
                f"\nSecond run ({time.monotonic() - t0:.1f}s): nothing changed on the site",
                bold=True,
            )
            typer.echo(
                f"feeds unchanged (304): {second['feeds_not_modified']} of "
                f"{second['feeds_polled']}, "
                f"pages requested: {len(page_requests)}, new articles: {second['articles_new']}"
            )
        except CorpusMonitorError as e:
            raise _fail(e) from None
        _demo_queries(db)
        typer.echo(
            f"\nExplore it: .venv/bin/corpus-monitor query --db {_shown(db, root)} "
            '"SELECT dedup_status, count(*) FROM articles GROUP BY ALL"'
        )
        if keep_serving:
            typer.echo(f"Serving {site.base_url}/ until Ctrl-C")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass


dedup_app = typer.Typer(help="Duplicate checks against the seed corpus and the warehouse.")
app.add_typer(dedup_app, name="dedup")


@dedup_app.command("check")
def dedup_check(
    input_file: Annotated[
        Path,
        typer.Argument(
            metavar="INPUT.jsonl",
            help='Lines of {"id": ..., "text": ..., "url": optional: its site\'s boilerplate '
            "known to the warehouse is left out}",
        ),
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Is this text already in my corpus? Compares each input with the seeds, the warehouse and
    the other inputs, writes nothing, and prints one JSON line per input (in input order):
    dedup_status (unique, exact_duplicate, near_duplicate or partial_copy), duplicate_of,
    similarity and containment."""
    from datetime import UTC

    from flows.config import load_settings
    from flows.dedup.detect import Doc, History, MemoryIndex, MergedHistory, MinHasher, decide
    from flows.dedup.seeds import load_seeds
    from flows.warehouse.store import DedupIndex

    try:
        settings = load_settings(config, db)
        inputs = _read_jsonl(input_file)
        hasher = MinHasher(settings.dedup)
        seeds = load_seeds(settings.seeds.path)
        parts: list[History] = [
            MemoryIndex(
                hasher, [(s.doc_id, s.text) for s in seeds], datetime.min.replace(tzinfo=UTC)
            )
        ]
        # decided in input order (a date for each); an input without a URL has no site
        first = datetime.min.replace(tzinfo=UTC)
        docs = [
            Doc(f"input:{i}", text, first + timedelta(seconds=n), url or f"{n:012d}")
            for n, (i, text, url) in enumerate(inputs)
        ]
        path = settings.warehouse.path
        with _open_read_only(config, db) if path.exists() else _nothing() as con:
            if con is not None:
                parts.append(DedupIndex(con))
            verdicts = decide(docs, hasher, MergedHistory(*parts), settings.dedup.threshold)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    for doc, (input_id, _, _) in zip(docs, inputs, strict=True):
        v = verdicts[doc.doc_id]
        typer.echo(
            json.dumps(
                {
                    "id": input_id,
                    "dedup_status": v.status,
                    "duplicate_of": v.duplicate_of,
                    "similarity": v.similarity,
                    "containment": v.containment,
                },
                ensure_ascii=False,
            )
        )


@dedup_app.command("rebuild")
def dedup_rebuild(
    config: ConfigOpt = None, db: DbOpt = None, fmt: FormatOpt = Format.table
) -> None:
    """Recompute every verdict, story cluster and the whole dedup index, after the seeds or the
    [dedup] settings changed. One transaction: on any error the old verdicts stay."""
    from flows.config import load_settings
    from flows.dedup.rebuild import rebuild
    from flows.orchestration import pipeline

    try:
        settings = load_settings(config, db)
        with _exclusive(settings) as con:
            _, synced = pipeline.sync_seeds(con, settings)
            summary = rebuild(con, settings.dedup)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    statuses = sorted(set(summary.before) | set(summary.after))
    rows = [(s, summary.before.get(s, 0), summary.after.get(s, 0)) for s in statuses]
    if fmt is Format.json:
        typer.echo(json.dumps({**summary.as_dict(), "seeds_synced": synced}))
        return
    _print_rows(["dedup_status", "before", "after"], rows, fmt, "articles by verdict")
    typer.echo(
        f"rebuilt {summary.documents} documents ({summary.seeds} seeds, {summary.articles} "
        f"articles) in {summary.seconds} s; {summary.changed} articles changed verdict or "
        f"cluster; seeds updated: {len(synced)}"
    )


dq_app = typer.Typer(
    help="Data-quality results (Great Expectations suites in expectations/).",
    invoke_without_command=True,
)
app.add_typer(dq_app, name="dq")


@dq_app.callback()
def dq_results(
    ctx: typer.Context,
    run: Annotated[str | None, typer.Option(help="A run id [default: the latest run]")] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """The data-quality results of the latest run (or --run), one row per expectation."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        with _open_read_only(config, db) as con:
            rows = con.execute(
                "SELECT run_id FROM dq_results WHERE run_id = coalesce(?, run_id) "
                "ORDER BY validated_at DESC LIMIT 1",
                [run],
            ).fetchall()
            if not rows:
                typer.echo("no data-quality results yet" + (f" for run {run}" if run else ""))
                return
            cur = con.execute(
                "SELECT suite, coalesce(batch::VARCHAR, 'run') AS batch, expectation, field, "
                "success, unexpected_count AS unexpected, observed_value AS observed, severity "
                "FROM dq_results WHERE run_id = ? "
                "ORDER BY suite, batch NULLS LAST, success, expectation, field",
                [rows[0][0]],
            )
            _print_rows([d[0] for d in cur.description], cur.fetchall(), fmt, f"run {rows[0][0]}")
    except CorpusMonitorError as e:
        raise _fail(e) from None


@dq_app.command("init")
def dq_init(config: ConfigOpt = None) -> None:
    """Create the Great Expectations context and any missing suite or checkpoint (an existing
    suite is never overwritten: edit it in expectations/expectations/)."""
    from flows.config import QualitySettings, find_config, load_settings
    from flows.quality.gates import init_context

    try:
        q = load_settings(config).quality if find_config(config) else QualitySettings()
    except CorpusMonitorError as e:
        raise _fail(e) from None
    created = init_context(q.expectations_dir)
    typer.echo(f"{q.expectations_dir}: " + (", ".join(created) if created else "up to date"))


@dq_app.command("docs")
def dq_docs(
    out: Annotated[Path, typer.Option(help="Folder to write the site to")] = Path("dq-docs"),
    config: ConfigOpt = None,
) -> None:
    """Build Great Expectations' Data Docs (suites and recent validations) into a folder that
    opens offline: the CSS, scripts and fonts the pages load are shipped and linked locally."""
    from flows.config import QualitySettings, find_config, load_settings
    from flows.quality.datadocs import build

    try:
        q = load_settings(config).quality if find_config(config) else QualitySettings()
        index = build(q.expectations_dir, out)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    typer.echo(f"Data Docs: {index}")


quarantine_app = typer.Typer(help="Articles held back by a data-quality expectation.")
app.add_typer(quarantine_app, name="quarantine")


@quarantine_app.command("list")
def quarantine_list(
    all_: Annotated[bool, typer.Option("--all", help="Released ones too")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Held-back articles: why, and the offending value."""
    try:
        with _open_read_only(config, db) as con:
            cur = con.execute(
                "SELECT quarantine_id AS id, strftime(quarantined_at, '%Y-%m-%d %H:%M') AS at, "
                "url, expectation, field, value, json_array_length(failures) AS failed, "
                "strftime(released_at, '%Y-%m-%d %H:%M') AS released "
                "FROM quarantine WHERE ? OR released_at IS NULL ORDER BY quarantined_at, url",
                [all_],
            )
            _print_rows([d[0] for d in cur.description], cur.fetchall(), fmt, "quarantine")
    except CorpusMonitorError as e:
        raise _fail(e) from None


@quarantine_app.command("release")
def quarantine_release(
    ids: Annotated[list[str] | None, typer.Argument(help="Quarantine ids (see list)")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every held-back article")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Re-validate held-back articles against the current suites and [quality] settings, and
    load those that pass (deduplicated against everything loaded since). Exit 1 if any still
    fails."""
    import uuid

    from flows.config import load_settings
    from flows.orchestration import pipeline
    from flows.sources.registry import merged
    from flows.warehouse import store as wh

    if not ids and not all_:
        typer.echo("corpus-monitor: give quarantine ids or --all", err=True)
        raise typer.Exit(2)
    try:
        settings = load_settings(config, db)
        with _exclusive(settings, must_exist=False) as con:
            wanted = ids or [
                r[0]
                for r in con.execute(
                    "SELECT quarantine_id FROM quarantine WHERE released_at IS NULL"
                ).fetchall()
            ]
            run_id = f"release-{uuid.uuid4()}"
            wh.start_run(con, run_id, "quarantine release", pipeline.now())
            settings = merged(con, settings)  # group topics of the registry's feeds too
            released, still = pipeline.release(con, settings, wanted, run_id)
            wh.finish_run(con, run_id, "completed", pipeline.now())
    except CorpusMonitorError as e:
        raise _fail(e) from None
    unknown = set(wanted) - set(released) - set(still)
    typer.echo(f"released {len(released)}: {', '.join(released) or '-'}")
    for qid, failed in still.items():
        why = "; ".join(f"{f['expectation']}({f['field']}) = {f['value']!r}" for f in failed)
        typer.echo(f"still held {qid}: {why}")
    for qid in sorted(unknown):
        typer.echo(f"not held: {qid} (unknown, or released before)")
    if still or unknown:
        raise typer.Exit(1)


@contextmanager
def _exclusive(settings: Any, *, must_exist: bool = True) -> Iterator[duckdb.DuckDBPyConnection]:
    """The warehouse, writable, holding the run lock (waits like query, then exits 3)."""
    from flows.warehouse import store as wh

    path = settings.warehouse.path
    if must_exist and not path.exists():
        raise ConfigError(f"{path}: no warehouse here yet (run the pipeline first)")
    wait = settings.warehouse.busy_retries * settings.warehouse.busy_wait
    with wh.run_lock(path, wait=wait), wh.connect(path) as con:
        yield con


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _read_jsonl(path: Path) -> list[tuple[Any, str, str | None]]:
    """(id, text, url or None) per line."""
    if not path.is_file():
        raise ConfigError(f"{path}: no such file")
    out: list[tuple[Any, str, str | None]] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise ConfigError(f"{path} line {n}: not JSON: {e.msg}") from None
            if not isinstance(obj, dict) or "id" not in obj or not isinstance(obj.get("text"), str):
                raise ConfigError(f'{path} line {n}: expected {{"id": ..., "text": "..."}}')
            if str(obj["id"]) in seen:
                raise ConfigError(f"{path} line {n}: id {obj['id']!r} is used twice")
            seen.add(str(obj["id"]))
            url = obj.get("url")
            if url is not None and not isinstance(url, str):
                raise ConfigError(f"{path} line {n}: url must be a string")
            out.append((obj["id"], obj["text"], url))
    return out


def _shown(path: Path, root: Path) -> Path:
    return path.relative_to(root) if path.is_relative_to(root) else path


def _demo_queries(db: Path) -> None:
    from flows.warehouse.store import connect

    with connect(db, read_only=True) as con:
        typer.secho("\nTopics (from article_topics, computed at load time):", bold=True)
        cur = con.execute(
            """
            SELECT topic, count(DISTINCT a.article_id) AS articles,
                   count(DISTINCT a.cluster_id) AS stories,
                   sum(t.mentions) AS mentions
            FROM article_topics t JOIN articles a USING (article_id)
            GROUP BY topic ORDER BY mentions DESC
            """
        )
        _print_rows([d[0] for d in cur.description], cur.fetchall(), Format.table)
        typer.secho("Duplicates found:", bold=True)
        cur = con.execute(
            """
            SELECT a.title AS copy, a.dedup_status, a.duplicate_of,
                   coalesce(s.title, o.title) AS original, round(a.similarity, 3) AS similarity
            FROM articles a
            LEFT JOIN articles o ON o.article_id = a.duplicate_of
            LEFT JOIN seeds s ON 'seed:' || s.seed_id = a.duplicate_of
            WHERE a.dedup_status <> 'unique' ORDER BY a.url
            """
        )
        _print_rows([d[0] for d in cur.description], cur.fetchall(), Format.table)


class Period(StrEnum):
    day = "day"
    week = "week"


@app.command()
def report(
    topics: Annotated[
        str | None, typer.Option(help="Comma-separated topics [default: all]")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="First day, YYYY-MM-DD [default: everything]")
    ] = None,
    by: Annotated[Period, typer.Option(help="Period")] = Period.day,
    chart: Annotated[Path, typer.Option("--chart", help="Chart file to write (SVG)")] = Path(
        "topics.svg"
    ),
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Topic mentions over time: articles, unique stories and copies apart, mentions; a table
    and an SVG chart."""
    from flows.orchestration.report import topic_chart_svg, topic_rows

    wanted = [t.strip() for t in topics.split(",") if t.strip()] if topics else None
    start = None
    if since:
        try:
            start = date.fromisoformat(since)
        except ValueError:
            typer.echo(f"corpus-monitor: --since {since!r}: not a date (YYYY-MM-DD)", err=True)
            raise typer.Exit(2) from None
    try:
        with _open_read_only(config, db) as con:
            rows = topic_rows(con, wanted, start, by.value)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    if not rows:
        typer.echo("no topic mentions" + (f" for {topics}" if topics else "") + " in that range")
        return
    cols = list(rows[0])
    _print_rows(cols, [tuple(r.values()) for r in rows], fmt, f"topics by {by.value}")
    title = f"Mentions by {by.value}: " + ", ".join(sorted({r["topic"] for r in rows}))
    chart.parent.mkdir(parents=True, exist_ok=True)
    chart.write_text(topic_chart_svg(rows, title), encoding="utf-8")
    typer.echo(f"chart: {chart}", err=fmt is Format.json)


class ExportFormat(StrEnum):
    parquet = "parquet"


@app.command()
def export(
    folder: Annotated[Path, typer.Argument(metavar="DIR", help="Folder to write to")],
    export_format: Annotated[
        ExportFormat, typer.Option("--format", help="File format")
    ] = ExportFormat.parquet,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Write every table and view as DIR/NAME.parquet (each file replaced whole), for notebooks
    and BI tools that read while the pipeline writes. Waits for a busy warehouse like query."""
    from flows.warehouse.store import export_parquet

    try:
        with _open_read_only(config, db) as con:
            written = export_parquet(con, folder)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    for name, rows in written:
        typer.echo(f"{folder / (name + '.parquet')}  {rows} rows")


@app.command()
def shell(
    write: Annotated[bool, typer.Option("--write", help="Open read-write")] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """An interactive SQL prompt on the warehouse (read-only unless --write). End statements
    with ';'. `.tables` lists tables and views; `.quit` or Ctrl-D leaves."""
    import duckdb

    from flows.config import WarehouseSettings, find_config, load_settings
    from flows.warehouse.store import connect

    opened: AbstractContextManager[duckdb.DuckDBPyConnection]
    try:
        if write:
            ws = (
                load_settings(config, db).warehouse
                if find_config(config)
                else WarehouseSettings(path=db or WarehouseSettings().path)
            )
            opened = connect(ws.path, retries=ws.busy_retries, wait=ws.busy_wait)
        else:
            opened = _open_read_only(config, db)
        with opened as con:
            typer.echo("corpus-monitor SQL shell: end statements with ';', .tables, .quit")
            buffer = ""
            while True:
                try:
                    line = input("sql> " if not buffer else "...> ")
                except EOFError:
                    typer.echo("")
                    return
                stripped = line.strip()
                if not buffer and stripped in (".quit", ".exit"):
                    return
                if not buffer and stripped == ".tables":
                    line = (
                        "SELECT table_name, table_type FROM information_schema.tables ORDER BY 1;"
                    )
                buffer += line + "\n"
                if not buffer.rstrip().endswith(";"):
                    continue
                sql, buffer = buffer, ""
                try:
                    cur = con.execute(sql)
                    if cur.description is not None:
                        _print_rows([d[0] for d in cur.description], cur.fetchall(), Format.table)
                except duckdb.Error as e:
                    typer.echo(f"error: {e}", err=True)
    except CorpusMonitorError as e:
        raise _fail(e) from None


@app.command()
def retag(config: ConfigOpt = None, db: DbOpt = None) -> None:
    """Recompute article_topics and article_topic_pairs for every article with the [topics]
    of the config (after topics or terms change); one transaction."""
    from flows.config import load_settings
    from flows.sources.registry import merged as merged_feeds
    from flows.topics.retag import retag as run_retag

    try:
        settings = load_settings(config, db)
        with _exclusive(settings) as con:
            settings = merged_feeds(con, settings)  # group topics of the registry's feeds too
            summary = run_retag(con, settings.topics, scopes=settings.topic_scopes())
    except CorpusMonitorError as e:
        raise _fail(e) from None
    typer.echo(
        f"retagged {summary.articles} articles with {len(settings.topics)} topics: "
        f"{summary.topic_rows} topic rows, {summary.pair_rows} pair rows, {summary.seconds} s"
    )


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    size = n / 1024
    for unit in ("KB", "MB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"


@app.command()
def reextract(
    since: Annotated[
        str | None,
        typer.Option(
            help="Only pages fetched on or after this day, YYYY-MM-DD (default: every page)"
        ),
    ] = None,
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Extract every archived page again (after an extractor upgrade) and update the articles'
    text and metadata, their dedup verdicts and topics; one transaction, no network request.
    A page whose archived file is gone is reported and its article left as it is."""
    from datetime import UTC

    from flows.config import load_settings
    from flows.extraction.reextract import reextract as run_reextract
    from flows.sources.registry import merged as merged_feeds

    start = None
    if since:
        try:
            start = datetime.combine(date.fromisoformat(since), datetime.min.time(), UTC)
        except ValueError:
            typer.echo(f"corpus-monitor: --since {since!r}: not a date (YYYY-MM-DD)", err=True)
            raise typer.Exit(2) from None
    try:
        settings = load_settings(config, db)
        with _exclusive(settings) as con:
            s = run_reextract(con, merged_feeds(con, settings), start)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    if fmt is Format.json:
        typer.echo(json.dumps(s.as_dict()))
        return
    typer.echo(
        f"read {s.pages} archived pages ({s.articles} articles) in {s.seconds} s, no request made"
    )
    typer.echo(
        f"texts changed: {s.texts_changed}, metadata only: {s.metadata_changed}, "
        f"unchanged: {s.unchanged}"
    )
    left = " (their articles left as they were)" if s.missing_files else ""
    typer.echo(f"missing files: {s.missing_files}{left}")
    for detail in s.missing:
        typer.echo(f"  {detail}")
    if s.no_text:
        typer.echo(f"no text any more: {s.no_text} articles (left as they were)")
    if s.new_texts:
        typer.echo(
            f"pages without an article that yield text now: {s.new_texts} (not loaded; their "
            "rows in raw_pages have no article_id)"
        )
    if s.dedup_rebuilt or s.topics_retagged:
        typer.echo(
            f"dedup index rebuilt: {s.verdicts_changed} articles changed verdict or cluster; "
            "topic tables recomputed"
        )


@app.command()
def prune(config: ConfigOpt = None, db: DbOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Delete archived pages older than [retention] raw_days (their rows, and their files when no
    other page has the same bytes) and archive files no row refers to; print what was freed.
    Every run does the same at its end."""
    from flows.config import load_settings
    from flows.extraction import archive
    from flows.orchestration import pipeline

    try:
        settings = load_settings(config, db)
        days = settings.retention.raw_days
        with _exclusive(settings) as con:
            s = archive.prune(con, settings.raw_dir, days, pipeline.now())
    except CorpusMonitorError as e:
        raise _fail(e) from None
    if fmt is Format.json:
        typer.echo(json.dumps(s.as_dict()))
    else:
        kept = f"older than {days} days" if days is not None else "(kept forever)"
        typer.echo(
            f"freed {s.files + s.temp_files} files, {_size(s.bytes)}: {s.rows} archived pages "
            f"{kept}, {s.orphans + s.temp_files} files no page referred to"
        )
        for error in s.errors:
            typer.echo(f"corpus-monitor: could not delete {error}", err=True)
    if s.errors:
        raise typer.Exit(1)


@app.command()
def query(
    sql: Annotated[str, typer.Argument(help="SQL to run against the warehouse (read-only)")],
    config: ConfigOpt = None,
    db: DbOpt = None,
    fmt: FormatOpt = Format.table,
) -> None:
    """Run a read-only SQL query on the warehouse."""
    import duckdb

    try:
        with _open_read_only(config, db) as con:
            try:
                cur = con.execute(sql)
            except duckdb.Error as e:
                typer.echo(f"corpus-monitor: query failed: {e}", err=True)
                raise typer.Exit(2) from None
            if cur.description is None:
                return
            _print_rows([d[0] for d in cur.description], cur.fetchall(), fmt)
    except CorpusMonitorError as e:
        raise _fail(e) from None


@app.command()
def status(config: ConfigOpt = None, db: DbOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Feeds and their health, and the last runs (--format json: one object with both)."""
    try:
        path = _warehouse_settings(config, db).path
        if not path.exists():
            if fmt is Format.json:
                typer.echo(
                    json.dumps({"warehouse": str(path), "exists": False, "feeds": [], "runs": []})
                )
            else:
                typer.echo(f"no warehouse at {path} yet: `corpus-monitor run` creates it")
            return
        with _open_read_only(config, db) as con:
            feeds = con.execute(
                "SELECT name, url, state, last_status, last_error, "
                "consecutive_failures AS failures, "
                "strftime(last_success_at, '%Y-%m-%d %H:%M') AS last_success, "
                "strftime(last_polled_at, '%Y-%m-%d %H:%M') AS last_poll, "
                "strftime(next_poll_at, '%Y-%m-%d %H:%M') AS backing_off_until, "
                "validators_unreliable AS hides_changes, "
                "(SELECT round(avg(items), 1) FROM (SELECT items FROM feed_polls p "
                " WHERE p.feed_url = feeds.url ORDER BY polled_at DESC LIMIT 10)) "
                "AS items_per_poll "
                "FROM feeds ORDER BY name"
            )
            feed_cols, feed_rows = [d[0] for d in feeds.description], feeds.fetchall()
            runs = con.execute(
                "SELECT run_id, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started, status, "
                "feeds_polled, feeds_failed, new_urls, pages_deferred AS deferred, articles_new, "
                "unique_articles, "
                "exact_duplicates + near_duplicates + partial_copies AS duplicates, "
                "page_failures + extract_failures AS page_failures "
                "FROM runs ORDER BY started_at DESC LIMIT 10"
            )
            run_cols, run_rows = [d[0] for d in runs.description], runs.fetchall()
    except CorpusMonitorError as e:
        raise _fail(e) from None
    if fmt is Format.json:

        def objects(cols: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
            return [{c: _jsonable(v) for c, v in zip(cols, r, strict=True)} for r in rows]

        whole = {
            "warehouse": str(path),
            "exists": True,
            "feeds": objects(feed_cols, feed_rows),
            "runs": objects(run_cols, run_rows),
        }
        typer.echo(json.dumps(whole, ensure_ascii=False))
        return
    _print_rows(feed_cols, feed_rows, fmt, "feeds")
    _print_rows(run_cols, run_rows, fmt, "last runs")


# ---------------------------------------------------------------------------------------------
# corpus-monitor feeds: the feed registry (flows.sources.registry), OPML, discovery

feeds_app = typer.Typer(
    help="Feeds: list them with their health, add (with discovery), remove, import and export "
    "OPML. Feeds added here live in the warehouse beside the feeds of the config (the config "
    "wins where both name a feed)."
)
app.add_typer(feeds_app, name="feeds")


@contextmanager
def _registry(settings: Any, *, write: bool) -> Iterator[duckdb.DuckDBPyConnection | None]:
    """The warehouse for the registry: None when it does not exist yet and nothing is written;
    read-only when possible, else holding the run lock (a run in progress is waited for)."""
    from flows.warehouse import store as wh

    path = settings.warehouse.path
    if not write and not path.exists():
        yield None
        return
    if not write:
        ws = settings.warehouse
        with wh.connect(path, read_only=True, retries=ws.busy_retries, wait=ws.busy_wait) as con:
            if wh.schema_version(con) >= wh.SCHEMA_VERSION:
                yield con
                return
    with _exclusive(settings, must_exist=False) as con:  # migrates an older file
        yield con


def _duration_option(value: str | None, option: str) -> int | None:
    from flows.config import parse_duration

    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as e:
        raise ConfigError(f"{option}: {e}") from None


def _sources(settings: Any, con: duckdb.DuckDBPyConnection | None) -> tuple[Any, dict[str, str]]:
    """The settings with the registry merged, and url -> source; says which registry feeds
    the config overrides."""
    from flows.sources import registry

    if con is None:
        return settings, {f.url: "config" for f in settings.feeds}
    feeds, shadowed = registry.with_sources(con, settings)
    for f, source in shadowed:
        typer.echo(
            f"note: {f.url} (added with {source}) is not polled on its own: the config "
            "declares the same URL or name",
            err=True,
        )
    return registry.merged(con, settings), {f.url: source for f, source in feeds}


@feeds_app.command("list")
def feeds_list(config: ConfigOpt = None, db: DbOpt = None, fmt: FormatOpt = Format.table) -> None:
    """Every feed a run polls, where it is declared (config, cli, opml), its group, health
    (last success, failures in a row), entries per day, interval and next scheduled poll."""
    from flows.config import load_settings
    from flows.orchestration.pipeline import now
    from flows.warehouse import store as wh

    try:
        settings = load_settings(config, db)
        with _registry(settings, write=False) as con:
            merged, sources = _sources(settings, con)
            if con is None:
                rows = [
                    {
                        "feed": f.label,
                        "source": "config",
                        "group": f.group,
                        "url": f.url,
                        "state": "never polled",
                    }
                    for f in settings.feeds
                ]
            else:
                rows = wh.feed_health(con, merged, now(), sources)
                if fmt is Format.table:
                    shown = (
                        "feed",
                        "source",
                        "group",
                        "state",
                        "last_success",
                        "consecutive_failures",
                        "items_per_day",
                        "every",
                        "next_poll",
                        "url",
                    )
                    rows = [{k: r[k] for k in shown} for r in rows]
                    for r in rows:  # never polled, or no interval: polled by the next run
                        r["next_poll"] = r["next_poll"] or "next run"
    except CorpusMonitorError as e:
        raise _fail(e) from None
    if not rows:
        typer.echo("no feeds: add one with `corpus-monitor feeds add URL`", err=True)
        return
    columns = list(rows[0])
    _print_rows(columns, [tuple(r.get(c) for c in columns) for r in rows], fmt, "feeds")


@feeds_app.command("add")
def feeds_add(
    url: Annotated[str, typer.Argument(help="A feed, a news sitemap, or any page of a site")],
    name: Annotated[str | None, typer.Option(help="Name shown in reports")] = None,
    every: Annotated[
        str | None,
        typer.Option(help="Poll this often in scheduled runs, e.g. 15m (default: adaptive)"),
    ] = None,
    group: Annotated[str | None, typer.Option(help="Put the feed in this group")] = None,
    all_found: Annotated[
        bool, typer.Option("--all", help="Add every feed discovery finds, not just the first")
    ] = False,
    discover: Annotated[
        bool,
        typer.Option(help="Look for the site's feeds (--no-discover adds URL as it is, unchecked)"),
    ] = True,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Add a feed. Given a page of a site rather than a feed, finds the site's feeds (link
    rel=alternate, /feed, /rss.xml, /atom.xml..., its news sitemap) and adds the first; --all
    adds every one."""
    from flows.config import _check_http_url, load_settings
    from flows.orchestration.pipeline import now
    from flows.sources import registry
    from flows.sources.discover import discover as find_feeds

    try:
        settings = load_settings(config, db)
        try:
            url = _check_http_url(url)
        except ValueError as e:
            raise ConfigError(f"URL: {e}") from None
        seconds = _duration_option(every, "--every")
        if discover:
            found = find_feeds(url, settings.network)
            if not found.found:
                tried = "; ".join(f"{u} ({why})" for u, why in found.tried[:12])
                typer.echo(f"corpus-monitor: no feed or news sitemap found for {url}", err=True)
                if tried:
                    typer.echo(f"tried: {tried}", err=True)
                raise typer.Exit(1)
            chosen = found.found if all_found else found.found[:1]
            for f in found.found:
                mark = "+" if f in chosen else " "
                typer.echo(
                    f"{mark} {f.url}  [{f.kind}, {f.entries} entries, {f.via}]"
                    + (f"  {f.title}" if f.title else "")
                )
            # --name names the feed added; with --all each keeps its own title
            entries = [
                registry.Entry(
                    f.url, (name if len(chosen) == 1 else None) or f.title, group, seconds
                )
                for f in chosen
            ]
            if len(chosen) < len(found.found):
                typer.echo("(not added: the others; add them with --all or by their URL)")
        else:
            entries = [registry.Entry(url, name, group, seconds)]
        with _registry(settings, write=True) as con:
            assert con is not None
            result = registry.add(con, settings, entries, "cli", now())
    except CorpusMonitorError as e:
        raise _fail(e) from None
    _report_added(result)


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _report_added(result: Any) -> None:
    for e in result.added:
        typer.echo(
            f"added {e.url}"
            + (f" ({e.name})" if e.name else "")
            + (f" in group {e.group!r}" if e.group else "")
        )
    for e in result.present:
        typer.echo(f"already in the registry: {e.url}")
    for e in result.in_config:
        typer.echo(f"declared in the config, left to it: {e.url}")
    for g in result.groups_created:
        typer.echo(f"new group {g!r}")
    for entry, why in result.invalid:
        typer.echo(f"not added: {entry.url}: {why}")


@feeds_app.command("remove")
def feeds_remove(
    feed: Annotated[str, typer.Argument(help="The feed's URL or name")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Remove a feed added with `feeds add` or `feeds import` (its articles and polling
    history stay in the warehouse). Feeds in the config are removed from the config file."""
    from flows.config import load_settings
    from flows.sources import registry

    try:
        settings = load_settings(config, db)
        with _registry(settings, write=True) as con:
            assert con is not None
            removed = registry.remove(con, settings, feed)
    except CorpusMonitorError as e:
        raise _fail(e) from None
    for url, name in removed:
        typer.echo(f"removed {url}" + (f" ({name})" if name else ""))


@feeds_app.command("import")
def feeds_import(
    opml_file: Annotated[Path, typer.Argument(metavar="FILE.opml", help="An OPML export")],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Import an OPML subscription list (Feedly, Inoreader, Miniflux, ...): folders become
    feed groups (nested ones joined with " / "); feeds already known are left as they are."""
    from flows.config import load_settings
    from flows.orchestration.pipeline import now
    from flows.sources import registry
    from flows.sources.opml import read_opml

    try:
        settings = load_settings(config, db)
        parsed = read_opml(opml_file)
        entries = [registry.Entry(f.url, f.title, f.group) for f in parsed.feeds]
        with _registry(settings, write=True) as con:
            assert con is not None
            result = registry.add(con, settings, entries, "opml", now())
    except CorpusMonitorError as e:
        raise _fail(e) from None
    typer.echo(
        f"{opml_file}: {_n(len(parsed.feeds), 'feed')} in {_n(len(parsed.groups), 'group')}; "
        f"{len(result.added)} added, {len(result.present)} already in the registry, "
        f"{len(result.in_config)} declared in the config, "
        f"{len(parsed.duplicates)} listed twice (first kept), "
        f"{len(parsed.skipped) + len(result.invalid)} skipped"
    )
    for what, why in parsed.skipped:
        typer.echo(f"skipped: {what} ({why})")
    for entry, why in result.invalid:
        typer.echo(f"skipped: {entry.url} ({why})")
    for g in result.groups_created:
        typer.echo(f"new group {g!r}")


@feeds_app.command("export")
def feeds_export(
    opml_file: Annotated[
        Path, typer.Argument(metavar="FILE.opml", help="Where to write ('-': standard output)")
    ],
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Write every feed (config and registry) as OPML 2.0, groups as folders."""
    from flows.config import load_settings
    from flows.sources.opml import ExportFeed, write_opml

    try:
        settings = load_settings(config, db)
        with _registry(settings, write=False) as con:
            merged, sources = _sources(settings, con)
        data = write_opml(
            [ExportFeed(f.url, f.name, f.group, sources.get(f.url, "config")) for f in merged.feeds]
        )
    except CorpusMonitorError as e:
        raise _fail(e) from None
    if str(opml_file) == "-":
        sys.stdout.buffer.write(data)
        return
    tmp = opml_file.with_name(f".{opml_file.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, opml_file)
    typer.echo(f"{opml_file}: {len(merged.feeds)} feeds")


@feeds_app.command("group")
def feeds_group(
    name: Annotated[str, typer.Argument(help="The group (e.g. an imported OPML folder)")],
    every: Annotated[
        str | None, typer.Option(help="Poll the group's feeds this often, e.g. 1h")
    ] = None,
    adaptive: Annotated[
        bool, typer.Option("--adaptive", help="Back to the adaptive interval")
    ] = False,
    topics: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated topics (names from the config's topics) for the group's articles"
        ),
    ] = None,
    all_topics: Annotated[
        bool, typer.Option("--all-topics", help="Match every topic again")
    ] = False,
    config: ConfigOpt = None,
    db: DbOpt = None,
) -> None:
    """Show or set the cadence and topics of a registry group (a group defined in the config is
    changed in the config)."""
    from flows.config import load_settings
    from flows.orchestration.pipeline import now
    from flows.sources import registry

    try:
        settings = load_settings(config, db)
        seconds = _duration_option(every, "--every")
        wanted = None
        if topics is not None:
            wanted = [t.strip() for t in topics.split(",") if t.strip()]
            unknown = [t for t in wanted if t not in settings.topics]
            if unknown or not wanted:
                raise ConfigError(
                    f"--topics: unknown topic(s) {', '.join(unknown) or '(none given)'}; the "
                    f"topics are the keys of [topics]: {', '.join(sorted(settings.topics))}"
                )
        change = every is not None or adaptive or topics is not None or all_topics
        group = None
        with _registry(settings, write=change) as con:
            if con is not None and change:
                every_seconds = 0 if adaptive else seconds
                group = registry.set_group(
                    con,
                    settings,
                    name,
                    now(),
                    every=every_seconds,
                    topics=[] if all_topics else wanted,
                )
            elif con is not None:
                group = registry.registered(con)[1].get(name)
        if group is None and name not in settings.groups:
            raise registry.RegistryError(
                f"no group {name!r} (groups come from feeds add --group, an OPML folder, "
                "or [groups.NAME] in the config)"
            )
    except CorpusMonitorError as e:
        raise _fail(e) from None
    shown = group or settings.groups[name]
    where = "config" if name in settings.groups else "registry"
    every_text = f"every {shown.every} s" if shown.every else "adaptive"
    topics_text = ", ".join(shown.topics) if shown.topics is not None else "all topics"
    typer.echo(f"group {name!r} ({where}): {every_text}; {topics_text}")


def _warehouse_settings(config: Path | None, db: Path | None) -> Any:
    """[warehouse] of the config; with --db and no config file, the defaults for that file."""
    from flows.config import WarehouseSettings, find_config, load_settings

    if db is not None and find_config(config) is None:
        return WarehouseSettings(path=db)
    return load_settings(config, db).warehouse


def _open_read_only(
    config: Path | None, db: Path | None
) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
    """The warehouse, read-only, retried while a run holds it (warehouse.busy_* settings)."""
    from flows.warehouse.store import connect

    ws = _warehouse_settings(config, db)
    return connect(ws.path, read_only=True, retries=ws.busy_retries, wait=ws.busy_wait)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"corpus-monitor {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True)
    ] = False,
) -> None:
    pass


def main() -> None:
    try:
        app()
    except CorpusMonitorError as e:  # anything not caught in a command
        typer.echo(f"corpus-monitor: {e}", err=True)
        _forget_frames(e)
        sys.exit(e.exit_code)
