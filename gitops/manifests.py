"""Format-preserving reads and writes of the values the bot owns in a manifest.

The GitOps repo is edited by people too, and reviewers read the bot's diffs: a
promotion must change the one scalar it is about and nothing else. ruamel.yaml
round-trips a file with its comments, key order and quoting intact; the
indentation is guessed from the file itself, and a replaced scalar keeps the
style (quoted, plain, integer) of the value it replaces.

Each configured target names one scalar: an ``images`` entry field, a
``configMapGenerator`` literal, or any key path of a values file.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import ScalarString
from ruamel.yaml.util import load_yaml_guess_indent

from core.errors import PermanentError
from gitops.settings import ConfigMapLiteralTarget, EditTarget, ImageTarget, ValuesKeyTarget


@dataclass
class ManifestDocument:
    """One YAML file loaded for a round trip, remembering how it was indented."""

    path: Path
    data: Any
    mapping_indent: int
    sequence_indent: int
    sequence_dash_offset: int

    @classmethod
    def load(cls, path: Path) -> ManifestDocument:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError as e:
            raise PermanentError(f"{path} does not exist; fix the target's `file` or the environment's overlay") from e
        _, sequence_indent, dash_offset = load_yaml_guess_indent(text)
        # ruamel reports the sequence indent and the dash offset; the mapping
        # indent is what remains once the dash offset is taken off. Files
        # without block sequences report None.
        sequence = sequence_indent or 2
        dash = dash_offset or 0
        mapping = sequence - dash if dash else sequence
        data = _round_trip_yaml(mapping, sequence, dash).load(text)
        return cls(path, data, mapping, sequence, dash)

    def dump(self) -> str:
        stream = io.StringIO()
        _round_trip_yaml(self.mapping_indent, self.sequence_indent, self.sequence_dash_offset).dump(self.data, stream)
        return stream.getvalue()

    def save(self) -> None:
        self.path.write_text(self.dump(), encoding="utf-8")


def _round_trip_yaml(mapping: int, sequence: int, offset: int) -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap long lines (URIs, patches)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


@dataclass(frozen=True)
class _Slot:
    """Where a target's scalar lives: a container, the key or index in it, and a literal prefix."""

    container: Any
    key: Any
    prefix: str = ""


def read_target(document: ManifestDocument, target: EditTarget) -> str:
    slot = _locate(document, target)
    return str(slot.container[slot.key])[len(slot.prefix) :]


def write_target(document: ManifestDocument, target: EditTarget, value: str) -> bool:
    """Set the target's scalar to ``value`` in the loaded document; True when it changed."""
    slot = _locate(document, target)
    old = slot.container[slot.key]
    if str(old) == slot.prefix + value:
        return False
    slot.container[slot.key] = _restyled(old, slot.prefix + value)
    return True


def _restyled(old: Any, text: str) -> Any:
    """The new text in the style of the old scalar, so quoting and type survive the edit."""
    if isinstance(old, ScalarString):
        return type(old)(text)
    # Only a canonical integer stays an integer: "007" must keep its zeros (run ids are hex strings).
    if isinstance(old, int) and not isinstance(old, bool) and text.isdigit() and str(int(text)) == text:
        return int(text)
    return text


def _locate(document: ManifestDocument, target: EditTarget) -> _Slot:
    where = f"{document.path} ({target.kind} target)"
    if isinstance(target, ImageTarget):
        entry = _find_named(document.data, "images", target.image, where)
        return _Slot(entry, target.field)
    if isinstance(target, ConfigMapLiteralTarget):
        generator = _find_named(document.data, "configMapGenerator", target.generator, where)
        literals = generator.get("literals") or []
        prefix = f"{target.key}="
        for index, literal in enumerate(literals):
            if str(literal).startswith(prefix):
                return _Slot(literals, index, prefix)
        raise PermanentError(
            f"{where}: configMapGenerator {target.generator!r} has no literal {target.key}=...; add it"
        )
    return _locate_key_path(document.data, target, where)


def _find_named(data: Any, list_key: str, name: str, where: str) -> Any:
    entries = data.get(list_key) if isinstance(data, dict) else None
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    raise PermanentError(f"{where}: no `{list_key}` entry named {name!r}; add it or fix the target")


def _locate_key_path(data: Any, target: ValuesKeyTarget, where: str) -> _Slot:
    *parents, last = target.path.split(".")
    node = data
    try:
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        node[key]  # probe that the leaf exists before it is written
    except (KeyError, IndexError, TypeError, ValueError) as e:
        raise PermanentError(f"{where}: key path {target.path!r} does not exist; create it or fix the target") from e
    return _Slot(node, key)
