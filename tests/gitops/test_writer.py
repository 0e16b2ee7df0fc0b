"""The write-back engine against real bare remotes and a real MLflow registry."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import PermanentError, TemporaryError
from devtools.devstack.process import free_port
from gitops import lineage
from gitops.loop_prevention import is_bot_commit
from gitops.promotion import PromotionRequest
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter, StaleWriteError
from tests.gitops.conftest import BOT, RegisteredModel, deployed_literal, make_request, remote_log
from tests.gitops.http_servers import git_http_server

Settings = Callable[..., GitOpsSettings]


@pytest.fixture
def writer(make_settings: Settings) -> GitOpsWriter:
    return GitOpsWriter(make_settings())


def test_promotion_is_one_bot_commit_with_lineage_trailers(
    make_settings: Settings, gitops_remote: Path, registered_model: RegisteredModel
) -> None:
    settings = make_settings()
    writer = GitOpsWriter(settings, registered_model.registry)
    request = registered_model.request(3, training_commit="0123abcd" * 5, argo_workflow="retrain-churn-7f3c2")

    result = writer.promote(request)

    head = remote_log(gitops_remote)[-1]
    assert (result.sha, result.pushed, result.version, result.environment) == (head.sha, True, "3", "staging")
    assert head.author_email == BOT[1]
    assert head.message.splitlines()[0] == "Promote churn-xgb version 3 to staging"
    assert lineage.parse_trailers(head.message) == {
        "Model-Name": "churn-xgb",
        "Model-Version": "3",
        "Model-Source": "models:/churn-xgb/3",
        "MLflow-Run-Id": registered_model.run_ids["3"],
        "Training-Commit": "0123abcd" * 5,
        "Trigger-Event-Id": "event-3",
        "Argo-Workflow": "retrain-churn-7f3c2",
    }
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "3"
    assert deployed_literal(gitops_remote, "MODEL_URI") == "models:/churn-xgb/3"
    assert deployed_literal(gitops_remote, "MODEL_RUN_ID") == registered_model.run_ids["3"]
    assert deployed_literal(gitops_remote, "MODEL_VERSION", "production") == "0"
    assert is_bot_commit(head.author_email, head.message, bot_email=settings.bot_email)
    assert not is_bot_commit(remote_log(gitops_remote)[0].author_email, "initial", bot_email=settings.bot_email)


def test_promoting_the_deployed_version_again_commits_nothing(writer: GitOpsWriter, gitops_remote: Path) -> None:
    writer.promote(make_request(2))
    before = remote_log(gitops_remote)

    result = writer.promote(make_request(2, trigger_event_id="redelivered"))

    assert (result.sha, result.pushed) == (None, False)
    assert remote_log(gitops_remote) == before


def test_an_older_version_is_refused_as_stale(writer: GitOpsWriter, gitops_remote: Path) -> None:
    writer.promote(make_request(5))
    before = remote_log(gitops_remote)

    with pytest.raises(StaleWriteError, match="already runs churn-xgb version 5"):
        writer.promote(make_request(4))

    assert remote_log(gitops_remote) == before
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "5"


def test_unknown_environment_and_unregistered_version_are_refused(
    make_settings: Settings, gitops_remote: Path, registered_model: RegisteredModel
) -> None:
    writer = GitOpsWriter(make_settings(), registered_model.registry)
    before = remote_log(gitops_remote)

    with pytest.raises(PermanentError, match="unknown environment 'qa'"):
        writer.promote(registered_model.request(1, environment="qa"))
    unregistered = registered_model.request(1).model_copy(update={"version": "999"})
    with pytest.raises(PermanentError, match="version 999 does not exist in the model registry"):
        writer.promote(unregistered)

    assert remote_log(gitops_remote) == before


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("model_uri", "http://evil.example.com/model"),
        ("model_uri", "models:/churn-xgb/1\nModel-Version: 99"),
        ("model_uri", "file:///../../etc/passwd;rm"),
        ("version", "latest"),
        ("environment", "../production"),
        ("run_id", "not-a-run"),
    ],
)
def test_input_outside_the_allow_lists_is_refused_before_anything_happens(field: str, value: str) -> None:
    fields = {
        "model_name": "churn-xgb",
        "version": "1",
        "model_uri": "models:/churn-xgb/1",
        "environment": "staging",
        "trigger_event_id": "e-1",
    }
    with pytest.raises(PermanentError, match=f"promotion refused, fix the input: {field}"):
        PromotionRequest.checked(**fields | {field: value})


def test_a_target_needing_a_field_the_request_lacks_commits_nothing(writer: GitOpsWriter, gitops_remote: Path) -> None:
    before = remote_log(gitops_remote)
    without_run = make_request(1).model_copy(update={"run_id": None})

    with pytest.raises(PermanentError, match=r"needs \['run_id'\]"):
        writer.promote(without_run)

    assert remote_log(gitops_remote) == before


def test_leftovers_in_the_checkout_never_reach_the_remote(
    writer: GitOpsWriter, make_settings: Settings, gitops_remote: Path
) -> None:
    settings = make_settings()
    writer = GitOpsWriter(settings)
    writer.promote(make_request(1))
    checkout = Path(settings.work_dir)
    overlay = checkout / "overlays" / "staging" / "kustomization.yaml"
    overlay.write_text(overlay.read_text().replace("MODEL_NAME=churn-xgb", "MODEL_NAME=half-written"))
    (checkout / "junk.yaml").write_text("kind: Junk\n")
    git = ["git", "-C", str(checkout), "-c", "user.name=x", "-c", "user.email=x@x"]
    subprocess.run([*git, "commit", "-qam", "unpushed local commit"], check=True)
    (checkout / ".git" / "index.lock").write_text("")  # as a killed writer leaves it

    writer.promote(make_request(2))

    tree = subprocess.run(
        ["git", "--git-dir", str(gitops_remote), "ls-tree", "-r", "--name-only", "main"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    assert "junk.yaml" not in tree
    assert deployed_literal(gitops_remote, "MODEL_NAME") == "churn-xgb"
    assert [c.message.splitlines()[0] for c in remote_log(gitops_remote)][-2:] == [
        "Promote churn-xgb version 1 to staging",
        "Promote churn-xgb version 2 to staging",
    ]


def test_an_unreachable_remote_is_a_temporary_error(make_settings: Settings, tmp_path: Path) -> None:
    settings = make_settings(repo_url=f"http://127.0.0.1:{free_port()}/ml/gitops.git")

    with pytest.raises(TemporaryError, match="unreachable"):
        GitOpsWriter(settings).promote(make_request(1))


def test_a_missing_repository_is_a_permanent_error(make_settings: Settings, tmp_path: Path) -> None:
    settings = make_settings(repo_url=str(tmp_path / "nowhere.git"))

    with pytest.raises(PermanentError, match=r"check gitops\.repo_url"):
        GitOpsWriter(settings).promote(make_request(1))


def test_https_token_is_sent_per_call_and_a_rejected_one_is_permanent(
    make_settings: Settings, gitops_remote: Path
) -> None:
    with git_http_server(gitops_remote.parent, token="s3cret-token") as base_url:
        url = f"{base_url}/{gitops_remote.name}"
        for token in ("wrong-token", None):
            settings = make_settings(repo_url=url, token=token)
            with pytest.raises(PermanentError, match="refused the credential"):
                GitOpsWriter(settings).promote(make_request(1))

        settings = make_settings(repo_url=url, token="s3cret-token")
        result = GitOpsWriter(settings).promote(make_request(1))

    assert result.sha == remote_log(gitops_remote)[-1].sha
    stored = (Path(settings.work_dir) / ".git" / "config").read_text()
    assert "s3cret" not in stored
    assert url in stored


def test_registry_adapter_finds_registered_versions_only(registered_model: RegisteredModel) -> None:
    found = registered_model.registry.get_version("churn-xgb", "7")

    assert found is not None
    assert (found.version, found.run_id, found.registry_uri) == (
        "7",
        registered_model.run_ids["7"],
        "models:/churn-xgb/7",
    )
    assert registered_model.registry.get_version("churn-xgb", "999") is None
    assert registered_model.registry.get_version("no-such-model", "1") is None
