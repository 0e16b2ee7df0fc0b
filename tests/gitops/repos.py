"""GitOps repos for tests and benchmarks: the packaged template pushed to a bare remote."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

from gitops.scaffold import init_repo
from gitops.settings import ScaffoldSettings

BOT = ("mlops-gitops[bot]", "mlops-gitops-bot@users.noreply.local")
# The churn example's model server: the model the tests promote, its feature service and its entity's key.
CHURN_SERVER = ScaffoldSettings(model_name="churn-xgb", feature_service="churn_model", entity_key="customer_id")


def template_remote(root: Path, extra_environments: Iterable[str] = ()) -> Path:
    """A bare remote at ``root/gitops.git`` holding the template, plus a copy of the staging overlay per extra name."""
    work = root / "template"
    init_repo(work, repo_url="https://git.example.com/ml/gitops.git", author=BOT, scaffold=CHURN_SERVER)
    for name in extra_environments:
        shutil.copytree(work / "overlays" / "staging", work / "overlays" / name)
    git = ["git", "-C", str(work), "-c", f"user.name={BOT[0]}", "-c", f"user.email={BOT[1]}"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "Overlays per environment"], check=True)
    remote = root / "gitops.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run([*git, "push", "-q", str(remote), "HEAD:main"], check=True)
    return remote
