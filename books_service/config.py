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
