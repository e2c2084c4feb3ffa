"""The body of every service's Alembic ``env.py``: online migrations only, one lock at a time.

On PostgreSQL an advisory lock serialises replicas that start together, so only one of them
migrates and the others find the schema already at head.
"""

from __future__ import annotations

import zlib

from alembic import context
from sqlalchemy import MetaData, text

from common.db import create_db_engine, is_sqlite
from common.migrations import version_table


def run(target_metadata: MetaData) -> None:
    config = context.config
    service = config.attributes.get("service") or config.get_main_option("service")
    url = config.get_main_option("sqlalchemy.url")
    engine = create_db_engine(url)
    sqlite = is_sqlite(url)
    lock_id = zlib.crc32(f"estante-migrations-{service}".encode())
    try:
        with engine.connect() as connection:
            if sqlite:
                # SQLite rebuilds a table to alter it (copy, drop, rename): with foreign keys
                # on, dropping the old table would cascade-delete the rows that refer to it.
                # (Straight on the driver's connection: inside a transaction it would be ignored.)
                connection.connection.driver_connection.execute("PRAGMA foreign_keys = OFF")
            if not sqlite:
                connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": lock_id})
                connection.commit()
            try:
                context.configure(
                    connection=connection,
                    target_metadata=target_metadata,
                    version_table=version_table(service),
                    render_as_batch=sqlite,
                    compare_type=True,
                )
                with context.begin_transaction():
                    context.run_migrations()
            finally:
                if not sqlite:
                    connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                    connection.commit()
    finally:
        engine.dispose()
