"""Bare git repositories in temporary directories, used as remotes."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass
class GitRemoteFactory:
    root: Path
    _count: int = 0

    def create(self, name: str = "repo", *, initial_files: dict[str, str] | None = None, branch: str = "main") -> Path:
        """A bare remote, optionally seeded with one commit of ``initial_files`` on ``branch``."""
        self._count += 1
        bare = self.root / f"{self._count:03d}-{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", branch, str(bare)], check=True)
        if initial_files:
            seed = self.root / f"{self._count:03d}-{name}-seed"
            subprocess.run(["git", "init", "-q", "-b", branch, str(seed)], check=True)
            for rel, text in initial_files.items():
                path = seed / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
            git = ["git", "-C", str(seed), "-c", "user.name=Test", "-c", "user.email=test@example.com"]
            subprocess.run([*git, "add", "-A"], check=True)
            subprocess.run([*git, "commit", "-q", "-m", "initial"], check=True)
            subprocess.run([*git, "push", "-q", str(bare), f"HEAD:{branch}"], check=True)
        return bare
