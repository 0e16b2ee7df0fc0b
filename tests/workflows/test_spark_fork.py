"""A fork with a ``preexec_fn`` (as ``ray.init`` makes) must not hang while Spark is in use on other threads.

In the fork's child CPython frees the other threads' state before logging's
after-fork hooks reset the handler locks. A thread that talked to Spark owns a
py4j connection there, whose ``__del__`` logs; with a handler lock held at the
moment of the fork, the child used to wait for it forever.
"""

from __future__ import annotations

import logging
import subprocess
import threading

import pytest

from workflows.steps.contract import SparkRuntime
from workflows.steps.spark import spark_session

FORKS = 20


@pytest.mark.timeout(300)
def test_forking_beside_a_spark_thread_and_a_held_log_lock_finishes() -> None:
    spark = spark_session(SparkRuntime(shuffle_partitions=1, driver_memory="512m"))
    connected, done = threading.Event(), threading.Event()

    def spark_user() -> None:
        spark.range(3).count()  # this thread now owns a py4j connection
        connected.set()
        done.wait(120)

    user = threading.Thread(target=spark_user, daemon=True)
    user.start()
    assert connected.wait(120), "the Spark thread did not run its job"
    root = logging.getLogger()
    handler, level = logging.StreamHandler(), root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # as the service runs
    try:
        for _ in range(FORKS):
            holding, release = threading.Event(), threading.Event()
            holder = threading.Thread(target=_hold, args=(handler, holding, release), daemon=True)
            holder.start()  # as if another thread were writing a log line right now
            assert holding.wait(30), "the holder did not take the handler's lock"
            try:
                child = subprocess.run(["true"], preexec_fn=lambda: None, timeout=60, check=False)
            finally:
                release.set()
                holder.join(30)
            assert child.returncode == 0
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
        done.set()
        user.join(30)


def _hold(handler: logging.Handler, holding: threading.Event, release: threading.Event) -> None:
    handler.acquire()
    try:
        holding.set()
        release.wait(60)
    finally:
        handler.release()
