"""The local backend: pipelines run as Prefect flows in this process, in the background.

``submit`` returns at once; a small thread pool runs the flows, so runs queue
instead of fighting over the machine's cores, and the Spark session and Ray
instance started by the first run stay warm for the next. Prefect records
every run (an ephemeral API with a sqlite database under the work directory);
the run's phase and step outputs are kept in a record file next to it, which
is what ``status`` reports and what makes ``submit`` idempotent.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from core.errors import PermanentError
from core.identifiers import FeastProject
from core.logging import get_logger
from workflows.backend import RunPhase, RunStatus
from workflows.local.records import RunRecord, RunRecords
from workflows.params import PIPELINES
from workflows.settings import LocalSettings
from workflows.steps.contract import RayRuntime, SparkRuntime, StepRuntime
from workflows.trust import refuse_untrusted

log = get_logger(__name__)

_FEAST_PROJECT: TypeAdapter[str] = TypeAdapter(FeastProject)
_FEAST_CONFIG_FILE = "feature_store.yaml"  # where a Feast repository names its project


def configure_prefect(prefect_home: Path) -> None:
    """Point Prefect at a private home and sqlite database; must run before Prefect is imported."""
    prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "PREFECT_HOME": str(prefect_home),
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{prefect_home / 'prefect.db'}",
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
            # The temporary API server shares the machine with Spark and Ray; give it time to come up.
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
        }
    )
    os.environ.pop("PREFECT_API_URL", None)


def _stop_prefect_server() -> None:
    """Stop the temporary Prefect API server, if a flow of this process started one, after its log worker: that
    worker keeps the address of the server it started with, so flows of a later backend in this process would
    otherwise ship their lines to the stopped one and print "Error logging to API" on stderr."""
    if "prefect.server.api.server" not in sys.modules:  # no flow ever asked for it
        return
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer

    APILogWorker.drain_all(timeout=5, at_exit=False)
    SubprocessASGIServer().stop()


def feast_project(settings: LocalSettings) -> str:
    """The configured Feast project, or the one the ``feature_store.yaml`` of ``feature_repo_source`` names."""
    if settings.feast_project is not None:
        return settings.feast_project
    config = Path(settings.feature_repo_source) / _FEAST_CONFIG_FILE
    try:
        loaded = yaml.safe_load(config.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise PermanentError(
            f"workflows.local.feast_project is not set and {config} cannot be read for its project: {e}"
        ) from e
    project = loaded.get("project") if isinstance(loaded, dict) else None
    try:
        return _FEAST_PROJECT.validate_python(project)
    except ValidationError as e:
        raise PermanentError(
            f"workflows.local.feast_project is not set and {config} names no valid project ({project!r})"
        ) from e


class LocalBackend:
    """``WorkflowBackend`` running pipelines on this machine."""

    def __init__(self, settings: LocalSettings, *, code_repos: Collection[str]) -> None:
        self._code_repos = frozenset(code_repos)
        work_dir = Path(settings.work_dir).resolve()
        configure_prefect(work_dir / "prefect")
        self._records = RunRecords(work_dir / "runs")
        self._runtime = StepRuntime(
            work_dir=str(work_dir),
            feature_store_dir=str(work_dir / "feature_store"),
            feature_repo_source=str(Path(settings.feature_repo_source).resolve()),
            feast_project=feast_project(settings),
            mlflow_tracking_uri=settings.mlflow_tracking_uri,
            feature_store=settings.feature_store,
            spark=SparkRuntime(
                driver_memory=settings.spark_driver_memory,
                shuffle_partitions=settings.spark_shuffle_partitions,
                driver_host=settings.spark_driver_host,
                s3=settings.spark_s3,
            ),
            ray=RayRuntime(num_cpus=settings.ray_num_cpus),
        )
        self._executor = ThreadPoolExecutor(max_workers=settings.max_concurrent_runs, thread_name_prefix="local-run")

    def submit(self, pipeline: str, params: BaseModel, *, run_name: str, labels: Mapping[str, str]) -> str:
        if pipeline not in PIPELINES or not isinstance(params, PIPELINES[pipeline]):
            raise PermanentError(f"pipeline {pipeline!r} does not take {type(params).__name__}; see workflows.params")
        refuse_untrusted(params, self._code_repos)
        record = RunRecord(name=run_name, pipeline=pipeline, params=params.model_dump(mode="json"), labels=dict(labels))
        if not self._records.create(record):
            log.info("local.submit.exists", run=run_name)
            return run_name
        self._executor.submit(self._run, pipeline, params, run_name, dict(labels))
        log.info("local.submit", run=run_name, pipeline=pipeline)
        return run_name

    def status(self, run_name: str) -> RunStatus:
        return self._records.status(run_name)

    def _run(self, pipeline: str, params: BaseModel, run_name: str, labels: dict[str, str]) -> None:
        self._records.update(run_name, phase=RunPhase.RUNNING, message="running")
        try:
            from prefect import tags

            from workflows.local.flows import StepFailedError, run_flow

            def record_step(step: str, output: dict[str, Any]) -> None:
                self._records.update(run_name, step_output=(step, output), message=f"step {step} done")

            with tags(*(f"{key}={value}" for key, value in labels.items())):
                run_flow(pipeline, params, self._runtime, run_name, record_step)
        except StepFailedError as e:
            log.error("local.run.failed", run=run_name, step=e.step, error=str(e))
            self._records.update(run_name, phase=RunPhase.FAILED, message=str(e))
        except Exception as e:  # whatever broke, the run must end as an error, not hang as Running
            log.error("local.run.error", run=run_name, error=repr(e))
            self._records.update(run_name, phase=RunPhase.ERROR, message=f"{type(e).__name__}: {e}")
        else:
            self._records.update(run_name, phase=RunPhase.SUCCEEDED, message="all steps succeeded")

    def close(self, wait: bool = True) -> None:
        """Stop accepting runs; with ``wait``, block until the queued ones have finished, then stop Ray and the
        Prefect API server that running flows started in a child process (it would outlive the service)."""
        self._executor.shutdown(wait=wait)
        self._records.close()
        if wait:
            from workflows.steps.ray_xgboost import shutdown_ray

            shutdown_ray()
            _stop_prefect_server()
