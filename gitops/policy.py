"""Which registry transitions deploy, and which roll back.

The registry speaks in stages (``Staging``, ``Production``, ``Archived``) and
aliases (``champion``, ``challenger``); the GitOps repo speaks in
environments. :class:`PromotionPolicy` maps one onto the other with the
configured tables and decides:

* a version moved into a mapped stage, or given a mapped alias, is promoted
  to that environment;
* a version moved out of a mapped stage (demoted or archived) is rolled back
  in that environment, but only while it is the deployed version there: a
  demotion of something that is not running changes nothing. Moving onward
  (``Staging`` to ``Production``, by the configured stage order) is no
  demotion: staging keeps running the version until its successor arrives;
* a mapped alias removed from the deployed version rolls that environment
  back.

The decision (:meth:`PromotionPolicy.decide`) is pure; the GitOps action kinds
(``triggers.actions.promotion`` and ``rollback``) carry it out through the
writer.
"""

from __future__ import annotations

from dataclasses import dataclass

from gitops.settings import PolicySettings


@dataclass(frozen=True)
class RegistryTransition:
    """A registry change in the policy's terms; the trigger layer builds it from its event."""

    model_name: str
    version: str | None
    trigger_event_id: str
    from_stage: str | None = None
    to_stage: str | None = None
    alias: str | None = None
    alias_removed: bool = False


@dataclass(frozen=True)
class Promote:
    environment: str


@dataclass(frozen=True)
class Rollback:
    environment: str
    reason: str


Decision = Promote | Rollback


class PromotionPolicy:
    """Maps registry transitions onto promotions and rollbacks of environments."""

    def __init__(self, settings: PolicySettings) -> None:
        self._stages = {stage.casefold(): env for stage, env in settings.stages.items()}
        self._aliases = dict(settings.aliases)
        self._rank = {stage.casefold(): rank for rank, stage in enumerate(settings.stage_order)}

    def decide(self, transition: RegistryTransition) -> list[Decision]:
        """What the transition asks of the GitOps repo; empty when it maps to no environment."""
        decisions: list[Decision] = []
        promoted_to = self._stages.get((transition.to_stage or "").casefold())
        demoted_from = self._stages.get((transition.from_stage or "").casefold())
        if demoted_from is not None and demoted_from != promoted_to and not self._moves_onward(transition):
            reason = f"{transition.model_name} version {transition.version} left stage {transition.from_stage}"
            decisions.append(Rollback(demoted_from, f"{reason} (now {transition.to_stage or 'None'})"))
        if promoted_to is not None:
            decisions.append(Promote(promoted_to))
        alias_env = self._aliases.get(transition.alias or "")
        if alias_env is not None:
            if transition.alias_removed:
                decisions.append(Rollback(alias_env, f"alias {transition.alias} removed from {transition.model_name}"))
            else:
                decisions.append(Promote(alias_env))
        return decisions

    def _moves_onward(self, transition: RegistryTransition) -> bool:
        source = self._rank.get((transition.from_stage or "").casefold())
        target = self._rank.get((transition.to_stage or "").casefold())
        return source is not None and target is not None and target > source
