"""``feast apply``: register the Feast definitions in the run's feature store.

Definitions come from the built-in ``feature_repo/`` or, when a push to a
repository changed its feature repo, from that repository at the pushed
commit. The real ``feast`` CLI applies them in a child process: it imports the
definition modules and changes directory, neither of which may leak into a
long-lived service process running other pipelines.

Starting that child costs seconds of CPU (the CLI imports most of Feast), so
an apply whose definitions and configuration are byte for byte the ones last
applied to this store is skipped: the registry already holds exactly them. A
registry shared with others (in object storage) is applied every time, since
this store's marker cannot tell what others did to it since.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from core.errors import PermanentError
from core.logging import get_logger
from workflows.params import FeatureApplyParams
from workflows.steps.checkout import checkout
from workflows.steps.contract import StepRequest, StepRuntime
from workflows.steps.feature_store import open_store, registry_path, sync_definitions, write_config

log = get_logger(__name__)

_APPLIED_DIGEST_FILE = "applied-definitions.sha256"


class FeastApplyOutput(BaseModel):
    project: str
    definition_files: list[str]
    entities: list[str]
    feature_views: list[str]
    feature_services: list[str]
    definitions_commit: str | None


def _definitions_dir(request: StepRequest[FeatureApplyParams]) -> Path:
    params = request.params
    if params.repo_url is None or params.commit is None:
        return Path(request.runtime.feature_repo_source)
    return checkout(params.repo_url, params.commit, request.runtime.work_dir) / params.repo_subdir


def _digest(store_dir: Path, files: list[str], config_path: Path) -> str:
    """Fingerprint of what an apply registers: every definition file (name and bytes) and the store config."""
    digest = hashlib.sha256()
    for path in [*(store_dir / name for name in sorted(files)), config_path]:
        content = path.read_bytes()
        digest.update(f"{path.name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def _apply(store_dir: Path, config_path: Path) -> None:
    command = [sys.executable, "-m", "feast.cli.cli", "--chdir", str(store_dir), "-f", str(config_path)]
    completed = subprocess.run([*command, "apply"], capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise PermanentError(f"feast apply failed: {completed.stderr.strip()[-2000:]}; fix the Feast definitions")


def _registry_is_local_file(runtime: StepRuntime) -> bool:
    """A shared registry may have been changed or wiped by others since the last apply here: apply it always."""
    return runtime.feature_store.registry is None and Path(registry_path(runtime)).is_file()


def feast_apply(request: StepRequest[FeatureApplyParams]) -> FeastApplyOutput:
    runtime = request.runtime
    store_dir = Path(runtime.feature_store_dir)
    files = sync_definitions(_definitions_dir(request), runtime)
    config_path = write_config(runtime)
    digest = _digest(store_dir, files, config_path)
    marker = store_dir / "data" / _APPLIED_DIGEST_FILE
    up_to_date = _registry_is_local_file(runtime) and marker.is_file() and marker.read_text() == digest
    if not up_to_date:
        marker.unlink(missing_ok=True)
        _apply(store_dir, config_path)
        marker.write_text(digest)
    store = open_store(runtime)
    output = FeastApplyOutput(
        project=runtime.feast_project,
        definition_files=files,
        entities=sorted(e.name for e in store.list_entities()),
        feature_views=sorted(v.name for v in store.list_feature_views()),
        feature_services=sorted(s.name for s in store.list_feature_services()),
        definitions_commit=request.params.commit,
    )
    log.info("feast_apply.done", skipped_as_up_to_date=up_to_date, **output.model_dump())
    return output
