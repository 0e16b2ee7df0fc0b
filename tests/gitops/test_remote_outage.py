"""A GitOps remote that goes away and comes back: an outage to retry, unless it was never there."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.errors import PermanentError, TemporaryError
from gitops.settings import GitOpsSettings
from gitops.writer import GitOpsWriter
from tests.gitops.conftest import deployed_literal, make_request


def test_a_remote_gone_after_a_fetch_is_temporary_and_the_write_lands_once_it_is_back(
    make_settings: Callable[..., GitOpsSettings], gitops_remote: Path
) -> None:
    writer = GitOpsWriter(make_settings())
    writer.promote(make_request(1))
    moved = gitops_remote.with_name("moved-away.git")
    gitops_remote.rename(moved)

    with pytest.raises(TemporaryError, match="fetched from has no repository now") as outage:
        writer.promote(make_request(2))
    assert not isinstance(outage.value, PermanentError)

    moved.rename(gitops_remote)
    result = writer.promote(make_request(2))
    assert result.pushed
    assert deployed_literal(gitops_remote, "MODEL_VERSION") == "2"
