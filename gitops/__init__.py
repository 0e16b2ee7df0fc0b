"""Write-back to the GitOps repository that Argo CD syncs.

A model promotion becomes one reviewed-looking commit in the overlay of its
environment, and Argo CD rolls the model server forward from there; a
demotion becomes a rollback commit. Everything in between is here:

* ``scaffold`` and ``template/``: the repo ``mlops-gitops gitops init`` creates;
* ``manifests``: format-preserving YAML edits of the configured targets;
* ``checkout``, ``locking``: the bot's clone, its git transport and the
  repo+branch lock;
* ``writer``: ``GitOpsWriter.promote``/``submit``/``rollback`` (stale-write
  refusal, lineage trailers, fetch-rebase-retry, direct push or pull request);
* ``argocd_refresh``: after a push, Argo CD's refresh annotation on the
  environment's Application, so it syncs now rather than at its next poll;
* ``group_commit``: concurrent writes to one branch batched into one
  fetch-commit-push round, in ascending version order;
* ``policy``, ``history``: which registry stage or alias deploys where, and
  the deployment history read back from the trailers for rollbacks;
* ``loop_prevention``: ``is_bot_commit``, for the push trigger to ignore the
  bot's own commits.

Independent of ``workflows`` and ``triggers``: callers hand in plain values
and a :class:`gitops.registry.ModelRegistry`.
"""
