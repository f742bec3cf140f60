"""Evidence packages: streaming upload, resumable download (HTTP Range), custody trail."""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter
from litestar.response import Stream

from ...storage.blobs import BlobMismatch, BlobTooLarge
from ...workflows import evidence as wf
from ...workflows.context import Context
from ...workflows.errors import Forbidden
from ...workflows.evidence import AlreadyStored, NotUploaded, RangeNotSatisfiable
from ...workflows.principals import Principal
from ..metrics import METRIC_OPT, stored_upload
from ..openapi import raises
from ..schemas import CustodyOut, PackageOut, custody_out, package_out

# ASCII digits only (\d would take other scripts' digits, which int() reads), and the
# whole value: `$` would let a trailing newline through.
_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
#: Larger than any package (64 GiB has 11 digits). Longer numbers are read as this, so
#: int() never sees thousands of digits (Python refuses over 4300 with a ValueError).
_BEYOND = 10**18


def _position(digits: str) -> int | None:
    if not digits:
        return None
    return _BEYOND if len(digits) > 18 else int(digits)


def parse_range(header: str | None) -> tuple[int | None, int | None] | None:
    """One `bytes=` range as (first, last); None (serve everything) for absent or other forms."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None or match.group(0) == "bytes=-":
        return None  # RFC 9110 §14.2: a server may ignore a Range it does not support
    first, last = _position(match.group(1)), _position(match.group(2))
    if first is not None and last is not None and last < first:
        return None
    return first, last


class EvidenceController(Controller):
    """`/v1/requests/{id}/packages`."""

    path = "/v1/requests/{request_id:uuid}/packages"
    tags = ("evidence",)

    @get("/", opt=raises(Forbidden))
    async def list_packages(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
    ) -> list[PackageOut]:
        """Packages delivered on a request, with upload state and custody head."""
        return [package_out(p) for p in await wf.packages_of(ctx, principal, request_id)]

    @put(
        "/{package_id:str}/content",
        request_max_body_size=None,
        status_code=201,
        opt={
            "raw_body": True,
            METRIC_OPT: "uploads",
            **raises(Forbidden, AlreadyStored, BlobTooLarge, BlobMismatch),
        },
    )
    async def upload(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
        package_id: FromPath[str],
        request: Request[Any, Any, Any],
    ) -> Response[PackageOut]:
        """Stream the package ciphertext (application/octet-stream); kept only if it matches
        the digest and size of its signed delivery statement."""
        package, stored = await wf.upload(ctx, principal, request_id, package_id, request.stream())
        if stored:
            stored_upload(package.ciphertext_size)
        return Response(package_out(package), status_code=201 if stored else 200)

    @get("/{package_id:str}/content", opt=raises(Forbidden, NotUploaded, RangeNotSatisfiable))
    async def download(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
        package_id: FromPath[str],
        range_header: Annotated[str | None, HeaderParameter(name="range")] = None,
    ) -> Stream:
        """Stream the ciphertext; one `Range: bytes=…` resumes a broken download (206)."""
        ranged = parse_range(range_header)
        plan = await wf.start_download(ctx, principal, request_id, package_id, ranged)
        blobs = ctx.blobs
        assert blobs is not None
        sha = plan.package.ciphertext_sha256
        size = plan.package.ciphertext_size

        async def body() -> AsyncIterator[bytes]:
            async for chunk in blobs.read(sha, plan.start, plan.end):
                yield chunk

        headers = {
            "Accept-Ranges": "bytes",
            "Content-Length": str(plan.end - plan.start + 1),
            "ETag": f'"{sha}"',
            "Repr-Digest": f"sha-256=:{base64.b64encode(bytes.fromhex(sha)).decode()}:",
        }
        status = 200
        if ranged is not None:
            status = 206
            headers["Content-Range"] = f"bytes {plan.start}-{plan.end}/{size}"
        return Stream(
            body(), status_code=status, headers=headers, media_type="application/octet-stream"
        )

    @get("/{package_id:str}/custody", opt=raises(Forbidden))
    async def custody(
        self,
        ctx: NamedDependency[Context],
        principal: NamedDependency[Principal],
        request_id: FromPath[uuid.UUID],
        package_id: FromPath[str],
    ) -> list[CustodyOut]:
        """The package's custody trail: server-signed assertions of every upload and download."""
        rows = await wf.custody_trail(ctx, principal, request_id, package_id)
        return [custody_out(r) for r in rows]
