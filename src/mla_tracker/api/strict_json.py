"""One gate for every JSON request body: media type, UTF-8, no duplicate keys, bounded depth.

Runs before litestar decodes a body, so a body a standard verifier would read differently
(duplicate keys), or one deep enough to exhaust a recursive parser, never reaches a handler.
Handlers that stream raw bytes (package upload) opt out with `opt={"raw_body": True}`.
"""

from __future__ import annotations

from typing import Any

from litestar import Request

from ..crypto import wire
from ..workflows.errors import UnsupportedMediaType

_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _check_media_type(header: str) -> None:
    media, _, params = header.partition(";")
    if media.strip().lower() != "application/json":
        raise UnsupportedMediaType(
            f"send the body as 'Content-Type: application/json', not '{header or 'nothing'}'"
        )
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "charset" and value.strip('"').lower() != "utf-8":
            raise UnsupportedMediaType(f"JSON is UTF-8 only, not charset={value}")


async def strict_json_body(request: Request[Any, Any, Any]) -> None:
    """Refuse a JSON body that is not strictly JSON (415 or 422) before any handler runs."""
    if request.method not in _WITH_BODY or request.route_handler.opt.get("raw_body"):
        return
    body = await request.body()
    if not body:
        return  # the handler says whether it needs one
    _check_media_type(request.headers.get("content-type", ""))
    wire.loads(body, "request body")
