"""Settings of the GitOps write-back.

Everything the writer needs to know about the GitOps repository lives here:
where it is and how to authenticate, which file and key of each overlay holds
the model version, how commits are worded, how hard to retry a rejected push,
and which registry stage or alias means which environment. Defaults match the
repository that ``mlops-gitops gitops init`` creates, in the embedded laptop
mode (a local bare repo as the remote).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from core.identifiers import ColumnName, DnsLabel, FeastName, FeastOnlineStore, FeastProject, ImageName, ModelName
from core.settings_model import SettingsModel

# Request fields a target's value template may name, e.g. "{model_uri}".
TEMPLATE_FIELDS = frozenset(
    {"model_name", "version", "model_uri", "run_id", "training_commit", "environment", "image_digest"}
)
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class _Target(SettingsModel):
    file: str = Field(description="File relative to the environment's overlay directory.")
    value: str = Field(description="Value template naming request fields, e.g. '{version}' or 'models:/{model_name}'.")

    @field_validator("value")
    @classmethod
    def _known_fields_only(cls, template: str) -> str:
        unknown = set(_PLACEHOLDER.findall(template)) - TEMPLATE_FIELDS
        if unknown:
            raise ValueError(f"unknown template fields {sorted(unknown)}; use {sorted(TEMPLATE_FIELDS)}")
        return template


class ImageTarget(_Target):
    """An entry of a kustomization's ``images`` list."""

    kind: Literal["kustomize-image"] = "kustomize-image"
    file: str = "kustomization.yaml"
    image: str = Field(description="The `name` of the images entry.")
    field: Literal["newTag", "digest"] = "newTag"


class ConfigMapLiteralTarget(_Target):
    """A ``KEY=value`` literal of a kustomization's ``configMapGenerator`` entry."""

    kind: Literal["configmap-literal"] = "configmap-literal"
    file: str = "kustomization.yaml"
    generator: str = "model-server-config"
    key: str


class ValuesKeyTarget(_Target):
    """Any key path of a YAML values file, e.g. ``model.uri`` of a Helm values file."""

    kind: Literal["values-key"] = "values-key"
    file: str = "values.yaml"
    path: str = Field(description="Dot-separated key path; integers index lists.")


EditTarget = Annotated[ImageTarget | ConfigMapLiteralTarget | ValuesKeyTarget, Field(discriminator="kind")]


def _default_targets() -> list[EditTarget]:
    return [
        ConfigMapLiteralTarget(key="MODEL_NAME", value="{model_name}"),
        ConfigMapLiteralTarget(key="MODEL_VERSION", value="{version}"),
        ConfigMapLiteralTarget(key="MODEL_URI", value="{model_uri}"),
        ConfigMapLiteralTarget(key="MODEL_RUN_ID", value="{run_id}"),
    ]


class PullRequestSettings(SettingsModel):
    """Where and how to open a pull/merge request in pull-request mode."""

    provider: Literal["github", "gitlab", "gitea"] = "github"
    api_url: str = Field(
        default="https://api.github.com",
        description="REST API root, e.g. https://gitlab.com/api/v4; https only (the token travels with every call), "
        "except a loopback address for a local forge.",
    )

    @field_validator("api_url")
    @classmethod
    def _https(cls, url: str) -> str:
        parsed = urlsplit(url)
        loopback = parsed.scheme == "http" and parsed.hostname in ("127.0.0.1", "localhost", "::1")
        if parsed.scheme != "https" and not loopback:
            raise ValueError("the pull-request API URL must be https:// (the API token is sent with every call)")
        return url

    repository: str = Field(default="", description="owner/name (GitHub, Gitea) or the GitLab project path.")
    token: SecretStr | None = Field(default=None, description="API token; the git token is used when unset.")
    branch_prefix: str = "mlops-gitops"
    timeout_seconds: float = 15.0


class PushRetrySettings(SettingsModel):
    """Bounded, jittered retries of a push rejected because someone else pushed first."""

    max_attempts: int = Field(default=12, ge=1)
    initial_wait_seconds: float = Field(default=0.05, ge=0)
    max_wait_seconds: float = Field(default=2.0, ge=0)


class PolicySettings(SettingsModel):
    """Which registry stage or alias deploys to which environment."""

    stages: dict[str, str] = Field(default_factory=lambda: {"Staging": "staging", "Production": "production"})
    aliases: dict[str, str] = Field(default_factory=lambda: {"champion": "production", "challenger": "staging"})
    stage_order: list[str] = Field(
        default_factory=lambda: ["Staging", "Production"],
        description="A move to a later stage here is a promotion onward; the earlier environment keeps the version.",
    )


_GIT_URL = re.compile(r"(?:(?:https?|git|ssh)://[^\s/]+(?:/\S*)?|file:///\S+|[\w.\-]+@[\w.\-]+:\S+)")
_API_SERVER = re.compile(r"https://[^\s/]+/?")


def api_server_url(url: str) -> str:
    """A Kubernetes API server address as a field or a request URL takes it: https, a host, no path."""
    if not _API_SERVER.fullmatch(url):
        raise ValueError("not an API server address: https://host[:port], no path")
    return url.rstrip("/")


class SharedFeatureStore(SettingsModel):
    """The model server's ``feature_store.yaml``: the pipelines' registry and online store, which it only reads.

    Values may name ``${VARIABLES}`` that Feast expands from the Secret ``model-server-feature-store`` (a Redis
    password, S3 keys), so no credential is ever committed to the GitOps repository.
    """

    project: FeastProject = Field(description="Feast project the pipelines apply.")
    registry: str = Field(pattern=r"^(?:s3|gs)://[^\s]+$", description="Registry file the pipelines write.")
    online_store: FeastOnlineStore = Field(description="Feast's online_store mapping: type and connection.")


class ScaffoldSettings(SettingsModel):
    """What ``mlops-gitops gitops init`` writes into a new repository's Argo CD objects and overlays.

    Argo CD may reach the repository by another URL than the bot (the bot pushes over SSH, Argo CD pulls over
    HTTPS), and a cluster outside which Argo CD runs has another API address than ``kubernetes.default.svc``.
    """

    argocd_repo_url: str = Field(
        default="https://git.example.com/ml/gitops.git",
        description="URL Argo CD's repo-server pulls the GitOps repo from (Applications, AppProject).",
    )
    destination_server: str = Field(
        default="https://kubernetes.default.svc",
        description="API server the Applications deploy to, as registered in Argo CD.",
    )
    autoscaler: bool = Field(
        default=True,
        description="false leaves the HorizontalPodAutoscaler out of every overlay (the Deployment then runs one "
        "replica): for a cluster without a metrics API, where Argo CD reads the HPA as Degraded.",
    )
    model_name: ModelName | None = Field(
        default=None, description="Registered model the server loads (--model-name); gitops init needs it."
    )
    feature_service: FeastName | None = Field(
        default=None,
        description="Feast feature service the server looks a request's features up with (--feature-service); "
        "gitops init needs it.",
    )
    entity_key: ColumnName | None = Field(
        default=None, description="Join key of the entity a request names (--entity-key); gitops init needs it."
    )
    model_server_image: ImageName | None = Field(
        default=None, description="Image of the model server (the Dockerfile's model-server target), without tag."
    )
    model_server_tag: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$", description="Its tag; none: the template's."
    )
    feature_store: SharedFeatureStore | None = Field(
        default=None,
        description="The Feast registry and online store the model server reads, shared with the pipelines; none: "
        "the feature repository in its image.",
    )

    @field_validator("argocd_repo_url")
    @classmethod
    def _git_url(cls, url: str) -> str:
        if not _GIT_URL.fullmatch(url):
            raise ValueError("not a git URL: https://, http://, git://, ssh://, file:/// or user@host:path, no spaces")
        return url

    @field_validator("destination_server")
    @classmethod
    def _api_server(cls, url: str) -> str:
        return api_server_url(url)


class ArgoCdRefreshSettings(SettingsModel):
    """After a pushed commit, ask Argo CD to compare the environment's Application with git at once.

    Argo CD looks at git every 120 s plus up to 60 s of jitter; its refresh annotation on the Application makes
    the controller look now. The service sets it through the Kubernetes API with its service-account token, so
    its account needs ``patch`` on those Applications in Argo CD's namespace. A failed refresh is logged and
    never fails the promotion: polling still finds the commit.
    """

    enabled: bool = False
    api_server: str = Field(default="https://kubernetes.default.svc", description="The Kubernetes API, https.")
    token_file: Path = Field(
        default=Path("/var/run/secrets/kubernetes.io/serviceaccount/token"),
        description="Bearer token for the Kubernetes API, re-read on every refresh (a projected token rotates).",
    )
    ca_file: Path | None = Field(
        default=Path("/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"),
        description="CA bundle of the API server; null: the system's.",
    )
    namespace: DnsLabel = "argocd"
    applications: dict[str, DnsLabel] = Field(
        default_factory=lambda: {"staging": "model-server-staging", "production": "model-server-production"},
        description="Environment -> its Argo CD Application; an environment not named here is left to polling.",
    )
    timeout_seconds: float = Field(default=5.0, gt=0)

    @field_validator("api_server")
    @classmethod
    def _api_server(cls, url: str) -> str:
        return api_server_url(url)


class GitOpsSettings(SettingsModel):
    repo_url: str = ".mlops-gitops/remotes/gitops.git"
    branch: str = "main"
    mode: Literal["direct", "pull-request"] = "direct"
    token: SecretStr | None = Field(default=None, description="HTTPS token, sent as basic auth, never stored on disk.")
    token_username: str = Field(
        default="x-access-token", description="Basic-auth user paired with the token (GitLab: oauth2)."
    )
    ssh_key_path: str | None = None
    ssh_known_hosts_path: str | None = Field(
        default=None,
        description="Pinned host keys. Required for an SSH remote: without it serve refuses to start, unless "
        "--insecure-dev, which accepts new host keys.",
    )
    bot_name: str = "mlops-gitops[bot]"
    bot_email: str = "mlops-gitops-bot@users.noreply.local"
    work_dir: str = ".mlops-gitops/gitops-checkout"
    environments: dict[str, str] = Field(
        default_factory=lambda: {"staging": "overlays/staging", "production": "overlays/production"},
        description="Environment name -> overlay directory in the GitOps repo.",
    )
    targets: list[EditTarget] = Field(
        default_factory=_default_targets,
        description="What a promotion rewrites in the overlay; one target must hold '{version}'.",
    )
    commit_message: str = "Promote {model_name} version {version} to {environment}"
    rollback_message: str = "Roll back {model_name} in {environment} to version {version}\n\n{reason}"
    push_retry: PushRetrySettings = Field(default_factory=PushRetrySettings)
    pull_request: PullRequestSettings = Field(default_factory=PullRequestSettings)

    def unpinned_ssh(self) -> bool:
        """An SSH remote (or key) without pinned host keys: its first connection would trust any host key."""
        ssh_remote = self.repo_url.startswith("ssh://") or bool(re.match(r"^[\w.\-]+@[\w.\-]+:", self.repo_url))
        return (ssh_remote or self.ssh_key_path is not None) and self.ssh_known_hosts_path is None

    policy: PolicySettings = Field(default_factory=PolicySettings)
    scaffold: ScaffoldSettings = Field(default_factory=ScaffoldSettings)
    argocd_refresh: ArgoCdRefreshSettings = Field(default_factory=ArgoCdRefreshSettings)
    lock_timeout_seconds: float = Field(default=300.0, gt=0, description="How long a writer waits for the branch.")

    @model_validator(mode="after")
    def _version_is_tracked(self) -> GitOpsSettings:
        if not any(target.value == "{version}" for target in self.targets):
            raise ValueError("one target must have value '{version}': it is how stale writes are recognised")
        return self

    @property
    def version_target(self) -> EditTarget:
        return next(target for target in self.targets if target.value == "{version}")
