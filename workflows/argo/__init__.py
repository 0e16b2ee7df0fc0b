"""Argo Workflows backend: submits Hera-built Workflows to the Argo Server REST API and polls their status."""
