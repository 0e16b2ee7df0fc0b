"""``make cluster-test``: the service against a real Kubernetes control plane, Argo and Argo CD, all on loopback.

Not part of ``make test`` (no module here is a ``test_*.py`` file, so pytest never collects it): it builds
Go programs from the module proxy on its first run and needs a few minutes even when they are cached. Run it
as ``python -m tests.cluster``; see ``tests.cluster.run`` for what each level proves.
"""
