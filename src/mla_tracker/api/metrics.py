"""Prometheus metrics, served at `/metrics`.

Labelled by route template, status and problem type only: no id, no agency. The request
counters used to come from litestar's PrometheusMiddleware; the observability middleware
records them now (issue 13: a second middleware layer, a `Request` object, a wrapped
`send` and four label lookups per request cost more CPU than a read's query), under the
same names and labels.
"""

from __future__ import annotations

from typing import Final

from litestar import Response, get
from litestar.datastructures import State
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from ..storage.db import direct_pool_of, engine_behind

APP_NAME: Final = "mla-tracker"
_LABELS: Final = ("method", "path", "status_code", "app_name")

REQUESTS = Counter("mla_requests_total", "Total requests", _LABELS)
REQUEST_SECONDS = Histogram("mla_request_duration_seconds", "Request duration, in seconds", _LABELS)
REQUEST_ERRORS = Counter("mla_requests_error_total", "Total errors in requests", _LABELS)
IN_PROGRESS = Gauge(
    "mla_requests_in_progress",
    "Requests running now (known before routing: by method only)",
    ("method", "app_name"),
    multiprocess_mode="livesum",
)

#: Handler `opt` key naming the outcome counter a route feeds ("statements" or "uploads").
METRIC_OPT: Final = "outcome_metric"

STATEMENTS = Counter(
    "mla_statements_total",
    "Signed statements posted (submit and append) by outcome and problem type",
    ["outcome", "problem"],
)
UPLOADS = Counter(
    "mla_evidence_uploads_total",
    "Evidence package uploads by outcome and problem type",
    ["outcome", "problem"],
)
UPLOAD_RECEIVED_BYTES = Counter(
    "mla_evidence_upload_received_bytes_total",
    "Bytes received in evidence upload bodies, kept or not",
)
UPLOAD_STORED_BYTES = Counter(
    "mla_evidence_upload_stored_bytes_total",
    "Bytes of evidence packages newly stored",
)
DB_POOL = Gauge(
    "mla_db_pool_connections",
    "Database pool connections at scrape time, by state (in_use, idle)",
    ["state"],
)
COUNTERS: Final = {"statements": STATEMENTS, "uploads": UPLOADS}

# Children by label values: `labels()` takes a lock and builds a tuple on every call.
_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
_in_progress: dict[str, Gauge] = {}


def in_progress(method: str) -> Gauge:
    """The in-progress gauge of one method (inc when a request starts, dec when it ends)."""
    gauge = _in_progress.get(method)
    if gauge is None:
        gauge = _in_progress[method] = IN_PROGRESS.labels(method, APP_NAME)
    return gauge


def record_request(method: str, path: str, status: int, seconds: float) -> None:
    """Count one routed request by route template and status, and observe its latency."""
    key = (method, path, status)
    found = _children.get(key)
    if found is None:
        values = (method, path, str(status), APP_NAME)
        found = _children[key] = (REQUESTS.labels(*values), REQUEST_SECONDS.labels(*values))
    count, latency = found
    count.inc()
    latency.observe(seconds)
    if status >= 500:
        REQUEST_ERRORS.labels(method, path, str(status), APP_NAME).inc()


def stored_upload(size: int) -> None:
    """Count a newly stored package's bytes."""
    UPLOAD_STORED_BYTES.inc(size)


def _sample_pool(state: State) -> None:
    # The pool is read at scrape time from the app being scraped: no engine kept globally.
    ctx = state.get("ctx")
    engine = engine_behind(ctx.sessions) if ctx is not None else None
    pool = getattr(engine, "pool", None)
    checked_out = getattr(pool, "checkedout", None)
    idle = getattr(pool, "checkedin", None)
    if callable(checked_out) and callable(idle):  # queue pools; SQLite :memory: has none
        # With the hot statements' own connections (storage/direct_pool.py): all of the
        # process's MLA_DB_POOL_SIZE, not SQLAlchemy's half alone.
        direct = direct_pool_of(engine) if engine is not None else None
        direct_in_use, direct_idle = direct.counts() if direct is not None else (0, 0)
        DB_POOL.labels("in_use").set(checked_out() + direct_in_use)
        DB_POOL.labels("idle").set(idle() + direct_idle)


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition; public, and free of per-agency or per-request labels."""
    _sample_pool(state)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
