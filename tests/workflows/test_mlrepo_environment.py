"""The repository's declared packages: installed once into a cached layer over the step environment.

Installs come from uv's local cache (``UV_OFFLINE``), so the tests need no network:
the requirement pins the version the step environment already has.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from core.errors import PermanentError
from tests.workflows.ml_repos import push_change, scaffolded_remote
from workflows.mlrepo.environment import add_to_process, environment_key, repo_python
from workflows.params import RetrainParams
from workflows.steps.contract import StepRequest, StepRuntime
from workflows.steps.repo_tests import run_repo_tests

PINNED = f"pyyaml=={yaml.__version__}"
LAYER_CHECK = """\
import sys

import pandas
import yaml


def test_declared_packages_come_from_the_layer_and_the_rest_from_the_step():
    assert "environments" in yaml.__file__
    assert "environments" not in pandas.__file__
    assert "environments" in sys.prefix
"""


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_OFFLINE", "1")
    monkeypatch.setenv("PIP_NO_INDEX", "1")


def test_no_requirements_means_the_step_interpreter(tmp_path: Path) -> None:
    assert repo_python((), tmp_path) == Path(sys.executable)
    assert not tmp_path.joinpath("environments").exists()


def test_the_cache_key_ignores_order_and_tells_sets_apart() -> None:
    assert environment_key(("a==1", "b>2")) == environment_key(("b>2", "a==1"))
    assert environment_key(("a==1",)) != environment_key(("a==2",))


def test_a_layer_is_built_once_and_sees_the_step_packages(tmp_path: Path, offline: None) -> None:
    python = repo_python((PINNED,), tmp_path)

    probe = "import yaml, pandas; print(yaml.__file__); print(pandas.__file__)"
    yaml_file, pandas_file = subprocess.run(
        [str(python), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    assert Path(yaml_file).is_relative_to(tmp_path), "the declared package is the layer's own"
    assert not Path(pandas_file).is_relative_to(tmp_path), "the rest comes from the step environment"
    built = python.parents[1].stat().st_mtime_ns
    assert repo_python((PINNED,), tmp_path) == python
    assert python.parents[1].stat().st_mtime_ns == built
    assert [p.name for p in tmp_path.iterdir()] == [environment_key((PINNED,))]

    add_to_process((PINNED,), tmp_path)
    assert sys.path[-1].startswith(str(python.parents[1]))
    sys.path.pop()


def test_a_requirement_that_cannot_be_installed_is_a_permanent_error(tmp_path: Path, offline: None) -> None:
    with pytest.raises(PermanentError, match="cannot install the repository's requirements"):
        repo_python(("no-such-package-for-mlops-tests==0.0.1",), tmp_path)
    assert not any(tmp_path.iterdir()), "a failed build leaves nothing that looks ready"


def test_the_repository_tests_run_in_its_layer(tmp_path: Path, offline: None) -> None:
    bare, clone, _ = scaffolded_remote(tmp_path / "remotes")
    contract = (clone / "mlops.yaml").read_text().replace("  requirements: []", f'  requirements: ["{PINNED}"]')
    commit = push_change(bare, clone, {"mlops.yaml": contract, "tests/test_layer.py": LAYER_CHECK}, "needs pyyaml")
    runtime = StepRuntime(
        work_dir=str(tmp_path / "work"),
        feature_store_dir=str(tmp_path / "store"),
        feature_repo_source=str(tmp_path / "unused"),
        feast_project="churn",
        mlflow_tracking_uri="http://127.0.0.1:1",
    )
    request = StepRequest[RetrainParams](
        params=RetrainParams(model_name="churn-xgb", repo_url=str(bare), commit=commit),
        runtime=runtime,
        workflow_name="retrain-layer",
    )

    output = run_repo_tests(request)

    assert "5 passed" in output.summary
    assert (tmp_path / "work" / "environments" / environment_key((PINNED,))).is_dir()
