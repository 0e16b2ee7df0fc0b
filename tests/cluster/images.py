"""The cluster's images: built (or found in the cache) by ``toolchain/images.sh``, as OCI archives that the run
imports into its containerd (``Runtime.import_image``), since the node has no registry to pull from. Pods must
therefore never pull: the pipelines' pods run with ``workflows.argo.image_pull_policy: Never`` and Argo's
executor with ``imagePullPolicy: Never``.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.upstream import REPO_ROOT

IMAGES_SCRIPT = REPO_ROOT / "toolchain" / "images.sh"


def image_archive(image: str) -> Path:
    """The OCI archive of ``image`` (base, project, pause, argoexec), built on first use; minutes when cold."""
    return Path(_images_sh(image))


def image_reference(image: str) -> str:
    """The name ``image`` has at the current inputs, as its archive will carry it; nothing is built. Pods can name
    it before the image is on the node (level 2 only checks what the controller makes of them)."""
    return _images_sh("reference", image)


def _images_sh(*args: str) -> str:
    done = subprocess.run([str(IMAGES_SCRIPT), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"toolchain/images.sh {' '.join(args)} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip().splitlines()[-1]
