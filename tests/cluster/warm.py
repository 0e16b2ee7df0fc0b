"""``python -m tests.cluster.warm``: can ``make cluster-test`` start here without its slow builds?

A cold machine first spends about 90 minutes building the Kubernetes programs, etcd, CoreDNS, Argo, Argo CD,
the operators, MinIO and the images pinned to upstream versions (README, "Run it on a real cluster"); beside the
suite, that does not fit in CI's hour. The images made from the project's own code (project, model-server,
spark-operator) are not counted: every change of the code rebuilds them anyway, in minutes over buildah's layer
cache. The question goes to ``toolchain/build.sh`` and ``toolchain/images.sh`` themselves, with
``MLOPS_GITOPS_BUILD=never``, so the answer follows their own cache keys. Exit status 0 when everything is
there; 3, with what is missing, when not.
"""

from __future__ import annotations

import os
import subprocess
import sys

from tests.cluster.images import IMAGES_SCRIPT
from tests.cluster.operators import RAY_OPERATOR, SPARK_OPERATOR
from tests.cluster.run import ARGO_CD_TOOLS, ARGO_TOOLS, TOOLS
from tests.upstream import TOOLCHAIN

PROGRAMS = (*TOOLS, *ARGO_TOOLS, *ARGO_CD_TOOLS, SPARK_OPERATOR.name, RAY_OPERATOR.name, "minio")
PINNED_IMAGES = ("base", "pause", "argoexec", "ray-operator")
NOT_BUILT = 3


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


def main() -> int:
    gaps = missing()
    if gaps:
        print(f"cluster-test: not warm here, {', '.join(gaps)} would be built first (about 90 min on a cold machine)")
        return NOT_BUILT
    print("cluster-test: warm here, every program and pinned image is built")
    return 0


if __name__ == "__main__":
    sys.exit(main())
