"""The registry of event sources: a new source is a new module plus one line here.

The webhook app looks sources up by the ``{source}`` path segment; the Kafka
consumer reads its records through the ``data`` source.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from listeners.rejections import UnknownSourceError
from listeners.sources import data, databricks, gitea, github, gitlab, mlflow
from listeners.sources.base import Delivery, Headers, Ignored, ParseResult, Source

SOURCES: Mapping[str, Source] = MappingProxyType(
    {
        source.name: source
        for source in (github.SOURCE, gitlab.SOURCE, gitea.SOURCE, mlflow.SOURCE, databricks.SOURCE, data.SOURCE)
    }
)


def get_source(name: str) -> Source:
    try:
        return SOURCES[name]
    except KeyError:
        raise UnknownSourceError(f"no source named {name!r}; known: {', '.join(sorted(SOURCES))}") from None


__all__ = ["SOURCES", "Delivery", "Headers", "Ignored", "ParseResult", "Source", "get_source"]
