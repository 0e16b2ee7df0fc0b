"""The contract between the service and an ML repository: one versioned ``mlops.yaml`` at its root.

A push retrains what was pushed, so everything particular to a team's domain
lives in its own repository and this file says where: the datasets the ETL
accepts and the rules it enforces on them, the Feast repository and the
feature service training asks for, the hooks the pipelines call, how the
repository's tests run, and what its code needs installed. The service reads
the file at the commit it runs, so a change to any of these is versioned,
reviewed and trained like any other change.

The file is data, validated by the models below, never executed; every
problem is reported as one line naming its field. Paths are relative to the
repository root and may not leave it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)

from core.errors import PermanentError
from core.identifiers import SINGLE_LINE, ColumnName, DatasetKey, FeastName, ImageName
from core.validation import validation_problems
from workflows.params import RelativePath

CONTRACT_FILE = "mlops.yaml"
CONTRACT_VERSION = 1

ColumnType = Literal["long", "int", "double", "timestamp", "string"]
_NUMERIC = ("long", "int", "double")
_RELATIVE_PATH: TypeAdapter[str] = TypeAdapter(RelativePath, config=ConfigDict(regex_engine="python-re"))


def _hook_reference(value: str) -> str:
    path, separator, attribute = value.rpartition(":")
    if not separator or not path.endswith(".py") or not attribute.isidentifier():
        raise ValueError("must be 'path/to/file.py:name', a Python file of the repository and a name in it")
    try:
        _RELATIVE_PATH.validate_python(path)
    except ValidationError as e:
        raise ValueError(f"{path!r} is not a path inside the repository") from e
    return value


def _requirement(value: str) -> str:
    try:
        requirement = Requirement(value)
    except InvalidRequirement as e:
        raise ValueError(f"not a PEP 508 requirement: {e}") from e
    if requirement.url:
        raise ValueError("direct URL references are not allowed; name a package from the configured index")
    return value


HookReference = Annotated[str, StringConstraints(max_length=512), SINGLE_LINE, AfterValidator(_hook_reference)]
RequirementSpec = Annotated[str, StringConstraints(max_length=256), SINGLE_LINE, AfterValidator(_requirement)]


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", regex_engine="python-re")


class Column(_Strict):
    """One typed column. ``fill`` replaces a blank; a required column without one sends the row to quarantine."""

    name: ColumnName
    type: ColumnType
    required: bool = False
    fill: float | int | str | None = None
    min_value: float | None = Field(default=None, description="Rows below it are quarantined.")
    max_value: float | None = Field(default=None, description="Rows above it are quarantined.")
    allowed: tuple[int | str, ...] | None = Field(default=None, min_length=1, description="The only values kept.")

    @model_validator(mode="after")
    def _rules_fit_the_type(self) -> Column:
        if self.required and self.fill is not None:
            raise ValueError("a required column has no fill value: a blank sends the row to quarantine")
        numeric = self.type in _NUMERIC
        if (self.min_value is not None or self.max_value is not None) and not numeric:
            raise ValueError(f"min_value and max_value apply to numeric columns, not to a {self.type}")
        if self.fill is not None and numeric != isinstance(self.fill, float | int):
            raise ValueError(f"fill value {self.fill!r} is not a {self.type}")
        if self.type == "timestamp" and (self.fill is not None or self.allowed is not None):
            raise ValueError("a timestamp column takes neither fill nor allowed values")
        if self.min_value is not None and self.max_value is not None and self.min_value > self.max_value:
            raise ValueError("min_value is above max_value")
        return self


class DatasetContract(_Strict):
    """What the ETL enforces on one dataset and where its clean rows land for Feast.

    ``entity``, ``timestamp`` and ``label`` name columns; every other column
    is a feature candidate. Clean rows are written partitioned by
    ``partition`` (the date of the timestamp) under ``offline_subdir`` of the
    feature store, the path the Feast file source of the repository reads.
    ``transform`` is the repository's ETL hook, applied after the contract.
    """

    key: DatasetKey
    columns: tuple[Column, ...] = Field(min_length=2)
    entity: ColumnName
    timestamp: ColumnName
    label: ColumnName
    partition: ColumnName = "event_date"
    offline_subdir: RelativePath
    transform: HookReference | None = Field(
        default=None, description="'file.py:function' taking and returning a Spark DataFrame."
    )

    @model_validator(mode="after")
    def _columns_are_consistent(self) -> DatasetContract:
        names = [column.name for column in self.columns]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"columns {duplicates} are listed twice")
        missing = [role for role in ("entity", "timestamp", "label") if getattr(self, role) not in names]
        if missing:
            raise ValueError(f"{', '.join(missing)} must name one of the columns {names}")
        if self.partition in names:
            raise ValueError(f"partition column {self.partition!r} is derived from the timestamp, not a column")
        by_name = {column.name: column for column in self.columns}
        if by_name[self.timestamp].type != "timestamp":
            raise ValueError(f"timestamp column {self.timestamp!r} must have type timestamp")
        not_required = [role for role in ("entity", "timestamp", "label") if not by_name[getattr(self, role)].required]
        if not_required:
            raise ValueError(f"the {', '.join(not_required)} column must be required: a row without it is unusable")
        return self

    @property
    def feature_columns(self) -> tuple[str, ...]:
        not_features = {self.entity, self.timestamp, self.label}
        return tuple(c.name for c in self.columns if c.name not in not_features)


class FeaturesSpec(_Strict):
    """The repository's Feast definitions and the feature service training (and serving) ask for."""

    repo: RelativePath = Field(default="feature_repo", description="Directory of the Feast definitions.")
    training_service: FeastName = Field(description="Feature service whose features the model is trained on.")


class HooksSpec(_Strict):
    """Repository code the pipelines call, each as 'file.py:name' at the trained commit."""

    model: HookReference = Field(
        default="src/training/xgb_model.py:XGBModel",
        description="Class preparing features and label and giving the booster parameters.",
    )
    evaluate: HookReference | None = Field(
        default=None, description="Function scoring the model on the hold-out set for the gate; none: built-in."
    )


class TestsSpec(_Strict):
    """How the repository's own tests run before its code is trained."""

    runner: Literal["pytest"] = "pytest"
    args: tuple[Annotated[str, StringConstraints(max_length=256), SINGLE_LINE], ...] = Field(
        default=("tests",), max_length=32, description="Arguments after 'python -m pytest'."
    )
    timeout_seconds: int = Field(default=900, ge=10, le=7200)


class DependenciesSpec(_Strict):
    """What the repository's code needs beyond the step image: packages to install, or an image of its own.

    ``requirements`` are installed into an environment cached by their hash
    and layered over the step environment. ``image`` instead names an image
    the repository's CI builds and tags with each commit (``image:<sha>``).
    """

    requirements: tuple[RequirementSpec, ...] = Field(default=(), max_length=128)
    image: ImageName | None = None

    @model_validator(mode="after")
    def _one_way(self) -> DependenciesSpec:
        if self.requirements and self.image is not None:
            raise ValueError("give requirements or an image, not both: the image must already hold what the code needs")
        return self


class RepoContract(_Strict):
    """The whole ``mlops.yaml``: version, datasets, features, hooks, tests and dependencies."""

    version: Literal[1]
    datasets: dict[DatasetKey, DatasetContract] = Field(min_length=1)
    features: FeaturesSpec
    hooks: HooksSpec = Field(default_factory=HooksSpec)
    tests: TestsSpec = Field(default_factory=TestsSpec)
    dependencies: DependenciesSpec = Field(default_factory=DependenciesSpec)

    @model_validator(mode="before")
    @classmethod
    def _key_each_dataset(cls, data: Any) -> Any:
        """The dataset's key is its name in the ``datasets`` mapping; it is not written twice."""
        if isinstance(data, dict) and isinstance(data.get("datasets"), dict):
            datasets = {
                key: {**value, "key": key} if isinstance(value, dict) else value
                for key, value in data["datasets"].items()
            }
            return {**data, "datasets": datasets}
        return data

    def dataset(self, key: str | None) -> DatasetContract:
        """The dataset named ``key``, or the only one there is when none is named."""
        if key is None:
            if len(self.datasets) > 1:
                known = ", ".join(sorted(self.datasets))
                raise PermanentError(
                    f"{CONTRACT_FILE} has several datasets ({known}); name one with the run's dataset parameter"
                )
            return next(iter(self.datasets.values()))
        try:
            return self.datasets[key]
        except KeyError as e:
            known = ", ".join(sorted(self.datasets))
            raise PermanentError(f"dataset {key!r} is not in {CONTRACT_FILE}; its datasets: {known}") from e


class ContractError(PermanentError):
    """The contract file is missing or invalid; ``problems`` has one line per problem, naming the field."""

    def __init__(self, path: Path, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{path.name} is invalid: " + "; ".join(problems))


def parse_contract(text: str, path: Path) -> RepoContract:
    """Validate the text of a contract file; ``path`` names it in errors."""
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ContractError(path, [f"{where}not valid YAML ({getattr(e, 'problem', e)})"]) from e
    if not isinstance(loaded, dict):
        raise ContractError(path, ["the top level must be a mapping (version, datasets, features, ...)"])
    if loaded.get("version") not in (None, CONTRACT_VERSION):
        raise ContractError(path, [f"version: {loaded['version']!r} is not supported; this service reads version 1"])
    try:
        return RepoContract.model_validate(loaded)
    except ValidationError as e:
        raise ContractError(path, validation_problems(e)) from e


def load_contract(repo_dir: Path) -> RepoContract:
    """The contract of the repository checked out in ``repo_dir``."""
    path = repo_dir / CONTRACT_FILE
    if not path.is_file():
        raise ContractError(
            path, [f"no {CONTRACT_FILE} at the repository root; `mlops-gitops init ml-repo` writes one"]
        )
    return parse_contract(path.read_text(), path)
