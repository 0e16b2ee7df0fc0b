"""Which image runs an ML repository's code in Argo, decided when a run is submitted.

A repository may name an image of its own in ``mlops.yaml``
(``dependencies.image``), built by its CI and tagged with each commit. Only
the steps calling the repository's code (``Step.runs_repo_code``) run in it,
at the run's commit: ``<image>:<commit>``; the others keep the service's
image. The Workflow is rendered without network access, so the image is
looked up here, before rendering: ``mlops.yaml`` is read at the run's commit
with a one-commit fetch, no checkout.

Running an image a repository names is the operator's choice: only images
under ``workflows.argo.repository_images`` are used. With that list empty
nothing is fetched at submission and repository code runs in the service's
image; a named image outside a non-empty list is refused before submission.

A run without a commit (the head of a branch) is pinned to the head's
commit when the repository names an image, so the code Argo checks out and
the image it runs in are of the same commit.

``mlops-gitops render`` shows that variant without the network: it is told
the image (:func:`given_image`) and holds it to the same list and commit.
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from core.errors import PermanentError
from core.identifiers import ImageName
from workflows.mlrepo.contract import CONTRACT_FILE, ContractError, parse_contract
from workflows.params import EtlParams, RetrainParams
from workflows.steps.checkout import file_at, resolve_head

ParamsT = TypeVar("ParamsT", bound=BaseModel)
RunsRepoCode = RetrainParams | EtlParams
_IMAGE_NAME: TypeAdapter[str] = TypeAdapter(ImageName)


def repository_image(params: ParamsT, allowed: Collection[str]) -> tuple[ParamsT, str | None]:
    """``params`` (pinned to a commit if needed) and the image running the repository's code, or none."""
    if not allowed or not isinstance(params, RunsRepoCode) or params.repo_url is None:
        return params, None
    commit = params.commit or resolve_head(params.repo_url, params.branch)
    text = file_at(params.repo_url, commit, CONTRACT_FILE)
    if text is None:
        raise ContractError(Path(CONTRACT_FILE), [f"no {CONTRACT_FILE} at {commit[:12]} of {params.repo_url}"])
    image = parse_contract(text, Path(CONTRACT_FILE)).dependencies.image
    if image is None:
        return params, None
    if not _listed(image, allowed):
        raise PermanentError(
            f"{CONTRACT_FILE} at {commit[:12]} of {params.repo_url} names the image {image}, which is not under "
            f"workflows.argo.repository_images {sorted(allowed)}; list its registry there or remove the image"
        )
    return _pinned(params, commit), f"{image}:{commit}"


def given_image(params: ParamsT, image: str, allowed: Collection[str]) -> tuple[ParamsT, str]:
    """``params`` and the image their repository's code runs in when its ``mlops.yaml`` names ``image``.

    Nothing is fetched: the run must name its commit, which tags the image, and the image must be one the
    service would use (under ``allowed``).
    """
    try:
        _IMAGE_NAME.validate_python(image)
    except ValidationError as e:
        raise PermanentError(f"{image!r} is not an image name (registry/path, no tag): the commit is its tag") from e
    if not isinstance(params, RunsRepoCode) or params.repo_url is None:
        raise PermanentError("only a run of an ML repository's code (with its repo_url) runs in a repository image")
    if params.commit is None:
        raise PermanentError("a repository image is tagged with the run's commit; name the commit")
    if not _listed(image, allowed):
        raise PermanentError(
            f"the image {image} is not under workflows.argo.repository_images {sorted(allowed)}: "
            "the service would refuse the run"
        )
    return _pinned(params, params.commit), f"{image}:{params.commit}"


def _listed(image: str, allowed: Collection[str]) -> bool:
    return any(image == prefix or image.startswith(prefix.rstrip("/") + "/") for prefix in allowed)


def _pinned(params: ParamsT, commit: str) -> ParamsT:
    """``params`` at ``commit``, the ETL a retrain inherits from its repository included."""
    update: dict[str, Any] = {"commit": commit}
    if isinstance(params, RetrainParams) and params.etl is not None and params.etl.repo_url == params.repo_url:
        update["etl"] = params.etl.model_copy(update={"commit": params.etl.commit or commit})
    return params.model_copy(update=update)
