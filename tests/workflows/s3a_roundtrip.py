"""``python -m tests.workflows.s3a_roundtrip ENDPOINT URI``: write rows to ``URI`` through the ETL's own Spark
session and read them back, printing the rows read as JSON.

It runs in a process of its own because S3A takes the keys from the JVM's environment, which is fixed when the
JVM starts: a test process whose Spark session is already up could not hand them over.
"""

from __future__ import annotations

import json
import sys

from workflows.steps.contract import S3Runtime, SparkRuntime
from workflows.steps.spark import spark_session


def main(endpoint: str, uri: str) -> None:
    store = S3Runtime(endpoint=endpoint, path_style_access=True)
    spark = spark_session(SparkRuntime(shuffle_partitions=1, driver_memory="512m", s3=store))
    rows = [("c-1", 3), ("c-2", 5), ("c-3", 8)]
    spark.createDataFrame(rows, ["customer_id", "tenure"]).write.mode("overwrite").parquet(uri)
    read = sorted(tuple(r) for r in spark.read.parquet(uri).collect())
    print(json.dumps(read))
    spark.stop()


if __name__ == "__main__":
    main(*sys.argv[1:])
