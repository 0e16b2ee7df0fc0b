"""Reading a backend-neutral ``RunStatus`` out of an Argo ``Workflow`` object.

Argo keeps one node per attempt of every task, nested under DAG and retry
nodes. The service only cares about three things: the workflow's phase, which
step failed and why (so a failure is never reported as a bare "Failed"), and
the result document each step wrote, which Argo holds as the step node's
``result`` output parameter.
"""

from __future__ import annotations

import json
from typing import Any

from hera.workflows.models import NodeStatus, Workflow

from workflows.backend import RunPhase, RunStatus
from workflows.pipelines.templates import RESULT_PARAMETER

# Node types that run a step (container and resource templates both run as pods).
_STEP_NODE_TYPES = frozenset({"Pod"})
_FAILED_PHASES = frozenset({RunPhase.FAILED, RunPhase.ERROR})


def run_status(workflow: Workflow) -> RunStatus:
    """Summarize ``workflow`` (as returned by the Argo Server) into a ``RunStatus``."""
    name = workflow.metadata.name or ""
    status = workflow.status
    if status is None:
        return RunStatus(name=name, phase=RunPhase.PENDING)
    nodes = list((status.nodes or {}).values())
    phase = RunPhase(status.phase) if status.phase else RunPhase.PENDING
    return RunStatus(name=name, phase=phase, message=_message(status.message, nodes), outputs=_outputs(nodes))


def _outputs(nodes: list[NodeStatus]) -> dict[str, Any]:
    """Each step's parsed result document, keyed by step (template) name."""
    outputs: dict[str, Any] = {}
    for node in nodes:
        if node.type not in _STEP_NODE_TYPES or node.outputs is None or not node.template_name:
            continue
        for parameter in node.outputs.parameters or []:
            if parameter.name == RESULT_PARAMETER and parameter.value is not None:
                outputs[node.template_name] = _parse(parameter.value)
    return outputs


def _parse(value: str) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        return value


def _message(workflow_message: str | None, nodes: list[NodeStatus]) -> str:
    """The workflow message, preceded by the name and error of every failed step."""
    step_failures = [
        f"step {node.template_name} {node.phase}: {node.message or 'no message'}"
        for node in nodes
        if node.type in _STEP_NODE_TYPES and node.phase in _FAILED_PHASES
    ]
    return "; ".join([*step_failures, *([workflow_message] if workflow_message else [])])
