"""Web Service settings: every knob, its environment variable and its default, in one place."""

from __future__ import annotations

import os
import secrets
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr, field_validator

from common.config import ConfigError, ServiceSettings, env
from web_service.catalog_version import MAX_INTERVAL, MIN_INTERVAL

SECRET_FILE = "web-secret.key"  # noqa: S105 (a file name, not a secret)
MIN_SECRET_LENGTH = 32


class CookieSecure(StrEnum):
    """When the session cookie carries ``Secure``: ``auto`` when the request came over https
    (as the browser or, with ESTANTE_TRUSTED_PROXIES, the proxy says), or always, or never."""

    auto = "auto"
    always = "always"
    never = "never"


class WebSettings(ServiceSettings):
    database_file: ClassVar[str] = "web.db"
    service_name: str = "web_service"
    port: int = Field(5003, ge=1, le=65535, validation_alias=env("WEB_PORT"))
    # Sessions (and only sessions) live here: the catalog and the accounts stay in their services.
    database_url: str = Field("", validation_alias=env("WEB_DATABASE_URL"))
    auth_url: str = Field("http://127.0.0.1:5001", validation_alias=env("AUTH_URL"))
    books_url: str = Field("http://127.0.0.1:5002", validation_alias=env("BOOKS_URL"))
    api_timeout: float = Field(5.0, gt=0, le=120, validation_alias=env("WEB_API_TIMEOUT_SECONDS"))
    secret_key: SecretStr | None = Field(None, validation_alias=env("WEB_SECRET_KEY"))
    redis_url: str | None = Field(None, validation_alias=env("REDIS_URL"))
    redis_key_prefix: str = Field(
        "estante-web", min_length=1, max_length=64, validation_alias=env("WEB_REDIS_KEY_PREFIX")
    )
    session_lifetime: int = Field(
        14 * 86400, ge=300, le=365 * 86400, validation_alias=env("WEB_SESSION_LIFETIME_SECONDS")
    )
    cookie_secure: CookieSecure = Field(
        CookieSecure.auto, validation_alias=env("WEB_COOKIE_SECURE")
    )
    max_upload_bytes: int = Field(
        500 * 1024 * 1024, ge=1024, validation_alias=env("WEB_MAX_UPLOAD_BYTES")
    )
    default_locale: str = Field("en", pattern=r"^(en|pt_BR)$", validation_alias=env("WEB_LOCALE"))
    # Seconds between two polls of the catalog's version (web_service/catalog_version.py): a
    # change made elsewhere shows within twice this; 0 asks the API on every view instead.
    catalog_version_poll: float = Field(
        0.25, ge=0, le=MAX_INTERVAL, validation_alias=env("WEB_CATALOG_VERSION_POLL")
    )

    @field_validator("auth_url", "books_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("catalog_version_poll")
    @classmethod
    def _zero_or_not_too_often(cls, value: float) -> float:
        if 0 < value < MIN_INTERVAL:
            raise ValueError(f"must be 0 (off) or between {MIN_INTERVAL} and {MAX_INTERVAL}")
        return value

    @field_validator("redis_url", mode="before")
    @classmethod
    def _empty_redis_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @property
    def secret_file(self) -> Path:
        return self.data_dir / SECRET_FILE

    def production_problems(self) -> list[str]:
        problems = super().production_problems()
        if self.secret_key is None:
            problems.append(
                "WEB_SECRET_KEY is not set: set it (or WEB_SECRET_KEY_FILE) to a random string of "
                f"at least {MIN_SECRET_LENGTH} characters, e.g. the output of "
                "'python -c \"import secrets; print(secrets.token_urlsafe(48))\"'."
            )
        elif len(self.secret_key.get_secret_value()) < MIN_SECRET_LENGTH:
            problems.append(f"WEB_SECRET_KEY is shorter than {MIN_SECRET_LENGTH} characters.")
        return problems

    def ensure_secret(self) -> None:
        """Development and tests: generate the secret into data/ on the very first start."""
        if self.secret_key is not None or self.secret_file.exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = self.secret_file.with_name(f".{SECRET_FILE}.{secrets.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(48))
        try:
            os.link(temporary, self.secret_file)  # never replaces one written meanwhile
        except FileExistsError:
            pass
        finally:
            temporary.unlink()

    def secret(self) -> bytes:
        """The key that signs session cookies and CSRF tokens."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        try:
            value = self.secret_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise ConfigError(
                f"WEB_SECRET_KEY is not set and {self.secret_file} cannot be read "
                f"({error.strerror}): set WEB_SECRET_KEY, or start the service once to create it."
            ) from None
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{self.secret_file} holds too short a secret: delete it.")
        return value.encode()
