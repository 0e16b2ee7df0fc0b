"""Format-preserving reads and writes of the targets a promotion rewrites."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import PermanentError
from gitops.manifests import ManifestDocument, read_target, write_target
from gitops.scaffold import template_root
from gitops.settings import ConfigMapLiteralTarget, ImageTarget, ValuesKeyTarget

KUSTOMIZATION = """\
# hand-written, with comments everywhere
images:
- name: model-server   # the server image
  newTag: '1.2.3'
  digest: sha256:0000000000000000000000000000000000000000000000000000000000000000
configMapGenerator:
- name: model-server-config
  literals:
  - MODEL_VERSION=4   # bumped by the bot
  - "MODEL_URI=models:/churn/4"
"""

VALUES = """\
model:
    name: "churn"      # registry name
    version: 4
    uris: [models:/churn/4, s3://bucket/churn/4]
replicas: 2
"""


def load(tmp_path: Path, text: str, name: str = "file.yaml") -> ManifestDocument:
    path = tmp_path / name
    path.write_text(text)
    return ManifestDocument.load(path)


@pytest.mark.parametrize("path", sorted(template_root().rglob("*.yaml")), ids=lambda p: p.name)
def test_template_files_round_trip_byte_for_byte(path: Path) -> None:
    assert ManifestDocument.load(path).dump() == path.read_text()


def test_image_tag_and_digest_keep_quoting_comments_and_the_dash_style(tmp_path: Path) -> None:
    document = load(tmp_path, KUSTOMIZATION)
    digest = "sha256:" + "ab" * 32

    assert write_target(document, ImageTarget(image="model-server", value="{version}"), "1.3.0")
    assert write_target(document, ImageTarget(image="model-server", field="digest", value="{image_digest}"), digest)

    assert document.dump() == KUSTOMIZATION.replace("'1.2.3'", "'1.3.0'").replace("sha256:" + "0" * 64, digest)


def test_configmap_literal_keeps_its_quotes_and_neighbours(tmp_path: Path) -> None:
    document = load(tmp_path, KUSTOMIZATION)
    version = ConfigMapLiteralTarget(key="MODEL_VERSION", value="{version}")
    uri = ConfigMapLiteralTarget(key="MODEL_URI", value="{model_uri}")

    assert read_target(document, version) == "4"
    assert write_target(document, version, "5")
    assert write_target(document, uri, "models:/churn/5")

    expected = KUSTOMIZATION.replace("MODEL_VERSION=4", "MODEL_VERSION=5").replace("churn/4", "churn/5")
    assert document.dump() == expected


def test_values_key_paths_reach_nested_keys_and_list_items_and_keep_types_and_comment_columns(tmp_path: Path) -> None:
    document = load(tmp_path, VALUES)

    assert write_target(document, ValuesKeyTarget(path="model.version", value="{version}"), "5")
    assert write_target(document, ValuesKeyTarget(path="model.uris.1", value="{model_uri}"), "s3://bucket/churn/5")
    assert write_target(document, ValuesKeyTarget(path="model.name", value="{model_name}"), "churn-v2")

    assert document.dump() == VALUES.replace("version: 4", "version: 5").replace(
        "s3://bucket/churn/4", "s3://bucket/churn/5"
    ).replace('"churn"      #', '"churn-v2"   #')


def test_a_number_like_string_replacing_an_integer_keeps_its_leading_zeros(tmp_path: Path) -> None:
    document = load(tmp_path, "runId: 7\n")

    assert write_target(document, ValuesKeyTarget(path="runId", value="{run_id}"), "0" * 31 + "8")

    assert document.dump() == f"runId: '{'0' * 31}8'\n"


def test_writing_the_current_value_reports_no_change(tmp_path: Path) -> None:
    document = load(tmp_path, VALUES)

    assert not write_target(document, ValuesKeyTarget(path="model.version", value="{version}"), "4")
    assert document.dump() == VALUES


@pytest.mark.parametrize(
    "target",
    [
        ImageTarget(image="other", value="{version}"),
        ConfigMapLiteralTarget(key="MODEL_RUN_ID", value="{run_id}"),
        ConfigMapLiteralTarget(generator="nope", key="MODEL_URI", value="{model_uri}"),
        ValuesKeyTarget(path="model.missing", value="{version}"),
        ValuesKeyTarget(path="model.uris.7", value="{version}"),
    ],
    ids=["image", "literal", "generator", "key", "index"],
)
def test_a_target_that_is_not_in_the_file_is_a_permanent_error(tmp_path: Path, target: object) -> None:
    document = load(tmp_path, KUSTOMIZATION if not isinstance(target, ValuesKeyTarget) else VALUES)

    with pytest.raises(PermanentError, match=r"fix the target|add it"):
        write_target(document, target, "9")  # type: ignore[arg-type]


def test_missing_file_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(PermanentError, match="does not exist"):
        ManifestDocument.load(tmp_path / "absent.yaml")


def test_unknown_template_fields_are_refused_in_settings() -> None:
    with pytest.raises(ValueError, match="unknown template fields"):
        ValuesKeyTarget(path="a", value="{password}")
