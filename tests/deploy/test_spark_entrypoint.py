"""The image's entrypoint starts Spark's driver and executor pods the way Spark's Kubernetes backend asks.

The backend starts both from the image with the argument ``driver`` or
``executor`` and describes the pod in environment variables. Here the
executor is started exactly so, from the installed pyspark with the host's
Java, against a real local driver: it must come up as Spark's Kubernetes
executor backend and reach that driver. A local-mode driver has no scheduler
endpoint for executors, so the executor then stops with exactly that error.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pyspark
import pytest

from workflows.steps.contract import SparkRuntime
from workflows.steps.spark import spark_session

ENTRYPOINT = Path(__file__).resolve().parents[2] / "image" / "spark-entrypoint.sh"


def test_any_other_command_runs_as_given() -> None:
    result = subprocess.run(
        [ENTRYPOINT, "python", "-c", "print('as given')"], capture_output=True, text=True, check=True
    )

    assert result.stdout == "as given\n"


def test_a_driver_without_its_bind_address_stops_with_a_reason() -> None:
    env = {key: value for key, value in os.environ.items() if key != "SPARK_DRIVER_BIND_ADDRESS"}

    result = subprocess.run([ENTRYPOINT, "driver"], env=env, capture_output=True, text=True, check=False)

    assert result.returncode != 0
    assert "SPARK_DRIVER_BIND_ADDRESS" in result.stderr


@pytest.mark.timeout(300)
def test_an_executor_starts_as_sparks_kubernetes_backend_and_reaches_its_driver() -> None:
    spark = spark_session(SparkRuntime(shuffle_partitions=1, driver_memory="512m"))
    driver_url = f"spark://CoarseGrainedScheduler@127.0.0.1:{spark.conf.get('spark.driver.port')}"
    pod = {
        "SPARK_HOME": str(Path(pyspark.__file__).parent),
        "SPARK_DRIVER_URL": driver_url,
        "SPARK_EXECUTOR_ID": "1",
        "SPARK_EXECUTOR_CORES": "1",
        "SPARK_APPLICATION_ID": "spark-app-1",
        "SPARK_EXECUTOR_POD_IP": "127.0.0.1",
        "SPARK_EXECUTOR_POD_NAME": "etl-exec-1",
        "SPARK_EXECUTOR_MEMORY": "256m",
        "SPARK_RESOURCE_PROFILE_ID": "0",
        "SPARK_JAVA_OPT_0": "-Dspark.network.timeout=30s",
    }

    result = subprocess.run(
        [ENTRYPOINT, "executor"], env={**os.environ, **pod}, capture_output=True, text=True, timeout=240, check=False
    )

    assert "KubernetesExecutorBackend: Started daemon" in result.stderr
    assert f"Cannot find endpoint: {driver_url}" in result.stderr
