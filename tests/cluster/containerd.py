"""The node's container runtime: Debian's containerd with runc, its config, root and state all in the run's directory.

containerd's CRI plugin is what the kubelet talks to. It runs pods with runc (Debian's crun refuses this kind
of VM's hybrid cgroup v1 layout) under the cgroupfs driver, starts each pod's sandbox from the ``pause`` image
that ``toolchain/images.sh`` builds, and networks pods with the CNI configuration of ``tests.cluster.network``.
The run's images come from OCI archives (``ctr images import``): there is no registry to pull from, and a pod
that asks for a pull anyway must not reach the outside world, so containerd's HTTP proxy is a closed port on
loopback (``NO_PULLS``): a pull fails at once, without a DNS lookup of the registry.

Stopping it is more than a signal: each container runs under a ``containerd-shim-runc-v2`` process that leaves
containerd's process group on purpose, and pods leave mounts and network namespaces behind. ``stop_runtime``
ends the shims of this run's containerd (found by its socket address), unmounts what is still mounted under
the run's directory and deletes the network namespaces that appeared while it ran.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from tests.cluster.kube import wait_for
from tests.cluster.network import cni_config, netns_names, remove_netns
from tests.cluster.processes import Supervisor, resident_mib

CONTAINERD = "/usr/bin/containerd"
CTR = "/usr/bin/ctr"
RUNC = "/usr/sbin/runc"
CNI_PLUGINS = "/usr/lib/cni"
NAMESPACE = "k8s.io"  # the CRI plugin's containerd namespace
SHIM_STOP_SECONDS = 10.0
_CLOSED_PORT = "http://127.0.0.1:9"  # discard: nothing listens there
NO_PULLS = {
    **{name: _CLOSED_PORT for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")},
    "NO_PROXY": "",
    "no_proxy": "",
}


@dataclass(frozen=True)
class Runtime:
    socket: Path
    netns_before: frozenset[str]

    @property
    def endpoint(self) -> str:
        return f"unix://{self.socket}"

    def ctr(self, *args: str, timeout: float = 900) -> str:
        done = subprocess.run(
            [CTR, "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if done.returncode != 0:
            raise RuntimeError(f"ctr {' '.join(args[:2])}: {done.stderr.strip()}")
        return done.stdout

    def import_image(self, archive: Path) -> str:
        """Load an OCI archive; returns the image reference it holds."""
        self.ctr("images", "import", str(archive))  # unpacked into overlayfs, as the CRI runs it
        reference = archive_reference(archive)
        if reference not in self.ctr("images", "list", "--quiet").split():
            raise RuntimeError(f"{archive} imported, but containerd does not list {reference}")
        return reference


REF_NAME = "org.opencontainers.image.ref.name"


def archive_reference(archive: Path) -> str:
    """The image name an OCI archive of ``toolchain/images.sh`` carries, from its ``index.json`` (the name that
    ``ctr images import`` gives the image). Its members are read by their headers; the layers are skipped."""
    with tarfile.open(archive) as tar:
        index_file = tar.extractfile("index.json")
        if index_file is None:
            raise RuntimeError(f"{archive} has no index.json: not an OCI archive")
        index = json.load(index_file)
    names = [m.get("annotations", {}).get(REF_NAME) for m in index.get("manifests", [])]
    if len(names) != 1 or not names[0]:
        raise RuntimeError(f"{archive} names {names}, not one image")
    return str(names[0])


def containerd_config(directory: Path, sandbox_image: str) -> str:
    cni = directory / "cni"
    (cni / "net.d").mkdir(parents=True)
    (cni / "net.d" / "10-mlops-cluster-test.conflist").write_text(json.dumps(cni_config(cni / "ipam"), indent=2))
    cri = 'plugins."io.containerd.grpc.v1.cri"'
    return f"""version = 2
root = "{directory / "root"}"
state = "{directory / "state"}"

[grpc]
  address = "{directory / "containerd.sock"}"

[ttrpc]
  address = "{directory / "containerd.sock.ttrpc"}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{directory / "opt"}"

[{cri}]
  sandbox_image = "{sandbox_image}"
  enable_selinux = false
  restrict_oom_score_adj = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"
  discard_unpacked_layers = false

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{RUNC}"
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_PLUGINS}"
  conf_dir = "{cni / "net.d"}"
"""


def start_runtime(supervisor: Supervisor, work: Path, sandbox_image: str) -> Runtime:
    directory = work / "containerd"
    directory.mkdir()
    config = directory / "config.toml"
    config.write_text(containerd_config(directory, sandbox_image))
    runtime = Runtime(socket=directory / "containerd.sock", netns_before=frozenset(netns_names()))
    supervisor.start("containerd", [CONTAINERD, f"--config={config}"], env=NO_PULLS)

    def serving() -> bool | None:
        supervisor.check_alive()
        probe = subprocess.run([CTR, "--address", str(runtime.socket), "version"], capture_output=True, check=False)
        return True if probe.returncode == 0 else None

    wait_for("containerd's socket", serving, timeout=60)
    return runtime


def stop_runtime(runtime: Runtime, supervisor_stop: list[str]) -> list[str]:
    """After the supervisor stopped containerd: end its shims, unmount, delete netns; returns what stayed behind."""
    problems = [f"{name} needed SIGKILL" for name in supervisor_stop if name == "containerd"]
    shims = _shim_pids(runtime.socket)
    for pid in shims:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)  # its containers die with it: they are in the pod's cgroups, not its session
    deadline = time.monotonic() + SHIM_STOP_SECONDS
    while _shim_pids(runtime.socket) and time.monotonic() < deadline:
        time.sleep(0.2)
    problems += [f"shim {pid} still running" for pid in _shim_pids(runtime.socket)]
    problems += remove_netns(netns_names() - runtime.netns_before)
    return problems


def shims_rss_mib(runtime: Runtime) -> float:
    """Resident memory of all of this run's shims together, in MiB (one per pod)."""
    return round(sum(resident_mib(pid) for pid in _shim_pids(runtime.socket)), 1)


def _shim_pids(socket: Path) -> list[int]:
    """The shims started by the containerd listening on ``socket`` (each names that address on its command line)."""
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
            found.append(int(entry.name))
    return found


def kill_containers(runtime: Runtime) -> None:
    """Stop every container of the run (the pods' processes) before their shims go, so none is orphaned."""
    for task in runtime.ctr("tasks", "list", "--quiet", timeout=30).split():
        with contextlib.suppress(RuntimeError):
            runtime.ctr("tasks", "kill", "--signal", "SIGKILL", task, timeout=30)
