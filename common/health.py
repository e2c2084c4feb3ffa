"""Liveness (``/healthz``: the process answers) and readiness (``/readyz``: it can do its job:
database reachable, migrations at head, and whatever the service adds, such as its keys)."""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, Response, jsonify
from pydantic import BaseModel, ConfigDict

from common.problem_json import problem

# A readiness check returns None when all is well, or what is wrong.
ReadinessCheck = Callable[[], str | None]
HEALTH_TAG = {"name": "health", "description": "Liveness and readiness of the service"}


class Health(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"status": "ok", "service": "books_service"}]}
    )

    status: str
    service: str


class Readiness(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "ready",
                    "service": "books_service",
                    "checks": {"database": "ok", "jwks": "ok"},
                }
            ]
        }
    )

    status: str
    service: str
    checks: dict[str, str]


def database_check(service: str) -> ReadinessCheck:
    """The app's database (:func:`common.db.get_db`) reachable and at its newest migration."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    from common.db import get_db

    def current(table: str) -> str | None:
        with get_db().engine.connect() as connection:
            value = connection.execute(text(f"SELECT version_num FROM {table}")).scalar()  # noqa: S608
            return None if value is None else str(value)

    return revision_check(service, current, SQLAlchemyError)


def revision_check(
    service: str,
    current: Callable[[str], str | None],
    errors: type[Exception] | tuple[type[Exception], ...],
) -> ReadinessCheck:
    """A database reachable and at its newest migration: ``current(table)`` reads the revision
    the version table holds, and raises one of ``errors`` when it cannot. The web service passes
    its DB-API reader (:mod:`common.dbapi`), so that it never loads SQLAlchemy."""
    from common import revisions
    from common.dbapi import error_name

    head = revisions.head_revision(service)
    table = revisions.version_table(service)

    def check() -> str | None:
        try:
            at = current(table)
        except errors as error:
            return f"database unreachable or not migrated ({error_name(error)})"
        if at != head:
            return f"migrations not at head (at {at}, head is {head})"
        return None

    return check


def init_health(app: Flask, service: str, checks: dict[str, ReadinessCheck]) -> None:
    def healthz() -> Response:
        """The process is alive and answering."""
        return jsonify(status="ok", service=service)

    def readyz() -> Response:
        """The service can do its job: its database is reachable and migrated, its keys loaded."""
        results = {name: check() or "ok" for name, check in checks.items()}
        if all(result == "ok" for result in results.values()):
            return jsonify(status="ready", service=service, checks=results)
        return problem(
            503,
            "; ".join(f"{n}: {r}" for n, r in results.items() if r != "ok"),
            title="Not ready",
            type_="/problems/not-ready",
            headers={"Retry-After": "5"},
            checks=results,
        )

    if not hasattr(app, "register_api"):  # a plain Flask app (the web service): no document
        app.add_url_rule("/healthz", "healthz", healthz, methods=["GET"])
        app.add_url_rule("/readyz", "readyz", readyz, methods=["GET"])
        return
    # Here: the web service, a plain Flask app, never loads flask-openapi3 (5 MB a process).
    from flask_openapi3 import APIBlueprint, Tag

    from common.openapi import problems

    health = APIBlueprint("health", __name__, abp_tags=[Tag(**HEALTH_TAG)])
    health.get("/healthz", responses={200: Health})(healthz)
    health.get("/readyz", responses={200: Readiness, **problems(503)})(readyz)
    app.register_api(health)
