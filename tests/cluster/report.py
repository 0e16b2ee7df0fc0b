"""The run's verdict: the level reached, what each step proved, and for a failure the component and its error.

The levels build on each other, so the first failing step ends the run and the level stays below it. A level
that passes above one this run does not prove (level 4, Argo CD, while level 3 is not part of the run) is
listed as passed beyond the level reached, never counted as reached. The report is a JSON file in the run's
directory; the last line printed says the level and what it proved.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LEVELS = {
    0: "nothing proven",
    1: "a real control plane (etcd, kube-apiserver with Node and RBAC authorization and service-account tokens, "
    "controller-manager, scheduler) and a real node (containerd with runc, kubelet, bridge CNI, kube-proxy, "
    "CoreDNS) Ready; Argo, Argo CD, spark-operator and KubeRay CRDs accepted the deploy/ and GitOps overlays by "
    "server-side apply",
    2: "the real Argo controller accepted all three pipelines submitted by the service through argo-server with "
    "its own service account's token, scheduled their DAGs and bound pods with the expected spec to the node; "
    "the service's RBAC allows submit, get and stop and refuses the rest; MinIO serves the buckets, and "
    "spark-operator and KubeRay turn the ETL's SparkApplication and the training's RayJob into driver and Ray head "
    "and worker pods with the expected spec",
    3: "pods run on the real node: a pod resolved Service names through CoreDNS and reached the apiserver by its "
    "ClusterIP; under Argo's emissary executor feature-apply wrote the shared Feast registry, data-etl ran Spark "
    "through spark-operator on data landed in MinIO (bad rows quarantined, features materialized into Redis), and "
    "a second domain (fraud) defined only in its own repository, cloned over HTTPS, went through feature-apply and "
    "a retrain that ran its tests, its ETL on Spark, trained on a Ray head and two workers made by KubeRay and "
    "registered the version in the in-cluster MLflow, each read back by the service",
    4: "the real Argo CD application-controller and repo-server synced the GitOps repo that the service's "
    "scaffold made, served by git daemon; the service, deployed in the cluster from deploy/, took a signed push "
    "webhook, ran retrain through Argo (the pushed commit's tests, Ray pods), registered the version in MLflow and "
    "committed it to staging; with two production promotions after alias moves, each of the three rolled out a "
    "Healthy model server on the node with the promoted version, and each environment's /predict answered a "
    "client pod with that version's scores on the online features",
}


class StepFailedError(Exception):
    """A step failed; the report already holds the component and the error."""


@dataclass
class Failure:
    level: int
    component: str
    error: str
    where: str  # the innermost frame of the error, for a failure that is the harness's own


@dataclass
class Report:
    level: int = 0
    steps: dict[str, Any] = field(default_factory=dict)  # what a step found: the CRDs, the applied objects
    seconds: dict[str, float] = field(default_factory=dict)  # each step that passed, and how long it took
    pipelines: dict[str, Any] = field(default_factory=dict)
    rbac: dict[str, Any] = field(default_factory=dict)
    workloads: dict[str, Any] = field(default_factory=dict)  # what the operators made of the pipelines' resources
    argocd: dict[str, Any] = field(default_factory=dict)  # syncs, promotions and their timings, memory
    failure: Failure | None = None
    cleanup: dict[str, Any] = field(default_factory=dict)

    @contextmanager
    def step(self, level: int, component: str) -> Iterator[None]:
        """Run one step of ``level``; any exception becomes the report's failure and stops the run."""
        started = time.monotonic()
        try:
            yield
        except Exception as e:  # every failure must reach the report, whatever its type
            frame = traceback.extract_tb(e.__traceback__)[-1]
            self.failure = Failure(
                level=level,
                component=component,
                error=f"{type(e).__name__}: {e}",
                where=f"{frame.filename}:{frame.lineno}",
            )
            raise StepFailedError(component) from e
        self.seconds[component] = round(time.monotonic() - started, 1)

    def reached(self, level: int) -> None:
        self.level = level

    def summary_line(self) -> str:
        proven = LEVELS[self.level]
        if self.failure is not None:
            error = " ".join(self.failure.error.split())  # one line, whatever the error text
            proven += f"; level {self.failure.level} failed at {self.failure.component}: {error}"
        return f"cluster-test: level {self.level} reached ({proven})"

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps({"summary": self.summary_line(), **asdict(self)}, indent=2, default=str) + "\n")
        return path
