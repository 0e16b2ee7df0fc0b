"""Which versions an environment ran, in order, read back from the repo's trailers.

A rollback goes to the version deployed before the current one. The GitOps
repo already records that: each bot commit to an overlay carries the model
version and source in its trailers, and each rollback names the version it
undid (``Rollback-Of``). Replaying those commits oldest first as a stack
(a promotion pushes, a rollback pops back to its target) gives the
deployment history even after several rollbacks in a row, without a second
store that could drift from what Argo CD actually deployed.

Only the bot's own commits count: anyone who can push to the repo can write
trailers, so a commit by another author never enters the stack (the author
e-mail is compared, as the loop prevention does). What a rollback deploys is
the version the stack names, loaded by its registry URI; a ``Model-Source``
trailer is lineage for people, never something deployed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from core.errors import PermanentError
from gitops import lineage
from gitops.checkout import LoggedCommit


@dataclass(frozen=True)
class Deployment:
    version: str
    run_id: str | None
    training_commit: str | None
    sha: str


def deployment_stack(commits: Iterable[LoggedCommit], model_name: str, *, bot_email: str) -> list[Deployment]:
    """Deployments of ``model_name`` still on the stack after replaying the bot's ``commits`` (oldest first)."""
    stack: list[Deployment] = []
    for commit in commits:
        if commit.author_email.casefold() != bot_email.casefold():
            continue
        trailers = lineage.parse_trailers(commit.message)
        version = trailers.get(lineage.MODEL_VERSION)
        if trailers.get(lineage.MODEL_NAME) != model_name or version is None:
            continue
        if lineage.ROLLBACK_OF in trailers:
            while stack and stack[-1].version != version:
                stack.pop()
            if stack:
                continue
        stack.append(
            Deployment(
                version=version,
                run_id=trailers.get(lineage.MLFLOW_RUN_ID),
                training_commit=trailers.get(lineage.TRAINING_COMMIT),
                sha=commit.sha,
            )
        )
    return stack


def previous_deployment(stack: list[Deployment], current_version: str, model_name: str, environment: str) -> Deployment:
    """The deployment to roll back to: the newest one on the stack below the current version."""
    earlier = list(stack)
    while earlier and earlier[-1].version == current_version:
        earlier.pop()
    if not earlier:
        raise PermanentError(
            f"{model_name} in {environment} has no earlier deployment than version {current_version} "
            "in the GitOps repo history; promote the wanted version explicitly instead"
        )
    return earlier[-1]
