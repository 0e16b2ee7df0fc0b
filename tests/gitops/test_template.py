"""The repo ``gitops init`` creates builds with real kustomize and validates against upstream schemas.

Kubernetes objects are checked with ``kubernetes-validate`` (strict: unknown
fields fail); Argo CD objects with the CRDs of the pinned Argo CD module.
kustomize is the real binary (``GOBIN=~/go/bin go install
sigs.k8s.io/kustomize/kustomize/v5@v5.7.1``), found on PATH or in ~/go/bin.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from pydantic import ValidationError

from core.errors import PermanentError
from gitops.scaffold import init_repo
from gitops.settings import ScaffoldSettings, SharedFeatureStore
from tests.gitops.conftest import BOT
from tests.workflows.schemas import crd_validator, errors

KUBERNETES_VERSION = "1.33"
MODEL_SERVER_ENV = {
    "MODEL_NAME",
    "MODEL_VERSION",
    "MODEL_URI",
    "MODEL_RUN_ID",
    "MLFLOW_TRACKING_URI",
    "FEAST_REPO_PATH",
    "FEAST_FEATURE_SERVICE",
    "ENTITY_KEY",
}
# A model of another domain than the churn example the service's docs and tests mostly use.
FRAUD_SERVER = ScaffoldSettings(model_name="fraud-xgb", feature_service="fraud_model", entity_key="card_id")


def kustomize() -> str:
    found = shutil.which("kustomize") or str(Path.home() / "go" / "bin" / "kustomize")
    if not os.access(found, os.X_OK):
        pytest.fail(
            "kustomize not found; install it: GOBIN=~/go/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1"
        )
    return found


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("gitops") / "repo"
    init_repo(directory, repo_url="https://git.example.com/ml/gitops.git", author=BOT, scaffold=FRAUD_SERVER)
    return directory


def build(repo: Path, environment: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [kustomize(), "build", str(repo / "overlays" / environment)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind]
    return found


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_every_overlay_builds_into_valid_kubernetes_objects(repo: Path, environment: str) -> None:
    objects = build(repo, environment)

    assert sorted(o["kind"] for o in objects) == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Service",
    ]
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        assert obj["metadata"]["namespace"] == f"ml-{environment}"


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_model_server_gets_exactly_its_variables_probes_and_port(repo: Path, environment: str) -> None:
    objects = build(repo, environment)
    config_map = by_kind(objects, "ConfigMap")
    (container,) = by_kind(objects, "Deployment")["spec"]["template"]["spec"]["containers"]

    assert set(config_map["data"]) == MODEL_SERVER_ENV
    assert config_map["data"]["MODEL_NAME"] == "fraud-xgb"
    assert config_map["data"]["MODEL_URI"] == "models:/fraud-xgb/0"
    assert config_map["data"]["FEAST_FEATURE_SERVICE"] == "fraud_model"
    assert config_map["data"]["ENTITY_KEY"] == "card_id"
    assert container["envFrom"] == [{"configMapRef": {"name": config_map["metadata"]["name"]}}]
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert by_kind(objects, "Service")["spec"]["ports"][0]["targetPort"] == "http"


def test_production_overlay_keeps_more_replicas(repo: Path) -> None:
    assert by_kind(build(repo, "staging"), "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 1
    assert by_kind(build(repo, "production"), "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 2


def test_argo_cd_objects_validate_against_the_crds(repo: Path) -> None:
    documents = [yaml.safe_load(path.read_text()) for path in sorted((repo / "argocd").glob("*.yaml"))]

    assert sorted(d["kind"] for d in documents) == ["AppProject", "Application", "Application"]
    for document in documents:
        assert errors(crd_validator(document["apiVersion"], document["kind"]), document) == []


def test_each_application_syncs_its_overlay_from_the_given_repo_within_the_project(repo: Path) -> None:
    project = yaml.safe_load((repo / "argocd" / "project.yaml").read_text())
    destinations = {d["namespace"] for d in project["spec"]["destinations"]}
    for environment in ("staging", "production"):
        app = yaml.safe_load((repo / "argocd" / f"application-{environment}.yaml").read_text())
        source = app["spec"]["source"]

        assert (source["repoURL"], source["targetRevision"]) == ("https://git.example.com/ml/gitops.git", "main")
        assert (repo / source["path"] / "kustomization.yaml").is_file()
        assert app["spec"]["project"] == project["metadata"]["name"]
        assert app["spec"]["destination"]["namespace"] in destinations
        assert source["repoURL"] in project["spec"]["sourceRepos"]


def test_init_commits_the_template_and_keeps_its_comments(repo: Path) -> None:
    status = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain"], check=True, capture_output=True, text=True
    )
    author = subprocess.run(["git", "-C", str(repo), "log", "--format=%ae"], check=True, capture_output=True, text=True)

    assert status.stdout == ""
    assert author.stdout.split() == [BOT[1]]
    assert "# Staging: the challenger." in (repo / "overlays" / "staging" / "kustomization.yaml").read_text()


def test_nothing_of_the_template_placeholders_or_of_another_domain_survives(repo: Path) -> None:
    files = [path for path in repo.rglob("*") if path.is_file() and ".git" not in path.relative_to(repo).parts]
    leftovers = {
        str(path.relative_to(repo)): word
        for path in files
        for word in ("set-by-gitops-init", "set_by_gitops_init", "churn", "customer")
        if word in path.read_text().lower()
    }
    assert files and leftovers == {}


@pytest.mark.parametrize(
    ("given", "missing"),
    [
        ({}, r"model_name, feature_service, entity_key: give --model-name \(or gitops\.scaffold\.model_name\)"),
        ({"model_name": "fraud-xgb", "feature_service": "fraud_model"}, r"entity_key: give --entity-key"),
    ],
)
def test_init_needs_the_served_model_and_writes_nothing_without_it(
    tmp_path: Path, given: dict[str, str], missing: str
) -> None:
    with pytest.raises(PermanentError, match=rf"needs the served model's {missing}"):
        init_repo(
            tmp_path / "repo",
            repo_url="git://git.test/g.git",
            author=BOT,
            scaffold=ScaffoldSettings.model_validate(given),
        )
    assert not (tmp_path / "repo").exists()


@pytest.mark.parametrize(
    ("key", "value"), [("model_name", "a b"), ("feature_service", "fraud-model"), ("entity_key", "card id")]
)
def test_the_served_model_keys_are_identifiers(key: str, value: str) -> None:
    with pytest.raises(ValidationError, match=key):
        ScaffoldSettings.model_validate({key: value})


def test_init_refuses_to_overwrite(repo: Path) -> None:
    with pytest.raises(PermanentError, match="already has"):
        init_repo(repo, repo_url="https://git.example.com/ml/gitops.git", author=BOT, scaffold=FRAUD_SERVER)


@pytest.fixture(scope="module")
def fixed_size_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo for a cluster reached at its own address and without a metrics API."""
    directory = tmp_path_factory.mktemp("gitops") / "repo"
    scaffold = FRAUD_SERVER.model_copy(update={"destination_server": "https://10.0.0.1:6443", "autoscaler": False})
    init_repo(directory, repo_url="git://git.test/gitops.git", author=BOT, scaffold=scaffold)
    return directory


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_without_autoscaler_every_overlay_leaves_the_hpa_out(fixed_size_repo: Path, environment: str) -> None:
    objects = build(fixed_size_repo, environment)

    assert sorted(o["kind"] for o in objects) == ["ConfigMap", "Deployment", "PodDisruptionBudget", "Service"]
    assert "replicas" not in by_kind(objects, "Deployment")["spec"]  # one replica, the Deployment's default


def test_the_destination_cluster_comes_from_the_scaffold_settings(fixed_size_repo: Path) -> None:
    project = yaml.safe_load((fixed_size_repo / "argocd" / "project.yaml").read_text())
    servers = {d["server"] for d in project["spec"]["destinations"]}
    for environment in ("staging", "production"):
        app = yaml.safe_load((fixed_size_repo / "argocd" / f"application-{environment}.yaml").read_text())
        servers.add(app["spec"]["destination"]["server"])

    assert servers == {"https://10.0.0.1:6443"}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("argocd_repo_url", "https://git.test/g.git\nkind: Secret"),
        ("argocd_repo_url", "not a url"),
        ("destination_server", "http://10.0.0.1:6443"),
        ("destination_server", "https://10.0.0.1:6443/path"),
    ],
)
def test_scaffold_settings_refuse_what_is_no_url(field: str, value: str) -> None:
    with pytest.raises(ValidationError):
        ScaffoldSettings.model_validate({field: value})


@pytest.fixture(scope="module")
def shared_store_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repo whose model server reads the pipelines' Feast store and runs an image of the platform's own."""
    directory = tmp_path_factory.mktemp("gitops") / "repo"
    store = SharedFeatureStore(
        project="fraud",
        registry="s3://features/fraud/registry.db",
        online_store={"type": "redis", "connection_string": "redis.features.svc:6379,password=${REDIS_PASSWORD}"},
    )
    scaffold = FRAUD_SERVER.model_copy(
        update={
            "feature_store": store,
            "model_server_image": "registry.internal/ml/model-server",
            "model_server_tag": "2026.12.1",
        }
    )
    init_repo(directory, repo_url="git://git.test/gitops.git", author=BOT, scaffold=scaffold)
    return directory


@pytest.mark.parametrize("environment", ["staging", "production"])
def test_with_a_shared_feature_store_the_model_server_mounts_its_configuration_and_secret(
    shared_store_repo: Path, environment: str
) -> None:
    objects = build(shared_store_repo, environment)
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    config_maps = {o["metadata"]["name"].rsplit("-", 1)[0]: o for o in objects if o["kind"] == "ConfigMap"}
    pod = by_kind(objects, "Deployment")["spec"]["template"]["spec"]
    (container,) = pod["containers"]

    feast = yaml.safe_load(config_maps["model-server-feature-store"]["data"]["feature_store.yaml"])
    assert feast["project"] == "fraud" and feast["registry"] == "s3://features/fraud/registry.db"
    assert feast["online_store"]["connection_string"].endswith("password=${REDIS_PASSWORD}")
    assert config_maps["model-server-config"]["data"]["FEAST_REPO_PATH"] == "/etc/feast"
    assert {"name": "feature-store", "mountPath": "/etc/feast", "readOnly": True} in container["volumeMounts"]
    volume = next(v for v in pod["volumes"] if v["name"] == "feature-store")
    assert volume["configMap"]["name"] == config_maps["model-server-feature-store"]["metadata"]["name"]
    assert {"secretRef": {"name": "model-server-feature-store", "optional": True}} in container["envFrom"]
    assert container["image"] == "registry.internal/ml/model-server:2026.12.1"
