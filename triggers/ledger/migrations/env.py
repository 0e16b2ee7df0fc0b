"""Alembic environment: always handed a live connection by ``triggers.ledger.migrate``."""

from alembic import context

from triggers.ledger.schema import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
