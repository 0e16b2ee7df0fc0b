"""The envelope every step receives and the runtime locations it works against.

A step runs in three places: inside a Prefect flow on a laptop, as an Argo
container (``python -m workflows.steps``) and in tests. All three hand it the
same :class:`StepRequest`: the validated parameters, the JSON outputs of the
steps it reads from, where things live (:class:`StepRuntime`) and the name of
the workflow run (a lineage tag). Nothing in a step reads the environment, so a
step's behaviour is fully described by its request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from core.errors import PermanentError
from core.identifiers import DnsLabel, FeastOnlineStore, FeastProject

LOOPBACK = "127.0.0.1"
HostAddress = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.\-]*$", max_length=253)]

ParamsT = TypeVar("ParamsT", bound=BaseModel)
OutputT = TypeVar("OutputT", bound=BaseModel)


class S3Runtime(BaseModel):
    """The S3-compatible store behind ``s3://`` and ``s3a://`` paths; credentials stay in the environment.

    The access key pair is read by Spark's JVMs from ``AWS_ACCESS_KEY_ID`` and
    ``AWS_SECRET_ACCESS_KEY`` (and ``AWS_SESSION_TOKEN``) of the driver's and the
    executors' own processes, so it never travels in a step request.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint: str | None = Field(
        default=None, pattern=r"^https?://[^\s/]+/?$", description="Store's URL (MinIO, Ceph); none: AWS S3."
    )
    region: str = Field(default="us-east-1", pattern=r"^[a-z0-9-]+$")
    path_style_access: bool = Field(default=False, description="bucket in the path, as most non-AWS stores need.")


class SparkRuntime(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    master: str = "local[*]"
    shuffle_partitions: int = Field(default=4, ge=1)
    driver_memory: str = "2g"
    driver_host: HostAddress | None = Field(
        default=LOOPBACK,
        description="Address the driver binds to and advertises; none leaves it to Spark (a pod's own address).",
    )
    s3: S3Runtime = Field(default_factory=S3Runtime)


class RayRuntime(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    address: str | None = Field(default=None, description="Existing cluster; none starts a local instance.")
    num_cpus: int | None = Field(default=2, ge=1, description="CPUs of a local instance.")


class FeatureStoreRuntime(BaseModel):
    """The Feast registry and online store behind a run's feature store; none of either: files in its directory.

    A model server in another namespace cannot open files on the pipelines' work volume, so a cluster names a
    registry it can read too (``s3://``, ``gs://``) and a networked online store (Redis, PostgreSQL): the same
    two the model server's ``feature_store.yaml`` names. Credentials never appear here: Feast expands ``${VAR}``
    in ``feature_store.yaml`` from the step's environment, so a connection string says
    ``password=${REDIS_PASSWORD}`` and the variable comes from a Secret.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    registry: str | None = Field(
        default=None,
        pattern=r"^(?:s3|gs|file)://[^\s]+$",
        description="Registry file URI (s3://bucket/path/registry.db); none: data/registry.db in the store directory.",
    )
    online_store: FeastOnlineStore | None = Field(
        default=None,
        description="Feast's online_store mapping (type: redis, connection_string: ...); none: sqlite in the store "
        "directory.",
    )


class StepRuntime(BaseModel):
    """Where data, features, checkouts and the model registry live for this run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    work_dir: str = Field(description="Scratch space: checkouts, quarantine, training sets.")
    feature_store_dir: str = Field(description="Live Feast repo: definitions, feature_store.yaml, data, registry.")
    feature_repo_source: str = Field(description="Built-in Feast definitions copied into feature_store_dir on apply.")
    feast_project: FeastProject = Field(description="Feast project the store's definitions are registered under.")
    environments_dir: str | None = Field(
        default=None, description="Cache of ML repositories' dependency environments; none: under work_dir."
    )
    mlflow_tracking_uri: str
    feature_store: FeatureStoreRuntime = Field(default_factory=FeatureStoreRuntime)
    spark: SparkRuntime = Field(default_factory=SparkRuntime)
    ray: RayRuntime = Field(default_factory=RayRuntime)


def environments_dir(runtime: StepRuntime) -> Path:
    """Where the dependency environments of ML repositories are built and kept between runs."""
    return Path(runtime.environments_dir or Path(runtime.work_dir) / "environments")


class StepRequest(BaseModel, Generic[ParamsT]):
    """Everything one step needs: its parameters, upstream outputs, runtime and run name."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    params: ParamsT
    upstream: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Outputs of the steps this one reads, keyed by step name."
    )
    runtime: StepRuntime
    workflow_name: DnsLabel = Field(description="Name of the workflow run; recorded as lineage.")

    def upstream_output(self, step: str, model: type[OutputT]) -> OutputT:
        """Parse the outputs of an upstream step; a missing one is a wiring error, not bad data."""
        if step not in self.upstream:
            raise PermanentError(f"outputs of step {step!r} were not passed in; the pipeline must wire them")
        return model.model_validate(self.upstream[step])
