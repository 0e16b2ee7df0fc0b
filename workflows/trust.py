"""Which ML repositories' code the pipelines may run.

A retrain runs the repository's tests and hooks, an ETL may run its transform
hook, and ``feature-apply`` imports its Feast definitions: all code from a git
URL that rule templates fill from event fields. A backend submits a run only
when every repository its parameters name is listed in
``workflows.code_repos``; anything else is refused before it is cloned.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

from pydantic import BaseModel

from core.errors import PermanentError

_REPO_FIELD = "repo_url"


def named_repositories(params: BaseModel) -> Iterator[str]:
    """Every ``repo_url`` in ``params`` and in the parameter models nested in it."""
    for name in type(params).model_fields:
        value = getattr(params, name)
        if name == _REPO_FIELD and isinstance(value, str):
            yield value
        elif isinstance(value, BaseModel):
            yield from named_repositories(value)


def refuse_untrusted(params: BaseModel, code_repos: Collection[str]) -> None:
    untrusted = sorted({url for url in named_repositories(params) if url not in code_repos})
    if untrusted:
        raise PermanentError(
            f"repositories {untrusted} are not in workflows.code_repos, so their code (tests, hooks, Feast "
            "definitions) is not run; list them there to train them"
        )
