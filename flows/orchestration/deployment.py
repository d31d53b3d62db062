"""The flow to deploy on a Prefect work pool:
``flows/orchestration/deployment.py:monitor_deployment``.

A worker loads a deployment's flow from its entrypoint, so a deployment of
``flows/orchestration/monitor.py:monitor`` itself would always run with the default (local) task
runner. This flow reads the config first and runs the monitoring flow, as a subflow, with the
task runner the config asks for (``[pipeline] task_runner``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows.config import load_settings
from flows.orchestration.monitor import monitor
from flows.orchestration.runners import configured


@flow(name="corpus-monitor-deployment")
def monitor_deployment(
    config: str | None = None, db: str | None = None, due_only: bool = False
) -> dict[str, Any]:
    """One monitoring run with the config's task runner (``due_only``: only the feeds that are
    due, as scheduled runs do)."""
    settings = load_settings(config, db)
    return configured(monitor, settings)(config=config, db=db, due_only=due_only)
