"""The served deployment against a real Prefect server: scheduled and triggered runs, two at
once on one warehouse, artifacts read through the API, and the UI in a real headless browser."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import duckdb
import pytest
from browser import Browser, find_chromium
from conftest import DEMO_FEEDS, write_config

from flows.demo.server import SiteServer

DEPLOYMENT = "corpus-monitor/corpus-monitor"
FINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def api_call(api: str, fn: Any) -> Any:
    """Run ``fn(client)`` against the given server."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    async def go() -> Any:
        async with get_client() as client:
            return await fn(client)

    with temporary_settings(updates={PREFECT_API_URL: api}):
        return asyncio.run(go())


def wait_for(what: str, check: Any, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.e2e
def test_served_deployment_runs_on_schedule_and_on_demand(
    prefect_server: str, tmp_path: Path, site: SiteServer, seeds_dir: Path
) -> None:
    api = prefect_server
    db = tmp_path / "corpus.duckdb"
    cfg = write_config(
        tmp_path / "c.toml",
        feeds=[site.url(f"/feeds/{f}") for f in DEMO_FEEDS],
        db=db,
        seeds=seeds_dir,
    )
    cfg.write_text(cfg.read_text() + '[schedule]\nevery = "30s"\n', encoding="utf-8")
    env = os.environ | {"PREFECT_API_URL": api, "PREFECT_LOGGING_LEVEL": "INFO"}
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        serve = subprocess.Popen(
            [sys.executable, "-m", "flows", "serve", "--config", str(cfg), "--api", api],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    try:

        async def deployment(client: Any) -> Any:
            try:
                return await client.read_deployment_by_name(DEPLOYMENT)
            except Exception:  # not registered yet
                return None

        dep = wait_for("the deployment", lambda: api_call(api, deployment), 120)
        assert dep.parameters["due_only"] is True

        async def runs(client: Any) -> list[Any]:
            from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

            return await client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[dep.id]))
            )

        # the schedule's first run completes on its own
        first = wait_for(
            "the scheduled run",
            lambda: [r for r in api_call(api, runs) if r.state and r.state.type.value in FINAL],
        )
        assert first[0].state.type.value == "COMPLETED", log.read_text()
        assert first[0].auto_scheduled

        # two runs triggered at once on one warehouse: both end cleanly, one after the other
        async def trigger(client: Any) -> list[UUID]:
            made = [
                await client.create_flow_run_from_deployment(dep.id, parameters={"due_only": False})
                for _ in range(2)
            ]
            return [r.id for r in made]

        pair = api_call(api, trigger)

        def done() -> list[Any] | None:
            got = api_call(api, lambda c: asyncio.gather(*(c.read_flow_run(i) for i in pair)))
            return got if all(r.state.type.value in FINAL for r in got) else None

        ended = wait_for("the two triggered runs", done)
        assert [r.state.type.value for r in ended] == ["COMPLETED", "COMPLETED"], log.read_text()
        assert "Could not set lock" not in log.read_text()

        # artifacts, through the API
        async def artifacts(client: Any) -> dict[str, Any]:
            from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

            arts = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[first[0].id])
                )
            )
            return {a.key: a for a in arts}

        arts = api_call(api, artifacts)
        assert {
            "corpus-monitor-run-summary",
            "corpus-monitor-new-articles",
            "corpus-monitor-feed-health",
            "corpus-monitor-data-quality",
        } <= set(arts)
        assert "new articles | 30" in arts["corpus-monitor-run-summary"].data
    finally:
        serve.terminate()
        serve.wait(30)

    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*), count(DISTINCT url) FROM articles").fetchall() == [
            (30, 30)
        ]
        # the scheduled ones (every 30 s) and the two triggered ones: all completed
        statuses = dict(con.execute("SELECT status, count(*) FROM runs GROUP BY 1").fetchall())
        assert set(statuses) == {"completed"} and statuses["completed"] >= 3

    # the UI, in a real browser: the run page and its summary artifact render
    chromium = find_chromium()
    assert chromium, "the browser test needs Debian's chromium (make test installs it)"
    ui = api.removesuffix("/api")
    browser = Browser(chromium)
    try:
        text = browser.open(f"{ui}/runs/flow-run/{first[0].id}", until=first[0].name)
        assert "Completed" in text
        shot = browser.screenshot(tmp_path / "flow-run.png")
        summary = arts["corpus-monitor-run-summary"]
        text = browser.open(f"{ui}/artifacts/artifact/{summary.id}", until="new articles")
        assert "near duplicates" in text and first[0].name in text
        browser.screenshot(tmp_path / "run-summary.png")
    finally:
        browser.close()
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    keep = os.environ.get("CORPUS_MONITOR_SCREENSHOTS")
    if keep:  # CI keeps them for people to look at
        Path(keep).mkdir(parents=True, exist_ok=True)
        for png in tmp_path.glob("*.png"):
            (Path(keep) / png.name).write_bytes(png.read_bytes())
