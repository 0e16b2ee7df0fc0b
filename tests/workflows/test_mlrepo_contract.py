"""The ML repository's contract file: the scaffold's is valid, and each bad field is named in one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from workflows.mlrepo.contract import CONTRACT_FILE, ContractError, RepoContract, load_contract, parse_contract
from workflows.mlrepo.scaffold import template_root
from workflows.steps.datasets import contract_for

TEMPLATE_CONTRACT = template_root() / CONTRACT_FILE


def scaffold_contract() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(TEMPLATE_CONTRACT.read_text())
    return loaded


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(ContractError) as caught:
        parse_contract(yaml.safe_dump(document), Path(CONTRACT_FILE))
    return caught.value.problems


def test_the_scaffold_contract_holds_the_rules_the_etl_enforces() -> None:
    contract = load_contract(template_root())

    churn = contract.dataset("churn/customer_activity")
    assert (churn.entity, churn.timestamp, churn.label, churn.partition) == (
        "customer_id",
        "event_timestamp",
        "churned",
        "event_date",
    )
    assert contract_for("churn/customer_activity") == churn
    by_name = {column.name: column for column in churn.columns}
    assert by_name["contract_months"].fill == 1 and by_name["contract_months"].allowed == (1, 12, 24)
    assert by_name["customer_id"].required and by_name["customer_id"].min_value == 1
    assert contract.features.repo == "feature_repo" and contract.features.training_service == "churn_model"
    assert contract.hooks.model == "src/training/xgb_model.py:XGBModel"
    assert contract.tests.args == ("tests", "-q")


def test_an_unknown_dataset_names_the_known_ones() -> None:
    contract = RepoContract.model_validate(scaffold_contract())

    with pytest.raises(Exception, match=r"'fraud/tx' is not in mlops.yaml; its datasets: churn/customer_activity"):
        contract.dataset("fraud/tx")


def test_each_bad_field_is_one_problem_naming_it() -> None:
    document = scaffold_contract()
    dataset = document["datasets"]["churn/customer_activity"]
    dataset["columns"][2]["type"] = "decimal"
    dataset["offline_subdir"] = "../elsewhere"
    document["hooks"]["model"] = "src/training/xgb_model.py"
    document["features"]["training_service"] = "churn model"
    document["dependencies"]["requirements"] = ["xgboost @ https://example.com/x.whl"]
    document["surprise"] = True

    problems = problems_of(document)

    assert len(problems) == 6, problems
    prefix = "datasets.churn/customer_activity"
    for field in (
        f"{prefix}.columns[2].type:",
        f"{prefix}.offline_subdir:",
        "hooks.model:",
        "features.training_service:",
        "dependencies.requirements[0]:",
        "surprise:",
    ):
        assert any(problem.startswith(field) for problem in problems), (field, problems)
    assert any("direct URL references are not allowed" in problem for problem in problems)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(label="no_such_column"), "label must name one of the columns"),
        (lambda d: d.update(partition="tenure_months"), "is derived from the timestamp, not a column"),
        (lambda d: d.update(timestamp="tenure_months"), "must have type timestamp"),
        (lambda d: d["columns"].append(dict(d["columns"][0])), "['customer_id'] are listed twice"),
        (lambda d: d["columns"][0].update(fill=0), "a required column has no fill value"),
        (lambda d: d["columns"][4].update(fill="one"), "fill value 'one' is not a int"),
        (lambda d: d["columns"][4].update(required=False, min_value=5, max_value=2), "min_value is above max_value"),
        (lambda d: d["columns"][10].update(required=False), "the label column must be required"),
        (lambda d: d.update(transform="../outside.py:run"), "is not a path inside the repository"),
    ],
)
def test_dataset_rules_that_contradict_each_other_are_refused(change: Any, expected: str) -> None:
    document = scaffold_contract()
    change(document["datasets"]["churn/customer_activity"])

    (problem,) = problems_of(document)

    assert problem.startswith("datasets.churn/customer_activity")
    assert expected in problem


def test_an_image_and_requirements_together_are_refused() -> None:
    document = scaffold_contract()
    document["dependencies"] = {"requirements": ["lightgbm>=4"], "image": "registry.example.com/ml/churn"}

    (problem,) = problems_of(document)

    assert problem.startswith("dependencies:") and "not both" in problem


def test_an_unsupported_version_and_broken_yaml_are_one_line_each(tmp_path: Path) -> None:
    document = scaffold_contract()
    document["version"] = 2
    assert problems_of(document) == ["version: 2 is not supported; this service reads version 1"]

    (tmp_path / CONTRACT_FILE).write_text("version: 1\ndatasets: [unclosed\n")
    with pytest.raises(ContractError) as caught:
        load_contract(tmp_path)
    (problem,) = caught.value.problems
    assert problem.startswith("line 3, column 1: not valid YAML")


def test_a_repository_without_a_contract_is_told_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"no mlops\.yaml at the repository root; `mlops-gitops init ml-repo`"):
        load_contract(tmp_path)
