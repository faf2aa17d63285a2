"""Prometheus metrics at /metrics: requests by route template and status, and their latency.

Each app has its own registry (tests build many apps in one process). Routes are labelled by
their template (`/api/v1/shipments/{shipment_id}`), never by the raw path, so the number of
series stays bounded whatever clients send.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.types import Scope


class Metrics:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by method, route template and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer, by method and route template.",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        # Each series' counter and histogram, found once (labels() takes a lock and builds
        # a key each time); as bounded as the series themselves.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, scope: Scope, status: int, seconds: float) -> None:
        """One answered request (called by observability.RequestMiddleware)."""
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        # Routes of an included router know their path without the router's prefix.
        if scope["path"].startswith(self.prefix + "/") and route.startswith("/"):
            route = route if route.startswith(self.prefix) else self.prefix + route
        key = (scope["method"], route, status)
        series = self._series.get(key)
        if series is None:
            method = scope["method"]
            series = self._series[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
        series[0].inc()
        series[1].observe(seconds)


def install(app: FastAPI, *, prefix: str) -> Metrics:
    """The app's metrics, served at /metrics; the caller has them observed (main.py)."""
    metrics = Metrics(prefix)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return metrics
