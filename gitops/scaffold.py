"""Create a GitOps repository from the packaged template.

The template (``gitops/template/``) is real YAML with comments, the same files
a person would keep by hand: a kustomize base of the model server, the
``staging`` and ``production`` overlays, and the Argo CD ``AppProject`` and
``Application`` objects. Only the few installation-specific values (the repo
URL Argo CD pulls, the branch it tracks, the model name) are filled in, by the
same format-preserving edits the bot uses later, so a fresh repo already looks
exactly like the repo the bot maintains.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import git

from core.errors import PermanentError
from gitops.manifests import ManifestDocument, write_target
from gitops.settings import ConfigMapLiteralTarget, EditTarget, ValuesKeyTarget

_APPLICATIONS = ("argocd/application-staging.yaml", "argocd/application-production.yaml")
_MODEL_CONFIG = (
    "base/kustomization.yaml",
    "overlays/staging/kustomization.yaml",
    "overlays/production/kustomization.yaml",
)


def template_root() -> Path:
    return Path(str(resources.files("gitops") / "template"))


def init_repo(
    directory: Path,
    *,
    repo_url: str,
    author: tuple[str, str],
    branch: str = "main",
    model_name: str = "churn-xgb",
) -> list[Path]:
    """Write the template into ``directory`` as a new git repo with one commit by ``author`` (name, email)."""
    source = template_root()
    relative_files = sorted(p.relative_to(source) for p in source.rglob("*") if p.is_file())
    clashes = [str(rel) for rel in relative_files if (directory / rel).exists()]
    if clashes:
        raise PermanentError(f"{directory} already has {', '.join(clashes)}; choose an empty directory")
    for rel in relative_files:
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, directory / rel)

    edits: list[tuple[str, EditTarget, str]] = [
        ("argocd/project.yaml", ValuesKeyTarget(file="", path="spec.sourceRepos.0", value=""), repo_url)
    ]
    for application in _APPLICATIONS:
        edits += [
            (application, ValuesKeyTarget(file="", path="spec.source.repoURL", value=""), repo_url),
            (application, ValuesKeyTarget(file="", path="spec.source.targetRevision", value=""), branch),
        ]
    for kustomization in _MODEL_CONFIG:
        edits += [
            (kustomization, ConfigMapLiteralTarget(key="MODEL_NAME", value=""), model_name),
            (kustomization, ConfigMapLiteralTarget(key="MODEL_URI", value=""), f"models:/{model_name}/0"),
        ]
    for rel_path, target, value in edits:
        document = ManifestDocument.load(directory / rel_path)
        if write_target(document, target, value):
            document.save()

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
