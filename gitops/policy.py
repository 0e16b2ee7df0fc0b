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

The decision (:meth:`PromotionPolicy.decide`) is pure; :meth:`PromotionPolicy.apply`
carries it out through the writer and the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import PermanentError
from gitops.promotion import CommitResult, PromotionRequest
from gitops.registry import ModelRegistry
from gitops.settings import PolicySettings
from gitops.writer import GitOpsWriter


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
    training_commit: str | None = None
    argo_workflow: str | None = None


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

    def apply(
        self, transition: RegistryTransition, writer: GitOpsWriter, registry: ModelRegistry
    ) -> list[CommitResult]:
        """Carry out every decision for the transition; the commits written (or found already in place)."""
        results = []
        for decision in self.decide(transition):
            if isinstance(decision, Promote):
                results.append(writer.promote(self._request(transition, decision.environment, registry)))
            else:
                # An alias removal names no version: it withdraws whatever the alias deployed.
                results.append(
                    writer.rollback(
                        transition.model_name,
                        decision.environment,
                        reason=decision.reason,
                        trigger_event_id=transition.trigger_event_id,
                        only_if_deployed=transition.version,
                    )
                )
        return results

    @staticmethod
    def _request(transition: RegistryTransition, environment: str, registry: ModelRegistry) -> PromotionRequest:
        if transition.version is None:
            raise PermanentError(f"a promotion of {transition.model_name} needs a version; the event carried none")
        registered = registry.get_version(transition.model_name, transition.version)
        if registered is None:
            raise PermanentError(
                f"{transition.model_name} version {transition.version} does not exist in the model registry"
            )
        return PromotionRequest.checked(
            model_name=transition.model_name,
            version=transition.version,
            model_uri=registered.registry_uri,
            environment=environment,
            trigger_event_id=transition.trigger_event_id,
            run_id=registered.run_id,
            training_commit=transition.training_commit,
            argo_workflow=transition.argo_workflow,
        )
