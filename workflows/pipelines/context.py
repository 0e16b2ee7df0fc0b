"""Everything one rendering of a pipeline needs to know besides its parameters.

A ``RenderContext`` fixes where a run keeps its files on the shared work
volume, which runtime locations the steps are told about, which labels
every object the run creates carries, and which image each step runs in.
Computing these once keeps the container templates, the cluster resources
and the result collectors in agreement about paths and images.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from core.errors import PermanentError
from workflows.settings import ArgoSettings
from workflows.steps import STEPS
from workflows.steps.contract import FeatureStoreRuntime, RayRuntime, SparkRuntime, StepRuntime

WORK_VOLUME = "work"
WORK_MOUNT = "/work"
PIPELINE_LABEL = "mlops-gitops.io/pipeline"
RUN_LABEL = "mlops-gitops.io/run"

_LABEL_VALUE_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_LABEL_VALUE_MAX = 63


def label_value(text: str) -> str:
    """Fold ``text`` into a Kubernetes label value (alphanumeric ends, ``-_.`` inside, at most 63 characters)."""
    folded = _LABEL_VALUE_UNSAFE.sub("-", text)[:_LABEL_VALUE_MAX]
    return folded.strip("-_.")


@dataclass(frozen=True)
class RenderContext:
    pipeline: str
    run_name: str
    settings: ArgoSettings
    extra_labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    repository_image: str | None = None

    def image(self, step: str) -> str:
        """The image ``step`` runs in: the repository's own for a step running its code, if it has one."""
        if self.repository_image is not None and STEPS[step].runs_repo_code:
            return self.repository_image
        return self.settings.image

    @property
    def labels(self) -> dict[str, str]:
        """Labels of the Workflow, its pods and the resources it creates (event and trace ids included)."""
        given = {key: label_value(value) for key, value in self.extra_labels.items()}
        return {**given, PIPELINE_LABEL: self.pipeline, RUN_LABEL: self.run_name}

    @property
    def annotations(self) -> dict[str, str]:
        """The caller's label values verbatim, for the ones that had to be folded to fit a label."""
        return {key: value for key, value in self.extra_labels.items() if label_value(value) != value}

    @property
    def work_dir(self) -> str:
        return f"{WORK_MOUNT}/runs/{self.run_name}"

    def checkout_dir(self, repo_url: str, revision_dir: str) -> str:
        """Where ``workflows.steps.checkout`` looks for ``repo_url`` at a revision before cloning it itself.

        ``revision_dir`` is the commit, or ``heads/<branch>`` for a branch head
        resolved at run time. Argo's git artifact is placed there on the shared
        work volume, so the steps find the code already checked out and never
        clone in the cluster.
        """
        repo_key = hashlib.sha256(repo_url.encode()).hexdigest()[:16]
        return f"{self.work_dir}/checkouts/{repo_key}/{revision_dir}"

    def result_path(self, step: str) -> str:
        """Where a step running outside an Argo container (Spark driver, Ray job) writes its result."""
        return f"{self.work_dir}/outputs/{step}.json"

    def runtime(self, *, spark: SparkRuntime | None = None, ray_address: str | None = None) -> StepRuntime:
        """The runtime a step is told about; Spark defaults to ``local[*]`` inside the step's own container."""
        if self.settings.feast_project is None:
            raise PermanentError("set workflows.argo.feast_project, the Feast project of the image's feature_repo/")
        return StepRuntime(
            work_dir=self.work_dir,
            # One directory per Feast project: teams whose settings name different projects may share a work
            # volume, and each apply rewrites the directory's definitions and feature_store.yaml.
            feature_store_dir=f"{WORK_MOUNT}/feature_store/{self.settings.feast_project}",
            feature_repo_source=f"{self.settings.app_dir}/feature_repo",
            feast_project=self.settings.feast_project,
            environments_dir=f"{WORK_MOUNT}/environments",
            mlflow_tracking_uri=self.settings.mlflow_tracking_uri,
            feature_store=FeatureStoreRuntime(
                registry=self.settings.feature_store.registry, online_store=self.settings.feature_store.online_store
            ),
            spark=spark or SparkRuntime(s3=self.settings.spark.s3),
            ray=RayRuntime(address=ray_address, num_cpus=None if ray_address else 2),
        )
