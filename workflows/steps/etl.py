"""Spark ETL: raw partitions in, clean typed parquet in the Feast offline store out.

The dataset contract (``workflows.mlrepo.contract``) is enforced column by
column: every raw value is cast with ``try_cast`` so one malformed cell marks
its row instead of failing the job; optional blanks are filled; required
blanks, unparseable values and out-of-range values send the row, with its
reasons, to a quarantine path where someone can look at it. Clean rows are
de-duplicated on (entity, timestamp), handed to the repository's transform
hook when the contract names one (a Spark DataFrame in, one out, at the
repository's commit), and written partitioned by date with dynamic
overwrite, so re-running a partition is idempotent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel
from pyspark.errors import AnalysisException
from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame, Observation
from pyspark.sql import functions as F  # noqa: N812
from pyspark.sql.types import StringType, StructField, StructType

from core.errors import PermanentError
from core.logging import get_logger
from workflows.mlrepo.contract import Column, DatasetContract
from workflows.mlrepo.hooks import calling, load_hook
from workflows.params import EtlParams
from workflows.steps.contract import StepRequest
from workflows.steps.datasets import etl_contract
from workflows.steps.spark import spark_session

log = get_logger(__name__)

_REJECT_REASON = "reject_reason"


class EtlOutput(BaseModel):
    dataset: str
    partitions: list[str]
    rows_read: int
    rows_written: int
    bad_rows: int
    duplicates_dropped: int
    removed_by_transform: int
    offline_path: str
    quarantine_path: str
    min_event_timestamp: datetime | None
    max_event_timestamp: datetime | None


def offline_path(feature_store_dir: str, contract: DatasetContract) -> Path:
    """Where the clean data of ``contract`` lands; the Feast file source reads the same directory."""
    return Path(feature_store_dir) / contract.offline_subdir


def _problems(column: Column) -> list[SparkColumn]:
    """Conditions (as reason strings, null when fine) under which a typed row is unusable."""
    raw, typed = F.col(f"raw_{column.name}"), F.col(column.name)
    reasons = [F.when(raw.isNotNull() & typed.isNull(), F.lit(f"{column.name}: not a {column.type}"))]
    if column.required:
        reasons.append(F.when(raw.isNull(), F.lit(f"{column.name}: missing")))
    if column.min_value is not None:
        reasons.append(F.when(typed < column.min_value, F.lit(f"{column.name}: below {column.min_value}")))
    if column.max_value is not None:
        reasons.append(F.when(typed > column.max_value, F.lit(f"{column.name}: above {column.max_value}")))
    if column.allowed is not None:
        reasons.append(F.when(~typed.isin(*column.allowed), F.lit(f"{column.name}: not one of {list(column.allowed)}")))
    return reasons


def _typed(raw: DataFrame, contract: DatasetContract) -> DataFrame:
    """Cast every column per the contract, fill optional blanks and attach the reject reason (empty when clean)."""
    renamed = raw.select(*(F.trim(F.col(c.name)).alias(f"raw_{c.name}") for c in contract.columns))
    typed = renamed.select(
        "*",
        *(
            F.coalesce(F.col(f"raw_{c.name}").try_cast(c.type), F.lit(c.fill)).alias(c.name)
            if c.fill is not None
            else F.col(f"raw_{c.name}").try_cast(c.type).alias(c.name)
            for c in contract.columns
        ),
    )
    reasons = [reason for column in contract.columns for reason in _problems(column)]
    return typed.withColumn(_REJECT_REASON, F.concat_ws("; ", F.array_compact(F.array(*reasons))))


def _read_raw(request: StepRequest[EtlParams], contract: DatasetContract) -> DataFrame:
    params = request.params
    schema = StructType([StructField(c.name, StringType()) for c in contract.columns])
    paths = [f"{params.source_uri.rstrip('/')}/{partition}" for partition in params.partitions]
    try:
        return spark_session(request.runtime.spark).read.csv(paths, header=True, schema=schema, enforceSchema=False)
    except AnalysisException as e:
        raise PermanentError(f"cannot read raw partitions {paths}: {e}; check source_uri and partitions") from e


def _utc(epoch_micros: int | None) -> datetime | None:
    return None if epoch_micros is None else datetime.fromtimestamp(epoch_micros / 1e6, UTC)


def _transformed(clean: DataFrame, contract: DatasetContract, repo: Path) -> DataFrame:
    """``clean`` through the repository's transform hook, if the contract names one."""
    if contract.transform is None:
        return clean
    transform = load_hook("etl", repo, contract.transform)
    with calling("etl", contract.transform, repo):
        result = transform(clean)
    if not isinstance(result, DataFrame):
        raise PermanentError(f"step etl: hook {contract.transform} must return a Spark DataFrame")
    missing = sorted({contract.entity, contract.timestamp} - set(result.columns))
    if missing:
        raise PermanentError(f"step etl: hook {contract.transform} dropped the columns {missing} the store keys on")
    return result


def run_etl(request: StepRequest[EtlParams]) -> EtlOutput:
    """Clean the requested raw partitions into the offline store and quarantine what cannot be used.

    The counts come from observations riding along the two writes, so the raw
    data is read exactly twice (clean write, quarantine write) and nothing is
    cached or counted in a pass of its own. A hook that raises while Spark's
    plan is built fails the step with the repository's own traceback.
    """
    contract, repo = etl_contract(request.params, request.runtime)
    typed = _typed(_read_raw(request, contract), contract)
    is_bad = F.col(_REJECT_REASON) != ""
    read, unique, kept = Observation("rows read"), Observation("unique rows"), Observation("rows kept")
    enforced = (
        typed.observe(read, F.count(F.lit(1)).alias("rows"), F.count(F.when(is_bad, 1)).alias("bad"))
        .filter(~is_bad)
        .select(*(c.name for c in contract.columns))
        .dropDuplicates([contract.entity, contract.timestamp])
        .observe(unique, F.count(F.lit(1)).alias("rows"))
    )
    clean = (
        _transformed(enforced, contract, repo)
        .observe(
            kept,
            F.count(F.lit(1)).alias("rows"),
            F.min(F.unix_micros(contract.timestamp)).alias("first"),
            F.max(F.unix_micros(contract.timestamp)).alias("last"),
        )
        .withColumn(contract.partition, F.to_date(contract.timestamp))
    )
    target = offline_path(request.runtime.feature_store_dir, contract)
    clean.write.mode("overwrite").partitionBy(contract.partition).parquet(str(target))
    totals, deduplicated, written = read.get, unique.get, kept.get
    if totals["rows"] == 0:
        raise PermanentError(f"raw partitions {list(request.params.partitions)} hold no rows; nothing to clean")
    quarantine = Path(request.runtime.work_dir) / "quarantine" / contract.key / request.workflow_name
    rejected = typed.filter(is_bad).select(*(f"raw_{c.name}" for c in contract.columns), _REJECT_REASON)
    rejected.coalesce(1).write.mode("overwrite").parquet(str(quarantine))
    output = EtlOutput(
        dataset=contract.key,
        partitions=list(request.params.partitions),
        rows_read=totals["rows"],
        rows_written=written["rows"],
        bad_rows=totals["bad"],
        duplicates_dropped=totals["rows"] - totals["bad"] - deduplicated["rows"],
        removed_by_transform=deduplicated["rows"] - written["rows"],
        offline_path=str(target),
        quarantine_path=str(quarantine),
        min_event_timestamp=_utc(written["first"]),
        max_event_timestamp=_utc(written["last"]),
    )
    log.info("etl.done", **output.model_dump(mode="json"))
    return output
