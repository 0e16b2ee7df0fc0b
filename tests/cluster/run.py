"""One ``make cluster-test`` run: build what is missing, start the cluster on loopback, prove a level, clean up.

Level 1: etcd, kube-apiserver (RBAC, service-account tokens), controller-manager, scheduler and a kwok node are
up; the Argo Workflows, Argo CD, spark-operator and KubeRay CRDs are installed from their pinned modules; the
service's ``deploy/`` overlays and the GitOps template's overlays are accepted by server-side apply.
Level 2: the real workflow-controller and argo-server run; the service, with a TokenRequest token of its own
ServiceAccount, submits each pipeline through argo-server; the controller accepts each one and creates its
first pods with the rendered spec on the kwok node; the service can get and stop a run and nothing more. MinIO
serves the buckets, and spark-operator and KubeRay, running as their upstream RBAC allows, turn the ETL's
SparkApplication and the training's RayJob (rendered by the service, sized by settings) into a Spark driver pod
and a Ray head with its workers, with the image, accounts, S3 store and keys' Secret the settings name.

Everything runs in a temporary directory that is removed at the end, with every process stopped; the report
and the programs' logs are kept in the output directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from tests.cluster.argo import start_argo
from tests.cluster.controlplane import ControlPlane, start_control_plane
from tests.cluster.crds import install_crds
from tests.cluster.manifests import apply_all, provide_work_volume
from tests.cluster.mlflow import NAMESPACE as MLFLOW_NAMESPACE
from tests.cluster.mlflow import start_mlflow
from tests.cluster.nodes import start_nodes
from tests.cluster.operators import RAY_OPERATOR, SPARK_OPERATOR, start_operator
from tests.cluster.pipelines import SAMPLE_REPOS, check_workflow, configmap_data, service_settings, submit_all
from tests.cluster.pki import make_pki
from tests.cluster.processes import Supervisor
from tests.cluster.rbac import check_rbac
from tests.cluster.report import Report, StepFailedError
from tests.cluster.s3 import SECRET as STORE_SECRET
from tests.cluster.s3 import start_store
from tests.cluster.workloads import check_ray, check_spark, sized
from tests.upstream import tool
from workflows.argo.backend import ArgoBackend
from workflows.settings import ArgoSettings

# The overlay whose namespace the service runs in; its Deployment submits into its own namespace.
SERVICE_NAMESPACE = "mlops-gitops-dev"
SERVICE_ACCOUNT = "mlops-gitops"
OTHER_NAMESPACE = "mlops-gitops"  # the prod overlay's namespace: the dev service must not reach it
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
ARGO_TOOLS = ("workflow-controller", "argo")


def level_1(report: Report, supervisor: Supervisor, work: Path) -> tuple[ControlPlane, str]:
    for name in TOOLS:
        with report.step(1, f"build {name}"):
            tool(name)
    with report.step(1, "certificates"):
        pki = make_pki(work / "pki")
    with report.step(1, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler"):
        plane = start_control_plane(supervisor, work, pki)
    with report.step(1, "kwok"):
        node = start_nodes(supervisor, plane.kube, plane.kubeconfig, work)
    with report.step(1, "CRDs"):
        report.steps["crds"] = install_crds(plane.kube)
    with report.step(1, "server-side apply of the overlays"):
        report.steps["applied"] = apply_all(plane.kube, work)
    report.reached(1)
    return plane, node


def level_2(report: Report, supervisor: Supervisor, work: Path, plane: ControlPlane, node: str) -> ArgoSettings:
    for name in ARGO_TOOLS:
        with report.step(2, f"build {name}"):
            tool(name)
    kube = plane.kube
    with report.step(2, "workflow-controller, argo-server"):
        argo = start_argo(supervisor, kube, work)
    with report.step(2, "service settings and token"):
        token = kube.service_account_token(SERVICE_NAMESPACE, SERVICE_ACCOUNT)
        (work / "service").mkdir()
        settings = service_settings(
            configmap_data(kube, SERVICE_NAMESPACE),
            work / "service",
            server_url=argo.server_url,
            namespace=SERVICE_NAMESPACE,
            token=token,
        )
        provide_work_volume(kube, SERVICE_NAMESPACE, settings.work_volume_claim)
    backend = ArgoBackend(settings, code_repos=SAMPLE_REPOS)
    try:
        with report.step(2, "submit through argo-server"):
            submitted = submit_all(backend, settings)
        for run in submitted:
            with report.step(2, f"controller: {run.pipeline}"):
                report.pipelines[run.pipeline] = check_workflow(kube, run, settings, node)
        with report.step(2, "service RBAC through argo-server"):
            report.rbac = check_rbac(kube, backend, settings, submitted[-1].name, OTHER_NAMESPACE)
    finally:
        backend.close()
    return settings


def level_2_operators(
    report: Report, supervisor: Supervisor, work: Path, plane: ControlPlane, node: str, deployed: ArgoSettings
) -> None:
    """spark-operator and KubeRay, and the S3 store, reconcile the pipelines' SparkApplication and RayJob."""
    for spec in (SPARK_OPERATOR, RAY_OPERATOR):
        with report.step(2, f"build {spec.name}"):
            tool(spec.name)
    with report.step(2, "build minio"):
        tool("minio")
    kube, namespace = plane.kube, deployed.namespace
    with report.step(2, "minio, buckets and the S3 keys' Secret"):
        store = start_store(supervisor, kube, work, namespaces=[namespace, MLFLOW_NAMESPACE])
        report.steps["s3"] = {"endpoint": store.endpoint, "buckets": store.buckets, "secret": STORE_SECRET}
    settings = sized(deployed, store.endpoint)
    with report.step(2, "mlflow server in the cluster"):
        report.workloads["mlflow"] = start_mlflow(kube, settings.image, store.endpoint, STORE_SECRET, node)
    for spec in (SPARK_OPERATOR, RAY_OPERATOR):
        with report.step(2, spec.name):
            start_operator(supervisor, kube, work, spec, [namespace])
    with report.step(2, "spark-operator: data-etl's SparkApplication"):
        report.workloads["spark"] = check_spark(kube, settings, node)
    with report.step(2, "KubeRay: retrain's RayJob"):
        report.workloads["ray"] = check_ray(kube, settings, node)


def run(output: Path) -> Report:
    output.mkdir(parents=True, exist_ok=True)
    logs = output / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    report = Report()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mlops-cluster-test-"))
    supervisor = Supervisor(log_dir=logs)
    try:
        plane, node = level_1(report, supervisor, work)
        settings = level_2(report, supervisor, work, plane, node)
        level_2_operators(report, supervisor, work, plane, node, settings)
        report.reached(2)
    except StepFailedError:
        pass
    finally:
        report.cleanup = {
            "killed_after_grace": supervisor.stop_all(),
            "removed": str(work),
            "seconds": round(time.monotonic() - started, 1),
        }
        shutil.rmtree(work, ignore_errors=True)
    return report
