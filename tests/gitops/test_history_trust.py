"""Rollback history cannot be forged: commit messages cannot fake records, only the bot's commits count, and a
rollback deploys the registry's URI of the version, never a trailer's."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gitops.history import deployment_stack
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import deployed_literal, make_request, remote_log

ATTACKER = "mallory@example.com"
OVERLAY = "overlays/staging/kustomization.yaml"


def push_commit(remote: Path, work: Path, message: str, email: str) -> str:
    """Clone ``remote``, touch the staging overlay, commit with ``message`` as ``email`` and push; the new sha."""
    subprocess.run(["git", "clone", "-q", str(remote), str(work)], check=True)
    with (work / OVERLAY).open("a") as overlay:
        overlay.write("# touched\n")
    identity = ["-c", f"user.name={email}", "-c", f"user.email={email}"]
    (work / "message").write_text(message)
    subprocess.run(["git", "-C", str(work), *identity, "commit", "-q", "-a", "-F", str(work / "message")], check=True)
    subprocess.run(["git", "-C", str(work), "push", "-q", "origin", "HEAD:main"], check=True)
    return subprocess.run(
        ["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def forged_record(bot_email: str, version: int) -> str:
    """A message that, split on the old record and unit separators, reads as one more bot promotion."""
    trailers = (
        f"Model-Name: churn-xgb\nModel-Version: {version}\nModel-Source: s3://evil-bucket/model\n"
        f"MLflow-Run-Id: {version:032x}\n"
    )
    return f"tidy overlay\n\x1e{'f' * 40}\x1f{bot_email}\x1fPromote\n\n{trailers}"


def test_a_message_holding_separators_forges_nothing_and_crashes_nothing(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path, tmp_path: Path
) -> None:
    bot = make_settings().bot_email
    plain = push_commit(gitops_remote, tmp_path / "a", "\x1e", ATTACKER)
    forging = push_commit(gitops_remote, tmp_path / "b", forged_record(bot, 7), ATTACKER)
    *_, second_last, last = remote_log(gitops_remote)
    assert [(c.sha, c.author_email) for c in (second_last, last)] == [(plain, ATTACKER), (forging, ATTACKER)]
    assert last.message.startswith("tidy overlay\n\x1e")


def test_only_the_bots_commits_make_the_deployment_history(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path, tmp_path: Path
) -> None:
    writer = GitOpsWriter(make_settings(), None)
    writer.promote(make_request(4))
    writer.promote(make_request(5))
    trailers = "Model-Name: churn-xgb\nModel-Version: 9\nModel-Source: s3://evil-bucket/model\n"
    push_commit(gitops_remote, tmp_path / "a", f"Promote churn-xgb\n\n{trailers}", ATTACKER)
    stack = deployment_stack(remote_log(gitops_remote), "churn-xgb", bot_email=make_settings().bot_email)
    assert [d.version for d in stack] == ["4", "5"]


@pytest.mark.parametrize("forger", [ATTACKER, "bot"])
def test_a_rollback_deploys_the_registry_uri_whatever_the_trailers_say(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path, tmp_path: Path, forger: str
) -> None:
    bot = make_settings().bot_email
    writer = GitOpsWriter(make_settings(), None)
    writer.promote(make_request(4))
    writer.promote(make_request(5))
    push_commit(gitops_remote, tmp_path / "forged", forged_record(bot, 4), bot if forger == "bot" else forger)

    rolled_back = writer.rollback("churn-xgb", "staging", reason="demoted", trigger_event_id="e-9")
    assert rolled_back.version == "4"
    assert deployed_literal(gitops_remote, "MODEL_URI") == "models:/churn-xgb/4"
