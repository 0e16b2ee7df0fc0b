"""``fraud_repo/`` is an ML repository the pipeline tests push, not part of this suite: its tests run in it."""

collect_ignore = ["fraud_repo"]
