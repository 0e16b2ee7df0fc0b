"""Settings of the workflow backends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, SecretStr, StringConstraints, model_validator

from core.identifiers import DnsLabel, FeastProject, ImageName
from core.settings_model import SettingsModel
from workflows.params import GitUrl
from workflows.steps.contract import LOOPBACK, FeatureStoreRuntime, HostAddress, S3Runtime

# A Kubernetes CPU quantity: whole cores ("2", "0.5") or millicores ("250m").
CpuQuantity = Annotated[str, StringConstraints(pattern=r"^(?:[0-9]+(?:\.[0-9]+)?|[0-9]+m)$")]


class StepResources(SettingsModel):
    """Requests and limits of one pipeline step's container."""

    cpu: str = "1"
    memory: str = "2Gi"


class SparkApplicationSettings(SettingsModel):
    """How the ETL step runs as a spark-operator ``SparkApplication`` in cluster mode."""

    spark_version: str = "4.3.0"
    service_account: str = "mlops-spark"
    driver_cores: int = Field(default=1, ge=1)
    driver_core_request: CpuQuantity | None = Field(
        default=None, description="CPU the driver pod requests, when less than driver_cores (e.g. 250m)."
    )
    driver_memory: str = "2g"
    executor_cores: int = Field(default=2, ge=1)
    executor_core_request: CpuQuantity | None = Field(
        default=None, description="CPU each executor pod requests, when less than executor_cores (e.g. 500m)."
    )
    executor_memory: str = "4g"
    executor_instances: int = Field(default=2, ge=1)
    s3_credentials_secret: DnsLabel | None = Field(
        default="mlops-s3-credentials",
        description="Secret whose AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY the driver and executors get as "
        "environment variables (S3A reads them there); none: the pods' own identity (e.g. IRSA).",
    )
    driver_host: HostAddress | None = Field(
        default=None, description="Address the driver advertises to executors; none: the driver pod's own address."
    )
    s3: S3Runtime = Field(default_factory=S3Runtime, description="The store behind s3:// paths, for every Spark step.")


class RayJobSettings(SettingsModel):
    """How the training step runs as a KubeRay ``RayJob`` in cluster mode (one worker per training worker)."""

    ray_version: str = "2.60.0"
    head: StepResources = Field(default_factory=lambda: StepResources(cpu="1", memory="4Gi"))
    worker: StepResources = Field(default_factory=lambda: StepResources(cpu="2", memory="8Gi"))


class ClusterFeatureStoreSettings(FeatureStoreRuntime):
    """The Feast registry and online store of runs in the cluster, and the Secret their credentials come from.

    Every step container takes the Secret's keys as environment variables (``envFrom``), which is where Feast
    finds ``${VAR}`` references of the online store's connection settings, and the S3 client its keys and
    endpoint (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``FEAST_S3_ENDPOINT_URL``) for an s3:// registry.
    """

    credentials_secret: DnsLabel | None = Field(
        default=None, description="Secret in the pipelines' namespace whose keys every step gets as variables."
    )


class ArgoSettings(SettingsModel):
    server_url: str = Field(default="https://argo-server.argo:2746", pattern=r"^https?://")
    namespace: str = "mlops"
    token: SecretStr | None = Field(default=None, description="Bearer token for the Argo Server (outside Kubernetes).")
    token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token, re-read when it changes: the projected service-account token.",
    )
    verify_tls: bool = True
    request_timeout_seconds: float = Field(default=10.0, gt=0, description="Time-out of one Argo Server call.")
    image: str = "ghcr.io/example/mlops-gitops:latest"
    repository_images: list[ImageName] = Field(
        default_factory=list,
        description=(
            "Image repositories (registry/path, no tag) that an ML repository's mlops.yaml may name as "
            "dependencies.image; its code then runs in <image>:<commit>. Empty: repository code runs in image."
        ),
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent",
        description="Of every pod a run makes; Never for a node whose images are loaded into its runtime directly.",
    )
    app_dir: str = Field(default="/app", description="Working directory of the image, holding feature_repo/.")
    feast_project: FeastProject | None = Field(
        default=None,
        description="Feast project of the feature store on the work volume, as the image's feature_repo/ names it; "
        "a run cannot be rendered without it.",
    )
    steps_main_file: str = Field(
        default="/opt/venv/lib/python3.11/site-packages/workflows/steps/__main__.py",
        description="The steps' entry point inside the image, run by spark-submit as the Spark application.",
    )
    service_account: str = "mlops-pipelines"
    run_as_user: int = Field(
        default=10001,
        ge=1,
        description="User (and group) every container of a run's pods runs as: the image's app user, so Argo's "
        "executor and the steps share the work volume's files.",
    )
    work_volume_claim: str = Field(
        default="mlops-pipelines-work",
        description="ReadWriteMany claim mounted at /work in every step: checkouts, step results, the Feast repo.",
    )
    mlflow_tracking_uri: str = "http://mlflow.mlops.svc:5000"
    active_deadline_seconds: int = Field(default=6 * 3600, ge=60, description="Wall-time bound of a whole run.")
    step_retry_limit: int = Field(default=2, ge=0, description="Retries of a step after an error or failure.")
    step_resources: StepResources = Field(default_factory=StepResources)
    cluster_mode: bool = Field(default=True, description="Run Spark as SparkApplication and Ray as RayJob resources.")
    spark: SparkApplicationSettings = Field(default_factory=SparkApplicationSettings)
    feature_store: ClusterFeatureStoreSettings = Field(
        default_factory=ClusterFeatureStoreSettings,
        description="Registry and online store shared with the model server; none: files on the work volume.",
    )
    ray: RayJobSettings = Field(default_factory=RayJobSettings)

    @model_validator(mode="after")
    def _one_token_source(self) -> ArgoSettings:
        if self.token is not None and self.token_file is not None:
            raise ValueError("set workflows.argo.token or workflows.argo.token_file, not both")
        return self


class LocalSettings(SettingsModel):
    """The embedded backend: Prefect flows on this machine with Spark local, a local Ray and Feast sqlite."""

    work_dir: str = Field(default=".mlops-gitops/work", description="Run records, Prefect state, Feast store, data.")
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    feature_repo_source: str = Field(default="feature_repo", description="Feast definitions applied by feature-apply.")
    feast_project: FeastProject | None = Field(
        default=None, description="Feast project of the feature store; none: the project of feature_repo_source."
    )
    max_concurrent_runs: int = Field(default=1, ge=1, description="Runs executing at once; later ones wait.")
    spark_driver_memory: str = "2g"
    spark_shuffle_partitions: int = Field(default=4, ge=1)
    spark_driver_host: HostAddress | None = Field(
        default=LOOPBACK, description="Address the Spark driver binds to; none: Spark's choice (the machine's name)."
    )
    spark_s3: S3Runtime = Field(default_factory=S3Runtime, description="The store behind s3:// paths.")
    ray_num_cpus: int = Field(default=2, ge=1, description="CPUs of the warm local Ray instance.")
    feature_store: FeatureStoreRuntime = Field(
        default_factory=FeatureStoreRuntime, description="Registry and online store; none: files in work_dir."
    )


class WorkflowSettings(SettingsModel):
    model_config = ConfigDict(regex_engine="python-re")

    backend: Literal["local", "argo"] = "local"
    code_repos: list[GitUrl] = Field(
        default_factory=list,
        description="Clone URLs of the ML repositories whose code (tests, hooks, Feast definitions) the pipelines run.",
    )
    argo: ArgoSettings = Field(default_factory=ArgoSettings)
    local: LocalSettings = Field(default_factory=LocalSettings)

    @model_validator(mode="after")
    def _argo_has_a_token(self) -> WorkflowSettings:
        if self.backend == "argo" and self.argo.token is None and self.argo.token_file is None:
            raise ValueError(
                "the argo backend needs workflows.argo.token_file (a projected service-account token) "
                "or workflows.argo.token"
            )
        return self

    @model_validator(mode="after")
    def _argo_names_its_feast_project(self) -> WorkflowSettings:
        if self.backend == "argo" and self.argo.feast_project is None:
            raise ValueError(
                "the argo backend needs workflows.argo.feast_project, the Feast project of the image's feature_repo/"
            )
        return self
