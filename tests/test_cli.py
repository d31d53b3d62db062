"""The CLI's read commands on a real warehouse file, including a busy one."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from flows.warehouse import store as wh


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flows", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def make_db(path: Path) -> None:
    with wh.connect(path) as con:
        con.execute(
            "INSERT INTO feeds (url, name) VALUES ('https://example.org/rss.xml', 'example')"
        )


def hold(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """Another process holding the DuckDB file, as a running flow would."""
    code = f"import duckdb, time; c = duckdb.connect({str(path)!r}); print('held', flush=True); time.sleep({seconds})"
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    assert p.stdout is not None and p.stdout.readline().strip() == b"held"
    return p


def test_query_json_and_bad_sql(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_db(db)
    out = cli("query", "--db", str(db), "-f", "json", "SELECT url, name FROM feeds", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"url": "https://example.org/rss.xml", "name": "example"}
    bad = cli("query", "--db", str(db), "SELEC nothing", cwd=tmp_path)
    assert bad.returncode == 2 and "query failed" in bad.stderr


def test_status_lists_feeds(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_db(db)
    out = cli("status", "--db", str(db), "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    whole = json.loads(out.stdout)  # one object: the feeds and the last runs
    (first,) = whole["feeds"]
    assert first["url"] == "https://example.org/rss.xml" and first["state"] == "ok"
    assert whole["runs"] == [] and whole["exists"] is True
    # no warehouse yet: said so, exit 0, and JSON when asked
    missing = tmp_path / "none.duckdb"
    out = cli("status", "--db", str(missing), cwd=tmp_path)
    assert out.returncode == 0 and f"no warehouse at {missing} yet" in out.stdout
    out = cli("status", "--db", str(missing), "--format", "json", cwd=tmp_path)
    assert out.returncode == 0 and json.loads(out.stdout) == {
        "warehouse": str(missing), "exists": False, "feeds": [], "runs": []
    }  # fmt: skip
    assert not missing.exists()


def test_busy_warehouse_retries_then_exits_3(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_db(db)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[warehouse]\npath = "{db}"\nbusy_retries = 1\nbusy_wait = "1s"\n')
    holder = hold(db, 30)
    try:
        started = time.monotonic()
        out = cli("query", "--config", str(cfg), "SELECT 1", cwd=tmp_path)
        assert out.returncode == 3
        assert "in use by another process" in out.stderr
        assert time.monotonic() - started >= 1  # it waited and retried before giving up
    finally:
        holder.kill()
        holder.wait()


def test_busy_warehouse_is_waited_for(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    make_db(db)
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[warehouse]\npath = "{db}"\nbusy_retries = 10\nbusy_wait = "1s"\n')
    holder = hold(db, 2)
    try:
        out = cli(
            "query",
            "--config",
            str(cfg),
            "-f",
            "json",
            "SELECT count(*) AS n FROM feeds",
            cwd=tmp_path,
        )
    finally:
        holder.wait()
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"n": 1}


def test_a_second_run_on_the_same_warehouse_is_skipped(tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    with wh.run_lock(db):
        try:
            with wh.run_lock(db):
                raise AssertionError("two runs held the lock")
        except wh.WarehouseBusy as e:
            assert "this run is skipped" in str(e)


def test_dedup_check_writes_nothing(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parent.parent
    seed = (repo / "seeds" / "001_a1ee8a8df1b7c60e.txt").read_text(encoding="utf-8")
    other = " ".join(
        f"Sentence {i} about harbour cranes, tides and freight schedules." for i in range(40)
    )
    lines = [
        {"id": "retyped-seed", "text": seed.replace("`", '"').upper()},
        {"id": 7, "text": other},
        {"id": "copy-of-7", "text": "Local desk: " + other + " Subscribe for more."},
        {"id": "short", "text": "Nothing like anything."},
        # an aggregator's excerpt of the seed: its first eight lines and a link
        {
            "id": "seed-excerpt",
            "text": "\n".join(seed.splitlines()[:8]) + "\nContinue reading at Dan Tri",
            "url": "https://aggregator.example/dan-tri/musk",
        },
    ]
    inp = tmp_path / "in.jsonl"
    inp.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    cfg = tmp_path / "c.toml"
    db = tmp_path / "w.duckdb"
    cfg.write_text(f'[warehouse]\npath = "{db}"\n[seeds]\npath = "{repo / "seeds"}"\n')
    out = cli("dedup", "check", "--config", str(cfg), str(inp), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    got = [json.loads(x) for x in out.stdout.splitlines()]
    assert [g["id"] for g in got] == ["retyped-seed", 7, "copy-of-7", "short", "seed-excerpt"]
    assert (
        got[0]["dedup_status"] == "exact_duplicate"
        and got[0]["duplicate_of"] == "seed:001_a1ee8a8df1b7c60e"
    )
    assert got[1] == {
        "id": 7,
        "dedup_status": "unique",
        "duplicate_of": None,
        "similarity": None,
        "containment": None,
    }
    assert got[2]["dedup_status"] == "near_duplicate" and got[2]["duplicate_of"] == "input:7"
    assert got[3]["dedup_status"] == "unique"
    excerpt = got[4]
    assert excerpt["dedup_status"] == "partial_copy"
    assert excerpt["duplicate_of"] == "seed:001_a1ee8a8df1b7c60e"
    assert excerpt["containment"] >= 0.9 and excerpt["similarity"] < 0.5
    assert not db.exists()  # no warehouse was created

    make_db(db)
    before = db.read_bytes()
    assert cli("dedup", "check", "--config", str(cfg), str(inp), cwd=tmp_path).returncode == 0
    assert db.read_bytes() == before  # read, never written

    inp.write_text('{"id": 1, "text": "ok"}\n{"id": 2}\n', encoding="utf-8")
    bad = cli("dedup", "check", "--config", str(cfg), str(inp), cwd=tmp_path)
    assert bad.returncode == 2 and "in.jsonl line 2" in bad.stderr


def test_dedup_rebuild_command(tmp_path: Path, seeds_dir: Path) -> None:
    db = tmp_path / "w.duckdb"
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        f'[warehouse]\npath = "{db}"\nbusy_retries = 1\nbusy_wait = "1s"\n'
        f'[seeds]\npath = "{seeds_dir}"\n'
    )
    missing = cli("dedup", "rebuild", "--config", str(cfg), cwd=tmp_path)
    assert missing.returncode == 2 and "no warehouse here yet" in missing.stderr
    make_db(db)
    out = cli("dedup", "rebuild", "--config", str(cfg), "--format", "json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    n_seeds = len(list(seeds_dir.glob("*.txt")))
    assert summary["seeds"] == n_seeds and summary["articles"] == 0
    assert len(summary["seeds_synced"]) == n_seeds  # the seed folder is synced first
    with wh.connect(db, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM dedup_signatures").fetchall() == [(n_seeds,)]
    with wh.run_lock(db):  # a run holds the warehouse: rebuild waits, then gives up clearly
        busy = cli("dedup", "rebuild", "--config", str(cfg), cwd=tmp_path)
    assert busy.returncode == 3 and "another corpus-monitor run" in busy.stderr


def test_help_is_plain_text_with_every_word_and_h_works_everywhere() -> None:
    from typer.main import get_command
    from typer.testing import CliRunner

    from flows.cli.app import app

    runner = CliRunner()
    serve = runner.invoke(app, ["serve", "-h"])
    assert serve.exit_code == 0
    text = " ".join(serve.output.split())
    assert "with the [schedule] from the config" in text
    assert "[default: $PREFECT_API_URL, else the local server]" in text

    def commands(command: Any, path: list[str]) -> list[list[str]]:
        out = [path]
        for name, sub in getattr(command, "commands", {}).items():  # a group's commands
            out += commands(sub, [*path, name])
        return out

    every = commands(get_command(app), [])
    assert len(every) > 25
    for path in every:
        result = runner.invoke(app, [*path, "-h"])
        assert result.exit_code == 0 and "Usage: " in result.output, (path, result.output)
