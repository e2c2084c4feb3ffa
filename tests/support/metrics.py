"""What the metrics registry of this test process has counted."""

from __future__ import annotations

from prometheus_client import REGISTRY


def requests_counted(service: str, method: str, route: str, status: int) -> float:
    """``estante_http_requests_total`` for one service, method, route pattern and status."""
    labels = {"service": service, "method": method, "route": route, "status": str(status)}
    return REGISTRY.get_sample_value("estante_http_requests_total", labels) or 0.0
