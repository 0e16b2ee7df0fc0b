"""``mlops-gitops render``: validated parameters in, the Argo YAML out; bad parameters are one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mlops_gitops.cli import app
from tests.workflows.pipeline_samples import SAMPLE_LABELS, SAMPLE_PARAMS, SAMPLE_REPOSITORY_IMAGE
from tests.workflows.schemas import argo_workflow_validator, errors
from tests.workflows.test_render_pipelines import GOLDEN_DIR
from workflows.backend import EVENT_ID_LABEL, TRACE_ID_LABEL

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


def sample_params(pipeline: str) -> list[str]:
    """The shared sample parameters of ``pipeline`` as ``--param`` options."""
    given = SAMPLE_PARAMS[pipeline].model_dump(mode="json", exclude_defaults=True)
    values = {key: json.dumps(value) if isinstance(value, dict | list) else str(value) for key, value in given.items()}
    return [option for key, value in values.items() for option in ("-p", f"{key}={value}")]


@pytest.fixture
def repository_images_config(tmp_path: Path) -> Path:
    """A configuration letting the steps run in images under the registry path of the sample repository image."""
    config = tmp_path / "config.yaml"
    registry_path = SAMPLE_REPOSITORY_IMAGE.rpartition("/")[0]
    config.write_text(yaml.safe_dump({"workflows": {"argo": {"repository_images": [registry_path]}}}))
    return config


def test_render_in_the_repository_image_prints_what_the_service_submits(repository_images_config: Path) -> None:
    """The output is the golden file of the retrain whose mlops.yaml names an image, as the backend renders it."""
    image = SAMPLE_REPOSITORY_IMAGE.rpartition(":")[0]
    labels = ["--event-id", SAMPLE_LABELS[EVENT_ID_LABEL], "--trace-id", SAMPLE_LABELS[TRACE_ID_LABEL]]
    code, out, err = invoke(
        "render", "retrain", *sample_params("retrain"), "--name", "retrain-0123456789ab", *labels,
        "--repository-image", image, "--config", str(repository_images_config),
    )  # fmt: skip

    assert code == 0, err
    assert out == (GOLDEN_DIR / "retrain-repository-image.yaml").read_text()


@pytest.mark.parametrize(
    ("pipeline", "params", "image", "complaint"),
    [
        ("retrain", RETRAIN_PARAMS, "registry.example.com/ml/churn-model:v1", "not an image name"),
        ("retrain", RETRAIN_PARAMS, "elsewhere.example.com/churn-model", "not under workflows.argo.repository_images"),
        ("retrain", RETRAIN_PARAMS[:2] + RETRAIN_PARAMS[4:], "registry.example.com/ml/churn-model", "name the commit"),
        ("feature-apply", [], "registry.example.com/ml/churn-model", "with its repo_url"),
    ],
)
def test_a_repository_image_the_service_would_not_use_is_one_line_and_exit_2(
    repository_images_config: Path, pipeline: str, params: list[str], image: str, complaint: str
) -> None:
    code, out, err = invoke(
        "render", pipeline, *params, "--repository-image", image, "--config", str(repository_images_config)
    )

    assert (code, out) == (2, "")
    assert complaint in err and err.startswith("error: --repository-image: ")
    assert len(err.strip().splitlines()) == 1
