"""Prometheus metrics at ``/metrics``: request counts and latency by route and status.

Several worker processes serve each service, so the counters live in files that every worker
writes and ``/metrics`` adds up (prometheus_client's multiprocess mode): the start script points
``PROMETHEUS_MULTIPROC_DIR`` at an empty directory before any worker starts. Without it (tests,
a single process) the process's own registry is used.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request

from common.request_log import STARTED_KEY

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MAX_CACHED_SERIES = 1024
_metrics: dict[str, Any] = {}


def prepare_multiprocess_dir(directory: Path) -> None:
    """Called by the parent process before workers start: the directory, emptied of the
    previous run's metric files (only those: it may be a directory shared with other files),
    announced to the workers."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in directory.glob("*.db"):
        if stale.name.split("_", 1)[0] in {"counter", "gauge", "histogram", "summary"}:
            stale.unlink(missing_ok=True)
    os.environ[MULTIPROC_ENV] = str(directory)


def _instruments() -> dict[str, Any]:
    # Imported here, not at module level: in multiprocess mode prometheus_client must first be
    # imported after PROMETHEUS_MULTIPROC_DIR is set, i.e. in the worker.
    if not _metrics:
        from prometheus_client import Counter, Histogram

        _metrics["requests"] = Counter(
            "estante_http_requests_total",
            "HTTP requests answered",
            ["service", "method", "route", "status"],
        )
        _metrics["latency"] = Histogram(
            "estante_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["service", "method", "route"],
            buckets=BUCKETS,
        )
    return _metrics


class RequestMetrics:
    """A service's request counter and latency histogram. Each series' child is looked up once:
    prometheus_client's ``labels()`` takes a lock and builds its key on every call. There are
    as many as routes x methods x statuses answered."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._instruments = _instruments()
        self._counters: dict[tuple[str, str, int], Any] = {}
        self._timers: dict[tuple[str, str], Any] = {}

    def record(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """One request answered: ``route`` is the rule's pattern (``/books/<int:book_id>`` is
        one series, not one per id), ``seconds`` its time if it was measured."""
        counter = self._counters.get((method, route, status))
        if counter is None:
            counter = self._instruments["requests"].labels(self._service, method, route, status)
            if len(self._counters) < MAX_CACHED_SERIES:  # unknown methods could make any number
                self._counters[(method, route, status)] = counter
        counter.inc()
        if seconds is not None:
            timer = self._timers.get((method, route))
            if timer is None:
                timer = self._instruments["latency"].labels(self._service, method, route)
                if len(self._timers) < MAX_CACHED_SERIES:
                    self._timers[(method, route)] = timer
            timer.observe(seconds)


def get_request_metrics(app: Flask) -> RequestMetrics:
    """The app's recorder (:func:`init_metrics`), for a route served beside Flask's hooks."""
    recorder: RequestMetrics = app.extensions["estante.metrics"]
    return recorder


def init_metrics(app: Flask, service: str) -> None:
    recorder = app.extensions["estante.metrics"] = RequestMetrics(service)

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = request.environ.get(STARTED_KEY) or time.perf_counter()

    @app.after_request
    def record(response: Response) -> Response:
        started = g.get("metrics_started")
        route = request.url_rule.rule if request.url_rule is not None else "unmatched"
        seconds = time.perf_counter() - started if started is not None else None
        recorder.record(request.method, route, response.status_code, seconds)
        return response

    def metrics() -> Response:
        from prometheus_client import (
            CONTENT_TYPE_LATEST,
            REGISTRY,
            CollectorRegistry,
            generate_latest,
            multiprocess,
        )

        registry = REGISTRY
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)

    # Not in any OpenAPI document; the web service's plain Flask app has it too.
    app.add_url_rule("/metrics", "metrics", metrics, methods=["GET"])
