"""Deterministic run names, so that a retried action finds its earlier run.

Argo refuses a second Workflow with the same name (409) and the local backend
looks runs up by name, which turns "submit twice" into "submitted once" as long
as the same action always gets the same name. The name keeps a readable prefix
and ends with a hash of the full action key, so two keys that fold to the same
prefix still get different names.
"""

from __future__ import annotations

import hashlib

from core.identifiers import dns_safe

_MAX_NAME_LENGTH = 63
_HASH_LENGTH = 12


def run_name(prefix: str, action_key: str) -> str:
    """Return a DNS-1123 label (at most 63 characters) unique to ``action_key``.

    >>> run_name("retrain", "push:acme/ml:main:0123abc")
    'retrain-edcc78723757'
    """
    digest = hashlib.sha256(action_key.encode()).hexdigest()[:_HASH_LENGTH]
    readable = dns_safe(prefix, max_length=_MAX_NAME_LENGTH - _HASH_LENGTH - 1)
    return f"{readable}-{digest}"
