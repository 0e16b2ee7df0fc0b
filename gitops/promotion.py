"""What a caller asks the write-back for, and what it gets back.

Every field of a :class:`PromotionRequest` ends up in a manifest or a commit
trailer, so each one is held to an allow-list pattern here, at the boundary:
a model URI outside :data:`core.identifiers.ModelUri`, a version that is not
a registry version number, or a value with a newline (which could forge a
trailer) never reaches the repository.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from core.errors import PermanentError
from core.identifiers import DnsLabel, GitSha, ModelName, ModelUri

# MLflow registry versions are positive integers.
ModelVersion = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,9}$")]
RunId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]
EventId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@\-]*$", max_length=256)]
WorkflowName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9](?:[a-z0-9.\-]{0,251}[a-z0-9])?$")]
ImageDigest = Annotated[str, StringConstraints(pattern=r"^sha256:[0-9a-f]{64}$")]


class PromotionRequest(BaseModel):
    """Deploy ``version`` of ``model_name`` (loaded from ``model_uri``) to ``environment``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_name: ModelName
    version: ModelVersion
    model_uri: ModelUri
    environment: DnsLabel
    trigger_event_id: EventId
    run_id: RunId | None = None
    training_commit: GitSha | None = None
    argo_workflow: WorkflowName | None = None
    image_digest: ImageDigest | None = None

    @classmethod
    def checked(cls, **fields: Any) -> PromotionRequest:
        """Build a request from untrusted input, refusing anything outside the allow-lists."""
        try:
            return cls(**fields)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise PermanentError(f"promotion refused, fix the input: {problems}") from e

    def template_fields(self) -> dict[str, str | None]:
        return self.model_dump(exclude={"trigger_event_id", "argo_workflow"})


class CommitResult(BaseModel):
    """The outcome of a write: ``sha`` is None when the repo already was at the target."""

    model_config = ConfigDict(frozen=True)

    sha: str | None
    environment: str
    version: str
    pushed: bool
    pull_request_url: str | None = None
