"""Shared fixtures: an isolated Prefect home, a loopback copy of the demo site, config files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Before Prefect is imported anywhere: its state goes to a throwaway folder, telemetry off.
_PREFECT_HOME = tempfile.mkdtemp(prefix="corpus-monitor-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ["DO_NOT_TRACK"] = "1"
os.environ["PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"] = "120"  # the kill -9 test's child
os.environ["PREFECT_LOGGING_LEVEL"] = "WARNING"

import pytest  # noqa: E402
from hypothesis import settings  # noqa: E402

from flows.demo import SITE  # noqa: E402
from flows.demo.server import SiteServer  # noqa: E402

# Property tests (tests/test_properties.py): the same examples on every run and machine, no
# example database written anywhere, no per-example deadline (a busy CI machine is not a bug).
# HYPOTHESIS_PROFILE=thorough searches harder when hunting a bug by hand.
settings.register_profile("ci", database=None, derandomize=True, deadline=None, max_examples=60)
settings.register_profile(
    "thorough", settings.get_profile("ci"), derandomize=False, max_examples=2000
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent.parent
DEMO_FEEDS = ["meridian.xml", "northgate.atom", "baltic.xml", "topics-musk.xml"]


@pytest.fixture(scope="session")
def prefect() -> Iterator[None]:
    """A real Prefect server for the session (about 10 s to start)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield
    shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[SiteServer]:
    """The demo site copied to a temporary folder (tests may edit it) and served on loopback."""
    root = tmp_path / "site"
    shutil.copytree(SITE, root)
    with SiteServer(root, slow_seconds=0.3) as server:
        yield server


@pytest.fixture
def seeds_dir(tmp_path: Path) -> Path:
    out = tmp_path / "seeds"
    shutil.copytree(REPO / "seeds", out)
    return out


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_value(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    return str(v)


def write_config(
    path: Path,
    *,
    feeds: list[str],
    db: Path,
    seeds: Path,
    network: dict[str, Any] | None = None,
    pipeline: dict[str, Any] | None = None,
    quality: dict[str, Any] | None = None,
) -> Path:
    # the suites as committed, in a copy: validation results must not land in the repository
    gx_dir = path.parent / "expectations"
    if not gx_dir.exists():
        shutil.copytree(REPO / "expectations", gx_dir, ignore=shutil.ignore_patterns("uncommitted"))
    # the test sites are on loopback: their host:port is exempt, every other private address
    # stays refused, as in production
    hosts = sorted({urlsplit(u).netloc for u in feeds})
    net = {"allowed_hosts": hosts, "timeout_seconds": 5, "per_host_delay_seconds": 0} | (
        network or {}
    )
    lines = [
        "[warehouse]",
        f"path = {toml_value(str(db))}",
        "busy_retries = 1",
        'busy_wait = "1s"',
        "[seeds]",
        f"path = {toml_value(str(seeds))}",
        "[network]",
        *(f"{k} = {toml_value(v)}" for k, v in net.items()),
    ]
    if pipeline:
        lines += ["[pipeline]", *(f"{k} = {toml_value(v)}" for k, v in pipeline.items())]
    q = {"expectations_dir": str(gx_dir)} | (quality or {})
    lines += ["[quality]", *(f"{k} = {toml_value(v)}" for k, v in q.items())]
    for url in feeds:
        lines += ["[[feeds]]", f"url = {toml_value(url)}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _fresh_robots_cache() -> Iterator[None]:
    """robots.txt is cached per origin for the process; tests reuse loopback ports."""
    from flows.sources import fetch

    fetch._ROBOTS.clear()
    yield
    fetch._ROBOTS.clear()


@pytest.fixture
def demo_config(tmp_path: Path, site: SiteServer, seeds_dir: Path) -> Path:
    return write_config(
        tmp_path / "corpus-monitor.toml",
        feeds=[site.url(f"/feeds/{f}") for f in DEMO_FEEDS],
        db=tmp_path / "corpus.duckdb",
        seeds=seeds_dir,
    )


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """A real `prefect server` (started by `corpus-monitor server`) on a free loopback port,
    shared by the session; yields its API URL."""
    import subprocess
    import sys
    import time

    import httpx

    home = tempfile.mkdtemp(prefix="corpus-monitor-test-server-")
    port = free_port()
    # the scheduler looks for due runs every 5 s instead of 60 s, so a test waits less
    env = os.environ | {"PREFECT_HOME": home, "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "5"}
    env.pop("PREFECT_API_URL", None)
    log = open(Path(home) / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "flows", "server", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=home,
    )
    api = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"{api}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError((Path(home) / "server.log").read_text(errors="replace")[-3000:])
        time.sleep(0.5)
    try:
        yield api
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """Query a warehouse file read-only (the run that wrote it has closed it)."""
    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def cli(*args: object) -> tuple[int, str]:
    """``corpus-monitor ARGS`` in this process: (exit code, output)."""
    from typer.testing import CliRunner

    from flows.cli.app import app

    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.output
