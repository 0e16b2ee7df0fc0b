"""``mlops-gitops init ml-repo``: a new ML repository in the template's layout, holding the churn example.

The template (``workflows/mlrepo/template/``) is a working repository: its
``mlops.yaml`` is the contract the ETL enforces on the example dataset, its
model class is what the pipelines train, and its tests pass. The Feast
definitions are copied from the service's reference ``feature_repo/`` so the
scaffold and the feature store the service applies by default agree. The
result is a git repository with one commit, ready to push.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

import git

from core.errors import PermanentError

_FEATURE_FILES = ("*.py", "feature_store.yaml", ".feastignore")
_SKIPPED = ("__pycache__", ".pytest_cache")


def template_root() -> Path:
    return Path(str(resources.files("workflows.mlrepo") / "template"))


def _template_files(source: Path) -> list[Path]:
    return sorted(
        path.relative_to(source)
        for path in source.rglob("*")
        if path.is_file() and not any(part in _SKIPPED for part in path.relative_to(source).parts)
    )


def init_ml_repo(directory: Path, *, feature_repo: Path, author: tuple[str, str], branch: str = "main") -> list[Path]:
    """Write the template and the reference Feast definitions into ``directory`` as a git repo with one commit."""
    if not feature_repo.is_dir():
        raise PermanentError(f"reference Feast repository {feature_repo} does not exist; pass its directory")
    source = template_root()
    copies = [(source / rel, rel) for rel in _template_files(source)]
    copies += [
        (path, Path("feature_repo") / path.name) for pattern in _FEATURE_FILES for path in feature_repo.glob(pattern)
    ]
    clashes = [str(rel) for _, rel in copies if (directory / rel).exists()]
    if clashes:
        raise PermanentError(f"{directory} already has {', '.join(clashes)}; choose an empty directory")
    for origin, rel in copies:
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(origin, directory / rel)
    repo = git.Repo.init(directory, initial_branch=branch)
    repo.git.add("--", *(str(rel) for _, rel in copies))
    name, email = author
    identity = {
        "GIT_AUTHOR_NAME": name,
        "GIT_AUTHOR_EMAIL": email,
        "GIT_COMMITTER_NAME": name,
        "GIT_COMMITTER_EMAIL": email,
    }
    repo.git.commit("-q", "--no-verify", "-m", "ML repository scaffolded by mlops-gitops", env=identity)
    return [directory / rel for _, rel in copies]
