"""A Books worker's app asked both ways: as served (the routes in front of Flask first, as
Granian calls it) and through Flask alone behind a given route, for tests that compare the
answers of a route in front of Flask with Flask's own."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, request
from werkzeug.test import Client

from books_service.app import create_app
from books_service.config import BooksSettings
from common.db import Database


@dataclass
class Worker:
    app: Flask
    served: Client  # the routes first, as Granian calls the app
    flask_only: Client  # what the route hands on
    seen: list[str]  # the paths Flask's own hooks saw

    @property
    def db(self) -> Database:
        database: Database = self.app.extensions["estante.db"]
        return database


def worker(settings: BooksSettings, route_class: type) -> Worker:
    """One worker of the Books app as served; ``flask_only`` asks what the ``route_class``
    among the middleware hands on. Every path Flask's hooks see is noted first of them (one of
    them may answer: a repeated query parameter's 422)."""
    app = create_app(settings)
    seen: list[str] = []
    app.before_request_funcs.setdefault(None, []).insert(0, lambda: seen.append(request.path))
    route = app.wsgi_app
    while not isinstance(route, route_class):
        route = route.next_app  # type: ignore[attr-defined]  # each route wraps the next
    return Worker(
        app,
        Client(app.wsgi_app, app.response_class),
        Client(route.next_app, app.response_class),  # type: ignore[attr-defined]
        seen,
    )
