"""Shared kernel: the few types every layer needs and nothing else.

Kept deliberately tiny so that `workflows` and `gitops` can stay independent of
each other and of `triggers`: they agree on error semantics and on the
allow-list identifier types through this package alone.
"""
