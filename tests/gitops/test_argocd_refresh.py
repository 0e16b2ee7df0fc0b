"""``gitops.argocd_refresh``: a refresh that cannot happen never costs the promotion its commit.

That the annotation reaches a real Argo CD and makes it sync at once is proven by ``make cluster-test`` (level
4, against a real apiserver and application-controller); here, the paths where it cannot.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError
from structlog.testing import capture_logs

from devtools.devstack.process import free_port
from gitops.argocd_refresh import ArgoCdRefresh
from gitops.settings import ArgoCdRefreshSettings, GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import deployed_literal, make_request

Settings = Callable[..., GitOpsSettings]
TOKEN = "service-account-token-that-must-never-be-logged"


def refresh_settings(tmp_path: Path, **overrides: object) -> dict[str, object]:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN)
    fields: dict[str, object] = {
        "enabled": True,
        "api_server": f"https://127.0.0.1:{free_port()}",  # nothing listens there
        "token_file": str(token_file),
        "ca_file": None,
        "timeout_seconds": 2.0,
    }
    return fields | overrides


def test_the_promotion_is_pushed_when_argo_cd_cannot_be_reached(
    make_settings: Settings, gitops_remote: Path, tmp_path: Path
) -> None:
    writer = GitOpsWriter(make_settings(argocd_refresh=refresh_settings(tmp_path)))

    with capture_logs() as logged:
        result = writer.promote(make_request(4))

    assert result.pushed and deployed_literal(gitops_remote, "MODEL_VERSION") == "4"
    (failed,) = [entry for entry in logged if entry["event"] == "gitops.argocd_refresh_failed"]
    assert failed["application"] == "model-server-staging"
    assert "ConnectError" in failed["error"]
    assert TOKEN not in str(logged)


def test_a_missing_token_file_is_logged_not_raised(tmp_path: Path) -> None:
    settings = ArgoCdRefreshSettings.model_validate(refresh_settings(tmp_path, token_file=str(tmp_path / "none")))

    with capture_logs() as logged:
        assert ArgoCdRefresh(settings).refresh("production") is False

    assert logged[0]["event"] == "gitops.argocd_refresh_failed"
    assert "FileNotFoundError" in logged[0]["error"]


def test_an_environment_without_an_application_is_left_to_polling(tmp_path: Path) -> None:
    settings = ArgoCdRefreshSettings.model_validate(refresh_settings(tmp_path, applications={}))

    with capture_logs() as logged:
        assert ArgoCdRefresh(settings).refresh("staging") is False

    assert logged == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("api_server", "http://127.0.0.1:6443"),
        ("api_server", "https://127.0.0.1:6443/apis"),
        ("namespace", "argo cd"),
        ("applications", {"staging": "Model_Server"}),
    ],
)
def test_settings_refuse_what_would_reach_a_url_unchecked(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        ArgoCdRefreshSettings.model_validate({field: value})
