"""The README's commands work as written, as a newcomer would type them.

Every ``bash`` block of README.md runs here in a directory of its own, where
``.venv`` is this checkout's environment, unless an HTML comment right above
it says why it cannot (``<!-- readme-test: skip (reason) -->``). Each line of
the ``text`` synopsis that starts with ``mlops-gitops`` names a command that
must answer ``--help`` and accept every option the line shows. So the README
cannot drift from the code without a test failing here.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.upstream import REPO_ROOT

VENV = REPO_ROOT / ".venv"
_BLOCK = re.compile(
    r"(?:<!-- readme-test: skip \((?P<reason>[^)]*)\) -->\n)?```(?P<language>\w*)\n(?P<body>.*?)^```",
    re.DOTALL | re.MULTILINE,
)


@dataclass(frozen=True)
class Block:
    line: int
    language: str
    body: str
    skip_reason: str | None


def readme_blocks() -> list[Block]:
    text = (REPO_ROOT / "README.md").read_text()
    return [
        Block(text.count("\n", 0, match.start("body")) + 1, match["language"], match["body"], match["reason"])
        for match in _BLOCK.finditer(text)
    ]


def _runnable() -> list[Block]:
    return [block for block in readme_blocks() if block.language == "bash" and block.skip_reason is None]


def _synopsis_lines() -> list[str]:
    lines = (line.strip() for block in readme_blocks() if block.language == "text" for line in block.body.splitlines())
    return [line for line in lines if line.startswith("mlops-gitops ")]


def test_the_readme_has_runnable_blocks_and_every_skip_gives_a_reason() -> None:
    blocks = readme_blocks()
    assert _runnable(), "no README command block is run"
    assert all(block.skip_reason.strip() for block in blocks if block.skip_reason is not None)


@pytest.mark.parametrize("block", _runnable(), ids=lambda block: f"README.md:{block.line}")
def test_readme_block_runs_as_written(block: Block, tmp_path: Path) -> None:
    (tmp_path / ".venv").symlink_to(VENV)
    env = {**os.environ, "PATH": f"{VENV / 'bin'}:{os.environ['PATH']}"}
    env = {key: value for key, value in env.items() if not key.startswith("MLOPS_GITOPS_")}
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.body],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, f"README.md:{block.line} failed:\n{completed.stdout}\n{completed.stderr}"


def _command_words(words: list[str]) -> list[str]:
    """The leading sub-command names of a synopsis line, before its arguments (``ID``) and options."""
    command: list[str] = []
    for word in words:
        if not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        command.append(word)
    return command


@pytest.mark.parametrize("line", _synopsis_lines())
def test_synopsis_names_real_commands_and_options(line: str) -> None:
    words = shlex.split(line.split("#", 1)[0])[1:]
    command = _command_words(words)
    completed = subprocess.run(
        [str(VENV / "bin" / "mlops-gitops"), *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert completed.returncode == 0, completed.stderr
    for option in (word.strip("[]").split("=")[0] for word in words if word.strip("[").startswith("--")):
        assert option in completed.stdout, f"{line!r}: {option} is not an option of {' '.join(command)}"
