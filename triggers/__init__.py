"""The rules engine and its durable ledger.

Everything a listener accepts becomes one :class:`triggers.event.Event`; this
package stores it (``ledger``), decides what it should start (``rules``) and
carries that out exactly once (``dispatcher``). It depends on ``workflows`` and
``gitops`` for the actions and on nothing in ``listeners``.
"""
