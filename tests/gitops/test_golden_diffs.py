"""A promotion's diff is exactly the changed values: comments, order, quoting and layout survive.

Each case promotes once against a real bare remote and compares ``git show``
of the bot's commit with a golden diff in ``tests/golden/gitops/``. After an
intended change, regenerate with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/gitops/test_golden_diffs.py`` and review the diff.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.conftest import REPO_ROOT
from tests.gitops.conftest import make_request
from tests.infra.git_remote import GitRemoteFactory

GOLDEN_DIR = REPO_ROOT / "tests" / "golden" / "gitops"

HAND_WRITTEN_KUSTOMIZATION = """\
# Canary of the model server, kept by hand except for the image tag.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../../base]   # flow style stays flow style
images:
- name: model-server
  newName: registry.example.com/ml/model-server
  newTag: "2024.11.1"   # bumped by the bot
"""

HAND_WRITTEN_VALUES = """\
# Helm values of the canary release.
replicaCount: 1
model:
    # what the server loads at start
    name: 'churn-xgb'
    version: 7
    uri: "models:/churn-xgb/7"   # keep quoted
    runId: "00000000000000000000000000000007"
resources: {requests: {cpu: 250m}}
"""


def show_commit(remote: Path, sha: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(remote), "show", "--format=", sha], capture_output=True, text=True, check=True
    ).stdout


def assert_matches_golden(name: str, diff: str) -> None:
    golden = GOLDEN_DIR / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.parent.mkdir(parents=True, exist_ok=True)
        golden.write_text(diff)
    assert golden.exists(), f"{golden} is missing; create it with UPDATE_GOLDEN=1"
    assert diff == golden.read_text(), f"the promotion diff differs from {golden}; see the module docstring"


def test_template_overlay_promotion_diff(gitops_remote: Path, make_settings: type[GitOpsSettings]) -> None:
    result = GitOpsWriter(make_settings()).promote(make_request(12, "production"))

    assert result.sha is not None
    assert_matches_golden("promote-production-overlay.diff", show_commit(gitops_remote, result.sha))


def test_hand_written_image_and_values_promotion_diff(git_remote_factory: GitRemoteFactory, tmp_path: Path) -> None:
    remote = git_remote_factory.create(
        "canary",
        initial_files={
            "overlays/canary/kustomization.yaml": HAND_WRITTEN_KUSTOMIZATION,
            "overlays/canary/values.yaml": HAND_WRITTEN_VALUES,
        },
    )
    settings = GitOpsSettings.model_validate(
        {
            "repo_url": str(remote),
            "work_dir": str(tmp_path / "checkout"),
            "environments": {"canary": "overlays/canary"},
            "targets": [
                {"kind": "kustomize-image", "image": "model-server", "value": "2024.11.{version}"},
                {"kind": "values-key", "path": "model.version", "value": "{version}"},
                {"kind": "values-key", "path": "model.uri", "value": "{model_uri}"},
                {"kind": "values-key", "path": "model.runId", "value": "{run_id}"},
            ],
        }
    )

    result = GitOpsWriter(settings).promote(make_request(8, "canary"))

    assert result.sha is not None
    assert_matches_golden("promote-hand-written-canary.diff", show_commit(remote, result.sha))


@pytest.mark.parametrize("name", ["promote-production-overlay.diff", "promote-hand-written-canary.diff"])
def test_golden_diffs_touch_only_the_promoted_values(name: str) -> None:
    changed = [line for line in (GOLDEN_DIR / name).read_text().splitlines() if line[:1] in "+-"]
    changed = [line for line in changed if not line.startswith(("+++", "---"))]

    assert changed, "a promotion changes something"
    assert all(
        any(key in line for key in ("VERSION", "URI", "RUN_ID", "newTag", "version", "uri", "runId"))
        for line in changed
    )
