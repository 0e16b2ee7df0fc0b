"""The pinned Go programs and upstream modules the cluster runs, through the repository's toolchain scripts.

``toolchain/build.sh`` builds a program once into a cache keyed by its pinned version and prints its path;
``toolchain/upstream.sh`` prints the module-cache directory of a pinned module (CRDs come from there). Keeping
the pins and the build recipes in those scripts means this harness never names a version itself.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOLCHAIN = REPO / "toolchain"


class ToolchainError(RuntimeError):
    """A build or a module download failed; the message carries the script's own last words."""


def _run(script: str, argument: str) -> Path:
    done = subprocess.run([str(TOOLCHAIN / script), argument], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise ToolchainError(f"toolchain/{script} {argument} exited {done.returncode}: {tail}")
    return Path(done.stdout.strip().splitlines()[-1])


def tool(name: str) -> Path:
    """Path of the pinned binary ``name`` (``kube-apiserver``, ``etcd``, ``kwok``, ``argo`` ...), built if needed."""
    return _run("build.sh", name)


def upstream(name: str) -> Path:
    """Module-cache directory of the pinned upstream ``name`` (``ARGO_WORKFLOWS``, ``KUBERAY`` ...)."""
    return _run("upstream.sh", name)
