"""Lineage trailers: how a GitOps commit says which model, run and event it deploys.

Every commit the bot writes ends with git trailers (``Key: value`` lines in
the last paragraph of the message). They are the repo's own deployment
history: rollback reads them back to find the previously deployed version,
the push trigger reads them to recognise the bot's commits, and a reviewer
can trace a running model to its training run, commit, event and workflow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MODEL_NAME = "Model-Name"
MODEL_VERSION = "Model-Version"
MODEL_SOURCE = "Model-Source"
MLFLOW_RUN_ID = "MLflow-Run-Id"
TRAINING_COMMIT = "Training-Commit"
TRIGGER_EVENT_ID = "Trigger-Event-Id"
ARGO_WORKFLOW = "Argo-Workflow"
# Only on rollback commits: the version that was rolled back.
ROLLBACK_OF = "Rollback-Of"

_TRAILER_LINE = re.compile(r"^(?P<key>[A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(?P<value>\S.*?)\s*$")


def with_trailers(message: str, trailers: Mapping[str, str | None]) -> str:
    """The message followed by a trailer block; trailers without a value are left out."""
    block = "\n".join(f"{key}: {value}" for key, value in trailers.items() if value)
    return f"{message.rstrip()}\n\n{block}\n"


def parse_trailers(message: str) -> dict[str, str]:
    """Trailers of a commit message: the ``Key: value`` lines of its last paragraph.

    As in git, the last paragraph counts only when every non-empty line of it
    is a trailer, and the message must have a subject before it.
    """
    paragraphs = [p for p in re.split(r"\n[ \t]*\n", message.strip()) if p.strip()]
    if len(paragraphs) < 2:
        return {}
    matches = [_TRAILER_LINE.match(line) for line in paragraphs[-1].splitlines() if line.strip()]
    if not all(matches):
        return {}
    return {m.group("key"): m.group("value") for m in matches if m}
