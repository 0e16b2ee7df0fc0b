"""Allow-listed identifier types for anything that comes from an event.

Values taken from webhooks and Kafka records end up in workflow parameters,
file paths, git refs and YAML files. Each identifier type below is a pydantic
``Annotated`` string with a strict pattern and length bound, so validation at
the model boundary is the only place these rules live. Anything outside the
pattern (``../``, shell metacharacters, newlines, YAML-breaking quotes) is
refused before it reaches a shell, a path or a manifest.

Several of these patterns need lookaheads, so the models that use them run
Python's ``re``, whose ``$`` also matches before a final newline. Every type
therefore also carries :data:`SINGLE_LINE`, which refuses a trailing line
break that the pattern alone would let through.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

# A dataset key is a slash-separated path of safe segments, e.g.
# ``churn/events/date=2026-11-26``. Segments may not be ``.`` or ``..``, nor
# start with "-" (a key passed on to a command line must not read as an option).
_SEGMENT = r"(?!\.{1,2}(?:/|$))(?!-)[A-Za-z0-9_.=\-]+"
DATASET_KEY_PATTERN = rf"^{_SEGMENT}(?:/{_SEGMENT})*$"

# git check-ref-format, narrowed: no "..", no leading "-" or "/", no "@{", no
# control characters, spaces, "~^:?*[\\".
BRANCH_PATTERN = r"^(?!-)(?!/)(?!.*\.\.)(?!.*//)(?!.*@\{)(?!.*\.lock$)(?!.*/$)[A-Za-z0-9._/\-]+$"

# MLflow registered model names: letters, digits, dot, dash, underscore.
MODEL_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"

# Full or abbreviated hex commit id.
GIT_SHA_PATTERN = r"^[0-9a-f]{7,64}$"

# What the GitOps writer commits and the model server loads: a registered version or alias. ``pyfunc.load_model``
# can run code from what it loads, so nothing outside the registry is a model URI by default; an artifact URI
# is allowed only on a host the operator lists (``artifact_uri_host``).
MODEL_URI_PATTERN = r"^models:/[A-Za-z0-9][A-Za-z0-9_.\-]*(?:/[0-9]+|@[A-Za-z0-9_\-]+)$"

# An artifact store URI with a host (or bucket) and a path without "." or ".." segments.
_ARTIFACT_SEGMENT = r"(?!\.{1,2}(?:/|$))[A-Za-z0-9_.\-=]+"
ARTIFACT_URI_PATTERN = (
    r"^(?:s3|gs|wasbs|mlflow-artifacts)://(?P<host>[A-Za-z0-9.\-]+(?::[0-9]{1,5})?)"
    rf"/{_ARTIFACT_SEGMENT}(?:/{_ARTIFACT_SEGMENT})*$"
)

# Repository as "owner/name" (GitHub/Gitea) or a GitLab group path; no "." or ".." segment.
_REPO_SEGMENT = r"(?!\.{1,2}(?:/|$))[A-Za-z0-9_.\-]+"
REPO_PATTERN = rf"^{_REPO_SEGMENT}(?:/{_REPO_SEGMENT})+$"

# A container image repository without a tag or digest (``registry.example.com:5000/ml/churn``): the tag is
# always added by the service (the commit a step runs), never taken from what a repository declares.
IMAGE_NAME_PATTERN = r"^[a-z0-9][a-z0-9.\-]*(?::[0-9]{1,5})?(?:/[a-z0-9][a-z0-9._\-]*)*$"

# Feast object names (feature services, feature views) and column names (Feast join keys, dataset columns).
FEAST_NAME_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
COLUMN_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"

# Kubernetes-style names (environments, overlays, namespaces).
DNS_LABEL_PATTERN = r"^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?$"


def artifact_uri_host(uri: str) -> str | None:
    """The host (or bucket) of an artifact store URI of the allowed shape, or ``None``."""
    if "\n" in uri or "\r" in uri:
        return None
    matched = re.match(ARTIFACT_URI_PATTERN, uri)
    return matched.group("host") if matched else None


def _single_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("must be a single line")
    return value


SINGLE_LINE = AfterValidator(_single_line)
"""Refuses the trailing newline a ``$``-anchored pattern accepts under Python's ``re``."""

DatasetKey = Annotated[str, StringConstraints(pattern=DATASET_KEY_PATTERN, max_length=512), SINGLE_LINE]
BranchName = Annotated[str, StringConstraints(pattern=BRANCH_PATTERN, max_length=255), SINGLE_LINE]
ModelName = Annotated[str, StringConstraints(pattern=MODEL_NAME_PATTERN, max_length=256), SINGLE_LINE]
GitSha = Annotated[str, StringConstraints(pattern=GIT_SHA_PATTERN), SINGLE_LINE]
ModelUri = Annotated[str, StringConstraints(pattern=MODEL_URI_PATTERN, max_length=1024), SINGLE_LINE]
ImageName = Annotated[str, StringConstraints(pattern=IMAGE_NAME_PATTERN, max_length=255), SINGLE_LINE]
RepoName = Annotated[str, StringConstraints(pattern=REPO_PATTERN, max_length=255), SINGLE_LINE]
DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL_PATTERN, max_length=63), SINGLE_LINE]
FeastName = Annotated[str, StringConstraints(pattern=FEAST_NAME_PATTERN, max_length=128), SINGLE_LINE]
ColumnName = Annotated[str, StringConstraints(pattern=COLUMN_NAME_PATTERN, max_length=128), SINGLE_LINE]
FeastProject = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_]*$", max_length=128), SINGLE_LINE]


def _names_a_store_type(store: dict[str, Any]) -> dict[str, Any]:
    if not isinstance(store.get("type"), str):
        raise ValueError("online_store needs a 'type' (redis, postgres, sqlite, ...) as in Feast's feature_store.yaml")
    return store


FeastOnlineStore = Annotated[dict[str, Any], AfterValidator(_names_a_store_type)]
"""Feast's ``online_store`` mapping, passed to Feast as written; it must say which store it configures."""

_DNS_UNSAFE = re.compile(r"[^a-z0-9\-]+")


def dns_safe(text: str, max_length: int = 63) -> str:
    """Fold arbitrary text into a DNS-1123 label (for generated resource names)."""
    folded = _DNS_UNSAFE.sub("-", text.lower()).strip("-")
    return folded[:max_length].rstrip("-") or "x"
