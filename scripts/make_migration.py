"""Autogenerate an Alembic migration for services against a scratch embedded Postgres.

Usage: .venv/bin/python scripts/make_migration.py "message" SERVICE [SERVICE...]
"""

import sys
import tempfile
from pathlib import Path

from libs.platform.embedded import EmbeddedPostgres
from libs.platform.registry import load_spec
from libs.runtime.db import drop_database, ensure_database, with_database
from libs.runtime.migrations import revision

pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="cobranza-mig-")) / "pgdata", ephemeral=True)
url = pg.start()
for name in sys.argv[2:]:
    db = f"mig_{name}"
    drop_database(url, db)
    ensure_database(url, db)
    revision(load_spec(name), with_database(url, db), sys.argv[1])
pg.stop()
