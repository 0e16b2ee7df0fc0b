"""The pinned upstream projects (``toolchain/versions.env``) as the tests see them.

Schemas, CRDs and the ``argo`` binary all come from the Go module proxy at the
versions pinned in one file, through the same scripts ``make`` uses, so a
fresh clone validates against exactly what the cluster runs and needs nothing
kept beside the repository.
"""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
TOOLCHAIN = REPO_ROOT / "toolchain"


def _script_output(script: str, argument: str) -> Path:
    completed = subprocess.run(
        [str(TOOLCHAIN / script), argument], capture_output=True, text=True, check=False, timeout=1800
    )
    if completed.returncode != 0 or not completed.stdout.strip():
        raise RuntimeError(f"toolchain/{script} {argument} failed:\n{completed.stderr}")
    return Path(completed.stdout.strip())


@cache
def module_dir(upstream: str) -> Path:
    """Source directory of a pinned module (``ARGO_WORKFLOWS``, ``ARGO_CD``, ``SPARK_OPERATOR``, ``KUBERAY``)."""
    return _script_output("upstream.sh", upstream)


@cache
def tool(name: str) -> Path:
    """A pinned upstream program, built on first use (``make test-deps`` builds it ahead of the suite)."""
    return _script_output("build.sh", name)


@cache
def pinned_versions() -> dict[str, str]:
    lines = (TOOLCHAIN / "versions.env").read_text().splitlines()
    pairs = (line.split("=", 1) for line in lines if line.strip() and not line.lstrip().startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}
