"""The live Feast repository a run works against, configured from the run's runtime.

The Feast definitions in ``feature_repo/`` are the source; each work
directory holds a copy of them together with a ``feature_store.yaml`` written
from the runtime, so a run never edits the checked-in repository. The registry
and the online store are files in that directory unless the runtime names
shared ones (a registry in object storage, a networked online store), which a
model server elsewhere then reads too. ``feast-apply`` refreshes the copy and
the registry; every other step only opens it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml
from feast import FeatureStore

from core.errors import PermanentError
from workflows.steps.contract import StepRuntime

CONFIG_FILE = "feature_store.yaml"
_DEFINITION_PATTERNS = ("*.py", ".feastignore")


def registry_path(runtime: StepRuntime) -> str:
    return runtime.feature_store.registry or str(Path(runtime.feature_store_dir) / "data" / "registry.db")


def _config(runtime: StepRuntime) -> dict[str, object]:
    data = Path(runtime.feature_store_dir) / "data"
    return {
        "project": runtime.feast_project,
        "provider": "local",
        "registry": registry_path(runtime),
        "online_store": runtime.feature_store.online_store or {"type": "sqlite", "path": str(data / "online.db")},
        "offline_store": {"type": "file"},
        "entity_key_serialization_version": 3,
    }


def write_config(runtime: StepRuntime) -> Path:
    """Write the run's ``feature_store.yaml`` into the store directory and return its path."""
    store_dir = Path(runtime.feature_store_dir)
    (store_dir / "data").mkdir(parents=True, exist_ok=True)
    config_path = store_dir / CONFIG_FILE
    config_path.write_text(yaml.safe_dump(_config(runtime), sort_keys=False))
    return config_path


def sync_definitions(source: Path, runtime: StepRuntime) -> list[str]:
    """Make the store directory's definitions exactly those in ``source``; return the copied file names."""
    if not source.is_dir():
        raise PermanentError(f"Feast definitions directory {source} does not exist; check the feature repo path")
    store_dir = Path(runtime.feature_store_dir)
    store_dir.mkdir(parents=True, exist_ok=True)
    for stale in (p for pattern in _DEFINITION_PATTERNS for p in store_dir.glob(pattern)):
        stale.unlink()
    copied = [p for pattern in _DEFINITION_PATTERNS for p in sorted(source.glob(pattern))]
    for definition in copied:
        shutil.copy2(definition, store_dir / definition.name)
    return [p.name for p in copied]


def open_store(runtime: StepRuntime) -> FeatureStore:
    """Open the run's feature store; its definitions must have been applied by ``feast-apply`` before."""
    config_path = write_config(runtime)
    store = FeatureStore(repo_path=runtime.feature_store_dir, fs_yaml_file=config_path)
    if not store.list_feature_views():
        raise PermanentError(
            f"the feature store in {runtime.feature_store_dir} has no feature views; run the feature-apply pipeline"
        )
    return store
