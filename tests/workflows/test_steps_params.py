"""Pipeline parameters refuse what must never reach a path, a git command or a manifest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from core.errors import PermanentError
from workflows.params import PIPELINES, EtlParams, EvalGate, FeatureApplyParams, RetrainParams
from workflows.steps import PIPELINE_TASKS, STEPS
from workflows.steps.evaluate import decide
from workflows.steps.hyperparams import resolve

SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    "source_uri",
    ["../raw", "/data/../etc", "/data/raw;rm -rf /", "/data/$(id)", "s3://bucket/a b", "relative/raw", "/data/`x`"],
)
def test_etl_refuses_unsafe_source_uris(source_uri: str) -> None:
    with pytest.raises(ValidationError):
        EtlParams(source_uri=source_uri, partitions=["date=2026-11-01"])


@pytest.mark.parametrize("partition", ["../date=1", "date=1/..", "date=1;ls", "date=1\nx", "", "a//b"])
def test_etl_refuses_unsafe_partitions(partition: str) -> None:
    with pytest.raises(ValidationError):
        EtlParams(source_uri="/data/raw", partitions=[partition])


@pytest.mark.parametrize(
    "repo_url",
    ["--upload-pack=touch /tmp/x", "ext::sh -c id", "https://host/../x", "/srv/repo;id", "https://host/r|id", ""],
)
def test_retrain_refuses_unsafe_repo_urls(repo_url: str) -> None:
    with pytest.raises(ValidationError):
        RetrainParams(model_name="churn-xgb", repo_url=repo_url, commit=SHA)


@pytest.mark.parametrize(
    "field, value",
    [
        ("commit", "HEAD~1"),
        ("commit", "main"),
        ("model_name", "churn model"),
        ("model_name", "../churn"),
        ("params_file", "../secrets.yaml"),
        ("params_file", "/etc/passwd"),
        ("trigger_event_id", "id with spaces"),
        ("hyperparameters", {"max_depth; rm": 3}),
        ("hyperparameters", {"objective": "binary:logistic$(id)"}),
        ("num_workers", 0),
    ],
)
def test_retrain_refuses_bad_fields(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        RetrainParams.model_validate(
            {"repo_url": "https://git.example.com/ml/churn.git", "commit": SHA, "model_name": "churn-xgb", field: value}
        )


@pytest.mark.parametrize(
    "repo_url", ["https://git.example.com/ml/churn.git", "git@github.com:ml/churn.git", "file:///srv/git/churn.git"]
)
def test_retrain_accepts_real_clone_urls(repo_url: str) -> None:
    params = RetrainParams(
        model_name="churn-xgb", repo_url=repo_url, commit=SHA, hyperparameters={"objective": "binary:logistic"}
    )
    assert RetrainParams.model_validate_json(params.model_dump_json()) == params


def test_feature_apply_wants_repo_and_commit_together() -> None:
    with pytest.raises(ValidationError):
        FeatureApplyParams(repo_url="https://git.example.com/ml/churn.git")
    assert FeatureApplyParams().repo_url is None


def test_every_pipeline_runs_registered_steps_with_matching_params() -> None:
    assert set(PIPELINE_TASKS) == set(PIPELINES)
    for pipeline, tasks in PIPELINE_TASKS.items():
        names = [task.step for task in tasks]
        for task in tasks:
            step = STEPS[task.step]
            params_model = PIPELINES[pipeline]
            if task.params_field is not None:
                assert params_model.model_fields[task.params_field].annotation == step.params_model | None
            else:
                assert step.params_model is params_model
            assert set(step.reads) <= set(names[: names.index(task.step)]), f"{task.step} reads a later step"
            assert set(task.after) <= set(names)


def test_hyperparameters_merge_file_then_overrides() -> None:
    resolved = resolve(
        {"learning_rate": 0.3, "n_estimators": 50, "random_state": 7, "n_jobs": 16, "max_depth": 4},
        {"max_depth": 6},
        None,
        seed=42,
    )
    assert resolved.num_boost_round == 50
    assert resolved.booster == {"objective": "binary:logistic", "seed": 7, "learning_rate": 0.3, "max_depth": 6}
    assert resolve({"n_estimators": 50}, {}, 5, seed=1).num_boost_round == 5


@pytest.mark.parametrize(
    "gate, metric, champion, promote",
    [
        (EvalGate(metric="auc", threshold=0.7), 0.75, None, True),
        (EvalGate(metric="auc", threshold=0.8), 0.75, None, False),
        (EvalGate(metric="auc", threshold=0.7, champion_margin=0.01), 0.75, 0.73, True),
        (EvalGate(metric="auc", threshold=0.7, champion_margin=0.05), 0.75, 0.73, False),
        (EvalGate(metric="auc", threshold=0.7), 0.75, 0.75, False),
        (EvalGate(metric="logloss", threshold=0.5, champion_margin=0.01), 0.40, 0.45, True),
        (EvalGate(metric="logloss", threshold=0.5), 0.55, None, False),
    ],
)
def test_gate_decision(gate: EvalGate, metric: float, champion: float | None, promote: bool) -> None:
    decided, reason = decide(gate, metric, champion)
    assert decided is promote
    assert gate.metric in reason


def test_step_entrypoint_refuses_an_invalid_request(tmp_path: Path) -> None:
    request = {
        "params": {"source_uri": "/data/../etc", "partitions": ["date=2026-11-01"]},
        "runtime": {
            "work_dir": str(tmp_path),
            "feature_store_dir": str(tmp_path / "fs"),
            "feature_repo_source": "feature_repo",
            "mlflow_tracking_uri": "http://127.0.0.1:5000",
        },
        "workflow_name": "etl-1",
    }
    output = tmp_path / "out.json"
    completed = subprocess.run(
        [sys.executable, "-m", "workflows.steps", "etl", "--params", json.dumps(request), "--output", str(output)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 2
    assert "source_uri" in completed.stderr
    assert not output.exists()


@pytest.mark.parametrize(
    ("from_file", "named"),
    [
        ({"n_estimators": 1_000_000_000}, "num_boost_round"),
        ({"num_boost_round": 10_001}, "num_boost_round"),
        ({"max_depth": 500}, "max_depth"),
        ({"max_bin": "1e9"}, "max_bin"),
        ({"max_leaves": float("nan")}, "max_leaves"),
    ],
)
def test_a_pushed_params_file_cannot_ask_for_unbounded_training(from_file: dict[str, Any], named: str) -> None:
    with pytest.raises(PermanentError, match=f"hyperparameter {named} is .*upper bound"):
        resolve(from_file, {}, None, seed=1)
    assert resolve({"n_estimators": 10_000, "max_depth": 64}, {}, None, seed=1).num_boost_round == 10_000
