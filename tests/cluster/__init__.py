"""``make cluster-test``: the service against a real Kubernetes control plane, a real node, Argo and Argo CD.

Not part of ``make test`` (no module here is a ``test_*.py`` file, so pytest never collects it): it builds
Go programs from the module proxy and the images on its first run, needs root for the node, and takes minutes
even when everything is cached. Run it as ``python -m tests.cluster``; see ``tests.cluster.run`` for what each
level proves.
"""
