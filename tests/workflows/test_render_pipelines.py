"""Every pipeline renders to a Workflow that the Argo, spark-operator and KubeRay schemas accept.

Each, and retrain in a repository's own image, also matches its golden file; regenerate those after an
intended change with ``UPDATE_GOLDEN=1 .venv/bin/pytest tests/workflows/test_render_pipelines.py`` and
review the diff.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from git import Repo

from core.errors import PermanentError
from tests.infra.git_remote import GitRemoteFactory
from tests.upstream import REPO_ROOT
from tests.workflows.pipeline_samples import SAMPLE_LABELS, SAMPLE_PARAMS, SAMPLE_REPOSITORY_IMAGE
from tests.workflows.schemas import argo_workflow_validator, crd_validator, errors
from workflows.backend import EVENT_ID_LABEL, TRACE_ID_LABEL
from workflows.params import RetrainParams
from workflows.pipelines import build_workflow
from workflows.pipelines.cluster import RAY_FAILURE, RAY_SUCCESS, SPARK_FAILURE, SPARK_SUCCESS
from workflows.settings import ArgoSettings
from workflows.steps.checkout import checkout, checkout_revision

GOLDEN_DIR = REPO_ROOT / "tests" / "golden" / "workflows"
PIPELINES = sorted(SAMPLE_PARAMS)
# Each golden file: the pipeline rendered with the sample parameters, in the service's image or, for the
# steps running the repository's code, in the image its mlops.yaml names.
GOLDEN_CASES: dict[str, tuple[str, str | None]] = {
    **{pipeline: (pipeline, None) for pipeline in PIPELINES},
    "retrain-repository-image": ("retrain", SAMPLE_REPOSITORY_IMAGE),
}


def render(
    pipeline: str, *, cluster_mode: bool = True, params: Any = None, settings: ArgoSettings | None = None
) -> dict[str, Any]:
    workflow = build_workflow(
        pipeline,
        params or SAMPLE_PARAMS[pipeline],
        run_name=f"{pipeline}-0123456789ab",
        labels=SAMPLE_LABELS,
        settings=settings or ArgoSettings(feast_project="churn", cluster_mode=cluster_mode),
    )
    rendered: dict[str, Any] = workflow.to_dict()
    return rendered


def templates(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {template["name"]: template for template in workflow["spec"]["templates"]}


def dag_tasks(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    dag = templates(workflow)[workflow["spec"]["entrypoint"]]["dag"]
    return {task["name"]: task for task in dag["tasks"]}


def manifests(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The custom resources embedded in resource templates, keyed by kind."""
    found = {}
    for template in workflow["spec"]["templates"]:
        if "resource" in template:
            manifest = yaml.safe_load(template["resource"]["manifest"])
            found[manifest["kind"]] = manifest
    return found


@pytest.mark.parametrize("cluster_mode", [True, False], ids=["cluster", "containers"])
@pytest.mark.parametrize("pipeline", PIPELINES)
def test_rendered_workflow_is_valid_argo(pipeline: str, cluster_mode: bool) -> None:
    assert errors(argo_workflow_validator(), render(pipeline, cluster_mode=cluster_mode)) == []


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_embedded_resources_are_valid_custom_resources(pipeline: str) -> None:
    for manifest in manifests(render(pipeline)).values():
        assert errors(crd_validator(manifest["apiVersion"], manifest["kind"]), manifest) == []


def test_schema_validation_catches_a_misspelt_field() -> None:
    """The validators are strict enough to matter: an unknown field is an error, not a silent no-op."""
    workflow = render("data-etl")
    workflow["spec"]["templates"][0]["retryStrategy"] = {"limitt": "2"}
    assert any("limitt" in line for line in errors(argo_workflow_validator(), workflow))
    spark = manifests(render("data-etl"))["SparkApplication"]
    spark["spec"]["driver"]["memroy"] = "2g"
    assert any("memroy" in line for line in errors(crd_validator(spark["apiVersion"], spark["kind"]), spark))


def test_cluster_steps_use_the_operators_conditions() -> None:
    workflow = render("retrain")
    by_kind = {
        yaml.safe_load(t["resource"]["manifest"])["kind"]: t["resource"]
        for t in workflow["spec"]["templates"]
        if "resource" in t
    }
    assert (by_kind["SparkApplication"]["successCondition"], by_kind["SparkApplication"]["failureCondition"]) == (
        SPARK_SUCCESS,
        SPARK_FAILURE,
    )
    assert (by_kind["RayJob"]["successCondition"], by_kind["RayJob"]["failureCondition"]) == (RAY_SUCCESS, RAY_FAILURE)
    assert all(resource["action"] == "create" and resource["setOwnerReference"] for resource in by_kind.values())
    assert manifests(workflow)["RayJob"]["spec"]["rayClusterSpec"]["workerGroupSpecs"][0]["replicas"] == 3


def test_the_ray_cluster_authenticates_with_a_token_kuberay_hands_every_pod() -> None:
    cluster = manifests(render("retrain"))["RayJob"]["spec"]["rayClusterSpec"]

    assert cluster["authOptions"] == {"mode": "token"}, "Ray's head refuses the job submitter without one"


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_workflow_carries_run_settings_and_trace_labels(pipeline: str) -> None:
    workflow = render(pipeline)
    settings = ArgoSettings(feast_project="churn")
    labels = workflow["metadata"]["labels"]
    assert labels[EVENT_ID_LABEL] == SAMPLE_LABELS[EVENT_ID_LABEL]
    assert labels[TRACE_ID_LABEL] == SAMPLE_LABELS[TRACE_ID_LABEL]
    assert workflow["spec"]["podMetadata"]["labels"] == labels
    assert workflow["spec"]["serviceAccountName"] == settings.service_account
    assert workflow["spec"]["activeDeadlineSeconds"] == settings.active_deadline_seconds
    for manifest in manifests(workflow).values():
        assert manifest["metadata"]["labels"] == labels
    for template in workflow["spec"]["templates"]:
        if "container" in template:
            assert template["container"]["image"] == settings.image
            assert template["container"]["resources"]["requests"]
            assert template["retryStrategy"]["limit"] == str(settings.step_retry_limit)


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_every_pod_of_a_run_takes_the_image_pull_policy_of_the_settings(pipeline: str) -> None:
    """A node whose images are imported into its runtime (no registry) needs Never on every pod a run makes."""
    workflow = render(pipeline, settings=ArgoSettings(feast_project="churn", image_pull_policy="Never"))
    policies = [t["container"]["imagePullPolicy"] for t in workflow["spec"]["templates"] if "container" in t]
    for kind, manifest in manifests(workflow).items():
        if kind == "SparkApplication":
            policies.append(manifest["spec"]["imagePullPolicy"])
        else:
            cluster = manifest["spec"]["rayClusterSpec"]
            pods = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
            policies += [c["imagePullPolicy"] for pod in pods for c in pod["template"]["spec"]["containers"]]
    assert policies
    assert set(policies) == {"Never"}


def test_label_values_that_do_not_fit_are_folded_and_kept_verbatim_as_annotations() -> None:
    workflow = build_workflow(
        "data-etl",
        SAMPLE_PARAMS["data-etl"],
        run_name="data-etl-0123456789ab",
        labels={EVENT_ID_LABEL: "kafka:data-arrivals/3/1042"},
        settings=ArgoSettings(feast_project="churn"),
    ).to_dict()
    assert workflow["metadata"]["labels"][EVENT_ID_LABEL] == "kafka-data-arrivals-3-1042"
    assert workflow["metadata"]["annotations"][EVENT_ID_LABEL] == "kafka:data-arrivals/3/1042"


def test_retrain_gets_its_commit_as_a_git_artifact() -> None:
    params = SAMPLE_PARAMS["retrain"]
    assert isinstance(params, RetrainParams)
    for cluster_mode in (True, False):
        first = templates(render("retrain", cluster_mode=cluster_mode))["repo-tests"]
        (artifact,) = first["inputs"]["artifacts"]
        assert artifact["git"] == {"repo": params.repo_url, "revision": params.commit}
        assert artifact["path"].startswith("/work/")


@pytest.mark.parametrize("cluster_mode", [True, False], ids=["cluster", "containers"])
def test_step_outputs_flow_into_downstream_requests(cluster_mode: bool) -> None:
    """A template reads upstream results through its own inputs, which its DAG task fills from those steps."""
    workflow = render("retrain", cluster_mode=cluster_mode)
    evaluate = templates(workflow)["evaluate"]
    request = evaluate["container"]["command"][evaluate["container"]["command"].index("--params") + 1]
    assert "{{inputs.parameters.build-training-set}}" in request
    assert "{{inputs.parameters.train}}" in request
    assert "{{tasks." not in request
    assert [parameter["name"] for parameter in evaluate["inputs"]["parameters"]] == ["build-training-set", "train"]
    assert dag_tasks(workflow)["evaluate"]["arguments"]["parameters"] == [
        {"name": "build-training-set", "value": "{{tasks.build-training-set.outputs.parameters.result}}"},
        {"name": "train", "value": "{{tasks.train.outputs.parameters.result}}"},
    ]
    assert templates(workflow)["train"]["outputs"]["parameters"][0]["name"] == "result"


def test_no_template_refers_to_another_task() -> None:
    """Only DAG task arguments may name ``tasks.*``: the Argo controller refuses such a reference anywhere else."""
    for pipeline in PIPELINES:
        for template in render(pipeline)["spec"]["templates"]:
            if "dag" not in template:
                assert "{{tasks." not in json.dumps(template), (pipeline, template["name"])


def test_retrain_runs_the_repository_tests_first_and_without_etl_the_training_set_next() -> None:
    params = SAMPLE_PARAMS["retrain"]
    assert isinstance(params, RetrainParams)
    tasks = dag_tasks(render("retrain", params=params.model_copy(update={"etl": None})))
    assert "etl" not in tasks and "materialize" not in tasks
    assert "depends" not in tasks["repo-tests"]
    assert tasks["build-training-set"]["depends"] == "repo-tests"
    assert tasks["evaluate"]["depends"] == "train"


def test_container_mode_has_no_custom_resources() -> None:
    workflow = render("retrain", cluster_mode=False)
    assert manifests(workflow) == {}
    assert list(dag_tasks(workflow)) == [
        "repo-tests",
        "etl",
        "materialize",
        "build-training-set",
        "train",
        "evaluate",
        "register",
    ]


def test_rendering_is_deterministic() -> None:
    assert render("retrain") == render("retrain")


def test_a_pipeline_refuses_another_pipelines_params() -> None:
    with pytest.raises(PermanentError, match="EtlParams"):
        build_workflow(
            "data-etl",
            SAMPLE_PARAMS["feature-apply"],
            run_name="x-0",
            labels={},
            settings=ArgoSettings(feast_project="churn"),
        )


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_matches_golden_file(case: str) -> None:
    pipeline, repository_image = GOLDEN_CASES[case]
    rendered = build_workflow(
        pipeline,
        SAMPLE_PARAMS[pipeline],
        run_name=f"{pipeline}-0123456789ab",
        labels=SAMPLE_LABELS,
        settings=ArgoSettings(feast_project="churn"),
        repository_image=repository_image,
    ).to_yaml()
    golden = GOLDEN_DIR / f"{case}.yaml"
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(rendered)
    assert golden.exists(), f"{golden} is missing; create it with UPDATE_GOLDEN=1"
    assert rendered == golden.read_text(), f"{case} renders differently from {golden}; see module docstring"
    assert errors(argo_workflow_validator(), yaml.safe_load(golden.read_text())) == []


def test_golden_files_exist_for_every_case_and_no_other() -> None:
    assert sorted(path.stem for path in GOLDEN_DIR.glob("*.yaml")) == sorted(GOLDEN_CASES)


def test_git_artifact_lands_where_the_steps_look_for_their_checkout(
    git_remote_factory: GitRemoteFactory, tmp_path: Path
) -> None:
    """The Argo artifact pre-fills the path ``workflows.steps.checkout`` uses, so steps reuse it instead of cloning."""
    remote = git_remote_factory.create("churn-model", initial_files={"configs/xgb_model_params.yaml": "max_depth: 4\n"})
    commit = Repo(remote).head.commit.hexsha
    params = RetrainParams(model_name="churn-xgb", repo_url=f"file://{remote}", commit=commit)
    run = "retrain-0123456789ab"
    workflow = build_workflow(
        "retrain", params, run_name=run, labels={}, settings=ArgoSettings(feast_project="churn")
    ).to_dict()
    (artifact,) = templates(workflow)["repo-tests"]["inputs"]["artifacts"]
    work_dir = f"/work/runs/{run}"
    local_checkout = checkout(params.repo_url, commit, str(tmp_path))
    assert Path(artifact["path"]).relative_to(work_dir) == local_checkout.relative_to(tmp_path)


def _runtimes(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The runtime each step is handed, keyed by template name (containers and the SparkApplication)."""
    found = {}
    for template in workflow["spec"]["templates"]:
        spec = yaml.safe_load(template["resource"]["manifest"])["spec"] if "resource" in template else {}
        if "arguments" in spec:  # the SparkApplication (a RayJob's request sits in its entrypoint)
            found[template["name"]] = json.loads(spec["arguments"][2])["runtime"]
        elif "container" in template and "--params" in template["container"]["command"]:
            command = template["container"]["command"]
            request = command[command.index("--params") + 1]
            without_inputs = re.sub(r"\{\{inputs\.parameters\.[^}]+\}\}", "{}", request)
            found[template["name"]] = json.loads(without_inputs)["runtime"]
    return found


def test_a_driver_in_the_cluster_advertises_its_pod_address_unless_one_is_configured() -> None:
    runtimes = _runtimes(render("data-etl"))
    assert runtimes["etl-sparkapplication"]["spark"]["driver_host"] is None
    assert runtimes["materialize"]["spark"]["driver_host"] == "127.0.0.1", (
        "a local[*] driver in a step container stays local"
    )

    pinned = ArgoSettings.model_validate({"feast_project": "churn", "spark": {"driver_host": "etl-driver.mlops.svc"}})
    workflow = build_workflow("data-etl", SAMPLE_PARAMS["data-etl"], run_name="data-etl-0", labels={}, settings=pinned)
    assert _runtimes(workflow.to_dict())["etl-sparkapplication"]["spark"]["driver_host"] == "etl-driver.mlops.svc"


def test_retrain_without_a_commit_fetches_the_branch_head_where_the_train_step_resolves_it(
    git_remote_factory: GitRemoteFactory, tmp_path: Path
) -> None:
    """No commit: Argo checks out the branch; the step records the SHA of that checkout, not the branch name."""
    remote = git_remote_factory.create("churn-model", initial_files={"configs/xgb_model_params.yaml": "max_depth: 4\n"})
    params = RetrainParams(model_name="churn-xgb", repo_url=f"file://{remote}", branch="main")
    run = "retrain-0123456789ab"
    workflow = build_workflow(
        "retrain", params, run_name=run, labels={}, settings=ArgoSettings(feast_project="churn")
    ).to_dict()
    assert errors(argo_workflow_validator(), workflow) == []
    (artifact,) = templates(workflow)["repo-tests"]["inputs"]["artifacts"]
    assert artifact["git"] == {"repo": params.repo_url, "revision": "main"}

    delivered = tmp_path / Path(artifact["path"]).relative_to(f"/work/runs/{run}")
    Repo.clone_from(params.repo_url, delivered, branch="main")
    path, sha = checkout_revision(params.repo_url, None, "main", str(tmp_path))
    assert path == delivered and sha == Repo(remote).head.commit.hexsha


def pod_images(workflow: dict[str, Any]) -> dict[str, set[str]]:
    """The images each template's pods run, keyed by template name (a RayJob's head and workers included)."""
    found: dict[str, set[str]] = {}
    for template in workflow["spec"]["templates"]:
        if "container" in template:
            found[template["name"]] = {template["container"]["image"]}
        elif "resource" in template:
            spec = yaml.safe_load(template["resource"]["manifest"])["spec"]
            if "rayClusterSpec" in spec:
                cluster = spec["rayClusterSpec"]
                pods = [cluster["headGroupSpec"], *cluster["workerGroupSpecs"]]
                found[template["name"]] = {c["image"] for pod in pods for c in pod["template"]["spec"]["containers"]}
            else:
                found[template["name"]] = {spec["image"]}
    return found


@pytest.mark.parametrize("cluster_mode", [True, False], ids=["cluster", "containers"])
def test_only_the_steps_running_repository_code_run_in_the_repository_image(cluster_mode: bool) -> None:
    workflow = build_workflow(
        "retrain",
        SAMPLE_PARAMS["retrain"],
        run_name="retrain-0123456789ab",
        labels={},
        settings=ArgoSettings(feast_project="churn", cluster_mode=cluster_mode),
        repository_image=SAMPLE_REPOSITORY_IMAGE,
    ).to_dict()
    in_repository_image = {name for name, images in pod_images(workflow).items() if images == {SAMPLE_REPOSITORY_IMAGE}}
    in_service_image = {
        name for name, images in pod_images(workflow).items() if images == {ArgoSettings(feast_project="churn").image}
    }
    if cluster_mode:
        assert in_repository_image == {"repo-tests", "etl-sparkapplication", "train-rayjob", "evaluate"}
        assert in_service_image == {
            "etl",
            "materialize",
            "build-training-set",
            "train",
            "register",
        }  # etl, train: collectors
    else:
        assert in_repository_image == {"repo-tests", "etl", "train", "evaluate"}
        assert in_service_image == {"materialize", "build-training-set", "register"}


def test_the_steps_work_against_the_configured_feast_project_and_no_other() -> None:
    with pytest.raises(PermanentError, match=r"set workflows\.argo\.feast_project"):
        render("feature-apply", settings=ArgoSettings())
    runtimes = _runtimes(render("retrain", settings=ArgoSettings(feast_project="fraud")))
    assert runtimes and {runtime["feast_project"] for runtime in runtimes.values()} == {"fraud"}
