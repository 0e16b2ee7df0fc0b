"""The embedded backend: the pipelines as Prefect flows on this machine."""

from workflows.local.backend import LocalBackend

__all__ = ["LocalBackend"]
