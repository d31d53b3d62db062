"""Where the flow's heavy stages run: the Prefect task runner chosen by ``[pipeline] task_runner``.

``local`` (the default): Prefect's thread pool runs the feed polls, fetches and extractions, and
each extraction spreads its pages over a local process pool (flows.extraction.extract).
``dask``: a Dask cluster runs them (``prefect-dask``): an existing cluster at ``dask_address``,
else a ``LocalCluster`` with ``dask_workers`` worker processes started for the run and stopped
after it. On a Dask worker, pages are extracted in the worker's own process: the cluster's
processes are the parallelism.

Either way the stages that touch the warehouse (seed sync, URL selection, dedup and load, the
data-quality gates) run in the flow's own process, one batch after another: DuckDB has one
writer, and the workers only return batches to it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from flows.config import PipelineSettings, Settings
from flows.errors import ConfigError

if TYPE_CHECKING:
    from prefect import Flow
    from prefect.task_runners import TaskRunner

P = ParamSpec("P")
R = TypeVar("R")


def task_runner(settings: PipelineSettings) -> TaskRunner[Any]:
    """The Prefect task runner ``settings`` ask for (not started: the flow run starts it)."""
    if settings.task_runner == "local":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner()
    try:
        from prefect_dask import DaskTaskRunner
    except ImportError:
        raise ConfigError(
            "pipeline.task_runner = \"dask\" needs prefect-dask: pip install 'corpus-monitor[dask]'"
        ) from None
    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={
            "n_workers": settings.dask_workers or os.cpu_count() or 1,
            # two tasks per process: a fetch mostly waits on the network while an extraction
            # uses the core
            "threads_per_worker": 2,
            "processes": True,
        },
    )


def configured(flow: Flow[P, R], settings: Settings) -> Flow[P, R]:
    """``flow`` with the task runner of ``settings``."""
    return flow.with_options(task_runner=task_runner(settings.pipeline))


@contextmanager
def api_for_workers(settings: Settings) -> Iterator[None]:
    """Dask workers record their task runs through the flow's Prefect API. With no
    ``PREFECT_API_URL``, Prefect starts a temporary server in each process that needs one, and
    so each worker process would start its own: start it here, once, and give its address to
    the tasks (their Prefect settings travel with them to the workers)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if settings.pipeline.task_runner != "dask" or PREFECT_API_URL.value():
        yield
        return
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()  # the one this process's flow run would start
    server.start()
    with temporary_settings({PREFECT_API_URL: server.api_url}):
        yield


def lookahead(default: int) -> int:
    """Batches to fetch and extract ahead of the one being loaded: ``default`` keeps the local
    extraction processes busy; on a Dask cluster each batch is extracted by one worker thread,
    so as many batches as the cluster has threads (asked again for every batch: an adaptive
    cluster grows and shrinks)."""
    from prefect.context import FlowRunContext

    dask = sys.modules.get("prefect_dask.task_runners")
    ctx = FlowRunContext.get()
    if dask is None or ctx is None or not isinstance(ctx.task_runner, dask.DaskTaskRunner):
        return default
    return max(default, sum(ctx.task_runner.client.nthreads().values()))


def on_dask_worker() -> bool:
    """True inside a task that a Dask worker runs (its process may not start a process pool:
    a worker under a nanny is a daemonic process)."""
    distributed = sys.modules.get("distributed")  # imported only where Dask is in use
    if distributed is None:
        return False
    try:
        distributed.get_worker()
    except ValueError:
        return False
    return True
