"""Validators built from the upstream schemas of the pinned modules (``toolchain/versions.env``).

The schemas are the published ones, read from each project's source at the
pinned version (``tests.upstream``): Argo Workflows' JSON Schema and Swagger
spec, and the CRDs of Argo CD, spark-operator and KubeRay. Kubernetes silently prunes unknown
fields of a custom resource and Argo refuses them, so the validators here are
made strict: every object schema that lists its properties also forbids
others, unless it is marked ``x-kubernetes-preserve-unknown-fields``. That
turns a misspelt field into a test failure instead of a silent no-op.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, Draft202012Validator
from jsonschema.protocols import Validator

from tests.upstream import module_dir

ARGO_WORKFLOW = "io.argoproj.workflow.v1alpha1.Workflow"
ARGO_CREATE_REQUEST = "io.argoproj.workflow.v1alpha1.WorkflowCreateRequest"
ARGO_STOP_REQUEST = "io.argoproj.workflow.v1alpha1.WorkflowStopRequest"
# Where each pinned module keeps the CRDs it installs.
CRD_DIRS = {
    "ARGO_WORKFLOWS": "manifests/base/crds/full",
    "ARGO_CD": "manifests/crds",
    "SPARK_OPERATOR": "config/crd/bases",
    "KUBERAY": "config/crd/bases",
}


def crd_files() -> Iterator[Path]:
    """Every CRD file of the pinned upstream modules."""
    for upstream, directory in CRD_DIRS.items():
        yield from sorted((module_dir(upstream) / directory).glob("*.yaml"))


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
    document = json.loads((module_dir("ARGO_WORKFLOWS") / "api" / "jsonschema" / "schema.json").read_text())
    return _definition_validator(document, ARGO_WORKFLOW, Draft202012Validator)


@cache
def argo_api_validator(definition: str) -> Validator:
    """Validator for a request or response body defined in the Argo Server's swagger.json."""
    document = json.loads((module_dir("ARGO_WORKFLOWS") / "api" / "openapi-spec" / "swagger.json").read_text())
    return _definition_validator(document, definition, Draft4Validator)


@cache
def crd_validator(api_version: str, kind: str) -> Validator:
    """Validator for a custom resource, from the pinned upstream CRD that serves ``api_version``."""
    group, version = api_version.split("/")
    for path in crd_files():
        crd = yaml.load(path.read_text(), Loader=yaml.CSafeLoader)  # the CRDs are megabytes: use libyaml
        names = crd.get("spec", {}).get("names", {})
        if crd.get("kind") != "CustomResourceDefinition" or crd["spec"]["group"] != group or names.get("kind") != kind:
            continue
        for served in crd["spec"]["versions"]:
            if served["name"] == version:
                validator: Validator = Draft4Validator(_strict(served["schema"]["openAPIV3Schema"]))
                return validator
    raise LookupError(f"no CRD for {kind} {api_version} in the pinned upstream modules")


def errors(validator: Validator, instance: Any) -> list[str]:
    """Every schema violation in ``instance``, as readable lines (empty when valid)."""
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '<root>'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path)))
    ]
