"""Amounts above the card limit are data-entry errors: cap them."""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812

CARD_LIMIT = 5_000.0


def transform(clean: DataFrame) -> DataFrame:
    return clean.withColumn("amount", F.least(F.col("amount"), F.lit(CARD_LIMIT)))
