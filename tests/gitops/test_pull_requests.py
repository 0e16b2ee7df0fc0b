"""Pull-request mode: push a branch, open a PR/MR through a real local HTTP server speaking each host's API."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import PermanentError
from gitops import lineage
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import deployed_literal, make_request, remote_log
from tests.gitops.http_servers import forge_api_server

Settings = Callable[..., GitOpsSettings]
BRANCH = "mlops-gitops/production/churn-xgb-v4"


def pull_request_settings(make_settings: Settings, provider: str, api_url: str, token: str) -> GitOpsSettings:
    return make_settings(
        mode="pull-request",
        pull_request={"provider": provider, "api_url": api_url, "repository": "ml/gitops", "token": token},
    )


@pytest.mark.parametrize("provider", ["github", "gitlab", "gitea"])
def test_promotion_pushes_a_branch_and_opens_one_request(
    provider: str, make_settings: Settings, gitops_remote: Path
) -> None:
    main_before = remote_log(gitops_remote)
    with forge_api_server(provider, token="api-token") as (api_url, forge):
        writer = GitOpsWriter(pull_request_settings(make_settings, provider, api_url, "api-token"))
        first = writer.promote(make_request(4, environment="production"))
        again = writer.promote(make_request(4, environment="production", trigger_event_id="retry"))

    assert remote_log(gitops_remote) == main_before, "the deployed branch waits for the merge"
    branch_head = remote_log(gitops_remote, BRANCH)[-1]
    assert again.sha == branch_head.sha
    assert lineage.parse_trailers(branch_head.message)["Trigger-Event-Id"] == "retry"
    assert deployed_literal(gitops_remote, "MODEL_VERSION", "production", ref=BRANCH) == "4"

    (opened,) = forge.created
    assert first.pull_request_url == again.pull_request_url == opened.get("html_url", opened.get("web_url"))
    assert first.pushed and first.sha is not None
    assert opened["title"] == "Promote churn-xgb version 4 to production"
    assert "Model-Version: 4" in opened["body"]
    head = opened.get("source_branch") or opened["head"]["ref"]
    base = opened.get("target_branch") or opened["base"]["ref"]
    assert (head, base) == (BRANCH, "main")
    assert [r["method"] for r in forge.requests] == ["POST", "POST", "GET"]


def test_a_rejected_api_token_is_a_permanent_error(make_settings: Settings) -> None:
    with forge_api_server("github", token="api-token") as (api_url, _):
        writer = GitOpsWriter(pull_request_settings(make_settings, "github", api_url, "stale-token"))

        with pytest.raises(PermanentError, match="refused the token"):
            writer.promote(make_request(4, environment="production"))


def test_pull_request_mode_without_any_token_is_refused_at_start(make_settings: Settings) -> None:
    with pytest.raises(PermanentError, match=r"needs gitops\.pull_request\.token"):
        GitOpsWriter(make_settings(mode="pull-request"))
