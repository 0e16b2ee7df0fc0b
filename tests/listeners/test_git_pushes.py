"""Real pushes to a local bare repository, reported by each git host's webhook, end up in the ledger as pushed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from devtools.devstack.git_payloads import (
    ZERO,
    Push,
    describe_push,
    git,
    gitea_payload,
    github_payload,
    gitlab_payload,
)
from devtools.devstack.senders import gitea_headers, github_headers, gitlab_headers
from tests.infra.git_remote import GitRemoteFactory
from tests.listeners.conftest import GITEA_SECRET, GITHUB_OLD_SECRET, GITHUB_SECRET, GITLAB_TOKEN
from triggers.event import EventType, PushData
from triggers.ledger import Ledger

REPO = "ml-team/churn-model"


def _push_commits(work: Path, bare: Path, files_per_commit: list[dict[str, str | None]], branch: str = "main") -> Push:
    """Commit each dict (path -> text, None deletes) and push them all at once; describe the push from git."""
    before = git(bare, "rev-parse", f"refs/heads/{branch}")
    for number, files in enumerate(files_per_commit):
        for rel, text in files.items():
            path = work / rel
            if text is None:
                git(work, "rm", "-q", rel)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
                git(work, "add", rel)
        git(work, "commit", "-q", "-m", f"change {number}")
    git(work, "push", "-q", "origin", f"HEAD:{branch}")
    after = git(bare, "rev-parse", f"refs/heads/{branch}")
    return describe_push(bare, REPO, f"refs/heads/{branch}", before, after)


@pytest.fixture
def pushed(git_remote_factory: GitRemoteFactory, tmp_path: Path) -> Push:
    bare = git_remote_factory.create(
        "churn", initial_files={"train/train.py": "print('v1')\n", "README.md": "churn\n", "old.txt": "x\n"}
    )
    work = tmp_path / "work"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    return _push_commits(
        work,
        bare,
        [
            {"train/train.py": "print('v2')\n", "features/new.py": "X = 1\n"},
            {"old.txt": None, "docs/notes.md": "notes\n"},
        ],
    )


def _assert_matches(recorded: PushData, push: Push, host: str) -> None:
    assert recorded.host == host
    assert recorded.repo == REPO
    assert (recorded.ref, recorded.before, recorded.after) == (push.ref, push.before, push.after)
    assert recorded.branch == "main"
    assert not recorded.created and not recorded.deleted
    assert [c.id for c in recorded.commits] == [c.id for c in push.commits]
    assert recorded.commits[0].modified == ("train/train.py",)
    assert recorded.commits[0].added == ("features/new.py",)
    assert recorded.commits[1].removed == ("old.txt",)
    assert set(recorded.changed_paths) == {"train/train.py", "features/new.py", "old.txt", "docs/notes.md"}
    assert recorded.commits_truncated is False


def _stored_push(ledger: Ledger, event_id: str) -> PushData:
    record = ledger.reads.get(event_id)
    assert record is not None
    assert record.event.type is EventType.GIT_PUSH
    assert isinstance(record.event.data, PushData)
    return record.event.data


def test_github_push_is_recorded_as_pushed_and_redelivery_is_a_duplicate(
    client: TestClient, ledger: Ledger, pushed: Push
) -> None:
    body = json.dumps(github_payload(pushed)).encode()
    headers = github_headers(body, GITHUB_SECRET, delivery="d6a1c2e0-0001")
    first = client.post("/webhooks/github", content=body, headers=headers)
    assert first.status_code == 202, first.text
    _assert_matches(_stored_push(ledger, first.json()["event_ids"][0]), pushed, "github")

    again = client.post("/webhooks/github", content=body, headers=headers)
    assert again.status_code == 200
    assert again.json() == {"duplicate": True, "event_ids": first.json()["event_ids"]}
    assert ledger.reads.count_by_state() == {"received": 1}


@pytest.mark.parametrize("host", ["github", "gitea", "gitlab"])
def test_a_captured_push_sent_again_under_a_new_delivery_id_is_a_duplicate(
    client: TestClient, ledger: Ledger, pushed: Push, host: str
) -> None:
    def signed(delivery: str) -> tuple[bytes, dict[str, str]]:
        if host == "github":
            body = json.dumps(github_payload(pushed)).encode()
            return body, github_headers(body, GITHUB_SECRET, delivery=delivery)
        if host == "gitea":
            body = json.dumps(gitea_payload(pushed)).encode()
            return body, gitea_headers(body, GITEA_SECRET, delivery=delivery)
        body = json.dumps(gitlab_payload(pushed)).encode()
        return body, {**gitlab_headers(GITLAB_TOKEN, key=delivery), "X-Gitlab-Event-UUID": delivery}

    first = client.post(
        f"/webhooks/{host}", content=signed("delivery-original")[0], headers=signed("delivery-original")[1]
    )
    assert first.status_code == 202, first.text
    body, headers = signed("delivery-replayed")
    replayed = client.post(f"/webhooks/{host}", content=body, headers=headers)
    assert replayed.status_code == 200 and replayed.json()["duplicate"] is True
    assert ledger.reads.count_by_state() == {"received": 1}
    record = ledger.reads.get(first.json()["event_ids"][0])
    assert record is not None and record.event.delivery_id == "delivery-original", "kept for display"
    assert record.event.idempotency_key == (f"{host}:push:{REPO}:refs/heads/main:{pushed.before}:{pushed.after}")


def test_github_accepts_a_rotated_out_secret_still_listed(client: TestClient, ledger: Ledger, pushed: Push) -> None:
    body = json.dumps(github_payload(pushed)).encode()
    answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_OLD_SECRET))
    assert answer.status_code == 202, answer.text


def test_gitlab_push_is_recorded_as_pushed(client: TestClient, ledger: Ledger, pushed: Push) -> None:
    body = json.dumps(gitlab_payload(pushed)).encode()
    answer = client.post("/webhooks/gitlab", content=body, headers=gitlab_headers(GITLAB_TOKEN))
    assert answer.status_code == 202, answer.text
    _assert_matches(_stored_push(ledger, answer.json()["event_ids"][0]), pushed, "gitlab")


def test_gitea_push_is_recorded_as_pushed(client: TestClient, ledger: Ledger, pushed: Push) -> None:
    body = json.dumps(gitea_payload(pushed)).encode()
    answer = client.post("/webhooks/gitea", content=body, headers=gitea_headers(body, GITEA_SECRET))
    assert answer.status_code == 202, answer.text
    _assert_matches(_stored_push(ledger, answer.json()["event_ids"][0]), pushed, "gitea")


def test_gitlab_truncated_commit_list_is_flagged(
    client: TestClient, ledger: Ledger, git_remote_factory: GitRemoteFactory, tmp_path: Path
) -> None:
    bare = git_remote_factory.create("many", initial_files={"a.txt": "0\n"})
    work = tmp_path / "many"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    push = _push_commits(work, bare, [{"a.txt": f"{n + 1}\n"} for n in range(23)])
    body = json.dumps(gitlab_payload(push)).encode()
    answer = client.post("/webhooks/gitlab", content=body, headers=gitlab_headers(GITLAB_TOKEN))
    recorded = _stored_push(ledger, answer.json()["event_ids"][0])
    assert (len(recorded.commits), recorded.total_commits, recorded.commits_truncated) == (20, 23, True)
    assert recorded.commits[-1].id == push.after


def test_new_branch_and_branch_deletion_and_tag(
    client: TestClient, ledger: Ledger, git_remote_factory: GitRemoteFactory, tmp_path: Path
) -> None:
    bare = git_remote_factory.create("branches", initial_files={"a.txt": "0\n"})
    work = tmp_path / "branches"
    git(tmp_path, "clone", "-q", str(bare), str(work))
    git(work, "checkout", "-q", "-b", "feature/x")
    (work / "b.txt").write_text("b\n")
    git(work, "add", "b.txt")
    git(work, "commit", "-q", "-m", "feature")
    git(work, "push", "-q", "origin", "feature/x")
    head = git(bare, "rev-parse", "refs/heads/feature/x")
    created = describe_push(bare, REPO, "refs/heads/feature/x", ZERO, head)
    git(work, "push", "-q", "origin", "--delete", "feature/x")
    deleted = Push(REPO, "refs/heads/feature/x", head, ZERO, [])
    git(work, "tag", "v1.0.0")
    git(work, "push", "-q", "origin", "v1.0.0")
    tagged = Push(REPO, "refs/tags/v1.0.0", ZERO, head, [])

    recorded = []
    for push in (created, deleted, tagged):
        body = json.dumps(github_payload(push)).encode()
        answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET))
        assert answer.status_code == 202, answer.text
        record = ledger.reads.get(answer.json()["event_ids"][0])
        assert record is not None
        recorded.append(record.event)
    assert isinstance(recorded[0].data, PushData) and recorded[0].data.created
    assert recorded[0].data.changed_paths == ("a.txt", "b.txt")
    assert isinstance(recorded[1].data, PushData) and recorded[1].data.deleted
    assert recorded[2].type is EventType.GIT_TAG
    assert isinstance(recorded[2].data, PushData) and recorded[2].data.tag == "v1.0.0"


def test_github_ping_answers_200_and_records_nothing(client: TestClient, ledger: Ledger) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    answer = client.post("/webhooks/github", content=body, headers=github_headers(body, GITHUB_SECRET, event="ping"))
    assert answer.status_code == 200
    assert "ping" in answer.json()["ignored"]
    assert ledger.reads.count_by_state() == {}
