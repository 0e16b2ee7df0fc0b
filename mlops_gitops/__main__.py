"""``python -m mlops_gitops`` is the ``mlops-gitops`` command."""

from mlops_gitops.cli import main

main()
