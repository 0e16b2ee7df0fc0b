"""Read, validate and compile the rules file, reporting every problem at once.

The service refuses to start with a broken rules file, and the operator
should fix it in one pass: every problem becomes one line that names the
trigger and the field (``trigger 'retrain-on-push': filters.paths: ...``),
whether it is a schema error, an action block that does not fit its kind, or a
filter that can never apply to the trigger's event types.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from core.errors import PermanentError
from triggers.rules.config import ActionSpec, RulesFileConfig, TriggerConfig
from triggers.rules.expressions import Expression
from triggers.rules.filters import EventFilter, inapplicable_filters
from triggers.rules.rule import Concurrency, Debounce, RateLimit, Rule, Stage
from triggers.rules.templating import FieldTemplate


class RulesError(PermanentError):
    """The rules file is invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def load_rules(path: Path, action_specs: Mapping[str, type[ActionSpec]]) -> tuple[Rule, ...]:
    """Load the rules file at ``path``; ``RulesError`` lists every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise RulesError([f"{path}: cannot read the rules file: {e.strerror}"]) from e
    return parse_rules(text, action_specs, source=str(path))


def parse_rules(text: str, action_specs: Mapping[str, type[ActionSpec]], source: str = "rules") -> tuple[Rule, ...]:
    try:
        raw = YAML(typ="safe").load(text) or {}
    except YAMLError as e:
        raise RulesError([f"{source}: not valid YAML: {e}"]) from e
    return compile_rules(raw, action_specs)


def compile_rules(raw: Any, action_specs: Mapping[str, type[ActionSpec]]) -> tuple[Rule, ...]:
    """Validate rules already read into Python (a rules file's document, or ``rules.inline`` of the config)."""
    problems: list[str] = []
    config: RulesFileConfig | None = None
    try:
        config = RulesFileConfig.model_validate(raw)
    except ValidationError as e:
        problems += _schema_problems(e, raw)
    specs = _action_specs(raw, action_specs, problems)
    if config is not None:
        for trigger in config.triggers:
            problems += [f"trigger {trigger.name!r}: {p}" for p in inapplicable_filters(trigger.filters, trigger.on)]
    if problems or config is None:
        raise RulesError(problems)
    return tuple(_compile(trigger, specs[i]) for i, trigger in enumerate(config.triggers))


def _trigger_label(raw: Any, index: int) -> str:
    triggers = raw.get("triggers") if isinstance(raw, dict) else None
    entry = triggers[index] if isinstance(triggers, list) and index < len(triggers) else None
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"trigger {name!r}" if isinstance(name, str) else f"trigger #{index + 1}"


def _schema_problems(error: ValidationError, raw: Any) -> list[str]:
    problems = []
    for err in error.errors():
        loc = err["loc"]
        if len(loc) >= 2 and loc[0] == "triggers" and isinstance(loc[1], int):
            where, field = _trigger_label(raw, loc[1]), _dotted(loc[2:])
            problems.append(f"{where}: {field or '(trigger)'}: {_message(err)}")
        else:
            problems.append(f"{_dotted(loc) or '(file)'}: {_message(err)}")
    return problems


def _message(error: ErrorDetails) -> str:
    """Pydantic's message without the "Value error, " it puts before our own validators' words."""
    return error["msg"].removeprefix("Value error, ")


def _dotted(loc: Sequence[int | str]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text


def _action_specs(
    raw: Any, action_specs: Mapping[str, type[ActionSpec]], problems: list[str]
) -> dict[int, list[ActionSpec]]:
    """Validate each trigger's ``action`` and ``then[].action`` against the spec model of its kind."""
    triggers = raw.get("triggers") if isinstance(raw, dict) else None
    validated: dict[int, list[ActionSpec]] = {}
    for index, trigger in enumerate(triggers if isinstance(triggers, list) else []):
        if not isinstance(trigger, dict):
            continue
        blocks = [("action", trigger.get("action"))]
        then = trigger.get("then")
        if isinstance(then, list):
            blocks += [(f"then[{i}].action", f.get("action")) for i, f in enumerate(then) if isinstance(f, dict)]
        specs = []
        for field, block in blocks:
            spec = _action_spec(block, action_specs, f"{_trigger_label(raw, index)}: {field}", problems)
            if spec is not None:
                specs.append(spec)
        validated[index] = specs
    return validated


def _action_spec(
    block: Any, action_specs: Mapping[str, type[ActionSpec]], where: str, problems: list[str]
) -> ActionSpec | None:
    if not isinstance(block, dict):
        return None  # the schema check already reported a missing or malformed block
    kind = block.get("kind")
    model = action_specs.get(kind) if isinstance(kind, str) else None
    if model is None:
        problems.append(f"{where}.kind: must be one of {', '.join(sorted(action_specs))}, not {kind!r}")
        return None
    try:
        return model.model_validate(block)
    except ValidationError as e:
        # An error of the whole action (loc ``()``) is reported at the action itself.
        problems += [f"{'.'.join(filter(None, (where, _dotted(err['loc']))))}: {_message(err)}" for err in e.errors()]
        return None


def _compile(trigger: TriggerConfig, specs: list[ActionSpec]) -> Rule:
    label = f"trigger {trigger.name!r}"
    stages = [Stage(specs[0], "action")]
    for i, (follow_up, spec) in enumerate(zip(trigger.then, specs[1:], strict=True)):
        when = Expression(follow_up.when, f"{label} then[{i}].when") if follow_up.when else None
        stages.append(Stage(spec, f"then[{i}].action", when))
    debounce = concurrency = rate_limit = None
    if trigger.debounce:
        debounce = Debounce(
            FieldTemplate(trigger.debounce.key, f"{label} debounce.key"),
            timedelta(seconds=trigger.debounce.quiet_seconds),
            timedelta(seconds=trigger.debounce.max_wait_seconds),
        )
    if trigger.concurrency:
        concurrency = Concurrency(
            FieldTemplate(trigger.concurrency.key, f"{label} concurrency.key"), trigger.concurrency.policy
        )
    if trigger.rate_limit:
        rate_limit = RateLimit(trigger.rate_limit.max_runs, timedelta(seconds=trigger.rate_limit.per_seconds))
    return Rule(
        name=trigger.name,
        event_types=frozenset(trigger.on),
        filter=EventFilter.compile(trigger.name, trigger.filters),
        stages=tuple(stages),
        debounce=debounce,
        concurrency=concurrency,
        rate_limit=rate_limit,
        retries=trigger.retries,
        timeout=None if trigger.timeout_seconds is None else timedelta(seconds=trigger.timeout_seconds),
    )
