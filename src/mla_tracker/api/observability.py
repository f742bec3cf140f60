"""Request logs and Prometheus metrics.

One log line per request (request id, caller's agency, route template, status, latency),
as JSON or text; never a header, token, key, query string or body. Metrics at `/metrics`
are labelled by route template, status and problem type only: no id, no agency.
"""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import queue
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any, Final

from litestar import Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.enums import ScopeType
from litestar.plugins.prometheus import PrometheusConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, generate_latest

from ..workflows.context import Context
from ..workflows.principals import Principal
from .deps import provide_principal
from .problems import MEDIA_TYPE, PROBLEM_BASE

access_log = logging.getLogger("mla_tracker.access")

#: Handler `opt` key naming the outcome counter a route feeds ("statements" or "uploads").
METRIC_OPT: Final = "outcome_metric"
_STATE_KEY: Final = "mla_observed"
#: An incoming X-Request-ID is kept only if it is this tame: it goes into every log line.
_INCOMING_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "mla_request_id", default=None
)

# -- metrics -------------------------------------------------------------------------------

#: Request count and latency by method, route template and status (litestar's middleware).
#: group_path: the template (`/v1/requests/{request_id:uuid}`), so ids never become labels.
PROMETHEUS = PrometheusConfig(app_name="mla-tracker", prefix="mla", group_path=True)

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
_COUNTERS: Final = {"statements": STATEMENTS, "uploads": UPLOADS}
#: 200 on these routes means "already had it" (a re-sent statement, a re-uploaded package).
_SUCCESS: Final = {
    "statements": {201: "accepted", 200: "duplicate"},
    "uploads": {201: "stored", 200: "duplicate"},
}


def stored_upload(size: int) -> None:
    """Count a newly stored package's bytes."""
    UPLOAD_STORED_BYTES.inc(size)


def _sample_pool(state: State) -> None:
    # The pool is read at scrape time from the app being scraped: no engine kept globally.
    ctx = state.get("ctx")
    engine = ctx.sessions.kw.get("bind") if ctx is not None else None
    pool = getattr(engine, "pool", None)
    in_use = getattr(pool, "checkedout", None)
    idle = getattr(pool, "checkedin", None)
    if callable(in_use) and callable(idle):  # queue pools; SQLite :memory: has a StaticPool
        DB_POOL.labels("in_use").set(in_use())
        DB_POOL.labels("idle").set(idle())


@get("/metrics", include_in_schema=False, sync_to_thread=False)
def metrics(state: State) -> Response[bytes]:
    """Prometheus text exposition; public, and free of per-agency or per-request labels."""
    _sample_pool(state)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


# -- the per-request record ----------------------------------------------------------------


@dataclass(slots=True)
class _Observed:
    """What the middleware learns about one request while it runs."""

    request_id: str
    agency: str | None = None
    operator: bool = False
    status: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    #: Whether to keep the response body: an error problem on a route with a counter.
    collect: bool = False
    problem: bytearray = field(default_factory=bytearray)


async def provide_observed_principal(
    request: Request[Any, Any, Any], state: State, ctx: NamedDependency[Context]
) -> Principal:
    """`provide_principal`, also noting the caller's agency for the request's log line.

    It asks for `ctx` although it reads `state`: depending on it puts the two in sequence,
    and litestar resolves a batch of independent dependencies in an anyio task group,
    which cost more than the dependency itself on every request.
    """
    principal = await provide_principal(request, state)
    observed = request.scope["state"].get(_STATE_KEY)
    if isinstance(observed, _Observed):
        observed.agency, observed.operator = principal.agency_id, principal.is_operator
    return principal


def _problem_slug(body: bytes) -> str:
    try:
        kind = json.loads(body).get("type", "")
    except (ValueError, AttributeError):
        return "unknown"
    # Slugs come from code (a fixed set), so they are safe as label values; anything else
    # is folded into one value rather than copied.
    if isinstance(kind, str) and kind.startswith(PROBLEM_BASE):
        slug = kind.removeprefix(PROBLEM_BASE)
        if re.fullmatch(r"[a-z0-9-]{1,64}", slug):
            return slug
    return "unknown"


class ObservabilityMiddleware:
    """Outermost ASGI wrapper: request id, one log line, outcome counters.

    It wraps litestar's whole handler (not one route), so unrouted 404s and 405s are logged
    too; it reads the route template and handler from the scope once routing has run.
    """

    def __init__(self, app: ASGIApp) -> None:
        """Wrap `app`."""
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one connection."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        incoming = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = incoming.decode("latin-1")
        rid = text if _INCOMING_ID.fullmatch(text) else uuid.uuid4().hex
        observed = _Observed(rid)
        scope["state"][_STATE_KEY] = observed
        start = time.perf_counter()

        def metric() -> str | None:
            handler = scope.get("route_handler")
            name = handler.opt.get(METRIC_OPT) if handler is not None else None
            return name if isinstance(name, str) else None

        async def observed_receive() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                size = len(message.get("body", b""))
                observed.bytes_in += size
                if metric() == "uploads":
                    UPLOAD_RECEIVED_BYTES.inc(size)
            return message

        async def observed_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                observed.status = message["status"]
                headers = [*message.get("headers", ()), (b"x-request-id", rid.encode())]
                message = {**message, "headers": headers}
                content_type = dict(headers).get(b"content-type", b"")
                # Only a counted route's problem bodies are read, for their problem type.
                observed.collect = (
                    observed.status >= 400
                    and content_type.startswith(MEDIA_TYPE.encode())
                    and metric() is not None
                )
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                observed.bytes_out += len(body)
                if observed.collect and len(observed.problem) < 65_536:
                    observed.problem.extend(body)
            await send(message)

        token = _request_id.set(rid)
        try:
            await self.app(scope, observed_receive, observed_send)
        finally:
            _request_id.reset(token)
            elapsed = time.perf_counter() - start
            self._count(metric(), observed)
            self._log(scope, observed, elapsed)

    @staticmethod
    def _count(name: str | None, observed: _Observed) -> None:
        status = observed.status
        if name is None or not status:
            return
        outcome = _SUCCESS[name].get(status)
        if outcome is not None:
            _COUNTERS[name].labels(outcome, "").inc()
        elif status >= 400:
            problem = bytes(observed.problem)
            slug = _problem_slug(problem) if problem else f"http-{status}"
            _COUNTERS[name].labels("refused", slug).inc()

    @staticmethod
    def _log(scope: Scope, observed: _Observed, elapsed: float) -> None:
        route = scope.get("path_template") if scope.get("route_handler") else None
        method = scope.get("method", "")
        status = observed.status or 500  # nothing sent: the server answers 500
        ms = round(elapsed * 1000, 2)
        client = scope.get("client")
        access_log.log(
            logging.ERROR if status >= 500 else logging.INFO,
            "%s %s -> %d in %.1f ms",
            method,
            route or "(no route)",
            status,
            ms,
            extra={
                "request_id": observed.request_id,
                "agency": observed.agency,
                "operator": observed.operator,
                "method": method,
                "route": route,
                # The path without its query string: ids, never credentials (tokens travel
                # in headers only, and headers are never logged).
                "path": scope.get("path"),
                "status": status,
                "latency_ms": ms,
                "bytes_in": observed.bytes_in,
                "bytes_out": observed.bytes_out,
                "client": client[0] if client else None,
            },
        )


# -- log formatting ------------------------------------------------------------------------

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class RequestIdFilter(logging.Filter):
    """Stamp every record logged while a request runs with that request's id."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `request_id` unless the record has one."""
        if not hasattr(record, "request_id"):
            rid = _request_id.get()
            if rid is not None:
                record.request_id = rid
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's extras."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """`LEVEL logger: message [request id]`, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record."""
        text = f"{record.levelname} {record.name}: {record.getMessage()}"
        agency = getattr(record, "agency", None)
        if agency:
            text += f" agency={agency}"
        if rid := getattr(record, "request_id", None):
            text += f" [{rid}]"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def _formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def log_handler(log_format: str, stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) with the request-id filter and the chosen format."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(_formatter(log_format))
    return handler


class _Formatted(logging.handlers.QueueHandler):
    """Formats before the queue, in the request's own context, and sends the line on."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        """A record whose message is the finished line (no args, no traceback object)."""
        return logging.makeLogRecord({"msg": self.format(record), "levelno": record.levelno})


@contextmanager
def configured_logging(log_format: str) -> Iterator[None]:
    """Send all logging (ours, uvicorn's, alembic's) to stderr as `log_format` ("json" or
    "text"), through a queue so a slow pipe never blocks the event loop."""
    target = logging.StreamHandler()
    target.setFormatter(logging.Formatter("%(message)s"))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    front = _Formatted(records)
    front.addFilter(RequestIdFilter())
    front.setFormatter(_formatter(log_format))
    listener = logging.handlers.QueueListener(records, target)
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    root.handlers[:] = [front]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # warnings too, so every line of stderr is in one format
    listener.start()
    try:
        yield
    finally:
        listener.stop()
        logging.captureWarnings(False)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
