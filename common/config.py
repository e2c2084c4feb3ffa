"""Settings shared by both services, read from the environment in one typed place.

Each service extends :class:`ServiceSettings` with its own fields; nothing else in the code base
reads ``os.environ`` directly. Any setting can also come from a file: ``NAME_FILE=/path`` sets
``NAME`` to the file's content, which is how Docker and Compose hand over secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

DEFAULT_ISSUER = "estante-auth"
DEFAULT_AUDIENCE = "estante"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "data"
MAX_JWT_LEEWAY = 60


class ConfigError(Exception):
    """The configuration is unusable; the message says exactly what to set."""


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


def env(*names: str) -> AliasChoices:
    """Accept a setting under any of these environment variable names (first one wins)."""
    return AliasChoices(*names)


def variable_names(settings_class: type[BaseSettings], field: str) -> list[str]:
    """The environment variables a field is read from, in order of precedence."""
    alias = settings_class.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices):
        return [str(choice) for choice in alias.choices]
    return [alias] if isinstance(alias, str) else [field.upper()]


FILE_SUFFIX = "_FILE"


def read_setting_file(variable: str, path: str) -> str:
    try:
        # Without the final newline `echo secret > file` adds: the same reading as the official
        # images' *_FILE variables (PostgreSQL's included), so both sides see one password.
        return Path(path).read_text(encoding="utf-8").rstrip("\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"{variable}: cannot read {path}: {reason}") from None


class EnvironmentAndFilesSource(EnvSettingsSource):
    """The environment, where ``NAME_FILE=/path`` stands for ``NAME`` set to that file's content.

    Secrets then never sit in the environment, where ``docker inspect``, ``/proc`` and every
    child process can read them; a Compose secret is a file under ``/run/secrets``.
    """

    def _load_env_vars(self) -> Mapping[str, str | None]:
        variables = dict(super()._load_env_vars())  # names lower-cased (case-insensitive)
        known = {
            name.lower()
            for field in self.settings_cls.model_fields
            for name in variable_names(self.settings_cls, field)
        }
        for key, path in list(variables.items()):
            name = key.removesuffix(FILE_SUFFIX.lower())
            # Only NAME_FILE for a setting NAME: JWKS_CACHE_FILE, say, is a setting of its own.
            if name == key or name not in known or not path:
                continue
            if variables.get(name):
                raise ConfigError(
                    f"{name.upper()} and {key.upper()} are both set: set only one of them."
                )
            variables[name] = read_setting_file(key.upper(), path)
        return variables


# A secret that contains one of these is the example's placeholder, not a real secret.
PLACEHOLDER_MARKERS = (
    "change-me",
    "changeme",
    "change_me",
    "example",
    "placeholder",
    "replace-me",
    "replace_me",
    "your-password",
    "your_password",
)
# Defaults that every scanner tries first.
WELL_KNOWN_SECRETS = frozenset({"password", "secret", "postgres", "estante", "admin", "root"})


def secret_problem(value: str) -> str | None:
    """Why a configured secret is unfit for production (None when it may be used)."""
    if not value.strip():
        return "is empty"
    lowered = value.strip().lower()
    if any(marker in lowered for marker in PLACEHOLDER_MARKERS):
        return "is still the example's placeholder"
    if lowered in WELL_KNOWN_SECRETS:
        return "is a well-known default"
    return None


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
    # The database user's password, kept out of the URL (so it may hold "@" or "/" and stays
    # out of `docker inspect`): usually DATABASE_PASSWORD_FILE=/run/secrets/... .
    database_password: SecretStr | None = Field(None, validation_alias=env("DATABASE_PASSWORD"))

    # Both services must agree on these: the auth service writes them, the books service checks.
    issuer: str = Field(DEFAULT_ISSUER, min_length=1, validation_alias=env("JWT_ISSUER"))
    audience: str = Field(DEFAULT_AUDIENCE, min_length=1, validation_alias=env("JWT_AUDIENCE"))
    # How far apart the issuer's and a verifier's clocks may be (tokens set nbf = iat).
    jwt_leeway: int = Field(5, ge=0, le=MAX_JWT_LEEWAY, validation_alias=env("JWT_LEEWAY_SECONDS"))

    # Set by each service: its own name, port and database (a SQLite file in data/ by default).
    database_file: ClassVar[str] = "estante.db"
    service_name: str = "estante"
    port: int = 0
    database_url: str = ""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        files_too = EnvironmentAndFilesSource(settings_cls)
        return init_settings, files_too, dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _default_database_under_data_dir(self) -> ServiceSettings:
        if not self.database_url:
            self.database_url = self.sqlite_url(self.database_file)
        if self.database_password is not None:
            self.database_url = self._with_password(self.database_password.get_secret_value())
        return self

    def _with_password(self, password: str) -> str:
        # Imported here: the web service's settings must not load SQLAlchemy (18 MB a process).
        from sqlalchemy.engine import make_url

        url_variables = "/".join(variable_names(type(self), "database_url"))
        url = make_url(self.database_url)
        if url.get_backend_name() == "sqlite":
            raise ConfigError(
                f"DATABASE_PASSWORD is set but the database is SQLite: unset it, or point "
                f"{url_variables} at PostgreSQL."
            )
        if url.password is not None:
            raise ConfigError(
                f"DATABASE_PASSWORD is set and {url_variables} has a password too: "
                "keep only one (DATABASE_PASSWORD, and the URL without it)."
            )
        # Quoted as the URL needs it: the password may hold any character.
        return url.set(password=password).render_as_string(hide_password=False)

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
        problems.extend(self.secret_problems())
        return problems

    def configured_secrets(self) -> list[tuple[str, str, str]]:
        """Every secret this configuration holds: (what it is, the value, where to set it).
        The password fields, and the passwords written into URLs."""
        found = []
        for field in type(self).model_fields:
            value = getattr(self, field)
            names = variable_names(type(self), field)
            if isinstance(value, SecretStr):
                found.append(
                    (names[0], value.get_secret_value(), f"{names[0]} (or {names[0]}_FILE)")
                )
            elif field.endswith("_url") and isinstance(value, str):
                if field == "database_url" and self.database_password is not None:
                    continue  # its password is DATABASE_PASSWORD, seen above
                password = urlsplit(value).password
                if password is not None:
                    where = "/".join(names)
                    found.append(
                        (f"the password in {where}", unquote(password), f"{where}'s password")
                    )
        return found

    def secret_problems(self) -> list[str]:
        problems = []
        for what, value, where in self.configured_secrets():
            reason = secret_problem(value)
            if reason:
                problems.append(f"{what} {reason}: set {where} to a real secret.")
        return problems

    def check(self, *found_elsewhere: str) -> None:
        """Refuse to start in production with insecure defaults, naming every problem at once:
        the settings' own and ``found_elsewhere`` (in the files they point to, say)."""
        if not self.is_production:
            return
        problems = [*self.production_problems(), *found_elsewhere]
        if problems:
            lines = "\n".join(f"  - {p}" for p in problems)
            raise ConfigError(
                f"{self.service_name}: ESTANTE_ENV=production refuses to start:\n{lines}"
            )
