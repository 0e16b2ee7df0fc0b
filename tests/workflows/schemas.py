"""Validators built from the upstream schemas kept in ``<repo>/../shared/schemas``.

The schemas are the published ones (Argo Workflows JSON Schema and Swagger
spec, spark-operator and KubeRay CRDs). Kubernetes silently prunes unknown
fields of a custom resource and Argo refuses them, so the validators here are
made strict: every object schema that lists its properties also forbids
others, unless it is marked ``x-kubernetes-preserve-unknown-fields``. That
turns a misspelt field into a test failure instead of a silent no-op.

``MLOPS_GITOPS_SCHEMAS_DIR`` overrides the location.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.protocols import Validator

REPO_ROOT = Path(__file__).resolve().parents[2]
ARGO_WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"
ARGO_CREATE_REQUEST = "io.argoproj.workflow.v1alpha1.WorkflowCreateRequest"
ARGO_STOP_REQUEST = "io.argoproj.workflow.v1alpha1.WorkflowStopRequest"


def schemas_dir() -> Path:
    return Path(os.environ.get("MLOPS_GITOPS_SCHEMAS_DIR", REPO_ROOT.parent / "shared" / "schemas"))


def _strict(schema: Any) -> Any:
    """Copy of ``schema`` in which object schemas with listed properties refuse unlisted ones."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        isinstance(schema.get("properties"), dict)
        and "additionalProperties" not in schema
        and not schema.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


def _definition_validator(document: dict[str, Any], definition: str, validator_class: Any) -> Validator:
    """Validator for ``#/definitions/<definition>`` of a document whose ``$ref``s stay inside it."""
    schema = {"$ref": f"#/definitions/{definition}", "definitions": _strict(document["definitions"])}
    validator: Validator = validator_class(schema)
    return validator


@cache
def argo_workflow_validator() -> Validator:
    document = json.loads((schemas_dir() / "argo-workflows-v4.1.2" / "schema.json").read_text())
    return _definition_validator(document, ARGO_WORKFLOW, Draft202012Validator)


@cache
def argo_api_validator(definition: str) -> Validator:
    """Validator for a request or response body defined in the Argo Server's swagger.json."""
    document = json.loads((schemas_dir() / "argo-workflows-v4.1.2" / "swagger.json").read_text())
    return _definition_validator(document, definition, Draft4Validator)


@cache
def crd_validator(api_version: str, kind: str) -> Validator:
    """Validator for a custom resource, from the CRD in ``shared/schemas`` that serves ``api_version``."""
    group, version = api_version.split("/")
    for path in schemas_dir().glob("*/*.yaml"):
        crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)  # the CRDs are megabytes: use libyaml
        names = crd.get("spec", {}).get("names", {})
        if crd.get("kind") != "CustomResourceDefinition" or crd["spec"]["group"] != group or names.get("kind") != kind:
            continue
        for served in crd["spec"]["versions"]:
            if served["name"] == version:
                validator: Validator = Draft4Validator(_strict(served["schema"]["openAPIV3Schema"]))
                return validator
    raise LookupError(f"no CRD for {kind} {api_version} under {schemas_dir()}")


def errors(validator: Validator, instance: Any) -> list[str]:
    """Every schema violation in ``instance``, as readable lines (empty when valid)."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]
