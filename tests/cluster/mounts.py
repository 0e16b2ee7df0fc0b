"""Mounts a run's pods leave under its directory (container root filesystems, volumes, token files).

A killed shim or kubelet does not unmount what it mounted, and a directory with a mount point inside cannot be
removed. Unmounting deepest first, lazily, lets the run delete its directory whatever state the node was in.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def mounts_under(directory: Path) -> list[str]:
    root = str(directory.resolve())
    points = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == root or point.startswith(root + "/"):
            points.append(point)
    return points


def unmount_under(directory: Path) -> list[str]:
    """Unmount everything under ``directory``; returns the mount points that stayed."""
    for point in sorted(set(mounts_under(directory)), key=len, reverse=True):
        subprocess.run(["umount", "--lazy", point], capture_output=True, check=False)
    return mounts_under(directory)
