"""Books Service settings: every knob, its environment variable and its default, in one place."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar
from urllib.parse import urljoin

from pydantic import Field

from common.config import ServiceSettings, env


class BooksSettings(ServiceSettings):
    database_file: ClassVar[str] = "books.db"
    service_name: str = "books_service"
    port: int = Field(5002, ge=1, le=65535, validation_alias=env("BOOKS_PORT"))
    # More blocking threads than the other services: a POST queued behind its worker's write
    # (SQLite's group commit, PostgreSQL's books added together: books_service.pg_adds) holds
    # its thread without using a core, and with 4 a worker's threads were all waiting while
    # the cores had time to spare (docs/performance.md, "New books added together").
    threads: int = Field(8, ge=1, le=256, validation_alias=env("ESTANTE_THREADS"))
    database_url: str = Field("", validation_alias=env("BOOKS_DATABASE_URL", "DATABASE_URL"))
    jwks_url: str = Field(
        "http://127.0.0.1:5001/.well-known/jwks.json", validation_alias=env("AUTH_JWKS_URL")
    )
    jwks_timeout_seconds: float = Field(
        3.0, gt=0, le=60, validation_alias=env("JWKS_TIMEOUT_SECONDS")
    )
    jwks_refetch_cooldown_seconds: float = Field(
        10.0, ge=0, le=3600, validation_alias=env("JWKS_REFETCH_COOLDOWN_SECONDS")
    )

    jwks_max_age_seconds: float = Field(
        300.0, ge=1, le=86400, validation_alias=env("JWKS_MAX_AGE_SECONDS")
    )
    jwks_cache_file: Path | None = Field(None, validation_alias=env("JWKS_CACHE_FILE"))
    revocations_url: str | None = Field(None, validation_alias=env("AUTH_REVOCATIONS_URL"))
    revocations_max_age_seconds: float = Field(
        5.0, ge=0, le=3600, validation_alias=env("REVOCATIONS_MAX_AGE_SECONDS")
    )
    require_if_match: bool = Field(False, validation_alias=env("BOOKS_REQUIRE_IF_MATCH"))
    # Imports (docs/import-export.md): the largest file accepted, rows per batch (each commits
    # atomically), how long a worker's claim on a job lasts unless renewed, how often an idle
    # worker looks for jobs, a pause between batches to spare a busy server, and whether this
    # process runs a worker at all.
    import_max_bytes: int = Field(
        500 * 1024 * 1024, ge=1024, validation_alias=env("BOOKS_IMPORT_MAX_BYTES")
    )
    import_batch_rows: int = Field(
        2000, ge=1, le=20_000, validation_alias=env("BOOKS_IMPORT_BATCH_ROWS")
    )
    import_lease_seconds: float = Field(
        30.0, ge=1, le=3600, validation_alias=env("BOOKS_IMPORT_LEASE_SECONDS")
    )
    import_poll_seconds: float = Field(
        1.0, gt=0, le=60, validation_alias=env("BOOKS_IMPORT_POLL_SECONDS")
    )
    import_pause_seconds: float = Field(
        0.0, ge=0, le=60, validation_alias=env("BOOKS_IMPORT_PAUSE_SECONDS")
    )
    import_worker: bool = Field(True, validation_alias=env("BOOKS_IMPORT_WORKER"))
    # A forked child reads and checks the next batch while the job's process writes this one.
    import_prepare_process: bool = Field(True, validation_alias=env("BOOKS_IMPORT_PREPARE_PROCESS"))
    # SQLite: the page cache of the connection a job writes its batches with, given back after.
    import_sqlite_cache_mib: int = Field(
        64, ge=2, le=1024, validation_alias=env("BOOKS_IMPORT_SQLITE_CACHE_MIB")
    )
    # Imports of at least this many rows (and a quarter of the catalog's books) leave the
    # listing indexes out while they write and build them at the end; 0: never.
    import_defer_indexes_rows: int = Field(
        100_000, ge=0, validation_alias=env("BOOKS_IMPORT_DEFER_INDEXES_ROWS")
    )

    @property
    def jwks_cache_path(self) -> Path:
        return self.jwks_cache_file or self.data_dir / "jwks-cache.json"

    @property
    def revocations_source(self) -> str:
        # Beside the JWKS by default: one setting points the Books Service at the auth service.
        return self.revocations_url or urljoin(self.jwks_url, "revocations.json")

    @property
    def revocations_cache_path(self) -> Path:
        return self.jwks_cache_path.with_name("revocations-cache.json")
