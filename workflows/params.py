"""Typed parameters of every pipeline, validated before anything runs or is submitted.

Pipeline parameters are filled from event fields by rule templates, so they are
untrusted input. Every string that ends up in a path, a git command, a Spark
read or an Argo manifest is typed with an allow-list pattern here; a value that
does not match (``../``, shell metacharacters, newlines, option-looking
``--flags``) is refused at this boundary. Both backends render or run from
these models, so Argo templates and Prefect flows agree on one contract.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from core.identifiers import SINGLE_LINE, BranchName, DatasetKey, FeastName, GitSha, ModelName

# No segment may be "." or ".." and nothing may start with "-" (git option injection).
_SAFE_PATH = r"(?:/(?!\.{1,2}(?:/|$))[A-Za-z0-9_.=\-]+)+"
DATA_URI_PATTERN = (
    rf"^(?:(?:s3a?|gs|abfss?)://[a-z0-9][a-z0-9.\-]*{_SAFE_PATH}/?|file://{_SAFE_PATH}/?|{_SAFE_PATH}/?)$"
)
GIT_URL_PATTERN = (
    rf"^(?:(?:https|ssh)://(?:[A-Za-z0-9_.\-]+@)?[A-Za-z0-9.\-]+(?::[0-9]{{1,5}})?{_SAFE_PATH}"
    rf"|git@[A-Za-z0-9.\-]+:[A-Za-z0-9_.\-]+{_SAFE_PATH}?"
    rf"|file://{_SAFE_PATH}"
    rf"|{_SAFE_PATH})$"
)
EVENT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:@\-]*$"
HYPERPARAMETER_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
RELATIVE_PATH_PATTERN = r"^(?!\.{1,2}(?:/|$))[A-Za-z0-9_\-][A-Za-z0-9_.\-]*(?:/(?!\.{1,2}(?:/|$))[A-Za-z0-9_.\-]+)*$"

DataUri = Annotated[str, StringConstraints(pattern=DATA_URI_PATTERN, max_length=1024), SINGLE_LINE]
GitUrl = Annotated[str, StringConstraints(pattern=GIT_URL_PATTERN, max_length=1024), SINGLE_LINE]
EventId = Annotated[str, StringConstraints(pattern=EVENT_ID_PATTERN, max_length=256), SINGLE_LINE]
HyperparameterName = Annotated[str, StringConstraints(pattern=HYPERPARAMETER_NAME_PATTERN, max_length=64), SINGLE_LINE]
RelativePath = Annotated[str, StringConstraints(pattern=RELATIVE_PATH_PATTERN, max_length=512), SINGLE_LINE]
HyperparameterValue = (
    Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]+$", max_length=64), SINGLE_LINE] | float | int | bool
)

# Metrics the evaluation gate understands, and whether larger is better.
GATE_METRICS: dict[str, bool] = {"auc": True, "accuracy": True, "f1": True, "logloss": False}
GateMetric = Literal["auc", "accuracy", "f1", "logloss"]


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")


class EtlParams(_Params):
    """Which raw partitions of which dataset to clean into the Feast offline store, under whose contract.

    With ``repo_url`` the dataset's rules and transform hook come from that ML
    repository's ``mlops.yaml`` at ``commit`` (else the head of ``branch``);
    without it, from the reference repository ``mlops-gitops init ml-repo`` writes.
    No dataset or model is named by default: which ones a team has is its
    repository's and its rules' business, never the service's.
    """

    dataset: DatasetKey | None = Field(
        default=None, description="Dataset of the repository's mlops.yaml to enforce; none: its only one."
    )
    repo_url: GitUrl | None = Field(default=None, description="ML repository whose mlops.yaml defines the dataset.")
    commit: GitSha | None = Field(default=None, description="Commit of that repository; none: the head of branch.")
    branch: BranchName = "main"
    source_uri: DataUri = Field(description="Root of the raw data; each partition is a sub-directory of it.")
    partitions: tuple[DatasetKey, ...] = Field(
        min_length=1, max_length=366, description="Partition sub-paths under source_uri, e.g. 'date=2026-11-26'."
    )
    trigger_event_id: EventId | None = Field(default=None, description="Id of the event that started the run.")


class EvalGate(_Params):
    """When a trained model may be promoted: an absolute bar and a margin over the champion."""

    metric: GateMetric = "auc"
    threshold: float = Field(default=0.7, description="The candidate must reach at least this (or at most, for loss).")
    champion_margin: float = Field(default=0.0, ge=0.0, description="Required improvement over the champion.")
    promote_to: Literal["Staging", "challenger"] = Field(
        default="challenger", description="'Staging' moves the registry stage; 'challenger' sets that alias."
    )

    @property
    def higher_is_better(self) -> bool:
        return GATE_METRICS[self.metric]


class RetrainParams(_Params):
    """Retrain the model from the ML code repo at one commit, optionally after an ETL of new data.

    Without a commit (a data-triggered run, say) the head of ``branch`` is
    resolved when the code is checked out, and that SHA is what the run records.
    """

    repo_url: GitUrl = Field(description="Clone URL of the ML code repository.")
    commit: GitSha | None = Field(
        default=None,
        description="Commit whose code and configs/xgb_model_params.yaml are trained; none: the head of branch.",
    )
    branch: BranchName = Field(default="main", description="Branch whose head is trained when no commit is given.")
    params_file: RelativePath = Field(default="configs/xgb_model_params.yaml")
    etl: EtlParams | None = Field(default=None, description="Clean and materialize these partitions first.")
    run_tests: bool = Field(default=True, description="Run the repository's tests at the commit before training.")
    dataset: DatasetKey | None = Field(
        default=None, description="Dataset of the repository's mlops.yaml holding the labels; none: its only one."
    )
    model_name: ModelName = Field(description="Registered model (and MLflow experiment) the trained version joins.")
    feature_service: FeastName | None = Field(
        default=None, description="Overrides the training feature service named in the repository's mlops.yaml."
    )
    num_workers: int = Field(default=2, ge=1, le=64, description="Ray training workers.")
    num_boost_round: int | None = Field(default=None, ge=1, le=10_000, description="Overrides the params file.")
    hyperparameters: dict[HyperparameterName, HyperparameterValue] = Field(
        default_factory=dict, max_length=64, description="XGBoost parameters overriding the params file."
    )
    holdout_fraction: float = Field(default=0.2, gt=0.0, lt=0.9)
    seed: int = Field(default=42, ge=0, le=2**31 - 1)
    gate: EvalGate = Field(default_factory=EvalGate)
    trigger_event_id: EventId | None = None

    @model_validator(mode="before")
    @classmethod
    def _etl_under_the_trained_contract(cls, data: Any) -> Any:
        """A retrain's ETL enforces the contract of the repository and commit being trained, unless told otherwise."""
        if not isinstance(data, dict):
            return data
        etl = data.get("etl")
        etl = etl.model_dump(exclude_unset=True) if isinstance(etl, EtlParams) else etl
        if not isinstance(etl, dict) or etl.get("repo_url"):
            return data
        inherited = {key: data[key] for key in ("repo_url", "commit", "branch") if data.get(key) is not None}
        return {**data, "etl": {**inherited, **etl}}


class FeatureApplyParams(_Params):
    """Register the Feast definitions, from this service's feature repo or from a repo at a commit."""

    repo_url: GitUrl | None = Field(default=None, description="Repository holding the definitions; none: built-in.")
    commit: GitSha | None = None
    repo_subdir: RelativePath = Field(default="feature_repo", description="Directory of the definitions in that repo.")
    trigger_event_id: EventId | None = None

    @model_validator(mode="after")
    def _commit_names_a_repo(self) -> FeatureApplyParams:
        if (self.repo_url is None) != (self.commit is None):
            raise ValueError("repo_url and commit go together: give both, or neither for the built-in feature repo")
        return self


PIPELINES: dict[str, type[BaseModel]] = {
    "data-etl": EtlParams,
    "retrain": RetrainParams,
    "feature-apply": FeatureApplyParams,
}
