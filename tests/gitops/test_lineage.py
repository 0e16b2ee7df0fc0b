"""Lineage trailers and the loop-prevention check built on them."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gitops import lineage
from gitops.loop_prevention import BOT_TRAILER, is_bot_commit

BOT_EMAIL = "mlops-gitops-bot@users.noreply.local"


def test_trailers_round_trip_and_empty_values_are_left_out() -> None:
    message = lineage.with_trailers(
        "Promote m version 3 to staging\n\nbody text: with a colon",
        {"Model-Name": "m", "Model-Version": "3", "Training-Commit": None, "Trigger-Event-Id": "e-1"},
    )

    assert message.endswith("\n\nModel-Name: m\nModel-Version: 3\nTrigger-Event-Id: e-1\n")
    assert lineage.parse_trailers(message) == {"Model-Name": "m", "Model-Version": "3", "Trigger-Event-Id": "e-1"}


@pytest.mark.parametrize(
    "message",
    [
        "Model-Version: 3",  # a subject alone is not a trailer block
        "Promote\n\nModel-Version: 3\nthis line is prose",  # git needs the whole paragraph to be trailers
        "Promote\n\nModel-Version: 3\n\nsigned off at the end, in prose",
    ],
)
def test_text_that_only_looks_like_trailers_is_not_parsed_as_trailers(message: str) -> None:
    assert lineage.parse_trailers(message) == {}


def test_git_reads_our_trailers_the_same_way(tmp_path: Path) -> None:
    message = lineage.with_trailers("Roll back\n\nbecause", {"Model-Version": "2", "Rollback-Of": "3"})
    parsed = subprocess.run(
        ["git", "interpret-trailers", "--parse"], input=message, capture_output=True, text=True, check=True
    ).stdout

    assert parsed == "Model-Version: 2\nRollback-Of: 3\n"


@pytest.mark.parametrize(
    ("author", "message", "expected"),
    [
        (BOT_EMAIL, f"Promote\n\n{BOT_TRAILER}: e-1\n", True),
        (BOT_EMAIL.upper(), f"Promote\n\nModel-Name: m\n{BOT_TRAILER}: cli-9\n", True),
        (BOT_EMAIL, "Promote by hand with the bot's identity\n", False),
        ("alice@example.com", f"Copied a bot message\n\n{BOT_TRAILER}: e-1\n", False),
        (BOT_EMAIL, f"Promote\n\n{BOT_TRAILER}: e-1\n\nand a prose paragraph after it", False),
    ],
    ids=["bot", "case-insensitive", "no-trailer", "other-author", "trailer-not-last"],
)
def test_a_bot_commit_needs_both_the_bot_author_and_the_trailer(author: str, message: str, expected: bool) -> None:
    assert is_bot_commit(author, message, bot_email=BOT_EMAIL) is expected
