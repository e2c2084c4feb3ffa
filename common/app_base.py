"""What every Estante service app starts from: one error format, request ids and logs, metrics,
a body size limit, proxy headers when trusted, and an OpenAPI document built from the schemas."""

from __future__ import annotations

import functools
import typing
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from flask import Response, abort, current_app, redirect, request, url_for
from flask_openapi3 import Info, OpenAPI
from flask_openapi3.request import _validate_query
from pydantic import BaseModel, ValidationError
from werkzeug.middleware.proxy_fix import ProxyFix

from common.config import ServiceSettings
from common.converters import AsciiIntegerConverter
from common.json_body import parses_own_body, require_json_object
from common.log_format import configure_logging
from common.metrics import init_metrics
from common.openapi import EstanteOpenAPI
from common.problem_json import register_error_handlers, validation_problem
from common.query_string import init_single_values
from common.request_log import init_request_log

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


class WholeBodyResponse(Response):
    """A response whose body is all in memory is handed to the server as a list, not as an
    iterator: Granian sends a list's bytes in one call (``response_bytes``) but walks an
    iterator chunk by chunk from its side (``response_iter``), taking the GIL back for each, and
    Werkzeug returns an iterator (``ClosingIterator``) for every body. Streamed bodies (a
    generator, a file) and responses with ``call_on_close`` callbacks are handed on as before.

    Flask makes every response a view returns into its ``response_class`` (``force_type``
    changes the class of a plain ``Response``), so this covers every route."""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        app_iter, status, headers = self.get_wsgi_response(environ)
        start_response(status, headers)
        # A list body has nothing to close; callbacks registered on close must still run.
        if self.is_sequence and not self._on_close:
            return list(app_iter)
        return app_iter


class SyncFunctions:
    """``Flask.ensure_sync`` remembered per function: Flask asks it of every hook, view and
    error handler on every request, and each answer costs an ``inspect`` of the function. The
    functions are the app's own (registered once), so the answers are a bounded few."""

    def __init__(self, ensure_sync: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
        self._ensure_sync = ensure_sync
        self._known: dict[Callable[..., Any], Callable[..., Any]] = {}

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            return self._known[func]
        except KeyError:
            sync = self._ensure_sync(func)
            if len(self._known) < 4096:  # a guard: were new callables passed on every request
                self._known[func] = sync
            return sync
        except TypeError:  # an unhashable callable
            return self._ensure_sync(func)


def lean_validation(view: Callable[..., Response]) -> Callable[..., Response]:
    """For the hottest requests (``GET /books``, ``GET /books/<id>``, and the writes ``POST``,
    ``PUT`` and ``PATCH /books``): the view's ``header``, ``path``, ``query`` and ``body`` models
    validated as flask-openapi3 validates them, in the same order and with the same 422 problem
    when they fail, but cheaper:

    * the header model is given only the headers it declares: flask-openapi3 copies every
      request header into it, and the other headers are ignored by the model anyway;
    * the body is validated straight from its bytes (pydantic's ``model_validate_json``, one
      pass in Rust) instead of being parsed by Flask into Python objects and validated from
      them. Only a body that passes goes this way: for any other, the JSON checks of
      :mod:`common.json_body` (400, 422) run as they would have, and the body is validated
      from Flask's parse as flask-openapi3 does, so every error is the one it always was. The
      view is marked (:func:`~common.json_body.parses_own_body`) so that the ``before_request``
      check does not parse the body first.

    Only for views without a form or cookies; the OpenAPI document is still made from the
    view's own signature."""
    hints = typing.get_type_hints(view)
    models: dict[str, type[BaseModel]] = {
        name: hints[name] for name in ("header", "path", "query", "body") if name in hints
    }
    assert set(hints) - {"return"} <= set(models), "lean_validation: header, path, query, body"
    header = models.get("header")
    body = models.get("body")
    header_names = [
        (field.alias or name).replace("_", "-").title()
        for name, field in (header.model_fields.items() if header else ())
    ]

    @functools.wraps(view)
    def validated(**path_kwargs: Any) -> Response:
        kwargs: dict[str, Any] = {}
        from_bytes: BaseModel | None = None
        if body is not None:
            try:
                from_bytes = body.model_validate_json(request.get_data(cache=True))
            except ValidationError:
                require_json_object()  # 400 or 422 as before any other model, if the JSON is bad
        try:
            if header is not None:
                given = {name: request.headers.get(name) for name in header_names}
                kwargs["header"] = header.model_validate(
                    {name: value for name, value in given.items() if value is not None}
                )
            if "path" in models:
                kwargs["path"] = models["path"].model_validate(path_kwargs)
            if "query" in models:
                _validate_query(models["query"], kwargs)
            if from_bytes is not None:
                kwargs["body"] = from_bytes
            elif body is not None:  # a body that failed: its errors as flask-openapi3 gives them
                kwargs["body"] = body.model_validate(request.get_json())
        except ValidationError as error:
            # flask-openapi3's app has it; current_app is typed as Flask's.
            abort(current_app.validation_error_callback(error))  # type: ignore[attr-defined]
        return view(**kwargs)

    # flask-openapi3 then calls the view with the path's values and validates nothing itself.
    validated.__delay_validate_request__ = True  # type: ignore[attr-defined]
    return parses_own_body(validated) if body is not None else validated


# The security requirement of an operation that needs an access token: ``security=BEARER``.
BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def create_base_app(
    import_name: str, settings: ServiceSettings, *, title: str, version: str, description: str = ""
) -> OpenAPI:
    app = EstanteOpenAPI(
        import_name,
        info=Info(title=title, version=version, description=description),
        security_schemes={
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        },
        validation_error_status=422,
        validation_error_callback=validation_problem,
        # /docs is the interactive documentation (Swagger UI, served from the package, no CDN);
        # the document itself is at /openapi.json (and /docs/openapi.json, where the UI reads it).
        doc_prefix="/docs",
        doc_url="/openapi.json",
    )
    app.response_class = WholeBodyResponse
    # An instance attribute in front of the method, as Flask's own docs override it in a class.
    app.ensure_sync = SyncFunctions(app.ensure_sync)  # type: ignore[method-assign]
    # Before any route is added: each rule takes its converter when it is added.
    app.url_map.converters["int"] = AsciiIntegerConverter
    app.config.update(
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        DEBUG=settings.debug,
        ESTANTE_SETTINGS=settings,
        # Swagger UI would send the document to validator.swagger.io for its badge: the docs
        # never contact the internet.
        SWAGGER_CONFIG={"validatorUrl": None},
    )
    configure_logging(settings.log_level)
    # Flask's default provider has sort_keys; the JSONProvider the attribute is typed as does not.
    app.json.sort_keys = False  # type: ignore[attr-defined]
    register_error_handlers(app)
    init_request_log(app, settings.service_name)
    init_single_values(app)

    init_metrics(app, settings.service_name)

    @app.after_request
    def no_content_type_on_204(response: Response) -> Response:
        # Flask labels every response, text/html by default; a 204 has no body to label.
        if response.status_code == 204:
            response.headers.remove("Content-Type")
        return response

    if settings.trusted_proxies:
        # Behind N proxies: take the client address, scheme, host and path prefix (so links and
        # Location headers carry /api/books) from their X-Forwarded-* headers, and only theirs.
        n = settings.trusted_proxies
        proxied = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_prefix=n)
        # Flask's documented way to add WSGI middleware, though mypy sees wsgi_app as a method.
        app.wsgi_app = proxied  # type: ignore[method-assign]

    @app.get("/openapi.json", doc_ui=False)
    def openapi_document() -> dict:
        return app.api_doc

    # The docs' home page goes straight to the interactive UI.
    app.view_functions["openapi.openapi"] = lambda: redirect(url_for("swagger.swagger"))
    return app
