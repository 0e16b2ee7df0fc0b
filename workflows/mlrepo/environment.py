"""The Python environment the ML repository's code runs in: the step environment plus its declared packages.

A repository declares ``dependencies.requirements`` in ``mlops.yaml``. They
are installed into a virtual environment of their own, layered over the
step's environment (a ``.pth`` file puts the step environment's
site-packages after the layer's own), so the repository gets what it asked
for and still sees pandas, XGBoost and pytest at the step's versions. The
environment is cached under the work directory by the hash of the
requirements and the step interpreter: the first run with a new set pays for
the install, every later run with the same set reuses it. Building happens
in a temporary directory renamed into place, so a crash never leaves a
half-installed environment that looks ready.

The repository's tests run with the layer's interpreter. Its hooks run
inside the step's process, so :func:`add_to_process` appends the layer's
site-packages to that process's import path: after the step's own, so a
repository can add packages but never replace the ones the service runs on.
Without requirements the step's own interpreter is used as it is.
"""

from __future__ import annotations

import hashlib
import shutil
import site
import subprocess
import sys
import venv
from pathlib import Path

from core.errors import PermanentError, TemporaryError
from core.logging import get_logger
from workflows.mlrepo.hooks import IMPORT_PATH_LOCK

log = get_logger(__name__)

_INSTALL_TIMEOUT_S = 1800
_LAYER_FILE = "mlops-step-environment.pth"


def environment_key(requirements: tuple[str, ...]) -> str:
    """Hash of what determines an environment: the requirements (order-free) and the step interpreter."""
    digest = hashlib.sha256(f"{sys.prefix}\0{sys.version}".encode())
    for requirement in sorted(requirements):
        digest.update(b"\0" + requirement.encode())
    return digest.hexdigest()[:16]


def _site_packages(prefix: Path) -> Path:
    return prefix / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def _install(python: Path, requirements: tuple[str, ...]) -> None:
    uv = shutil.which("uv")
    command = (
        [uv, "pip", "install", "--python", str(python), *requirements]
        if uv
        else [str(python), "-m", "pip", "install", "--disable-pip-version-check", *requirements]
    )
    try:
        completed = subprocess.run(command, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as e:
        raise TemporaryError(f"installing {list(requirements)} took over {_INSTALL_TIMEOUT_S}s; retry later") from e
    if completed.returncode != 0:
        raise PermanentError(
            f"cannot install the repository's requirements {list(requirements)}: {completed.stderr.strip()[-1500:]}"
        )


def add_to_process(requirements: tuple[str, ...], cache_dir: Path) -> None:
    """Make the packages of ``requirements`` importable by hooks running in this process."""
    if not requirements:
        return
    site_dir = str(_site_packages(repo_python(requirements, cache_dir).parents[1]))
    with IMPORT_PATH_LOCK:
        if site_dir not in sys.path:
            sys.path.append(site_dir)


def repo_python(requirements: tuple[str, ...], cache_dir: Path) -> Path:
    """The interpreter to run the repository's code with; built and cached on first use of ``requirements``."""
    if not requirements:
        return Path(sys.executable)
    target = cache_dir / environment_key(requirements)
    python = target / "bin" / "python"
    if python.is_file():
        return python
    building = target.with_name(f"{target.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    try:
        venv.EnvBuilder(with_pip=shutil.which("uv") is None, symlinks=True).create(building)
        step_paths = [path for path in site.getsitepackages() if Path(path).is_dir()]
        (_site_packages(building) / _LAYER_FILE).write_text("\n".join(step_paths) + "\n")
        _install(building / "bin" / "python", requirements)
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    try:
        building.rename(target)
    except OSError:  # another run finished the same environment first; use that one
        shutil.rmtree(building, ignore_errors=True)
    log.info("repo_environment.ready", path=str(target), requirements=list(requirements))
    return python
