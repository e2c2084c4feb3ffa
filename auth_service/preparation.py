"""What runs before any worker serves, or instead of one: the settings' checks, the signing
keys, the migrations and the first administrator (:func:`prepare`), and the password hasher the
settings describe.

Apart from the web app on purpose: the start script runs this in the main process, and the
administration commands (``python -m auth_service.cli``) run it without serving anything, so
they do not pay for importing Flask's app, its routes and OpenAPI models (about a third of a
command's start-up).
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy import func, select

from auth_service import accounts, throttle
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing
from auth_service.models import User
from auth_service.passwords import Hasher
from auth_service.schemas import RegisterRequest
from common import migrations
from common.config import ConfigError
from common.db import Database
from common.problem_json import field_errors

log = logging.getLogger("estante.auth")


def make_hasher(settings: AuthSettings) -> Hasher:
    return Hasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        concurrency=settings.argon2_hashes_at_once,
    )


def throttle_policy(settings: AuthSettings) -> throttle.ThrottlePolicy:
    return throttle.ThrottlePolicy(
        free_attempts=settings.login_free_attempts,
        max_delay=settings.login_max_delay,
        window=settings.login_window,
    )


def bootstrap_admin(settings: AuthSettings, db: Database) -> None:
    """Create the first administrator from ESTANTE_ADMIN_USERNAME/PASSWORD, once: when no
    administrator exists yet. Later starts leave accounts alone, and an existing account of
    that name stops the start (ConfigError) rather than being taken over."""
    password = settings.admin_password.get_secret_value() if settings.admin_password else ""
    if not (settings.admin_username and password):
        return
    try:
        checked = RegisterRequest(username=settings.admin_username, password=password)
    except ValidationError as error:
        reasons = "; ".join(e["message"] for e in field_errors(error))
        raise ConfigError(f"ESTANTE_ADMIN_USERNAME/ESTANTE_ADMIN_PASSWORD: {reasons}") from None
    with db.read() as session:
        admins = session.scalar(select(func.count()).where(User.role == "admin")) or 0
    if admins:
        return
    try:
        user = accounts.ensure_admin(db, make_hasher(settings), checked.username, checked.password)
    except accounts.AccountExists:
        # Never hand an account someone else registered (and its sessions) the admin role.
        raise ConfigError(
            f"ESTANTE_ADMIN_USERNAME: an account named '{checked.username}' exists already and "
            "is not an administrator; it was left alone. Choose another name, or promote that "
            "account on purpose with 'python -m auth_service.cli create-admin --username "
            f"{checked.username} --promote' (its sessions end)."
        ) from None
    except accounts.UsernameLookalike as error:
        # A stranger's look-alike account must not be taken for the administrator's.
        raise ConfigError(f"ESTANTE_ADMIN_USERNAME: {error.detail}") from None
    log.info("created the first administrator", extra={"fields": {"username": user.username}})


def signing_key_problems(settings: AuthSettings) -> list[str]:
    """What makes the key directory unfit for production (no key, or a generated one)."""
    if not settings.is_production or settings.keys_dir is None:
        return []
    return KeyRing.production_problems(settings.keys_dir)


def prepare(settings: AuthSettings) -> None:
    """One-time work before any worker starts: check config, create keys, migrate."""
    settings.check(*signing_key_problems(settings))
    settings.prepare_data_dir()
    if settings.is_production:
        KeyRing.load(settings.signing_keys_dir)
    else:
        KeyRing.ensure(settings.signing_keys_dir)
    if settings.auto_migrate:
        migrations.upgrade("auth", settings.database_url)
    db = Database(settings.database_url)
    try:
        bootstrap_admin(settings, db)
        throttle.installation_secret(db)  # created once here, before workers race for it
        throttle.forget_old(db, throttle_policy(settings))
    finally:
        db.dispose()
