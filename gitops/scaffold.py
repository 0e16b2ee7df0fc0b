"""Create a GitOps repository from the packaged template.

The template (``gitops/template/``) is real YAML with comments, the same files
a person would keep by hand: a kustomize base of the model server, the
``staging`` and ``production`` overlays, the Argo CD ``AppProject`` and
``Application`` objects, and a kustomize component that leaves the HPA out.
Only the few installation-specific values (the repo URL Argo CD pulls, the
branch it tracks, the cluster it deploys to, the model served with its Feast
feature service and entity key, whether the overlays autoscale, the model
server's image and the feature store it shares with the pipelines) are filled
in, by the same format-preserving edits the bot uses later, so a fresh repo
already looks exactly like the repo the bot maintains. The template's values
for the model are placeholders: nothing of a team's domain is in the service,
so the caller must name all three.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import git
import yaml

from core.errors import PermanentError
from gitops.manifests import ManifestDocument, write_target
from gitops.settings import (
    ConfigMapLiteralTarget,
    EditTarget,
    ScaffoldSettings,
    SharedFeatureStore,
    ValuesKeyTarget,
)

_PROJECT = "argocd/project.yaml"
_APPLICATIONS = ("argocd/application-staging.yaml", "argocd/application-production.yaml")
_OVERLAYS = ("overlays/staging/kustomization.yaml", "overlays/production/kustomization.yaml")
_BASE = "base/kustomization.yaml"
_MODEL_CONFIG = (_BASE, *_OVERLAYS)
_FEATURE_STORE_FILE = "components/shared-feature-store/feature_store.yaml"
_SERVED_MODEL_KEYS = ("model_name", "feature_service", "entity_key")
# As an overlay's kustomization names them.
WITHOUT_AUTOSCALER = "../../components/without-autoscaler"
SHARED_FEATURE_STORE = "../../components/shared-feature-store"


def template_root() -> Path:
    return Path(str(resources.files("gitops") / "template"))


def init_repo(
    directory: Path,
    *,
    repo_url: str,
    author: tuple[str, str],
    scaffold: ScaffoldSettings,
    branch: str = "main",
) -> list[Path]:
    """Write the template into ``directory`` as a new git repo with one commit by ``author`` (name, email).

    ``repo_url`` is the URL Argo CD pulls from; ``scaffold`` gives the model served, its feature service and
    entity key, the destination cluster and whether the overlays autoscale (its ``argocd_repo_url`` is the
    caller's to pass as ``repo_url``).
    """
    model_name, feature_service, entity_key = scaffold.model_name, scaffold.feature_service, scaffold.entity_key
    if model_name is None or feature_service is None or entity_key is None:
        missing = [name for name in _SERVED_MODEL_KEYS if getattr(scaffold, name) is None]
        ways = ", ".join(f"--{name.replace('_', '-')} (or gitops.scaffold.{name})" for name in missing)
        raise PermanentError(f"a GitOps repository needs the served model's {', '.join(missing)}: give {ways}")
    source = template_root()
    relative_files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    clashes = [str(rel) for rel in relative_files if (directory / rel).exists()]
    if clashes:
        raise PermanentError(f"{directory} already has {', '.join(clashes)}; choose an empty directory")
    for rel in relative_files:
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, directory / rel)

    server = scaffold.destination_server
    edits: list[tuple[str, EditTarget, str]] = [
        (_PROJECT, ValuesKeyTarget(file="", path="spec.sourceRepos.0", value=""), repo_url),
        (_PROJECT, ValuesKeyTarget(file="", path="spec.destinations.0.server", value=""), server),
        (_PROJECT, ValuesKeyTarget(file="", path="spec.destinations.1.server", value=""), server),
    ]
    for application in _APPLICATIONS:
        edits += [
            (application, ValuesKeyTarget(file="", path="spec.source.repoURL", value=""), repo_url),
            (application, ValuesKeyTarget(file="", path="spec.source.targetRevision", value=""), branch),
            (application, ValuesKeyTarget(file="", path="spec.destination.server", value=""), server),
        ]
    for kustomization in _MODEL_CONFIG:
        edits += [
            (kustomization, ConfigMapLiteralTarget(key="MODEL_NAME", value=""), model_name),
            (kustomization, ConfigMapLiteralTarget(key="MODEL_URI", value=""), f"models:/{model_name}/0"),
        ]
    edits += [
        (_BASE, ConfigMapLiteralTarget(key="FEAST_FEATURE_SERVICE", value=""), feature_service),
        (_BASE, ConfigMapLiteralTarget(key="ENTITY_KEY", value=""), entity_key),
    ]
    if scaffold.model_server_image is not None:
        edits.append((_BASE, ValuesKeyTarget(file="", path="images.0.newName", value=""), scaffold.model_server_image))
    if scaffold.model_server_tag is not None:
        edits.append((_BASE, ValuesKeyTarget(file="", path="images.0.newTag", value=""), scaffold.model_server_tag))
    for rel_path, target, value in edits:
        document = ManifestDocument.load(directory / rel_path)
        if write_target(document, target, value):
            document.save()
    if not scaffold.autoscaler:
        for overlay in _OVERLAYS:
            _add_component(directory / overlay, WITHOUT_AUTOSCALER)
    if scaffold.feature_store is not None:
        _write_feature_store(directory / _FEATURE_STORE_FILE, scaffold.feature_store)
        for overlay in _OVERLAYS:
            _add_component(directory / overlay, SHARED_FEATURE_STORE)

    repo = git.Repo.init(directory, initial_branch=branch)
    repo.git.add("--", *map(str, relative_files))
    name, email = author
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    repo.git.commit("-q", "--no-verify", "-m", "GitOps repository of the model server", env=identity)
    return [directory / rel for rel in relative_files]


def _write_feature_store(path: Path, store: SharedFeatureStore) -> None:
    """Feast's configuration of the model server, with a header saying where it came from."""
    config = {
        "project": store.project,
        "provider": "local",
        "registry": store.registry,
        "online_store": store.online_store,
        "entity_key_serialization_version": 3,
    }
    header = (
        "# Written by `gitops init` from gitops.scaffold.feature_store: the registry and online store\n"
        "# the pipelines write (workflows.argo.feature_store); ${VARIABLES} come from the Secret\n"
        "# model-server-feature-store.\n"
    )
    path.write_text(header + yaml.safe_dump(config, sort_keys=False))


def _add_component(kustomization: Path, component: str) -> None:
    document = ManifestDocument.load(kustomization)
    components = document.data.setdefault("components", [])
    if component not in components:
        components.append(component)
        document.save()
