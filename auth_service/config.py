"""Auth Service settings: every knob, its environment variable and its default, in one place."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, model_validator

from common.config import ServiceSettings, env


class AuthSettings(ServiceSettings):
    service_name: str = "auth_service"
    port: int = Field(5001, ge=1, le=65535, validation_alias=env("AUTH_PORT"))
    database_url: str = Field("", validation_alias=env("AUTH_DATABASE_URL", "DATABASE_URL"))
    keys_dir: Path | None = Field(None, validation_alias=env("AUTH_KEYS_DIR"))
    access_token_ttl: int = Field(
        900, ge=30, le=86400, validation_alias=env("ACCESS_TOKEN_TTL_SECONDS")
    )
    argon2_time_cost: int = Field(2, ge=1, le=20, validation_alias=env("ARGON2_TIME_COST"))
    argon2_memory_kib: int = Field(
        19456, ge=8192, le=4 * 1024 * 1024, validation_alias=env("ARGON2_MEMORY_KIB")
    )
    argon2_parallelism: int = Field(1, ge=1, le=16, validation_alias=env("ARGON2_PARALLELISM"))

    @model_validator(mode="after")
    def _defaults_under_data_dir(self) -> AuthSettings:
        if not self.database_url:
            self.database_url = self.sqlite_url("auth.db")
        return self

    @property
    def signing_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    def production_problems(self) -> list[str]:
        from auth_service.keys import KeyRing  # a cycle at import time otherwise

        problems = super().production_problems()
        if self.keys_dir is None:
            problems.append(
                "AUTH_KEYS_DIR is not set: point it at a directory holding the signing keys "
                "(create one with 'python -m auth_service.keys generate --dir DIR')."
            )
        else:
            problems.extend(KeyRing.production_problems(self.keys_dir))
        return problems
