"""The registry of pipeline steps and the order each pipeline runs them in.

Both backends read this one table: the Argo templates call
``python -m workflows.steps <step> --params <request json> --output <path>``
and the Prefect flows call the same functions in the same order. Entry points
are import strings so that listing steps (for rendering) does not import
Spark, Ray or Feast; a step's heavy libraries load only where it runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from workflows.params import EtlParams, FeatureApplyParams, RetrainParams
from workflows.steps.contract import StepRequest

StepFunction = Callable[[StepRequest[Any]], BaseModel]


@dataclass(frozen=True)
class Step:
    """One unit of work: what it accepts, which step outputs it reads, and where its code is.

    ``runs_repo_code`` marks the steps that call the ML repository's own code
    (its tests, the ETL transform, the model class, the evaluation hook): in
    Argo they run in the repository's image when its ``mlops.yaml`` names one.
    """

    name: str
    entrypoint: str
    params_model: type[BaseModel]
    reads: tuple[str, ...] = ()
    runs_repo_code: bool = False

    def load(self) -> StepFunction:
        module_name, _, function_name = self.entrypoint.partition(":")
        function: StepFunction = getattr(importlib.import_module(module_name), function_name)
        return function


@dataclass(frozen=True)
class Task:
    """A step's place in a pipeline.

    ``after`` orders it behind other tasks. ``params_field`` names the field of
    the pipeline parameters handed to the step as its own parameters; the task
    is skipped when that field is empty (an optional stage such as retrain's ETL).
    """

    step: str
    after: tuple[str, ...] = ()
    params_field: str | None = None


STEPS: dict[str, Step] = {
    step.name: step
    for step in (
        Step("repo-tests", "workflows.steps.repo_tests:run_repo_tests", RetrainParams, runs_repo_code=True),
        Step("etl", "workflows.steps.etl:run_etl", EtlParams, runs_repo_code=True),
        Step("materialize", "workflows.steps.materialize:materialize", EtlParams, reads=("etl",)),
        Step("build-training-set", "workflows.steps.training_set:build_training_set", RetrainParams),
        Step("train", "workflows.steps.train:train", RetrainParams, reads=("build-training-set",), runs_repo_code=True),
        Step(
            "evaluate",
            "workflows.steps.evaluate:evaluate",
            RetrainParams,
            reads=("build-training-set", "train"),
            runs_repo_code=True,
        ),
        Step("register", "workflows.steps.register:register", RetrainParams, reads=("train", "evaluate")),
        Step("feast-apply", "workflows.steps.feast_apply:feast_apply", FeatureApplyParams),
    )
}

PIPELINE_TASKS: dict[str, tuple[Task, ...]] = {
    "data-etl": (Task("etl"), Task("materialize", after=("etl",))),
    "retrain": (
        Task("repo-tests"),
        Task("etl", after=("repo-tests",), params_field="etl"),
        Task("materialize", after=("etl",), params_field="etl"),
        Task("build-training-set", after=("materialize",)),
        Task("train", after=("build-training-set",)),
        Task("evaluate", after=("train",)),
        Task("register", after=("evaluate",)),
    ),
    "feature-apply": (Task("feast-apply"),),
}
