"""Write-back to the GitOps repository that Argo CD syncs.

Format-preserving manifest edits, serialized commits with lineage trailers,
fetch-rebase-push retries, promotion and rollback policy.
"""
