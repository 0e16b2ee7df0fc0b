"""Recognise the bot's own commits, so a push of one never triggers the service again.

Argo CD and the GitOps repo's webhook both see every bot commit. If the push
trigger acted on those, one promotion could start another pipeline, which
promotes again: a loop. A commit is the bot's own when both hold:

* its author email is the configured bot email (``GitOpsSettings.bot_email``),
  compared case-insensitively as git hosts normalise it, and
* its message ends with a ``Trigger-Event-Id`` trailer, which every bot commit
  carries (promotions, rollbacks and manual CLI runs alike).

Requiring both keeps a person who copies a bot message, or a bot identity
misused by hand without lineage, from being silently ignored.
"""

from __future__ import annotations

from gitops.lineage import TRIGGER_EVENT_ID, parse_trailers

BOT_TRAILER = TRIGGER_EVENT_ID


def is_bot_commit(author_email: str, message: str, *, bot_email: str) -> bool:
    """True when the commit was written by this service and must not trigger it."""
    if author_email.strip().casefold() != bot_email.strip().casefold():
        return False
    return BOT_TRAILER in parse_trailers(message)
