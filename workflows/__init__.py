"""Pipelines defined once with Hera, and the backends that run them.

The same step code runs as Argo Workflows in a cluster and as Prefect flows on
a laptop; a backend is chosen by configuration behind one interface.
"""
