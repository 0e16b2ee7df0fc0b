"""Only repositories listed in ``workflows.code_repos`` get their code run, on either backend."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import PermanentError
from tests.workflows.argo_server import FakeArgoServer
from workflows.argo.backend import ArgoBackend
from workflows.local import LocalBackend
from workflows.params import EtlParams, FeatureApplyParams, RetrainParams
from workflows.settings import ArgoSettings, LocalSettings
from workflows.trust import named_repositories

TRUSTED = "https://git.example.com/acme/churn-model.git"
STRANGER = "https://git.example.com/someone/else.git"
SHA = "9fceb02d0ae598e95dc970b74767f19372d61af8"
ETL = EtlParams(source_uri="/data/raw", partitions=("date=2026-11-26",))


def test_every_repository_a_run_names_is_found_nested_or_not() -> None:
    retrain = RetrainParams(
        model_name="churn-xgb", repo_url=TRUSTED, commit=SHA, etl=ETL.model_copy(update={"repo_url": STRANGER})
    )

    assert sorted(named_repositories(retrain)) == sorted([TRUSTED, STRANGER])
    assert list(named_repositories(ETL)) == []
    assert list(named_repositories(FeatureApplyParams(repo_url=STRANGER, commit=SHA))) == [STRANGER]


@pytest.mark.parametrize(
    ("pipeline", "params"),
    [
        ("retrain", RetrainParams(model_name="churn-xgb", repo_url=STRANGER, commit=SHA)),
        (
            "retrain",
            RetrainParams(
                model_name="churn-xgb", repo_url=TRUSTED, commit=SHA, etl=ETL.model_copy(update={"repo_url": STRANGER})
            ),
        ),
        ("data-etl", ETL.model_copy(update={"repo_url": STRANGER})),
        ("feature-apply", FeatureApplyParams(repo_url=STRANGER, commit=SHA)),
    ],
)
def test_the_local_backend_refuses_code_of_unlisted_repositories(tmp_path: Path, pipeline: str, params: object) -> None:
    backend = LocalBackend(LocalSettings(work_dir=str(tmp_path)), code_repos=[TRUSTED])
    try:
        with pytest.raises(PermanentError, match=r"\['https://git\.example\.com/someone/else\.git'\] are not in"):
            backend.submit(pipeline, params, run_name="run-untrusted", labels={})  # type: ignore[arg-type]
        assert not (tmp_path / "runs" / "run-untrusted.json").exists(), "nothing was recorded or started"
    finally:
        backend.close()


def test_the_argo_backend_refuses_them_before_anything_reaches_the_server() -> None:
    server = FakeArgoServer(token="t").start()
    try:
        backend = ArgoBackend(
            ArgoSettings(feast_project="churn", server_url=server.url, token="t"), code_repos=[TRUSTED]
        )
        with pytest.raises(PermanentError, match=r"not in workflows\.code_repos"):
            backend.submit(
                "retrain",
                RetrainParams(model_name="churn-xgb", repo_url=STRANGER, commit=SHA),
                run_name="r-1",
                labels={},
            )
        assert server.workflows == {}
        backend.close()
    finally:
        server.stop()
