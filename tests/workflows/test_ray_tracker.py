"""Where XGBoost's tracker listens: loopback for a local Ray, the driver's routable address on a cluster.

On a cluster the shard trainers run in other pods, so a tracker bound to
127.0.0.1 leaves them unable to join and training hangs. These tests join a
real tracker at the address the step picks, from a real XGBoost worker.
"""

from __future__ import annotations

import ipaddress
import socket

import numpy as np
import pytest
from xgboost.tracker import RabitTracker

from workflows.steps.contract import RayRuntime
from workflows.steps.ray_xgboost import _ShardTrainer, tracker_host

PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 2, "nthread": 1}


def train_one_shard_through(host: str) -> bytes | None:
    """Start a tracker on ``host`` and fit one shard as the group's only worker, joining it at that address."""
    tracker = RabitTracker(host_ip=host, n_workers=1, sortby="task", timeout=60)
    tracker.start()
    rng = np.random.default_rng(3)
    features = rng.random((64, 3), dtype=np.float32)
    model = _ShardTrainer().fit(
        features, (features[:, 0] > 0.5).astype(np.float32), PARAMS, 2, {**tracker.worker_args(), "dmlc_task_id": "0"}
    )
    tracker.wait_for(60)
    return model


def test_a_local_instance_keeps_the_tracker_on_loopback() -> None:
    host = tracker_host(RayRuntime(address=None))

    assert host == "127.0.0.1"
    assert train_one_shard_through(host)


def test_on_a_cluster_the_tracker_listens_on_the_driver_nodes_routable_address() -> None:
    host = tracker_host(RayRuntime(address="ray://ray-head.mlops:10001"))

    assert not ipaddress.ip_address(host).is_loopback
    # An address of this node's own interfaces: binding to it succeeds, so actors on other nodes can reach it.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, 0))
        except OSError as e:
            pytest.fail(f"{host} is not an address of this node: {e}")
    assert train_one_shard_through(host)
