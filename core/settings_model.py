"""Base of every settings model.

A key that no setting has is almost always a typo (``feild`` for ``field``),
and silently ignoring it leaves the default in force where the operator meant
otherwise. Every settings model therefore forbids unknown keys, at every depth
of the file: inside list items and tagged unions as much as at the top.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SettingsModel(BaseModel):
    """A group of settings; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid")
