"""One Spark session per process, configured for predictable ETL output.

Starting the JVM costs seconds, so the session is created once and reused by
every ETL run in the process (the local backend runs many). The settings that
matter for correctness are pinned here: UTC session time, microsecond parquet
timestamps (readable by pandas, dask and Feast), and dynamic partition
overwrite so re-running a partition replaces it instead of adding duplicates.
"""

from __future__ import annotations

from pyspark.sql import SparkSession

from workflows.steps.contract import SparkRuntime


def spark_session(runtime: SparkRuntime) -> SparkSession:
    """Return the process's Spark session, starting it with ``runtime``'s settings on first use."""
    builder: SparkSession.Builder = SparkSession.builder
    return (
        builder.master(runtime.master)
        .appName("mlops-gitops-etl")
        .config("spark.driver.memory", runtime.driver_memory)
        .config("spark.sql.shuffle.partitions", str(runtime.shuffle_partitions))
        .config("spark.default.parallelism", str(runtime.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
