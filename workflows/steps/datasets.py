"""Which dataset contract an ETL enforces, and from which repository.

The ETL enforces a contract rather than inferring a schema, so a malformed
partition cannot silently change column types downstream. Contracts are data
(``workflows.mlrepo.contract``) kept in an ML repository's ``mlops.yaml``: a
run naming a repository reads the contract (and its transform hook) at the
commit it runs; a run naming none uses the reference repository that
``mlops-gitops init ml-repo`` scaffolds, so the service's source holds no
domain's columns either way. Nothing here imports Spark.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from workflows.mlrepo.contract import DatasetContract, RepoContract, load_contract
from workflows.mlrepo.environment import add_to_process
from workflows.mlrepo.scaffold import template_root
from workflows.params import EtlParams
from workflows.steps.checkout import checkout_revision
from workflows.steps.contract import StepRuntime, environments_dir


@cache
def reference_contract() -> RepoContract:
    """The contract of the scaffolded example repository."""
    return load_contract(template_root())


def contract_for(dataset: str | None) -> DatasetContract:
    """``dataset`` of the reference repository (none: its only one)."""
    return reference_contract().dataset(dataset)


def etl_contract(params: EtlParams, runtime: StepRuntime) -> tuple[DatasetContract, Path]:
    """The contract the ETL of ``params`` enforces and the checkout of the repository that defines it.

    The repository's declared packages are made importable for its transform hook.
    """
    if params.repo_url is None:
        return contract_for(params.dataset), template_root()
    repo, _ = checkout_revision(params.repo_url, params.commit, params.branch, runtime.work_dir)
    contract = load_contract(repo)
    add_to_process(contract.dependencies.requirements, environments_dir(runtime))
    return contract.dataset(params.dataset), repo
