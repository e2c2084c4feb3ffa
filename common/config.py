"""Settings shared by both services, read from the environment in one typed place.

Each service extends :class:`ServiceSettings` with its own fields; nothing else in the code base
reads ``os.environ`` directly.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ISSUER = "estante-auth"
DEFAULT_AUDIENCE = "estante"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


class ConfigError(Exception):
    """The configuration is unusable; the message says exactly what to set."""


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def env(*names: str) -> AliasChoices:
    """Accept a setting under any of these environment variable names (first one wins)."""
    return AliasChoices(*names)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False, populate_by_name=True)

    environment: Environment = Field(Environment.development, validation_alias=env("ESTANTE_ENV"))
    debug: bool = Field(False, validation_alias=env("ESTANTE_DEBUG"))
    data_dir: Path = Field(DEFAULT_DATA_DIR, validation_alias=env("ESTANTE_DATA_DIR"))
    host: str = Field("127.0.0.1", validation_alias=env("ESTANTE_HOST"))
    workers: int = Field(2, ge=1, le=64, validation_alias=env("ESTANTE_WORKERS"))
    threads: int = Field(4, ge=1, le=256, validation_alias=env("ESTANTE_THREADS"))
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, validation_alias=env("ESTANTE_MAX_BODY_BYTES")
    )
    log_level: str = Field("INFO", validation_alias=env("ESTANTE_LOG_LEVEL"))
    auto_migrate: bool = Field(True, validation_alias=env("ESTANTE_AUTO_MIGRATE"))
    shutdown_timeout: int = Field(
        10, ge=1, le=600, validation_alias=env("ESTANTE_SHUTDOWN_TIMEOUT")
    )
    trusted_proxies: int = Field(0, ge=0, le=5, validation_alias=env("ESTANTE_TRUSTED_PROXIES"))
    metrics_dir: Path | None = Field(None, validation_alias=env("PROMETHEUS_MULTIPROC_DIR"))

    # Both services must agree on these: the auth service writes them, the books service checks.
    issuer: str = Field(DEFAULT_ISSUER, min_length=1, validation_alias=env("JWT_ISSUER"))
    audience: str = Field(DEFAULT_AUDIENCE, min_length=1, validation_alias=env("JWT_AUDIENCE"))

    # Set by each service: its own name, port and database (a SQLite file in data/ by default).
    database_file: ClassVar[str] = "estante.db"
    service_name: str = "estante"
    port: int = 0
    database_url: str = ""

    @model_validator(mode="after")
    def _default_database_under_data_dir(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = self.sqlite_url(self.database_file)
        return self

    @field_validator("metrics_dir", mode="before")
    @classmethod
    def _empty_means_unset(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def is_production(self) -> bool:
        return self.environment is Environment.production

    def sqlite_url(self, filename: str) -> str:
        return f"sqlite:///{self.data_dir / filename}"

    def prepare_data_dir(self) -> None:
        """Create ``data/`` (owner-only) and, for SQLite, the database file with mode 0600."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        prefix = "sqlite:///"
        if self.database_url.startswith(prefix) and ":memory:" not in self.database_url:
            path = Path(self.database_url.removeprefix(prefix))
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            if not path.exists():
                path.touch(mode=0o600)

    def production_problems(self) -> list[str]:
        """What makes this configuration unfit for production (empty when it is fit)."""
        problems = []
        if self.debug:
            problems.append("ESTANTE_DEBUG is on: unset it (or set ESTANTE_DEBUG=0).")
        return problems

    def check(self) -> None:
        """Refuse to start in production with insecure defaults."""
        if not self.is_production:
            return
        problems = self.production_problems()
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            raise ConfigError(
                f"{self.service_name}: ESTANTE_ENV=production refuses to start:\n{lines}"
            )
