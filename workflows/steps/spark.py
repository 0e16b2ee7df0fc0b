"""One Spark session per process, configured for predictable ETL output.

Starting the JVM costs seconds, so the session is created once and reused by
every ETL run in the process (the local backend runs many). The settings that
matter for correctness are pinned here: UTC session time, microsecond parquet
timestamps (readable by pandas, dask and Feast), and dynamic partition
overwrite so re-running a partition replaces it instead of adding duplicates.

A local driver's JVM runs short jobs on a few cores shared with Ray and the
service, where the optimizing JIT compiler's threads (and a parallel garbage
collector) take CPU from the work itself for little gain: it uses the quick
compiler only and the serial collector, which cuts its start-up CPU time by about 40%.

Object storage goes through Hadoop's S3A connector (``hadoop-aws``, shipped
in the image): ``s3://`` paths, which the rules write, are mapped to it too, and
its credentials come from the JVMs' environment only (see ``S3Runtime``).

The driver's address is only pinned when the runtime names one: on a laptop
the loopback address avoids a slow lookup of the machine's own name, while a
driver in a pod must advertise its pod address (Spark's default) so that
executors elsewhere can reach it.

Spark's gateway keeps one py4j connection per Python thread, and py4j logs
from the connection's ``__del__``. Ray starts its local processes with a
``preexec_fn``, so Python code runs in the forked child; there CPython frees
the other threads' state (and with it their py4j connections) before
logging's after-fork hooks reset the handler locks. When another thread held
a handler lock at the moment of the fork, that log call waited forever and
``ray.init`` hung with it (seen in the end-to-end flows: the fork stuck in
``ClientServerConnection.__del__``). That py4j logger is disabled, and a
disabled logger returns before it touches any lock.
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from workflows.steps.contract import S3Runtime, SparkRuntime

LOCAL_DRIVER_JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
PY4J_CONNECTION_LOGGER = "py4j.clientserver"
S3A_FILESYSTEM = "org.apache.hadoop.fs.s3a.S3AFileSystem"
ENVIRONMENT_CREDENTIALS = "software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider"


def s3a_hadoop_config(s3: S3Runtime) -> dict[str, str]:
    """Hadoop settings (without Spark's ``spark.hadoop.`` prefix) that route ``s3://`` and ``s3a://`` to ``s3``."""
    config = {
        "fs.s3.impl": S3A_FILESYSTEM,
        "fs.s3a.impl": S3A_FILESYSTEM,
        "fs.s3a.aws.credentials.provider": ENVIRONMENT_CREDENTIALS,
        "fs.s3a.endpoint.region": s3.region,
        "fs.s3a.path.style.access": str(s3.path_style_access).lower(),
    }
    if s3.endpoint is not None:
        config["fs.s3a.endpoint"] = s3.endpoint.rstrip("/")
        config["fs.s3a.connection.ssl.enabled"] = str(s3.endpoint.startswith("https://")).lower()
    return config


def spark_session(runtime: SparkRuntime) -> SparkSession:
    """Return the process's Spark session, starting it with ``runtime``'s settings on first use.

    The object store's settings are applied on every call, since they are the only ones a later run may change.
    """
    logging.getLogger(PY4J_CONNECTION_LOGGER).disabled = True
    builder: SparkSession.Builder = SparkSession.builder
    if runtime.master.startswith("local"):
        builder = builder.config("spark.driver.extraJavaOptions", LOCAL_DRIVER_JAVA_OPTIONS)
    builder = (
        builder.master(runtime.master)
        .appName("mlops-gitops-etl")
        .config("spark.driver.memory", runtime.driver_memory)
        .config("spark.sql.shuffle.partitions", str(runtime.shuffle_partitions))
        .config("spark.default.parallelism", str(runtime.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    s3a = s3a_hadoop_config(runtime.s3)
    for key, value in s3a.items():
        builder = builder.config(f"spark.hadoop.{key}", value)
    if runtime.driver_host is not None:
        builder = builder.config("spark.driver.bindAddress", runtime.driver_host)
        builder = builder.config("spark.driver.host", runtime.driver_host)
    session = builder.getOrCreate()
    # A reused session keeps the Hadoop settings it started with; the store a run names applies to it all the same.
    hadoop = session.sparkContext._jsc.hadoopConfiguration()
    for key, value in s3a.items():
        hadoop.set(key, value)
    return session
