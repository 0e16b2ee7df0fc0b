"""The MLflow registry watcher: the path for stage transitions, and the reconcile path for missed webhooks."""
