"""Run the ML repository's own tests at the commit about to be trained.

"Argo Workflows handles CI" means a push is tested before its code is
trained and registered: this is the first step of ``retrain``. The tests run
as ``python -m pytest`` with the arguments of ``tests`` in ``mlops.yaml``, in
the checkout, with the repository's environment
(``workflows.mlrepo.environment``) and a time limit. Failing tests end the
run before any training, as a permanent failure naming each failed test;
running them again on the same commit cannot help. The service's own
settings (``MLOPS_GITOPS_*``) are not passed to the tests.
"""

from __future__ import annotations

import os
import re
import subprocess

from pydantic import BaseModel

from core.errors import PermanentError
from core.logging import get_logger
from workflows.mlrepo.contract import load_contract
from workflows.mlrepo.environment import repo_python
from workflows.params import RetrainParams
from workflows.steps.checkout import checkout_revision
from workflows.steps.contract import StepRequest, environments_dir

log = get_logger(__name__)

_PYTEST_OPTIONS = ("-rfE", "--color=no", "-p", "no:cacheprovider")
_SUMMARY_LINE = re.compile(r"^(FAILED|ERROR) (\S+)", re.MULTILINE)
_NO_TESTS_COLLECTED = 5
_SERVICE_ENV_PREFIX = "MLOPS_GITOPS_"
_OUTPUT_TAIL = 1500


class RepoTestsOutput(BaseModel):
    commit: str
    ran: bool
    summary: str


class RepoTestsFailedError(PermanentError):
    """The repository's tests failed at the commit; ``failed`` names each failed or erroring test."""

    def __init__(self, commit: str, failed: list[str], detail: str) -> None:
        self.failed = failed
        names = ", ".join(failed) if failed else "no test named in the report"
        super().__init__(f"the repository's tests failed at {commit[:12]}: {names}; nothing was trained\n{detail}")


def _environment() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith(_SERVICE_ENV_PREFIX)}


def run_repo_tests(request: StepRequest[RetrainParams]) -> RepoTestsOutput:
    params = request.params
    repo, commit = checkout_revision(params.repo_url, params.commit, params.branch, request.runtime.work_dir)
    if not params.run_tests:
        return RepoTestsOutput(commit=commit, ran=False, summary="not run: run_tests is off for this rule")
    contract = load_contract(repo)
    python = repo_python(contract.dependencies.requirements, environments_dir(request.runtime))
    command = [str(python), "-m", "pytest", *_PYTEST_OPTIONS, *contract.tests.args]
    try:
        completed = subprocess.run(
            command,
            cwd=repo,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=contract.tests.timeout_seconds,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        raise PermanentError(
            f"the repository's tests at {commit[:12]} did not finish in {contract.tests.timeout_seconds}s "
            "(tests.timeout_seconds in mlops.yaml); nothing was trained"
        ) from e
    output = completed.stdout.strip()
    last_line = output.splitlines()[-1] if output else completed.stderr.strip()[-200:]
    if completed.returncode == _NO_TESTS_COLLECTED:
        raise PermanentError(f"no tests were collected at {commit[:12]} with tests.args {list(contract.tests.args)}")
    if completed.returncode != 0:
        failed = [match.group(2) for match in _SUMMARY_LINE.finditer(output)]
        tail = (output + "\n" + completed.stderr.strip())[-_OUTPUT_TAIL:]
        raise RepoTestsFailedError(commit, failed, tail[tail.find("\n") + 1 :])
    log.info("repo_tests.passed", commit=commit, summary=last_line)
    return RepoTestsOutput(commit=commit, ran=True, summary=last_line)
