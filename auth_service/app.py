"""Application factory of the Auth Service."""

from __future__ import annotations

from datetime import timedelta

from flask_openapi3 import OpenAPI

from auth_service import __version__, sessions
from auth_service.admin_routes import api as admin_api
from auth_service.config import AuthSettings
from auth_service.keys import KeySource, RotationPolicy

# Part of this module's interface too: tests build the app as a start does.
from auth_service.preparation import make_hasher, prepare, throttle_policy
from auth_service.rate_limits import init_rate_limits
from auth_service.refresh_route import RefreshRoute
from auth_service.revocation_routes import api as revocations_api
from auth_service.routes import Policies, api, legacy_api
from auth_service.token_routes import api as tokens_api
from auth_service.tokens import init_tokens
from common.app_base import create_base_app
from common.db import init_db
from common.front_route import install_in_front
from common.health import database_check, init_health

__all__ = ["create_app", "make_hasher", "make_policies", "prepare"]


def make_policies(settings: AuthSettings) -> Policies:
    return Policies(
        session=sessions.SessionPolicy(
            refresh_ttl=timedelta(seconds=settings.refresh_token_ttl),
            max_age=timedelta(seconds=settings.session_max_age),
            reuse_grace=timedelta(seconds=settings.refresh_reuse_grace),
        ),
        throttle=throttle_policy(settings),
    )


def rotation_policy(settings: AuthSettings) -> RotationPolicy:
    return RotationPolicy.for_tokens(
        activation_delay=settings.key_activation_delay,
        access_token_ttl=settings.access_token_ttl,
        leeway=settings.jwt_leeway,
    )


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
    init_db(app, settings.database_url, settings.threads)
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
