"""``python -m tests.cluster.fits``: the highest level of ``make cluster-test`` that a CI run can reach here.

CI has an hour for the suite and the cluster test together, on whatever machine it gets. A cold machine first
spends about 90 minutes building the Kubernetes programs, etcd, CoreDNS, Argo, Argo CD, the operators, MinIO and
the images pinned to upstream versions (README, "Run it on a real cluster"): no level fits then. The images made
from the project's own code (project, model-server, spark-operator) are not counted there, since every change of
the code rebuilds them anyway, in minutes over buildah's layer cache; but they take disk, and so do the node's
copies of them: on a machine short of disk, levels 1 and 2 still run, since their pods are only bound. Whether
something is built is asked of ``toolchain/build.sh`` and ``toolchain/images.sh`` themselves, with
``MLOPS_GITOPS_BUILD=never``, so the answer follows their own cache keys.

Prints the level on standard output, and on standard error one line saying why no higher one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

from tests.cluster.images import IMAGES_SCRIPT
from tests.cluster.operators import RAY_OPERATOR, SPARK_OPERATOR
from tests.cluster.run import ALL_LEVELS, ARGO_CD_TOOLS, ARGO_TOOLS, NODE_DISK_GIB, TOOLS
from tests.upstream import TOOLCHAIN

PROGRAMS = (*TOOLS, *ARGO_TOOLS, *ARGO_CD_TOOLS, SPARK_OPERATOR.name, RAY_OPERATOR.name, "minio")
PINNED_IMAGES = ("base", "pause", "argoexec", "ray-operator")
CODE_IMAGES = ("project", "model-server", "spark-operator")
# Rebuilding the images of the project's code after a change of it: a few MB of new layers in buildah's storage,
# and each new archive (2.4 GB at most) beside the one it replaces until it is written.
REBUILD_GIB = 4
NOT_BUILT = 3
BOUND_ONLY = 2  # the last level whose pods need none of the project's images on the node


def _cached(command: list[str]) -> bool:
    env = {**os.environ, "MLOPS_GITOPS_BUILD": "never"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode not in (0, NOT_BUILT):
        raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
    return done.returncode == 0


def missing() -> list[str]:
    """The programs and pinned images that a cluster test would have to build first."""
    programs = [name for name in PROGRAMS if not _cached([str(TOOLCHAIN / "build.sh"), name])]
    images = [f"the {name} image" for name in PINNED_IMAGES if not _cached([str(IMAGES_SCRIPT), name])]
    return programs + images


def disk_needed() -> int:
    """GiB that levels 3 and 4 take: the node's, and a rebuild's when the code changed since the last build."""
    stale = [name for name in CODE_IMAGES if not _cached([str(IMAGES_SCRIPT), name])]
    return NODE_DISK_GIB + (REBUILD_GIB if stale else 0)


def level_that_fits() -> tuple[int, str]:
    """The level, and why no higher one fits."""
    if os.geteuid() != 0:
        return 0, "it needs root (a bridge, iptables rules, mounts)"
    gaps = missing()
    if gaps:
        return 0, f"{', '.join(gaps)} would be built first (about 90 min on a cold machine), past CI's hour"
    free = shutil.disk_usage(tempfile.gettempdir()).free / 2**30
    needed = disk_needed()
    if free < needed:
        return BOUND_ONLY, f"{free:.1f} GiB free, and levels 3 and 4 need {needed} GiB for the project's images"
    return ALL_LEVELS, f"every program and pinned image is built, and {free:.1f} GiB are free ({needed} needed)"


def main() -> int:
    level, why = level_that_fits()
    print(f"cluster-test: level {level} in this CI run: {why}", file=sys.stderr)
    print(level)
    return 0


if __name__ == "__main__":
    sys.exit(main())
