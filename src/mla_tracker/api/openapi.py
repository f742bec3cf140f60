"""The OpenAPI document as the service really behaves: problem responses, security, bodies.

Litestar documents every error as a JSON 400, puts the bearer requirement on every route
and does not say that strict bodies refuse unknown members. This module finishes the
generated document in one place, from what each handler's signature implies (a token, a
body, path or query parameters, the database) plus the errors a route declares with
`opt=raises(...)` next to the code that raises them.
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.handlers import HTTPRouteHandler
from litestar.openapi.plugins import JsonRenderPlugin, SwaggerRenderPlugin
from litestar.routes import HTTPRoute

from ..domain import content, model
from ..domain.bodies import BODY_TYPES
from ..errors import MlaError
from .problems import MEDIA_TYPE, PROBLEM_BASE

PROBLEMS_OPT = "problems"
#: Route `opt` key: the Struct a `dict` body is decoded into later (documented as its schema).
BODY_OPT = "body_schema"
_STATE_KEY = "openapi_finished"
_REF = "#/components/schemas/{name}"
#: Enumerations a client needs and that appear only inside statement bodies.
BODY_ENUMS = (
    content.Instrument,
    content.DataCategory,
    content.RefusalGround,
    content.ObstacleReason,
    content.PreservationRisk,
    model.Action,
    model.Kind,
    model.Urgency,
    model.State,
    model.AgencyRole,
)


def raises(*errors: type[MlaError]) -> dict[str, Any]:
    """Route `opt` naming errors the handler raises beyond those its signature implies."""
    return {PROBLEMS_OPT: errors}


class ProblemDetails(msgspec.Struct, kw_only=True):
    """RFC 9457 problem details; some problems add members (errors, head, size, missing…)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str


def _problem_schema(schema: dict[str, Any]) -> dict[str, Any]:
    schema["properties"]["type"].update(format="uri", example=PROBLEM_BASE + "not-found")
    schema["additionalProperties"] = True  # optional members, as RFC 9457 §3.2 allows
    return schema


def _statuses(handler: HTTPRouteHandler, operation: dict[str, Any]) -> set[int]:
    """Statuses a route can answer as problems: implied by its signature, plus declared ones."""
    params = handler.parsed_fn_signature.parameters
    found: set[int] = set()
    if "ctx" in params or "principal" in params:
        found.add(503)  # the database is away (DatabaseUnavailable, NotReady)
    if "principal" in params:
        found |= {401, 429}  # no or a wrong token; too many wrong tokens from this address
    if "data" in params:
        found |= {400, 413, 415, 422}  # shape; size; media type; strict JSON (strict_json.py)
    where = {p.get("in") for p in operation.get("parameters", [])}
    if where & {"query", "header"}:
        found.add(400)
    if "path" in where:
        found.add(404)
    found |= {error.status for error in handler.opt.get(PROBLEMS_OPT, ())}
    return found


def _problem_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": HTTPStatus(status).phrase,
        "content": {MEDIA_TYPE: {"schema": {"$ref": _REF.format(name="ProblemDetails")}}},
    }
    retry = {"description": "seconds to wait", "schema": {"type": "integer"}}
    headers = {
        401: {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}},
        429: {"Retry-After": retry},
        503: {"Retry-After": retry},
    }.get(status)
    if headers:
        response["headers"] = headers
    return response


def _handlers(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler]]:
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            if handler.resolve_include_in_schema():
                for method in handler.http_methods:
                    yield route.path_format or "/", method.lower(), handler


def _strict_structs(annotation: Any) -> Iterator[type[msgspec.Struct]]:
    """Struct types reachable from a body annotation that refuse unknown fields."""
    seen: set[type[Any]] = set()

    def walk(info: msgspec.inspect.Type) -> Iterator[type[msgspec.Struct]]:
        if isinstance(info, msgspec.inspect.StructType):
            if info.cls in seen:
                return
            seen.add(info.cls)
            if info.forbid_unknown_fields:
                yield info.cls
            for field in info.fields:
                yield from walk(field.type)
        for child in ("item_type", "key_type", "value_type"):
            if isinstance(sub := getattr(info, child, None), msgspec.inspect.Type):
                yield from walk(sub)
        for sub in getattr(info, "types", ()) or ():
            if isinstance(sub, msgspec.inspect.Type):
                yield from walk(sub)

    try:
        yield from walk(msgspec.inspect.type_info(annotation))
    except (TypeError, ValueError):
        return  # not a msgspec-describable type (e.g. a raw stream)


def _body_description() -> str:
    pairs = ", ".join(f"{action.value} → {body.__name__}" for action, body in BODY_TYPES.items())
    return (
        "standard base64 of the body's exact JSON bytes (SHA-256 = the payload's body_sha256). "
        f"Its schema depends on the action, each in components/schemas: {pairs}."
    )


def finish(doc: dict[str, Any], app: Litestar) -> dict[str, Any]:
    """Make the generated document say what the service really answers (modifies `doc`)."""
    schemas: dict[str, Any] = doc.setdefault("components", {}).setdefault("schemas", {})
    _, extra = msgspec.json.schema_components(
        [*BODY_TYPES.values(), *BODY_ENUMS, ProblemDetails], ref_template=_REF
    )
    for name, schema in extra.items():
        schemas.setdefault(name, schema)  # litestar's own, where it made one, stays
    schemas["ProblemDetails"] = _problem_schema(extra["ProblemDetails"])
    strict: set[str] = set()
    for path, method, handler in _handlers(app):
        operation = doc["paths"][path][method]
        params = handler.parsed_fn_signature.parameters
        if "principal" not in params:
            operation["security"] = []  # public: no token is read (the default is bearer)
        responses = operation.setdefault("responses", {})
        for status in list(responses):
            if int(status) >= 400:
                del responses[status]  # litestar's JSON ValidationException shape is not ours
        for status in sorted(_statuses(handler, operation)):
            responses[str(status)] = _problem_response(status)
        if handler.opt.get("raw_body"):  # streamed bytes litestar cannot see (package upload)
            operation["requestBody"] = {
                "required": True,
                "content": {"application/octet-stream": {"schema": {"type": "string"}}},
            }
        if "data" in params:
            declared = handler.opt.get(BODY_OPT)
            if declared is not None:
                for media in operation["requestBody"]["content"].values():
                    media["schema"] = {"$ref": _REF.format(name=declared.__name__)}
            strict |= {
                cls.__name__ for cls in _strict_structs(declared or params["data"].annotation)
            }
    for name in strict:
        schema = schemas.get(name)
        if schema is not None and schema.get("type") == "object":
            schema["additionalProperties"] = False
    if "SignedStatement" in schemas:
        body = schemas["SignedStatement"]["properties"]["body"]
        body.update(
            contentEncoding="base64",
            contentMediaType="application/json",
            description=_body_description(),
        )
    return doc


def finished(request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> dict[str, Any]:
    """The app's finished document, finished once, at the first request for it."""
    state = request.app.state
    if state.get(_STATE_KEY) is None:
        state[_STATE_KEY] = finish(openapi_schema, request.app)
    done: dict[str, Any] = state[_STATE_KEY]
    return done


class FinishedJson(JsonRenderPlugin):
    """`/schema/openapi.json`, finished."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """Render the finished document as JSON."""
        return super().render(request, finished(request, openapi_schema))


class FinishedSwagger(SwaggerRenderPlugin):
    """Swagger UI over the finished document."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """Render Swagger UI with the finished document."""
        return super().render(request, finished(request, openapi_schema))
