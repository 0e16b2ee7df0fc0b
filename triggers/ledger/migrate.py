"""Run the ledger's Alembic migrations from code.

The service upgrades its own schema at start-up (``alembic upgrade head``), so
an operator never has to run a separate step and an upgrade keeps the data.
Several replicas may start at once: on PostgreSQL an advisory lock makes the
upgrade happen once; SQLite is single-node and its write lock serializes it.

Nothing else migrates: a command run by hand (``events list``, ``replay``) may
be a newer release than the service that owns the database, and upgrading the
schema under a running older service would break it. Such commands
:func:`check_schema` instead and refuse a schema they cannot use.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text

from core.errors import PermanentError

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_ID = 0x6D6C6F7073  # "mlops"


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    config = alembic_config()
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
        try:
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()
        finally:
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _ADVISORY_LOCK_ID})
                conn.commit()


class SchemaMismatchError(PermanentError):
    """The database's schema is not one this release may use without migrating it."""


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "the ledger has migrations"
    return head


def check_schema(revision: str | None, *, writes: bool) -> str | None:
    """Judge the database's schema ``revision`` for a command that must not migrate it.

    Returns ``None`` when it is this release's, or a warning when it is newer than this release knows and the
    command only reads (the columns it reads are still there; newer ones are not shown). Raises
    :class:`SchemaMismatchError` when there is no schema yet, when it is older (this release's queries would fail), or
    when it is newer and the command would write under rules it does not know.
    """
    head = head_revision()
    if revision == head:
        return None
    if revision is None:
        raise SchemaMismatchError("the ledger database has no schema yet; `mlops-gitops serve` creates it at start-up")
    try:
        known = ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:
        known = False
    if known:
        raise SchemaMismatchError(
            f"the ledger schema is at revision {revision}, older than this release's {head}; upgrade and restart "
            "the service first (it migrates the schema at start-up), then run this command again"
        )
    newer = f"the ledger schema is at revision {revision}, newer than this release knows ({head})"
    if writes:
        raise SchemaMismatchError(f"{newer}; use the release the service runs to change the ledger")
    return f"{newer}; what is shown may be incomplete"
