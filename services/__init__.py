"""Deployable services that the GitOps manifests run; today the model server.

Nothing here imports the automation service: the model server is its own
deployable, configured only by the ConfigMap its manifests carry.
"""
