"""Auth Service settings: every knob, its environment variable and its default, in one place.

Plain data, checked as it is read: the objects built from it (the key rotation policy, the
session and throttle policies) are built where they are used, in :mod:`auth_service.app`,
:mod:`auth_service.preparation` and :mod:`auth_service.key_commands`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from common.config import ServiceSettings, env

# The largest values the settings below allow. A command run from a shell (``keys prune``) does
# not know what the running service was configured with, so it assumes the worst.
MAX_ACCESS_TOKEN_TTL = 86400
MAX_KEY_ACTIVATION_DELAY = 86400


class AuthSettings(ServiceSettings):
    database_file: ClassVar[str] = "auth.db"
    service_name: str = "auth_service"
    port: int = Field(5001, ge=1, le=65535, validation_alias=env("AUTH_PORT"))
    # One worker by default, not one per core: a login's time is argon2id, which runs outside
    # the GIL, so one process checks as many passwords at once as there are cores
    # (argon2_hashes_at_once), and a refresh is cheap enough for one process to serve some
    # 2,000 a second. A second worker bought 2-5 % more logins and cost ~85 MB
    # (docs/performance.md, "The Auth Service in one worker").
    workers: int = Field(1, ge=1, le=64, validation_alias=env("AUTH_WORKERS", "ESTANTE_WORKERS"))
    database_url: str = Field("", validation_alias=env("AUTH_DATABASE_URL", "DATABASE_URL"))
    keys_dir: Path | None = Field(None, validation_alias=env("AUTH_KEYS_DIR"))
    access_token_ttl: int = Field(
        900, ge=30, le=MAX_ACCESS_TOKEN_TTL, validation_alias=env("ACCESS_TOKEN_TTL_SECONDS")
    )
    argon2_time_cost: int = Field(2, ge=1, le=20, validation_alias=env("ARGON2_TIME_COST"))
    argon2_memory_kib: int = Field(
        19456, ge=8192, le=4 * 1024 * 1024, validation_alias=env("ARGON2_MEMORY_KIB")
    )
    argon2_parallelism: int = Field(1, ge=1, le=16, validation_alias=env("ARGON2_PARALLELISM"))
    argon2_concurrency: int = Field(0, ge=0, le=256, validation_alias=env("ARGON2_CONCURRENCY"))
    keys_reload_seconds: float = Field(
        10, ge=0, le=3600, validation_alias=env("KEYS_RELOAD_SECONDS")
    )
    key_activation_delay: int = Field(
        60, ge=0, le=MAX_KEY_ACTIVATION_DELAY, validation_alias=env("KEY_ACTIVATION_DELAY_SECONDS")
    )

    # Refresh tokens and sessions.
    refresh_token_ttl: int = Field(
        14 * 86400, ge=60, le=365 * 86400, validation_alias=env("REFRESH_TOKEN_TTL_SECONDS")
    )
    session_max_age: int = Field(
        90 * 86400, ge=60, le=3 * 365 * 86400, validation_alias=env("SESSION_MAX_AGE_SECONDS")
    )
    refresh_reuse_grace: int = Field(
        10, ge=0, le=300, validation_alias=env("REFRESH_REUSE_GRACE_SECONDS")
    )

    # Brute-force defence.
    login_free_attempts: int = Field(
        5, ge=1, le=1000, validation_alias=env("LOGIN_THROTTLE_FREE_ATTEMPTS")
    )
    login_max_delay: int = Field(
        900, ge=1, le=86400, validation_alias=env("LOGIN_THROTTLE_MAX_DELAY_SECONDS")
    )
    login_window: int = Field(
        900, ge=1, le=86400, validation_alias=env("LOGIN_THROTTLE_WINDOW_SECONDS")
    )
    rate_limits_enabled: bool = Field(True, validation_alias=env("RATE_LIMITS_ENABLED"))
    rate_limit_login: str = Field("30 per minute", validation_alias=env("RATE_LIMIT_LOGIN"))
    rate_limit_register: str = Field(
        "10 per minute;100 per day", validation_alias=env("RATE_LIMIT_REGISTER")
    )
    rate_limit_refresh: str = Field("60 per minute", validation_alias=env("RATE_LIMIT_REFRESH"))
    redis_url: str | None = Field(None, validation_alias=env("REDIS_URL"))
    rate_limit_key_prefix: str = Field(
        "estante-auth", min_length=1, max_length=64, validation_alias=env("RATE_LIMIT_KEY_PREFIX")
    )

    # The first administrator, created on first start if both are set (never a built-in one).
    admin_username: str | None = Field(None, validation_alias=env("ESTANTE_ADMIN_USERNAME"))
    admin_password: SecretStr | None = Field(None, validation_alias=env("ESTANTE_ADMIN_PASSWORD"))

    @property
    def argon2_hashes_at_once(self) -> int:
        """How many argon2id hashes one worker computes at a time (ARGON2_CONCURRENCY; 0, the
        default, is its share of the cores). Each holds its memory cost while it runs (19 MiB by
        default), so this bounds a worker's peak during a burst of logins; more than the
        worker's share of the cores would not check passwords any faster, the cores being busy
        already."""
        if self.argon2_concurrency:
            return self.argon2_concurrency
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0
        return max(1, -(-(cores or os.cpu_count() or 1) // self.workers))

    @property
    def signing_keys_dir(self) -> Path:
        return self.keys_dir or self.data_dir / "keys"

    def production_problems(self) -> list[str]:
        """Also: production names its key directory (what it holds is checked at start by
        :func:`auth_service.preparation.prepare`)."""
        problems = super().production_problems()
        if self.keys_dir is None:
            problems.append(
                "AUTH_KEYS_DIR is not set: point it at a directory holding the signing keys "
                "(create one with 'python -m auth_service.key_commands generate --dir DIR')."
            )
        return problems
