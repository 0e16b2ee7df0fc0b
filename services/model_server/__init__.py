"""Online prediction server for one registered model version.

Argo CD rolls this server forward and back by changing the ConfigMap its
manifests carry (model name, version, URI); the server itself only reads those
values from its environment at start-up, loads that exact version from MLflow,
joins the entity's online features from Feast and answers with predictions
stamped with the version that made them, so every prediction is traceable to
a commit in the GitOps repo.
"""
