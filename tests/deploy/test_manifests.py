"""The service's own manifests build with real kustomize, validate, and grant no more than the service uses.

Kubernetes objects are checked with ``kubernetes-validate`` (strict), Argo CD
objects against the CRDs of the pinned Argo CD module. The configuration and
rules the ConfigMap carries are loaded by the service's own loaders, so a
deployment that would refuse to start fails here instead.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlops_gitops.settings import Settings, load_settings
from tests.gitops.test_template import KUBERNETES_VERSION, kustomize
from tests.workflows.schemas import crd_validator, errors
from triggers.actions.registry import ACTION_SPECS
from triggers.rules.loader import load_rules

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OVERLAYS = {"dev": "mlops-gitops-dev", "prod": "mlops-gitops"}
CONFIG_DIR = "/etc/mlops-gitops"
WORKFLOW_VERBS = {"create", "get", "patch"}  # submit, read a run's status, stop it
SERVICE = "mlops-gitops"
PIPELINES = "mlops-pipelines"
WORK_CLAIM = "mlops-pipelines-work"


def build(overlay: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kustomize(), "build", str(DEPLOY / "overlays" / overlay)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def the(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    return found


def named(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in of_kind(objects, kind) if o["metadata"]["name"] == name]
    return found


def container_of(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = the(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


@pytest.fixture(scope="module", params=sorted(OVERLAYS))
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def objects(overlay: str) -> list[dict[str, Any]]:
    return build(overlay)


def test_overlay_builds_into_valid_kubernetes_objects_in_its_namespace(
    overlay: str, objects: list[dict[str, Any]]
) -> None:
    expected = [
        "ConfigMap",
        "Deployment",
        "Ingress",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        *["Role", "RoleBinding", "ServiceAccount"] * 3,  # the service's, the pipelines' and the Spark driver's
        "Service",
    ]
    if overlay == "prod":
        expected.append("PodDisruptionBudget")
    if overlay == "dev":
        expected.append("PersistentVolumeClaim")  # the SQLite ledger's, beside the pipelines' work volume

    assert sorted(o["kind"] for o in objects) == sorted(expected)
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == OVERLAYS[overlay]


def test_deployment_runs_serve_with_probes_on_the_served_port(objects: list[dict[str, Any]]) -> None:
    container = container_of(objects)
    (port,) = container["ports"]

    assert container["args"] == ["mlops-gitops", "serve", "--config", f"{CONFIG_DIR}/config.yaml"]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert port["name"] == "http"
    assert the(objects, "Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_pod_runs_unprivileged_on_a_read_only_root(objects: list[dict[str, Any]]) -> None:
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    container = container_of(objects)
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert volumes[mounts["/tmp"]] == {"name": mounts["/tmp"], "emptyDir": {}}
    assert volumes[mounts[CONFIG_DIR]]["configMap"]["name"] == the(objects, "ConfigMap")["metadata"]["name"]


def test_rbac_grants_exactly_the_workflow_verbs_the_service_uses(objects: list[dict[str, Any]]) -> None:
    service_account = the(objects, "ServiceAccount", SERVICE)
    binding = the(objects, "RoleBinding", "mlops-gitops-workflows")
    role = the(objects, "Role", binding["roleRef"]["name"])

    assert not of_kind(objects, "ClusterRole")
    assert not of_kind(objects, "ClusterRoleBinding")
    assert role["rules"] == [
        {"apiGroups": ["argoproj.io"], "resources": ["workflows"], "verbs": sorted(WORKFLOW_VERBS)}
    ]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": service_account["metadata"]["name"],
            "namespace": service_account["metadata"]["namespace"],
        }
    ]
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == service_account["metadata"]["name"]


def config_of(objects: list[dict[str, Any]], tmp_path: Path) -> Settings:
    data = the(objects, "ConfigMap")["data"]
    (tmp_path / "config.yaml").write_text(data["config.yaml"])
    (tmp_path / "rules.yaml").write_text(data["rules.yaml"])
    return load_settings(tmp_path / "config.yaml")


def test_pipelines_run_with_the_account_and_claim_the_service_names(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    argo = config_of(objects, tmp_path).workflows.argo
    service_account = the(objects, "ServiceAccount", argo.service_account)
    binding = the(objects, "RoleBinding", PIPELINES)
    claim = the(objects, "PersistentVolumeClaim", argo.work_volume_claim)

    assert (argo.service_account, argo.work_volume_claim) == (PIPELINES, WORK_CLAIM)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": PIPELINES}
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": PIPELINES, "namespace": service_account["metadata"]["namespace"]}
    ]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "steps of one run share it from any node"


def test_pipelines_role_lets_the_executor_report_and_the_steps_run_their_resources(
    objects: list[dict[str, Any]],
) -> None:
    grants = {
        (group, resource): set(rule["verbs"])
        for rule in the(objects, "Role", PIPELINES)["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }

    assert grants[("argoproj.io", "workflowtaskresults")] == {"create", "patch"}
    assert grants[("", "pods")] == {"get", "patch"}
    assert grants[("", "pods/log")] == {"get"}
    for resource in [("sparkoperator.k8s.io", "sparkapplications"), ("ray.io", "rayjobs")]:
        assert grants[resource] == {"create", "get", "list", "watch"}, resource
    assert not any("delete" in verbs or "*" in verbs for verbs in grants.values())
    assert ("", "secrets") not in grants


def test_spark_driver_runs_as_the_account_the_settings_name_and_may_only_manage_its_executors(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    spark = config_of(objects, tmp_path).workflows.argo.spark
    account = the(objects, "ServiceAccount", spark.service_account)
    binding = the(objects, "RoleBinding", spark.service_account)
    grants = {
        resource: set(rule["verbs"])
        for rule in the(objects, "Role", spark.service_account)["rules"]
        for resource in rule["resources"]
    }

    assert binding["roleRef"]["name"] == spark.service_account
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": spark.service_account, "namespace": account["metadata"]["namespace"]}
    ]
    assert {"create", "watch", "delete"} <= grants["pods"]
    assert {"create", "delete"} <= grants["configmaps"]
    assert "secrets" not in grants, "the keys reach the pods as secretKeyRef variables, never through the API"
    assert spark.s3_credentials_secret == "mlops-s3-credentials", "the Secret kustomization.yaml documents"


def test_pipelines_register_models_in_the_mlflow_server_the_service_watches(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    settings = config_of(objects, tmp_path)

    assert settings.workflows.argo.mlflow_tracking_uri == settings.mlflow.tracking_uri


def test_work_volume_is_sized_by_the_overlays_settings_which_are_not_deployed(
    overlay: str, objects: list[dict[str, Any]]
) -> None:
    settings = yaml.safe_load((DEPLOY / "overlays" / overlay / "pipelines-settings.yaml").read_text())
    claim = the(objects, "PersistentVolumeClaim", WORK_CLAIM)

    assert claim["spec"]["resources"]["requests"]["storage"] == settings["data"]["work_volume_size"]
    assert not [o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"] == settings["metadata"]["name"]]


def test_overlays_size_the_work_volume_each_their_own_way() -> None:
    sizes = {
        overlay: named(build(overlay), "PersistentVolumeClaim", "mlops-pipelines-work")["spec"]["resources"]
        for overlay in OVERLAYS
    }

    assert sizes["dev"] != sizes["prod"]


def test_secrets_are_referenced_never_stored(objects: list[dict[str, Any]]) -> None:
    env = {variable["name"]: variable for variable in container_of(objects)["env"]}
    secret_like = [name for name in env if name.endswith(("TOKEN", "TOKENS", "SECRETS", "LEDGER__URL"))]

    for secret in of_kind(objects, "Secret"):
        assert "data" not in secret
        assert "stringData" not in secret
    assert secret_like, "the service needs its webhook secrets and tokens"
    for name in secret_like:
        if env[name].get("value", "").startswith("sqlite:"):
            continue  # a file path, no credentials in it
        assert "value" not in env[name], f"{name} must come from a Secret"
        assert "secretKeyRef" in env[name]["valueFrom"], name
    assert env["MLOPS_GITOPS_WORKFLOWS__ARGO__NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


def test_the_argo_token_is_a_projected_short_lived_service_account_token(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    container = container_of(objects)
    (tmp_path / "config.yaml").write_text(the(objects, "ConfigMap")["data"]["config.yaml"])
    settings = load_settings(tmp_path / "config.yaml")
    argo, refresh = settings.workflows.argo, settings.gitops.argocd_refresh

    assert argo.token is None and argo.token_file is not None
    [mount] = [m for m in container["volumeMounts"] if argo.token_file.parent == Path(m["mountPath"])]
    assert mount["readOnly"] is True
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    [token_source, ca_source] = volume["projected"]["sources"]
    token = token_source["serviceAccountToken"]
    assert token["path"] == argo.token_file.name
    assert token["audience"] and 600 <= token["expirationSeconds"] <= 3600
    # The Argo CD refresh, when turned on, reaches the Kubernetes API with the same token and the cluster's CA.
    assert refresh.token_file == argo.token_file and refresh.ca_file is not None
    assert refresh.ca_file.parent == argo.token_file.parent
    assert ca_source["configMap"] == {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}
    assert ca_source["configMap"]["items"][0]["path"] == refresh.ca_file.name
    assert not [s for s in of_kind(objects, "Secret") if s.get("type") == "kubernetes.io/service-account-token"]
    env = {variable["name"] for variable in container["env"]}
    assert "MLOPS_GITOPS_WORKFLOWS__ARGO__TOKEN" not in env, "the environment would override the file"


def test_ingress_exposes_only_the_webhook_path(objects: list[dict[str, Any]]) -> None:
    ingress = the(objects, "Ingress")
    service = the(objects, "Service")
    paths = [path for rule in ingress["spec"]["rules"] for path in rule["http"]["paths"]]

    assert [(p["path"], p["pathType"]) for p in paths] == [("/webhooks/", "Prefix")]
    assert paths[0]["backend"]["service"] == {"name": service["metadata"]["name"], "port": {"name": "http"}}


def test_only_the_ingress_controller_and_the_namespace_reach_the_service(objects: list[dict[str, Any]]) -> None:
    policy = the(objects, "NetworkPolicy")
    pod_labels = the(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    selected = policy["spec"]["podSelector"]["matchLabels"]
    assert selected.items() <= pod_labels.items(), "the policy covers the service's pods"
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    [rule] = policy["spec"]["ingress"]
    assert rule["ports"] == [{"port": "http"}]
    peers = rule["from"]
    assert {"podSelector": {}} in peers, "clients in the namespace (status API, metrics)"
    [controller] = [p for p in peers if "namespaceSelector" in p]
    assert controller["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "ingress-nginx"}
    assert len(peers) == 2, "nobody else"


def test_prod_shares_a_postgresql_ledger_between_replicas() -> None:
    objects = build("prod")
    env = {variable["name"]: variable for variable in container_of(objects)["env"]}

    assert the(objects, "Deployment")["spec"]["replicas"] > 1
    assert env["MLOPS_GITOPS_LEDGER__URL"]["valueFrom"]["secretKeyRef"]["key"] == "url"
    assert the(objects, "PodDisruptionBudget")["spec"]["minAvailable"] == 1


def test_dev_never_runs_two_pods_on_its_sqlite_ledger() -> None:
    deployment = the(build("dev"), "Deployment")

    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}


def test_dev_keeps_its_sqlite_ledger_on_a_persistent_volume() -> None:
    objects = build("dev")
    pod = the(objects, "Deployment")["spec"]["template"]["spec"]
    env = {variable["name"]: variable for variable in container_of(objects)["env"]}
    ledger_path = env["MLOPS_GITOPS_LEDGER__URL"]["value"].removeprefix("sqlite:///")
    [mount] = [m for m in container_of(objects)["volumeMounts"] if ledger_path.startswith(m["mountPath"] + "/")]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    claim = named(objects, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"], "one pod writes the SQLite ledger"


def test_config_and_rules_in_the_config_map_are_accepted_by_the_service(
    objects: list[dict[str, Any]], tmp_path: Path
) -> None:
    settings = config_of(objects, tmp_path)
    rules = load_rules(tmp_path / "rules.yaml", ACTION_SPECS)

    assert str(settings.rules.path) == f"{CONFIG_DIR}/rules.yaml"
    assert settings.server.port == container_of(objects)["ports"][0]["containerPort"]
    assert settings.server.host == "0.0.0.0"
    assert settings.workflows.backend == "argo"
    assert rules
    assert settings.workflows.argo.image == container_of(objects)["image"], "workflow steps run in the service's image"


def build_argocd(directory: Path = DEPLOY / "argocd") -> dict[str, dict[str, Any]]:
    out = subprocess.run([kustomize(), "build", str(directory)], capture_output=True, text=True, check=True).stdout
    return {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(out) if doc}


@pytest.mark.parametrize("overlay_name", sorted(OVERLAYS))
def test_argo_cd_application_syncs_its_overlay_and_validates(overlay_name: str) -> None:
    argocd = build_argocd()
    application = argocd[f"mlops-gitops-{overlay_name}"]
    source = application["spec"]["source"]

    assert errors(crd_validator(application["apiVersion"], application["kind"]), application) == []
    assert source["path"] == f"deploy/overlays/{overlay_name}"
    assert (DEPLOY.parent / source["path"] / "kustomization.yaml").is_file()
    assert application["spec"]["destination"]["namespace"] == OVERLAYS[overlay_name]


def test_applications_sit_in_a_project_fenced_to_their_repo_and_namespaces() -> None:
    """Not Argo CD's open ``default`` project: only this repo, only the overlays' namespaces, only Namespaces."""
    argocd = build_argocd()
    project = argocd["mlops-gitops"]
    assert errors(crd_validator(project["apiVersion"], project["kind"]), project) == []
    applications = [doc for doc in argocd.values() if doc["kind"] == "Application"]
    assert len(applications) == len(OVERLAYS)
    for application in applications:
        assert application["spec"]["project"] == "mlops-gitops"
        assert project["spec"]["sourceRepos"] == [application["spec"]["source"]["repoURL"]]
        assert application["spec"]["destination"] in project["spec"]["destinations"]
    assert {d["namespace"] for d in project["spec"]["destinations"]} == set(OVERLAYS.values())
    cluster_scoped = {(entry["group"], entry["kind"]) for entry in project["spec"]["clusterResourceWhitelist"]}
    assert cluster_scoped == {("", "Namespace")}
    assert {entry["kind"] for entry in project["spec"]["namespaceResourceBlacklist"]} == {"ResourceQuota", "LimitRange"}
    for overlay_name in OVERLAYS:
        assert all(obj.get("metadata", {}).get("namespace") for obj in build(overlay_name)), "a cluster-wide object"


def test_argo_cd_objects_take_the_repository_and_cluster_from_settings(tmp_path: Path) -> None:
    copy = tmp_path / "argocd"
    shutil.copytree(DEPLOY / "argocd", copy)
    settings = yaml.safe_load((copy / "settings.yaml").read_text())
    settings["data"] = {
        "repo_url": "git://127.0.0.1:9418/mlops-gitops.git",
        "target_revision": "release-1.2",
        "destination_server": "https://127.0.0.1:6443",
    }
    (copy / "settings.yaml").write_text(yaml.safe_dump(settings))
    argocd = build_argocd(copy)
    assert "mlops-gitops-argocd-settings" not in argocd, "the settings are read by kustomize, never applied"
    for name in (f"mlops-gitops-{overlay_name}" for overlay_name in OVERLAYS):
        spec = argocd[name]["spec"]
        assert spec["source"]["repoURL"] == "git://127.0.0.1:9418/mlops-gitops.git"
        assert spec["source"]["targetRevision"] == "release-1.2"
        assert spec["destination"]["server"] == "https://127.0.0.1:6443"
    project = argocd["mlops-gitops"]["spec"]
    assert project["sourceRepos"] == ["git://127.0.0.1:9418/mlops-gitops.git"]
    assert {destination["server"] for destination in project["destinations"]} == {"https://127.0.0.1:6443"}
