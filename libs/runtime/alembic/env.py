"""Shared Alembic environment: each service passes its metadata and schema via config attributes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

config = context.config
metadata = config.attributes["metadata"]
schema = config.attributes["schema"]
connection = config.attributes["connection"]


def include_name(name, type_, parent_names):  # type: ignore[no-untyped-def]
    if type_ == "schema":
        return name == schema
    return True


context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table_schema=schema,
    include_schemas=True,
    include_name=include_name,
    compare_type=True,
)
connection.execute(text(f'SET search_path TO "{schema}", public'))
with context.begin_transaction():
    context.run_migrations()
