"""The runtime's tables (inbox, outbox, timers) as Alembic operations, shared by every service's migrations.

Their shape belongs to the runtime, not to each service: one definition (``RuntimeTables``) creates
them in whichever schema a migration names.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import MetaData

from libs.runtime.tables import RuntimeTables

NAMES = ("inbox", "outbox", "timers")


def create_runtime_tables(schema: str) -> None:
    tables = RuntimeTables(MetaData(schema=schema))
    bind = op.get_bind()
    for table in (tables.inbox, tables.outbox, tables.timers):
        table.create(bind)


def drop_runtime_tables(schema: str) -> None:
    tables = RuntimeTables(MetaData(schema=schema))
    bind = op.get_bind()
    for table in (tables.timers, tables.outbox, tables.inbox):
        table.drop(bind)
