"""Every pipeline passes the Argo controller's own validation (``argo lint --offline``).

The JSON schema accepts a Workflow the controller refuses (a template naming
another task's outputs, an undeclared input), so the real ``argo`` binary of
the pinned version, built by ``make test-deps``, lints what each factory
renders in both modes and the golden files the other tests pin.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.upstream import tool
from tests.workflows.test_render_pipelines import GOLDEN_DIR, PIPELINES, render


def argo_lint(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(tool("argo")), "lint", "--offline", "--strict", "--output", "simple", "--no-color", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("cluster_mode", [True, False], ids=["cluster", "containers"])
@pytest.mark.parametrize("pipeline", PIPELINES)
def test_rendered_pipeline_passes_argo_lint(pipeline: str, cluster_mode: bool, tmp_path: Path) -> None:
    path = tmp_path / f"{pipeline}.yaml"
    path.write_text(yaml.safe_dump(render(pipeline, cluster_mode=cluster_mode)))
    linted = argo_lint(path)
    assert linted.returncode == 0, linted.stdout + linted.stderr


@pytest.mark.parametrize("golden", sorted(GOLDEN_DIR.glob("*.yaml")), ids=lambda path: path.name)
def test_golden_file_passes_argo_lint(golden: Path) -> None:
    linted = argo_lint(golden)
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_argo_lint_refuses_a_template_that_names_another_tasks_outputs(tmp_path: Path) -> None:
    """The check has teeth: the wiring the controller refused before (a leaf reading ``tasks.*``) still fails."""
    workflow = render("data-etl", cluster_mode=False)
    materialize = next(t for t in workflow["spec"]["templates"] if t["name"] == "materialize")
    materialize.pop("inputs")
    old_reference = "{{tasks.etl.outputs.parameters.result}}"
    command = materialize["container"]["command"]
    command[:] = [part.replace("{{inputs.parameters.etl}}", old_reference) for part in command]
    path = tmp_path / "data-etl.yaml"
    path.write_text(yaml.safe_dump(workflow))
    linted = argo_lint(path)
    assert linted.returncode != 0
    assert f"failed to resolve {old_reference}" in linted.stdout + linted.stderr
