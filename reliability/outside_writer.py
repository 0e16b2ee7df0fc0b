"""A person pushing to the GitOps repo exactly while the bot pushes: a pre-receive hook that loses the bot its race.

Installed as the bare remote's ``pre-receive`` hook, this script lets every
push through, but while the bot's push waits in the hook it first has an
outside writer (a clone of its own, a person's identity) push a commit of the
next kind its plan names. The bot's push then finds the branch moved and is
rejected by git itself (``failed to update ref``), as when two writers race.
Plans: ``note`` (an unrelated file changes) or ``deploy:<version>`` (the
person deploys a version to staging by hand).

On each rejection the hook also leaves debris in the bot's checkout (an
edited overlay and a stray file), and it writes down every pushed bot commit,
so a test can prove each attempt started from a clean copy of the remote.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

DEBRIS_FILE = "debris.yaml"
DEBRIS_VERSION = "999"
OUTSIDE_FILE = "OUTSIDE.md"
STAGING = "overlays/staging/kustomization.yaml"


@dataclass(frozen=True)
class Stage:
    """Everything the hook needs, kept in one JSON file beside the remote."""

    bot_email: str
    outside_clone: str
    bot_checkout: str
    plan: str
    journal: str

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self)))


def install(remote: Path, stage: Stage) -> None:
    """Make this script the remote's ``pre-receive`` hook, reading ``stage``; clone the outside writer's repo."""
    subprocess.run(["git", "clone", "-q", str(remote), stage.outside_clone], check=True)
    stage_file = remote / "outside-writer.json"
    stage.save(stage_file)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} {Path(__file__).resolve()} {stage_file}\n")
    hook.chmod(0o755)


def plan(stage: Stage, steps: list[str]) -> None:
    """What the outside writer does at the next bot pushes, one step per push."""
    Path(stage.plan).write_text(json.dumps(steps))


def pushed_bot_commits(stage: Stage) -> list[dict[str, object]]:
    path = Path(stage.journal)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def outside_commits(stage: Stage) -> list[str]:
    return [str(entry["outside_commit"]) for entry in pushed_bot_commits(stage) if entry.get("outside_commit")]


def _git(cwd: Path | None, *args: str, env: dict[str, str] | None = None) -> str:
    command = ["git", *(["-C", str(cwd)] if cwd else []), *args]
    return subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout.strip()


def _outside_push(stage: Stage, step: str) -> str:
    """The outside writer's commit and push, from a clean environment (not the hook's quarantine)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    clone = Path(stage.outside_clone)
    _git(clone, "fetch", "-q", "origin", env=env)
    _git(clone, "reset", "-q", "--hard", "origin/main", env=env)
    if step.startswith("deploy:"):
        overlay = clone / STAGING
        text = re.sub(r"MODEL_VERSION=\d+", f"MODEL_VERSION={step.split(':', 1)[1]}", overlay.read_text())
        overlay.write_text(text)
    else:
        notes = clone / OUTSIDE_FILE
        earlier = notes.read_text() if notes.exists() else ""
        notes.write_text(f"{earlier}outside change while the bot pushed: {step}\n")
    _git(clone, "add", "-A", env=env)
    _git(clone, "-c", "user.name=Ada", "-c", "user.email=ada@example.com", "commit", "-qm", f"By hand: {step}", env=env)
    _git(clone, "push", "-q", "origin", "HEAD:main", env=env)
    return _git(clone, "rev-parse", "HEAD", env=env)


def _leave_debris(stage: Stage) -> None:
    checkout = Path(stage.bot_checkout)
    overlay = checkout / STAGING
    overlay.write_text(re.sub(r"MODEL_VERSION=\d+", f"MODEL_VERSION={DEBRIS_VERSION}", overlay.read_text()))
    (checkout / DEBRIS_FILE).write_text("kind: Debris\n")


def main(stage_file: str) -> None:
    stage = Stage(**json.loads(Path(stage_file).read_text()))
    for line in sys.stdin.read().splitlines():
        _old, new, _ref = line.split()
        if _git(None, "log", "-1", "--format=%ae", new) != stage.bot_email:
            continue
        entry: dict[str, object] = {
            "sha": new,
            "files": _git(None, "ls-tree", "-r", "--name-only", new).split(),
            "staging": _git(None, "show", f"{new}:{STAGING}"),
        }
        steps = json.loads(Path(stage.plan).read_text()) if Path(stage.plan).exists() else []
        if steps:
            plan(stage, steps[1:])
            entry["outside_commit"] = _outside_push(stage, steps[0])
            _leave_debris(stage)
        with Path(stage.journal).open("a") as journal:
            journal.write(json.dumps(entry) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
