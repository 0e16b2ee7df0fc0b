"""One ``make cluster-test`` run: build what is missing, start the cluster on loopback, prove a level, clean up.

Level 1: etcd, kube-apiserver (RBAC, service-account tokens), controller-manager, scheduler and a kwok node are
up; the Argo Workflows, Argo CD, spark-operator and KubeRay CRDs are installed from their pinned modules; the
service's ``deploy/`` overlays and the GitOps template's overlays are accepted by server-side apply.
Level 2: the real workflow-controller and argo-server run; the service, with a TokenRequest token of its own
ServiceAccount, submits each pipeline through argo-server; the controller accepts each one and creates its
first pods with the rendered spec on the kwok node; the service can get and stop a run and nothing more.

Level 4: the real Argo CD (Redis, repo-server, application-controller) syncs the GitOps repository that
``mlops-gitops gitops init`` makes from the run's service config, served by ``git daemon`` on loopback: both
environments become Synced and Healthy, and two promotions committed by the service's GitOps writer each roll
out a new ReplicaSet of the model server with the promoted version (one found by Argo CD's polling, one after
its refresh annotation, both timed); see ``tests.cluster.gitops_sync``. Level 3 (real pods on a kubelet) is not
part of this run yet, so the model server's pods run on kwok and level 4 is reported as passed above level 2.

Everything runs in a temporary directory that is removed at the end, with every process stopped; the report
and the programs' logs are kept in the output directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from tests.cluster.argo import start_argo
from tests.cluster.argocd import start_argocd
from tests.cluster.controlplane import ControlPlane, start_control_plane
from tests.cluster.crds import install_crds
from tests.cluster.gitops_sync import sync_and_promote
from tests.cluster.gitserver import start_git_daemon
from tests.cluster.manifests import apply_all, provide_work_volume
from tests.cluster.nodes import start_nodes
from tests.cluster.pipelines import SAMPLE_REPOS, check_workflow, configmap_data, service_settings, submit_all
from tests.cluster.pki import make_pki
from tests.cluster.processes import Supervisor
from tests.cluster.rbac import check_rbac
from tests.cluster.report import Report, StepFailedError
from tests.upstream import tool
from workflows.argo.backend import ArgoBackend

# The overlay whose namespace the service runs in; its Deployment submits into its own namespace.
SERVICE_NAMESPACE = "mlops-gitops-dev"
SERVICE_ACCOUNT = "mlops-gitops"
OTHER_NAMESPACE = "mlops-gitops"  # the prod overlay's namespace: the dev service must not reach it
TOOLS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
ARGO_TOOLS = ("workflow-controller", "argo")
ARGO_CD_TOOLS = ("argocd",)


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


def level_2(report: Report, supervisor: Supervisor, work: Path, plane: ControlPlane, node: str) -> None:
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
    report.reached(2)


def level_4(report: Report, supervisor: Supervisor, work: Path, plane: ControlPlane) -> None:
    for name in ARGO_CD_TOOLS:
        with report.step(4, f"build {name}"):
            tool(name)
    with report.step(4, "redis-server, argocd-repo-server, argocd-application-controller"):
        argocd = start_argocd(supervisor, plane.kube, work)
    with report.step(4, "git daemon"):
        (work / "git").mkdir()
        server = start_git_daemon(supervisor, work / "git")
    with report.step(4, "Argo CD syncs the GitOps repo and two promotions"):
        report.argocd = sync_and_promote(plane.kube, argocd, server, supervisor, work)
    report.reached(4)


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
        level_2(report, supervisor, work, plane, node)
        level_4(report, supervisor, work, plane)
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
