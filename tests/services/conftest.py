"""Fixtures of the model server tests: one real serving stack and the server running on it as a subprocess."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.devstack.mlflow_server import MlflowServer
from devtools.devstack.process import free_port, start, stop, wait_until
from tests.services.serving_stack import ServingStack, build_serving_stack

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunningServer:
    url: str
    log: Path


@pytest.fixture(scope="module")
def serving_stack(tmp_path_factory: pytest.TempPathFactory, mlflow_server: MlflowServer) -> ServingStack:
    return build_serving_stack(
        tmp_path_factory.mktemp("serving"), mlflow_server.tracking_uri, entities=200, model_name="account-risk"
    )


@pytest.fixture(scope="module")
def model_server(serving_stack: ServingStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """``python -m services.model_server`` configured only through the ConfigMap's variables."""
    port = free_port()
    log = tmp_path_factory.mktemp("model-server") / "server.log"
    command = [sys.executable, "-m", "services.model_server", "--host", "127.0.0.1", "--port", str(port)]
    process = start(command, log=log, env=serving_stack.environment(), cwd=REPO_ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: httpx.get(f"{url}/readyz").status_code == 200, timeout=180, what="model server", log=log)
        yield RunningServer(url, log)
    finally:
        stop(process)
