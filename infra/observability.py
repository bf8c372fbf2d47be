"""What operations see (issue 12 item 9): Prometheus metrics of requests, failing dependencies and
the backlogs, and structured logs that carry the request id the response also returns.

Under several workers the metrics live in prometheus_client's multiprocess files: the main
process names the folder (prepare_multiprocess) before any worker imports this module, and a
scrape of any worker adds up all of them."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pythonjsonlogger.json import JsonFormatter
from redis.asyncio import Redis

from infra.cache import Keys, as_text
from infra.models import OutboxMessage

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
# The request being served, for every log line written while serving it.
REQUEST_ID: ContextVar[str] = ContextVar("request_id", default="-")
LogFormat = Literal["json", "text"]

REQUESTS = Counter(
    "alxa_http_requests_total", "HTTP requests answered", ["method", "route", "status"]
)
LATENCY = Histogram(
    "alxa_http_request_duration_seconds",
    "Time from the request to its response",
    ["method", "route"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
DEPENDENCY_ERRORS = Counter(
    "alxa_dependency_errors_total",
    "Requests answered 503 because a dependency did not answer",
    ["dependency"],
)
# The outbox's states that still owe the user a WeChat message (infra/notifications.py).
_OUTBOX_OWED = ("pending", "sending", "unconfirmed", "waiting")


def prepare_multiprocess(directory: Path) -> None:
    """Main process, before the workers start: an empty folder for this run's metric files."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, exist_ok=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)


_counted: dict[tuple[str, str, int], Any] = {}  # labels() costs more than the count itself
_timed: dict[tuple[str, str], Any] = {}


def observe(method: str, route: str, status: int, seconds: float) -> None:
    counter = _counted.get((method, route, status))
    if counter is None:
        counter = _counted[(method, route, status)] = REQUESTS.labels(method, route, str(status))
    counter.inc()
    timer = _timed.get((method, route))
    if timer is None:
        timer = _timed[(method, route)] = LATENCY.labels(method, route)
    timer.observe(seconds)


async def render_metrics(redis: Redis, keys: Keys) -> bytes:
    """The text a Prometheus scrape reads: every worker's counters plus the backlogs now."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    backlog = CollectorRegistry()
    backlog.register(_Now(await _backlogs(redis, keys)))
    return bytes(generate_latest(registry) + generate_latest(backlog))


class _Now(Collector):
    """Values read at the scrape (not a Gauge: under multiprocess mode that would be written to
    this worker's files and come back labelled by pid)."""

    def __init__(self, values: list[tuple[str, str, float]]) -> None:
        self.values = values

    def collect(self) -> Iterable[Metric]:
        for name, help_text, value in self.values:
            yield GaugeMetricFamily(name, help_text, value=value)


async def _backlogs(redis: Redis, keys: Keys) -> list[tuple[str, str, float]]:
    stream = keys.audit_stream
    length = int(await redis.xlen(stream))
    oldest = await redis.xrange(stream, count=1)
    lag = 0.0
    if oldest:
        first_ms = int(as_text(oldest[0][0] or b"0").split("-")[0])  # a stream id is "<ms>-<seq>"
        lag = max(0.0, time.time() - first_ms / 1000)
    owed = await OutboxMessage.filter(status__in=_OUTBOX_OWED).count()
    return [
        ("alxa_audit_stream_backlog", "Audit entries not yet in audit_entry", length),
        ("alxa_audit_drainer_lag_seconds", "Age of the oldest audit entry not yet drained", lag),
        ("alxa_outbox_backlog", "Notifications still owed to WeChat", owed),
    ]


def _no_request() -> str:
    return REQUEST_ID.get()


# The id of the request being served, for log lines: the web layer installs the function that
# knows its current request (server/observability.py); "-" outside one.
current_request_id: Callable[[], str] = _no_request


class RequestIdFilter(logging.Filter):
    """Gives every record the request id of the request being served ("-" outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class _TextFormatter(logging.Formatter):
    """Text lines; an access-log record (Sanic puts the request in extras, its message is
    empty) gets its client, request line, status and size appended, as Sanic's own format has."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        if hasattr(record, "request") and hasattr(record, "status"):
            extras = (getattr(record, name, "") for name in ("host", "request", "status", "byte"))
            line = f"{line} {' '.join(str(value) for value in extras)}"
        return line


def configure_logging(log_format: LogFormat, level: int = logging.INFO) -> None:
    """One handler on the root logger, JSON (production) or text, each line with its request
    id; Sanic's loggers write through it instead of their own handlers."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    formatter: logging.Formatter
    if log_format == "json":
        formatter = JsonFormatter(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )
    else:
        formatter = _TextFormatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
        )
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("sanic.root", "sanic.error", "sanic.access", "sanic.server"):
        sanic_logger = logging.getLogger(name)
        sanic_logger.handlers[:] = []
        sanic_logger.propagate = True
