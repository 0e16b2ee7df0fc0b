"""What a matched rule does: one module per action kind, listed in ``registry``.

Kinds: ``workflow`` (submit a pipeline run), ``gitops-promotion`` and
``gitops-rollback`` (commit to the GitOps repo). Each is idempotent on the
action key the dispatcher hands it.
"""
