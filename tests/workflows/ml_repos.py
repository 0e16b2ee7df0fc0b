"""ML repositories for the pipeline tests: the scaffold pushed to a bare remote, and commits changing it."""

from __future__ import annotations

import subprocess
from pathlib import Path

from workflows.mlrepo.scaffold import init_ml_repo

REPO_ROOT = Path(__file__).resolve().parents[2]
AUTHOR = ("Data Scientist", "ds@example.com")


def _git(clone: Path, *args: str) -> str:
    command = ["git", "-C", str(clone), "-c", f"user.name={AUTHOR[0]}", "-c", f"user.email={AUTHOR[1]}", *args]
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


def scaffolded_remote(root: Path, name: str = "churn-ml") -> tuple[Path, Path, str]:
    """A bare remote holding the scaffold; returns the remote, a working clone and the pushed commit."""
    clone = root / f"{name}-work"
    init_ml_repo(clone, feature_repo=REPO_ROOT / "feature_repo", author=AUTHOR)
    bare = root / f"{name}.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    _git(clone, "push", "-q", str(bare), "HEAD:main")
    return bare, clone, _git(clone, "rev-parse", "HEAD")


def push_change(bare: Path, clone: Path, files: dict[str, str | None], message: str) -> str:
    """Commit ``files`` (text, or None to delete) in ``clone``, push to ``bare`` and return the new commit."""
    for relative, text in files.items():
        path = clone / relative
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "-m", message)
    _git(clone, "push", "-q", str(bare), "HEAD:main")
    return _git(clone, "rev-parse", "HEAD")
