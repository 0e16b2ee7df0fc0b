"""The dataset contracts the ETL enforces, read from the reference ML repository's ``mlops.yaml``.

The ETL enforces a contract rather than inferring a schema, so a malformed
partition cannot silently change column types downstream. Contracts are data
(``workflows.mlrepo.contract``): the rules of the churn example are the ones
in the ``mlops.yaml`` that ``mlops-gitops init ml-repo`` scaffolds, read here
without importing Spark, so the service's source holds no domain's columns.
"""

from __future__ import annotations

from functools import cache

from workflows.mlrepo.contract import DatasetContract, RepoContract, load_contract
from workflows.mlrepo.scaffold import template_root


@cache
def reference_contract() -> RepoContract:
    """The contract of the scaffolded example repository."""
    return load_contract(template_root())


def contract_for(dataset: str) -> DatasetContract:
    return reference_contract().dataset(dataset)
