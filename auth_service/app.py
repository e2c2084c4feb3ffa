"""Application factory of the Auth Service."""

from __future__ import annotations

import logging
from datetime import timedelta

from flask_openapi3 import OpenAPI
from pydantic import ValidationError
from sqlalchemy import func, select

from auth_service import __version__, accounts, sessions, throttle
from auth_service.admin_routes import api as admin_api
from auth_service.argon2_memory import POOL as ARGON2_BLOCKS
from auth_service.config import AuthSettings
from auth_service.keys import KeyRing, KeySource, RotationPolicy
from auth_service.models import User
from auth_service.passwords import Hasher
from auth_service.rate_limits import init_rate_limits
from auth_service.refresh_route import RefreshRoute
from auth_service.revocation_routes import api as revocations_api
from auth_service.routes import Policies, api, legacy_api
from auth_service.schemas import RegisterRequest
from auth_service.token_routes import api as tokens_api
from auth_service.tokens import init_tokens
from common.app_base import create_base_app
from common.config import ConfigError
from common.db import Database, init_db
from common.front_route import install_in_front
from common.health import database_check, init_health
from common.malloc import share_one_malloc_arena
from common.problem_json import field_errors

log = logging.getLogger("estante.auth")


def make_hasher(settings: AuthSettings) -> Hasher:
    return Hasher(
        time_cost=settings.argon2_time_cost,
        memory_kib=settings.argon2_memory_kib,
        parallelism=settings.argon2_parallelism,
        concurrency=settings.argon2_hashes_at_once,
    )


def make_policies(settings: AuthSettings) -> Policies:
    return Policies(
        session=sessions.SessionPolicy(
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
            max_age=timedelta(seconds=settings.session_max_age),
            reuse_grace=timedelta(seconds=settings.refresh_reuse_grace),
        ),
        throttle=throttle.ThrottlePolicy(
            free_attempts=settings.login_free_attempts,
            max_delay=settings.login_max_delay,
            window=settings.login_window,
        ),
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


def rotation_policy(settings: AuthSettings) -> RotationPolicy:
    return RotationPolicy.for_tokens(
        activation_delay=settings.key_activation_delay,
        access_token_ttl=settings.access_token_ttl,
        leeway=settings.jwt_leeway,
    )


def prepare(settings: AuthSettings) -> None:
    """One-time work before any worker starts: check config, create keys, migrate."""
    from common import migrations

    share_one_malloc_arena()  # before the workers are forked: they inherit it
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
        throttle.forget_old(db, make_policies(settings).throttle)
    finally:
        db.dispose()
        ARGON2_BLOCKS.release()  # the main process hashes no more: its workers keep their own


def keys_check() -> str | None:
    from auth_service.tokens import get_keyring

    try:
        signing_key = get_keyring().active
    except (OSError, ValueError, KeyError) as error:
        return f"no usable signing key ({error})"
    return None if signing_key.private_pem else "the signing key is empty"


def create_app(settings: AuthSettings | None = None) -> OpenAPI:
    settings = settings or AuthSettings()
    settings.check()
    app = create_base_app(__name__, settings, title="Estante Auth Service", version=__version__)
    init_db(app, settings.database_url)
    app.extensions["estante.hasher"] = make_hasher(settings)
    app.extensions["estante.policies"] = make_policies(settings)
    init_tokens(
        app,
        KeySource(
            settings.signing_keys_dir, rotation_policy(settings), settings.keys_reload_seconds
        ),
        issuer=settings.issuer,
        audience=settings.audience,
        ttl=settings.access_token_ttl,
    )
    init_health(
        app, settings.service_name, {"database": database_check("auth"), "keys": keys_check}
    )
    for blueprint in (api, legacy_api, tokens_api, revocations_api, admin_api):
        app.register_api(blueprint)
    init_rate_limits(app, settings)
    # Inside the proxy headers' fix, if any: the route counts the client's address as Flask
    # sees it.
    install_in_front(app, lambda next_app: RefreshRoute(app, settings.service_name, next_app))
    return app
