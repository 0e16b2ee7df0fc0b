"""One ``make cluster-test`` run: build what is missing, start the cluster, prove a level, clean up.

Level 1: etcd, kube-apiserver (Node and RBAC authorization, service-account tokens), controller-manager and
scheduler are up, and a real node is Ready: containerd with runc, a kubelet, the bridge CNI network, kube-proxy
in iptables mode and CoreDNS; the Argo Workflows, Argo CD, spark-operator and KubeRay CRDs are installed from
their pinned modules; the service's ``deploy/`` overlays and the GitOps template's overlays are accepted by
server-side apply.
Level 2: the real workflow-controller and argo-server run with the argoexec image on the node; the service,
with a TokenRequest token of its own ServiceAccount, submits each pipeline through argo-server; the controller
accepts each one and binds its first pods, with the rendered spec, to the node; the service can get and stop a
run and nothing more. MinIO serves the buckets, and spark-operator and KubeRay, running as their upstream
RBAC allows, turn the ETL's SparkApplication and the training's RayJob (rendered by the service, sized by
settings) into a Spark driver pod and a Ray head with its workers bound to the node, with the image, accounts,
S3 store and keys' Secret the settings name; an MLflow server is deployed in the cluster, and the Feast store the
pipelines share with the model server is up (registry in S3, Redis online; ``tests.cluster.feature_store``).
Level 3: pods really run. A pod in the project image resolves Service names through CoreDNS and reaches the
apiserver through the ``kubernetes`` ClusterIP; the MLflow server's pod is Ready. Under Argo's emissary
executor, the service's ``feature-apply`` writes the shared registry and ``data-etl`` runs Spark through
spark-operator on churn data landed in MinIO (``tests.cluster.execution``); then a second domain, fraud, defined
entirely in its own repository, goes through ``feature-apply`` and a ``retrain`` with its own ETL on Spark and
its training on Ray pods that KubeRay makes, to a version registered in MLflow
(``tests.cluster.second_domain``). The service reads each run's step outputs back through argo-server.

Level 4: the real Argo CD (Redis, repo-server, application-controller) syncs the GitOps repository that
``mlops-gitops gitops init`` makes from the run's service config, served by ``git daemon``, with the model
server's image built here and the shared Feast store. The service itself then runs in the cluster, deployed by
``deploy/overlays/dev``: a signed GitHub push webhook of a commit that changes the model's code reaches its pod,
which submits ``retrain`` through argo-server, follows it to its end (the repository's tests, Ray on KubeRay's
pods, the version registered in the in-cluster MLflow) and commits the promoted version to staging
(``tests.cluster.service_in_cluster``). Two more versions of a real model are registered, and two production
promotions follow alias moves. Each of the three promotions rolls out a new ReplicaSet of the model server on the
node that turns Healthy once it has loaded the version; each environment then answers ``/predict`` through its
Service with the promoted version's scores on the features written online; see ``tests.cluster.gitops_sync``.

The node needs root (a bridge, iptables rules, sysctls, mounts). Everything runs in a temporary directory that
is removed at the end, with every process stopped and every host change undone; the report and the programs'
logs are kept in the output directory.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.cluster.argo import start_argo
from tests.cluster.argocd import start_argocd
from tests.cluster.code_host import CodeHost, serving_code
from tests.cluster.containerd import shims_rss_mib
from tests.cluster.controlplane import ControlPlane, start_control_plane
from tests.cluster.crds import install_crds
from tests.cluster.dns import check_pod_networking
from tests.cluster.execution import RAW_DAYS, check_etl, land_raw_data, run_to_completion
from tests.cluster.feature_store import (
    REGISTRY,
    SharedStore,
    online_rows,
    start_feature_store,
    with_feature_store,
)
from tests.cluster.gitops_sync import sync_and_promote
from tests.cluster.gitserver import start_git_daemon
from tests.cluster.images import image_archive, image_reference
from tests.cluster.manifests import apply_all, provide_volume
from tests.cluster.mlflow import NAMESPACE as MLFLOW_NAMESPACE
from tests.cluster.mlflow import mlflow_ready, start_mlflow
from tests.cluster.network import NODE_IP
from tests.cluster.node import Node, start_node
from tests.cluster.operators import RAY_OPERATOR, SPARK_OPERATOR, start_operator
from tests.cluster.pipelines import (
    SAMPLE_REPOS,
    Submitted,
    check_workflow,
    configmap_data,
    delete_runs,
    service_settings,
    submit_all,
)
from tests.cluster.pki import make_pki
from tests.cluster.processes import Supervisor
from tests.cluster.promotions import Registry
from tests.cluster.rbac import check_rbac
from tests.cluster.report import LEVELS, Report, StepFailedError
from tests.cluster.s3 import SECRET as STORE_SECRET
from tests.cluster.s3 import Store, start_store
from tests.cluster.second_domain import (
    apply_params,
    check_applied,
    check_trained,
    fraud_settings,
    land_transactions,
    retrain_params,
)
from tests.cluster.service_in_cluster import push_to_the_service
from tests.cluster.workloads import RAY_JOBS, SPARK_APPLICATIONS, check_ray, check_spark, delete_all, with_store
from tests.upstream import tool
from tests.workflows.test_mlrepo_hooks import training_rows
from workflows.argo.backend import ArgoBackend
from workflows.params import FeatureApplyParams
from workflows.settings import ArgoSettings

# The overlay whose namespace the service runs in; its Deployment submits into its own namespace.
SERVICE_NAMESPACE = "mlops-gitops-dev"
SERVICE_ACCOUNT = "mlops-gitops"
OTHER_NAMESPACE = "mlops-gitops"  # the prod overlay's namespace: the dev service must not reach it
TOOLS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kubelet",
    "kube-proxy",
    "coredns",
)
ARGO_TOOLS = ("workflow-controller", "argo")
ARGO_CD_TOOLS = ("argocd",)
TRAINING_ROWS = 200  # of the models registered at level 4
RAY_WORKERS = 2
PREDICTED_CUSTOMERS = 8  # asked for through each model server's /predict
# The project and model-server images in containerd, packed and unpacked (about 7 GiB), the pods' writable layers
# and logs, MinIO's objects, and a margin. Levels 1 and 2 need next to nothing: their pods only get bound.
NODE_DISK_GIB = 12
ALL_LEVELS = max(LEVELS)


def free_space(work: Path) -> dict[str, float]:
    """Room for what the node unpacks under the run's directory; a node short of it evicts pods and deletes images
    in the middle of a level (its image and disk eviction thresholds are 1 %), so it is refused up front."""
    free = shutil.disk_usage(work).free / 2**30
    if free < NODE_DISK_GIB:
        raise RuntimeError(f"{free:.1f} GiB free under {work}; the node needs {NODE_DISK_GIB} GiB for its images")
    return {"free_gib": round(free, 1), "needed_gib": NODE_DISK_GIB}


def level_1(report: Report, supervisor: Supervisor, work: Path, node: Node) -> ControlPlane:
    for name in TOOLS:
        with report.step(1, f"build {name}"):
            tool(name)
    with report.step(1, "node network"):
        node.network.create()
    with report.step(1, "certificates"):
        pki = make_pki(work / "pki")
    with report.step(1, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler"):
        plane = start_control_plane(supervisor, work, pki)
    start_node(node, supervisor, plane.kube, pki, work, report)
    with report.step(1, "CRDs"):
        report.steps["crds"] = install_crds(plane.kube)
    with report.step(1, "server-side apply of the overlays"):
        report.steps["applied"] = apply_all(plane.kube, work)
    report.reached(1)
    return plane


def level_2(report: Report, supervisor: Supervisor, work: Path, plane: ControlPlane, node: Node) -> ArgoSettings:
    for name in ARGO_TOOLS:
        with report.step(2, f"build {name}"):
            tool(name)
    assert node.runtime is not None, "level 1 started the node's runtime"
    with report.step(2, "argoexec image"):
        node.images["argoexec"] = node.runtime.import_image(image_archive("argoexec"))
    kube = plane.kube
    with report.step(2, "workflow-controller, argo-server"):
        argo = start_argo(supervisor, kube, work, node.images["argoexec"])
    with report.step(2, "service settings and token"):
        token = kube.service_account_token(SERVICE_NAMESPACE, SERVICE_ACCOUNT)
        (work / "service").mkdir()
        settings = service_settings(
            configmap_data(kube, SERVICE_NAMESPACE),
            work / "service",
            server_url=argo.server_url,
            namespace=SERVICE_NAMESPACE,
            token=token,
            image=image_reference("project"),
        )
        provide_volume(kube, SERVICE_NAMESPACE, settings.work_volume_claim, work / "volumes" / "work")
    backend = ArgoBackend(settings, code_repos=SAMPLE_REPOS)
    submitted: list[Submitted] = []
    try:
        with report.step(2, "submit through argo-server"):
            submitted = submit_all(backend, settings)
        for run in submitted:
            with report.step(2, f"controller: {run.pipeline}"):
                report.pipelines[run.pipeline] = check_workflow(kube, run, settings, node.name)
        with report.step(2, "service RBAC through argo-server"):
            report.rbac = check_rbac(kube, backend, settings, submitted[-1].name, OTHER_NAMESPACE)
    finally:
        backend.close()
    # Their steps name a git host no pod can reach: they would only fail and retry on the node level 3 uses.
    with report.step(2, "delete the sample runs"):
        delete_runs(kube, settings.namespace, [run.name for run in submitted])
    return settings


def level_2_operators(
    report: Report, supervisor: Supervisor, work: Path, plane: ControlPlane, node: Node, deployed: ArgoSettings
) -> tuple[ArgoSettings, Store, SharedStore]:
    """spark-operator and KubeRay, and the S3 store, reconcile the pipelines' SparkApplication and RayJob; the
    pipelines' settings from here on name the store and the Feast store shared with the model server."""
    for spec in (SPARK_OPERATOR, RAY_OPERATOR):
        with report.step(2, f"build {spec.name}"):
            tool(spec.name)
    with report.step(2, "build minio"):
        tool("minio")
    kube, namespace = plane.kube, deployed.namespace
    with report.step(2, "minio, buckets and the S3 keys' Secret"):
        store = start_store(supervisor, kube, work, namespaces=[namespace, MLFLOW_NAMESPACE], host=NODE_IP)
        report.steps["s3"] = {"endpoint": store.endpoint, "buckets": store.buckets, "secret": STORE_SECRET}
    with report.step(2, "feature store: registry in S3, redis-server online, the Secrets"):
        shared = start_feature_store(supervisor, kube, work, store, namespace)
        report.steps["feature_store"] = {"registry": REGISTRY, "online_store": shared.online_store}
    settings = with_feature_store(with_store(deployed, store.endpoint), shared)
    with report.step(2, "mlflow server in the cluster"):
        report.workloads["mlflow"] = start_mlflow(kube, settings.image, store.endpoint, STORE_SECRET, node.name)
    for spec in (SPARK_OPERATOR, RAY_OPERATOR):
        with report.step(2, spec.name):
            start_operator(supervisor, kube, work, spec, [namespace])
    # Each is deleted once its pods are checked: the node's two cores hold one of them at a time, and left alone
    # they would start for real once level 3 imports the project image.
    with report.step(2, "spark-operator: data-etl's SparkApplication"):
        report.workloads["spark"] = check_spark(kube, settings, node.name)
        delete_all(kube, namespace, SPARK_APPLICATIONS)
    with report.step(2, "KubeRay: retrain's RayJob"):
        report.workloads["ray"] = check_ray(kube, settings, node.name)
        delete_all(kube, namespace, RAY_JOBS)
    return settings, store, shared


def level_3(
    report: Report,
    supervisor: Supervisor,
    work: Path,
    plane: ControlPlane,
    node: Node,
    settings: ArgoSettings,
    store: Store,
    code: CodeHost,
) -> tuple[str, list[int]]:
    """Pods run on the node; returns the in-cluster MLflow server's URL for this host and the customers landed."""
    assert node.runtime is not None, "level 1 started the node's runtime"
    with report.step(3, "free disk space"):
        report.steps["disk"] = free_space(work)
    with report.step(3, "import the project image"):
        node.images["project"] = node.runtime.import_image(image_archive("project"))
        if node.images["project"] != settings.image:
            raise RuntimeError(f"the pipelines name {settings.image}, the archive {node.images['project']}")
    with report.step(3, "pod networking: DNS and the kubernetes ClusterIP"):
        report.steps["pod_networking"] = check_pod_networking(plane.kube, settings.namespace, node.images["project"])
    with report.step(3, "mlflow server Ready"):
        tracking_uri = mlflow_ready(plane.kube)
        report.workloads["mlflow"] = {**report.workloads.get("mlflow", {}), "ready_at": tracking_uri}
    repositories = [*SAMPLE_REPOS, code.churn.url, code.fraud.url]
    backend = ArgoBackend(settings, code_repos=repositories)
    fraud = fraud_settings(settings)
    fraud_backend = ArgoBackend(fraud, code_repos=repositories)
    try:
        with report.step(3, "feature-apply on the node"):
            report.steps["executed"] = run_to_completion(
                plane.kube, backend, settings, "feature-apply", FeatureApplyParams()
            )
        with report.step(3, "data-etl on the node: Spark through spark-operator, S3, quarantine, materialize"):
            params, generated = land_raw_data(store, work / "raw")
            executed = run_to_completion(plane.kube, backend, settings, "data-etl", params)
            report.steps["data_etl"] = {**executed, "checked": check_etl(executed, generated)}
        with report.step(3, "second domain: feature-apply of the fraud repository's definitions"):
            fraud_apply = apply_params(code.fraud)
            executed = run_to_completion(plane.kube, fraud_backend, fraud, "feature-apply", fraud_apply, team="fraud")
            report.steps["fraud_feature_apply"] = {**executed, "checked": check_applied(executed)}
        with report.step(3, "second domain: retrain of the fraud repository, its ETL on Spark, Ray through KubeRay"):
            retrain = retrain_params(code.fraud, land_transactions(store, work / "fraud-raw"), RAY_WORKERS)
            executed = run_to_completion(plane.kube, fraud_backend, fraud, "retrain", retrain, team="fraud")
            checked = check_trained(executed, tracking_uri, code.fraud, work / "volumes" / "work")
            report.steps["fraud_retrain"] = {**executed, "checked": checked}
        report.steps["work_volume_owners"] = owners(work / "volumes" / "work")
        # Their pods would hold the node's cores through level 4 (KubeRay keeps the Ray cluster for a while).
        delete_all(plane.kube, settings.namespace, SPARK_APPLICATIONS)
        delete_all(plane.kube, settings.namespace, RAY_JOBS)
    finally:
        backend.close()
        fraud_backend.close()
    report.steps["rss_mib"] = {**supervisor.rss_mib(), "containerd shims": shims_rss_mib(node.runtime)}
    report.reached(3)
    return tracking_uri, list(range(1, generated.rows // RAW_DAYS + 1))


def owners(volume: Path) -> dict[str, str]:
    """Owner, group and mode of the work volume's top directories, as the pods left them: who may write where."""
    found = {}
    for path in sorted([volume, *volume.glob("*"), *volume.glob("runs/*")]):
        info = path.stat()
        found[str(path.relative_to(volume))] = f"{info.st_uid}:{info.st_gid} {oct(info.st_mode & 0o7777)}"
    return found


def teardown(supervisor: Supervisor, node: Node, work: Path) -> dict[str, Any]:
    killed: list[str] = []
    try:
        killed += node.before_stop(supervisor)
    finally:
        killed += supervisor.stop_all()
    return {"killed_after_grace": killed, "left_behind": node.after_stop(killed, work)}


def level_4(
    report: Report,
    supervisor: Supervisor,
    work: Path,
    plane: ControlPlane,
    node: Node,
    shared: SharedStore,
    tracking_uri: str,
    customers: list[int],
    pipelines: ArgoSettings,
    code: CodeHost,
) -> None:
    for name in ARGO_CD_TOOLS:
        with report.step(4, f"build {name}"):
            tool(name)
    assert node.runtime is not None, "level 1 started the node's runtime"
    with report.step(4, "model-server image"):
        node.images["model-server"] = node.runtime.import_image(image_archive("model-server"))
    with report.step(4, "the features data-etl materialized, read online through the shared registry"):
        online = online_rows(shared, work / "feast-online", customers[:PREDICTED_CUSTOMERS])
        report.steps["online_features"] = {"customers": len(online), "columns": list(online.columns)}
    with report.step(4, "redis-server, argocd-repo-server, argocd-application-controller"):
        argocd = start_argocd(supervisor, plane.kube, work)
    with report.step(4, "git daemon"):
        (work / "git").mkdir()
        server = start_git_daemon(supervisor, work / "git")
    with report.step(4, "Argo CD syncs the GitOps repo and three promotions; the model servers serve them"):
        sync_and_promote(
            plane.kube,
            argocd,
            server,
            supervisor,
            work,
            models=Registry(tracking_uri),
            image=node.images["model-server"],
            shared=shared,
            training=training_rows(TRAINING_ROWS),
            online=online,
            promote_staging=lambda: push_to_the_service(
                plane.kube,
                work,
                image=node.images["project"],
                pipelines=pipelines,
                code=code,
                gitops_url=server.url,
                tracking_uri=tracking_uri,
            ),
            results=report.argocd,
        )
    report.reached(4)


def run(output: Path, up_to: int = ALL_LEVELS) -> Report:
    """Levels 1 to ``up_to``; each one's steps need what the levels before it proved."""
    output.mkdir(parents=True, exist_ok=True)
    logs = output / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir()
    report = Report()
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="mlops-cluster-test-"))
    supervisor = Supervisor(log_dir=logs)
    node = Node()
    try:
        plane = level_1(report, supervisor, work, node)
        if up_to >= 2:
            settings = level_2(report, supervisor, work, plane, node)
            settings, store, shared = level_2_operators(report, supervisor, work, plane, node, settings)
            report.reached(2)
        if up_to >= 3:
            with serving_code(plane.kube.pki, work / "code") as code:
                tracking_uri, customers = level_3(report, supervisor, work, plane, node, settings, store, code)
                if up_to >= 4:
                    level_4(report, supervisor, work, plane, node, shared, tracking_uri, customers, settings, code)
    except StepFailedError:
        pass
    finally:
        report.cleanup = {
            **teardown(supervisor, node, work),
            "removed": str(work),
            "seconds": round(time.monotonic() - started, 1),
        }
        shutil.rmtree(work, ignore_errors=True)
    return report
