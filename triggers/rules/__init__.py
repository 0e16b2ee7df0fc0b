"""Which event starts which action: the rules file, its filters and its policies.

``config`` is the YAML schema, ``loader`` validates and compiles it into
``rule.Rule`` objects, ``engine`` matches events against them (pure), and
``filters``, ``expressions`` and ``templating`` are the pieces a rule is made
of, with ``ActionSpec``, the base of every action kind's ``action:`` block.
Nothing here imports an action kind: the loader is handed the kinds' spec
models. The time-based policies (debounce, concurrency, rate limit) need
shared state and live in ``triggers.gates``.
"""
