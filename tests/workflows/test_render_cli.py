"""``mlops-gitops render``: validated parameters in, the Argo YAML out; bad parameters are one line and exit 2."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from mlops_gitops.cli import app
from tests.workflows.schemas import argo_workflow_validator, errors
from workflows.backend import EVENT_ID_LABEL

RETRAIN_PARAMS = [
    "-p", "repo_url=https://git.example.com/acme/churn-model.git",
    "-p", "commit=9fceb02d0ae598e95dc970b74767f19372d61af8",
    "-p", "model_name=churn-xgb",
    "-p", "etl.source_uri=s3://raw-data/churn/customer_activity",
    "-p", "etl.partitions=date=2026-11-25",
    "-p", "etl.partitions=date=2026-11-26",
    "-p", 'hyperparameters={"max_depth": 6}',
    "-p", "num_workers=4",
]  # fmt: skip


@pytest.fixture(autouse=True)
def feast_project(monkeypatch: pytest.MonkeyPatch) -> None:
    """The configuration names the Feast project of the image's feature repository, as a deployment's does."""
    monkeypatch.setenv("MLOPS_GITOPS_WORKFLOWS__ARGO__FEAST_PROJECT", "churn")


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_render_prints_a_valid_workflow_built_from_the_parameters() -> None:
    code, out, _ = invoke("render", "retrain", *RETRAIN_PARAMS, "--event-id", "delivery-42")
    assert code == 0
    workflow = yaml.safe_load(out)
    assert errors(argo_workflow_validator(), workflow) == []
    assert workflow["metadata"]["labels"][EVENT_ID_LABEL] == "delivery-42"
    spark, ray = (yaml.safe_load(t["resource"]["manifest"]) for t in workflow["spec"]["templates"] if "resource" in t)
    assert "date=2026-11-26" in " ".join(spark["spec"]["arguments"])
    assert ray["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] == 4


def test_render_names_the_run_after_its_parameters() -> None:
    first = yaml.safe_load(invoke("render", "retrain", *RETRAIN_PARAMS)[1])["metadata"]["name"]
    again = yaml.safe_load(invoke("render", "retrain", *RETRAIN_PARAMS)[1])["metadata"]["name"]
    other = yaml.safe_load(invoke("render", "retrain", *RETRAIN_PARAMS, "-p", "seed=7")[1])["metadata"]["name"]
    assert first == again != other
    assert first.startswith("retrain-")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["retrain", "-p", "repo_url=https://git.example.com/a/b.git", "-p", "commit=$(reboot)"], "commit"),
        (["retrain", "-p", "repo_url=https://git.example.com/a/b.git"], "model_name: Field required"),
        (["data-etl", "-p", "source_uri=s3://raw/x", "-p", "partitions=../../etc"], "partitions"),
        (["data-etl", "-p", "source_uri=s3://raw/x"], "partitions: Field required"),
        (["data-etl", "-p", "nonsense"], "is not key=value"),
        (["data-etl", "-p", "partitions=[oops"], "not valid JSON"),
        (["feature-apply", "-p", "commit=9fceb02"], "repo_url and commit go together"),
        (["no-such-pipeline"], "unknown pipeline"),
    ],
)
def test_bad_parameters_are_one_line_and_exit_2(args: list[str], complaint: str) -> None:
    code, out, err = invoke("render", *args)
    assert code == 2
    assert out == ""
    assert complaint in err
    assert len(err.strip().splitlines()) == 1


def test_a_single_value_for_a_list_parameter_is_a_list_of_one() -> None:
    code, out, _ = invoke("render", "data-etl", "-p", "source_uri=s3://raw/x", "-p", "partitions=date=2026-11-26")
    assert code == 0
    spark = next(
        yaml.safe_load(t["resource"]["manifest"]) for t in yaml.safe_load(out)["spec"]["templates"] if "resource" in t
    )
    request = json.loads(spark["spec"]["arguments"][spark["spec"]["arguments"].index("--params") + 1])
    assert request["params"]["partitions"] == ["date=2026-11-26"]
