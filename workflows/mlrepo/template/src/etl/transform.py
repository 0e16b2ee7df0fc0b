"""ETL hook of the churn dataset: applied by mlops-gitops to the clean rows, after the contract's rules.

``transform`` takes and returns a Spark DataFrame (``datasets.<key>.transform``
in ``mlops.yaml``). Row-level checks belong in the contract; this is for what
the rules cannot say, such as repairing values a source system gets wrong.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812

MINUTES_PER_DAY = 24 * 60


def transform(clean: DataFrame) -> DataFrame:
    """An average session cannot last longer than a day: the app's tracker sometimes misses a logout."""
    return clean.withColumn("avg_session_minutes", F.least(F.col("avg_session_minutes"), F.lit(float(MINUTES_PER_DAY))))
