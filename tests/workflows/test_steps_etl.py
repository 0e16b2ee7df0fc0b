"""The Spark ETL on generated raw data with duplicates, blanks and malformed rows (real Spark, local)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from core.errors import PermanentError
from devtools.datagen import GeneratedData, generate_raw_partitions
from tests.workflows.ml_repos import push_change, scaffolded_remote
from workflows.mlrepo.hooks import HookError
from workflows.params import EtlParams
from workflows.steps.contract import SparkRuntime, StepRequest, StepRuntime
from workflows.steps.datasets import contract_for
from workflows.steps.etl import EtlOutput, run_etl

pytestmark = pytest.mark.slow

CUSTOMER_ACTIVITY = contract_for("churn/customer_activity")
ROWS = 20_000


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> StepRuntime:
    root = tmp_path_factory.mktemp("etl")
    return StepRuntime(
        work_dir=str(root / "work"),
        feature_store_dir=str(root / "feature_store"),
        feature_repo_source="feature_repo",
        feast_project="churn",
        mlflow_tracking_uri="http://127.0.0.1:1",
        spark=SparkRuntime(shuffle_partitions=2, driver_memory="1g"),
    )


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, GeneratedData]:
    root = tmp_path_factory.mktemp("raw")
    return root, generate_raw_partitions(root, rows=ROWS, days=4)


def _etl(runtime: StepRuntime, source: Path, partitions: tuple[str, ...], run: str) -> EtlOutput:
    params = EtlParams(source_uri=str(source), partitions=partitions)
    return run_etl(StepRequest[EtlParams](params=params, runtime=runtime, workflow_name=run))


def test_etl_cleans_counts_and_quarantines(runtime: StepRuntime, raw: tuple[Path, GeneratedData]) -> None:
    source, generated = raw
    output = _etl(runtime, source, generated.partitions, "etl-all")

    assert generated.bad_rows > 0 and generated.duplicate_rows > 0
    assert output.rows_read == generated.rows + generated.duplicate_rows
    assert output.bad_rows == generated.bad_rows
    assert output.duplicates_dropped == generated.duplicate_rows
    assert output.rows_written == generated.rows - generated.bad_rows

    clean = pd.read_parquet(output.offline_path)
    assert len(clean) == output.rows_written
    assert not clean.duplicated([CUSTOMER_ACTIVITY.entity, CUSTOMER_ACTIVITY.timestamp]).any()
    assert clean[list(CUSTOMER_ACTIVITY.feature_columns)].notna().all().all(), "optional blanks must be filled"
    assert str(clean["event_timestamp"].dtype) == "datetime64[us, UTC]"
    assert clean["customer_id"].dtype == "int64" and clean["monthly_charges"].dtype == "float64"
    assert set(clean["churned"].unique()) == {0, 1}
    assert set(clean["contract_months"].unique()) <= {1, 12, 24}
    written_partitions = sorted(p.name for p in Path(output.offline_path).iterdir() if p.is_dir())
    assert written_partitions == [p.replace("date=", "event_date=") for p in generated.partitions]

    quarantined = pd.read_parquet(output.quarantine_path)
    assert len(quarantined) == generated.bad_rows
    reasons = set(quarantined["reject_reason"])
    assert {"customer_id: not a long", "churned: not one of [0, 1]", "event_timestamp: not a timestamp"} == reasons


def test_rerunning_a_partition_replaces_it(runtime: StepRuntime, raw: tuple[Path, GeneratedData]) -> None:
    source, generated = raw
    first = _etl(runtime, source, generated.partitions, "etl-first")
    again = _etl(runtime, source, generated.partitions[:1], "etl-again")

    assert again.rows_written < first.rows_written
    assert len(pd.read_parquet(first.offline_path)) == first.rows_written


def test_missing_partition_is_a_permanent_error(runtime: StepRuntime, raw: tuple[Path, GeneratedData]) -> None:
    source, _ = raw
    with pytest.raises(PermanentError, match="cannot read raw partitions"):
        _etl(runtime, source, ("date=1999-01-01",), "etl-missing")


CAP_SESSIONS = """\
from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def transform(clean: DataFrame) -> DataFrame:
    \"\"\"Sessions cannot last longer than a day; drop customers with no tenure yet.\"\"\"
    capped = clean.withColumn("avg_session_minutes", F.least(F.col("avg_session_minutes"), F.lit(10.0)))
    return capped.filter(F.col("tenure_months") > 0)
"""
BROKEN_TRANSFORM = """\
def transform(clean):
    return clean.select("customer_id", "event_timestamp", "no_such_column")
"""


def _with_transform(tmp_path: Path, hook_source: str) -> EtlParams:
    """The scaffold, pushed with ``hook_source`` as its ETL transform (the file its mlops.yaml names)."""
    bare, clone, _ = scaffolded_remote(tmp_path)
    assert "transform: src/etl/transform.py:transform" in (clone / "mlops.yaml").read_text()
    commit = push_change(bare, clone, {"src/etl/transform.py": hook_source}, "ETL hook")
    return EtlParams(source_uri="/unused", partitions=("date=unused",), repo_url=str(bare), commit=commit)


def test_the_repository_transform_runs_after_the_rules_and_before_the_write(
    runtime: StepRuntime, raw: tuple[Path, GeneratedData], tmp_path: Path
) -> None:
    source, generated = raw
    hooked = _with_transform(tmp_path, CAP_SESSIONS)
    params = hooked.model_copy(update={"source_uri": str(source), "partitions": generated.partitions})

    output = run_etl(StepRequest[EtlParams](params=params, runtime=runtime, workflow_name="etl-hook"))

    clean = pd.read_parquet(output.offline_path)
    assert clean["avg_session_minutes"].max() <= 10.0
    assert (clean["tenure_months"] > 0).all()
    assert output.removed_by_transform > 0
    assert output.rows_written == generated.rows - generated.bad_rows - output.removed_by_transform
    assert output.duplicates_dropped == generated.duplicate_rows


def test_a_raising_transform_names_the_etl_step_and_its_line(
    runtime: StepRuntime, raw: tuple[Path, GeneratedData], tmp_path: Path
) -> None:
    source, generated = raw
    hooked = _with_transform(tmp_path, BROKEN_TRANSFORM)
    params = hooked.model_copy(update={"source_uri": str(source), "partitions": generated.partitions[:1]})

    with pytest.raises(HookError) as caught:
        run_etl(StepRequest[EtlParams](params=params, runtime=runtime, workflow_name="etl-broken-hook"))

    assert str(caught.value).startswith("step etl: hook src/etl/transform.py:transform raised AnalysisException")
    assert caught.value.location == "src/etl/transform.py:2"
