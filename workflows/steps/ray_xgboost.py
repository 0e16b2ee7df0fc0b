"""Data-parallel XGBoost on Ray actors, joined by XGBoost's own collective.

Each actor holds one row shard and builds histograms on it; XGBoost's
collective (a Rabit tracker on the driver) all-reduces them every tree level,
so all actors grow the same trees and rank 0 returns the model. The tracker
listens on loopback for a local instance, and on the driver's routable
address when Ray runs on a cluster, where the actors sit in other pods. This avoids
the per-round reporting and checkpoint machinery of Ray Train that dominates
run time on small machines. The Ray instance is started once per process and
the actors are kept warm between runs (starting one costs more than a small
fit); threads are split so workers x threads = the CPUs Ray was given.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
import ray
import xgboost as xgb
from ray.exceptions import RayError
from tenacity import retry, retry_if_exception_type, stop_after_attempt, wait_fixed
from xgboost import collective
from xgboost.tracker import RabitTracker

from core.errors import PermanentError, TemporaryError
from workflows.mlrepo.hooks import repository_imports
from workflows.steps.contract import RayRuntime

_TRACKER_TIMEOUT_S = 300


@retry(
    retry=retry_if_exception_type(TemporaryError),
    stop=stop_after_attempt(3),
    wait=wait_fixed(5),
    reraise=True,
)
def ensure_ray(runtime: RayRuntime) -> None:
    """Connect to (or start) the Ray instance of this process once; later calls reuse it.

    A busy machine can make a local start miss Ray's fixed registration
    deadline, so a failed start is cleaned up and tried again.
    """
    if ray.is_initialized():
        return
    local_instance = runtime.address is None
    try:
        ray.init(
            address=runtime.address,
            num_cpus=runtime.num_cpus if local_instance else None,
            include_dashboard=False,
            log_to_driver=False,
            # A local instance shares the machine: Ray's memory monitor counts every process on it and
            # would kill training workers for memory others use. The kernel still guards real exhaustion.
            _system_config={"memory_monitor_refresh_ms": 0} if local_instance else None,
        )
    except Exception as e:  # Ray raises bare Exception when its node does not come up in time
        ray.shutdown()
        raise TemporaryError(f"Ray did not start: {e}; retry when the machine is less busy") from e


Callback = Callable[[np.ndarray, Any], Any]


class CallbackError(Exception):
    """A custom objective or metric (the ML repository's code) raised on a worker.

    Carries the error's text and its traceback frames as plain tuples, since
    the exception crosses from the Ray worker to the driver.
    """

    def __init__(self, callback: str, error: str, frames: list[tuple[str, int, str, str]]) -> None:
        super().__init__(callback, error, frames)
        self.callback, self.error, self.frames = callback, error, frames


def _reporting(name: str, callback: Callback | None) -> Callback | None:
    if callback is None:
        return None

    def call(predictions: np.ndarray, dmatrix: Any) -> Any:
        try:
            return callback(predictions, dmatrix)
        except Exception as e:
            frames = [(f.filename, f.lineno or 0, f.name, f.line or "") for f in traceback.extract_tb(e.__traceback__)]
            raise CallbackError(name, f"{type(e).__name__}: {e}", frames) from None

    return call


def tracker_host(runtime: RayRuntime) -> str:
    """The address XGBoost's tracker listens on: one every actor of this Ray instance can reach."""
    if runtime.address is None:
        return "127.0.0.1"
    return str(ray.util.get_node_ip_address())  # type: ignore[no-untyped-call]


class _ShardTrainer:
    """Trains on one shard as one member of the XGBoost communicator group."""

    def fit(
        self,
        features: np.ndarray,
        labels: np.ndarray,
        params: dict[str, Any],
        num_boost_round: int,
        communicator: dict[str, Any],
        *,
        callbacks: tuple[Callback | None, Callback | None] = (None, None),
        import_roots: tuple[str, ...] = (),
    ) -> bytes | None:
        objective, custom_metric = callbacks
        with repository_imports(*import_roots), collective.CommunicatorContext(**communicator):
            shard = xgb.DMatrix(features, label=labels, nthread=params["nthread"])
            booster = xgb.train(
                params,
                shard,
                num_boost_round=num_boost_round,
                obj=_reporting("objective", objective),
                custom_metric=_reporting("custom_metric", custom_metric),
                evals=[(shard, "train")] if custom_metric is not None else (),
                verbose_eval=False,
            )
            return bytes(booster.save_raw("ubj")) if collective.get_rank() == 0 else None


_ShardTrainerActor: Any = ray.remote(_ShardTrainer)


class _WarmTrainers:
    """Shard trainers kept alive between runs: starting an actor costs far more than a small fit."""

    def __init__(self) -> None:
        self._shape: tuple[int, float] | None = None
        self._actors: list[Any] = []

    def get(self, num_workers: int, cpus_each: float) -> list[Any]:
        if self._shape != (num_workers, cpus_each):
            self.discard()
            self._actors = [_ShardTrainerActor.options(num_cpus=cpus_each).remote() for _ in range(num_workers)]
            self._shape = (num_workers, cpus_each)
        return self._actors

    def discard(self) -> None:
        for actor in self._actors:
            ray.kill(actor)
        self._actors, self._shape = [], None


_warm_trainers = _WarmTrainers()


def shutdown_ray() -> None:
    """Stop the warm trainers and this process's Ray connection (and the local instance, if it started one).

    Called while the process is still whole: left to the interpreter's exit,
    Ray's own clean-up can stop the local head's processes before the driver
    has let go of them, and the driver then waits for them and aborts the process.
    """
    if ray.is_initialized():
        _warm_trainers.discard()
        ray.shutdown()


def train_distributed(
    features: np.ndarray,
    labels: np.ndarray,
    params: dict[str, Any],
    num_boost_round: int,
    num_workers: int,
    *,
    tracker_ip: str,
    callbacks: tuple[Callback | None, Callback | None] = (None, None),
    import_roots: tuple[str, ...] = (),
) -> xgb.Booster:
    """Train one booster over ``num_workers`` Ray actors, each on a contiguous row shard.

    The actors join XGBoost's tracker at ``tracker_ip`` (see ``tracker_host``). ``callbacks`` are an optional
    custom objective and evaluation metric; when one raises, the :class:`CallbackError` carrying its traceback is
    raised here. They travel to the workers by value, so ``import_roots`` (the repository's directory, which the
    workers see at the same path) is put on each worker's import path while it trains: a callback may import the
    repository's own modules when it is called.
    """
    cpus = float(ray.cluster_resources().get("CPU", 1.0))  # type: ignore[no-untyped-call]
    threads = max(1, int(cpus) // num_workers)
    trainers = _warm_trainers.get(num_workers, min(float(threads), cpus / num_workers))
    tracker = RabitTracker(host_ip=tracker_ip, n_workers=num_workers, sortby="task", timeout=_TRACKER_TIMEOUT_S)
    tracker.start()
    bounds = np.linspace(0, len(labels), num_workers + 1).astype(int)
    try:
        results = ray.get(
            [
                trainer.fit.remote(
                    features[start:end],
                    labels[start:end],
                    {**params, "nthread": threads},
                    num_boost_round,
                    {**tracker.worker_args(), "dmlc_task_id": str(rank)},
                    callbacks=callbacks,
                    import_roots=import_roots,
                )
                for rank, (trainer, start, end) in enumerate(zip(trainers, bounds[:-1], bounds[1:], strict=True))
            ]
        )
        tracker.wait_for(_TRACKER_TIMEOUT_S)
    except RayError as e:
        _warm_trainers.discard()
        cause = getattr(e, "cause", None)
        if isinstance(cause, CallbackError):
            raise cause from e
        if isinstance(cause, xgb.core.XGBoostError):
            raise PermanentError(f"XGBoost rejected the training job: {cause}; check the hyperparameters") from e
        raise TemporaryError(f"distributed training failed: {e}; retry the run") from e
    booster = xgb.Booster()
    booster.load_model(bytearray(next(r for r in results if r is not None)))
    return booster
