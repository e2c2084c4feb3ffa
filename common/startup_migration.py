"""A service's database brought to its newest migration before the workers start: read by the
main process, migrated by a child when it is behind.

Whatever a service's main process imports, every worker forked from it carries for as long as
the system runs. Alembic, with the migration scripts and the parts of SQLAlchemy they load,
adds about 10 MB to each process: migrated in the main process, a first start on new databases
ran with ~70 MB more RSS in all than every later start (``python -m bench.memory
--first-start``). Here the main process only reads the version table, with the DB-API as
readiness does; when it is behind, a forked child migrates and exits, and what it loaded goes
with it. Forked rather than spawned: spawning also starts ``multiprocessing``'s resource tracker,
a 12 MB process that stayed for the life of the main one.
"""

from __future__ import annotations

from common.revisions import is_at_head


def upgrade(service: str, database_url: str) -> None:
    """Migrate ``service``'s database to the head; a database already there is left as it is
    without starting a child. The child's errors are raised here as they were raised there."""
    if is_at_head(service, database_url):
        return
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(1, mp_context=get_context("fork")) as child:
        child.submit(_upgrade, service, database_url).result()


def _upgrade(service: str, database_url: str) -> None:
    from common import migrations

    migrations.upgrade(service, database_url)
