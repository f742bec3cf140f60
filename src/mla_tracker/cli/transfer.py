"""`mla evidence upload|download`: move sealed packages through the hub, with progress."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from .. import protocol
from .client import Api, api_options, describe_problem, load_signing_key

CHUNK = 1024 * 1024


def _sha256_of(path: Path, label: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = path.stat().st_size
    with (
        path.open("rb") as fh,
        click.progressbar(length=size, label=label, file=sys.stderr) as bar,
    ):
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            bar.update(len(chunk))
    return digest.hexdigest(), size


def _packages(api: Api, request_id: uuid.UUID) -> dict[str, dict[str, Any]]:
    return {p["package_id"]: p for p in api.call("GET", f"/v1/requests/{request_id}/packages")}


def _deliver(api: Api, key: str | None, request_id: uuid.UUID, body: dict[str, Any]) -> None:
    signing = load_signing_key(key)
    me = api.call("GET", "/v1/whoami")
    current = api.call("GET", f"/v1/requests/{request_id}")
    signed = protocol.sign(
        signing,
        request_id=request_id,
        seq=current["head"]["seq"] + 1,
        prev=current["head"]["digest"],
        action="deliver_evidence",
        actor=me["agency_id"],
        body=body,
    )
    api.call("POST", f"/v1/requests/{request_id}/statements", json_body=protocol.to_json(signed))
    click.echo(f"signed deliver_evidence for package {body['package_id']}", err=True)


@click.command("upload")
@api_options
@click.option("--key", envvar="MLA_KEY", help="signing key, to sign the delivery [env MLA_KEY]")
@click.argument("request_id", type=click.UUID)
@click.argument("package", type=click.Path(path_type=Path, dir_okay=False, exists=True))
@click.option("--package-id", help="default: from PACKAGE.delivery.json")
def upload(
    url: str,
    token: str | None,
    key: str | None,
    request_id: uuid.UUID,
    package: Path,
    package_id: str | None,
) -> None:
    """Upload a sealed package; signs its `deliver_evidence` statement first if needed.

    Example: mla evidence upload 7c0e… subscriber.age   (reads subscriber.age.delivery.json)
    """
    import httpx

    delivery_file = package.with_name(package.name + ".delivery.json")
    delivery: dict[str, Any] | None = None
    if delivery_file.exists():
        delivery = json.loads(delivery_file.read_text())
        package_id = package_id or delivery["package_id"]
    if not package_id:
        raise click.UsageError(f"no {delivery_file.name}: give --package-id")
    api = Api(url, token, timeout=600)
    known = _packages(api, request_id)
    if package_id not in known:
        if delivery is None:
            raise click.ClickException(
                f"package {package_id} was never delivered on this request and there is no "
                f"{delivery_file.name} to sign a delivery from"
            )
        sha, size = _sha256_of(package, "checking")
        if (sha, size) != (delivery["ciphertext_sha256"], delivery["ciphertext_size"]):
            raise click.ClickException(f"{package} does not match {delivery_file.name}")
        _deliver(api, key, request_id, delivery)
        known = _packages(api, request_id)
    announced = known[package_id]
    if announced["uploaded_at"]:
        click.echo(f"package {package_id} is already uploaded")
        return
    size = package.stat().st_size
    if size != announced["ciphertext_size"]:
        raise click.ClickException(
            f"{package} has {size} bytes; the delivery statement says "
            f"{announced['ciphertext_size']}"
        )
    bar = click.progressbar(length=size, label="uploading", file=sys.stderr)

    def chunks() -> Iterator[bytes]:
        with package.open("rb") as fh:
            while chunk := fh.read(CHUNK):
                bar.update(len(chunk))
                yield chunk

    path = f"/v1/requests/{request_id}/packages/{package_id}/content"
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        with bar, httpx.Client(base_url=api.url, timeout=600) as http:
            resp = http.put(path, content=chunks(), headers=headers)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"upload failed: {exc}; nothing was kept, try again") from exc
    if resp.status_code not in (200, 201):
        raise click.ClickException(describe_problem(resp))
    click.echo(f"uploaded {package_id}: {size} bytes, sha256 {announced['ciphertext_sha256']}")


@click.command("download")
@api_options
@click.argument("request_id", type=click.UUID)
@click.argument("package_id")
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True)
def download(
    url: str, token: str | None, request_id: uuid.UUID, package_id: str, output: Path
) -> None:
    """Download a package's ciphertext, resuming a broken download, and check its digest.

    Example: mla evidence download 7c0e… pkg-3f… -o subscriber.age
    """
    import httpx

    if output.exists():
        raise click.ClickException(f"{output} exists; refusing to overwrite it")
    api = Api(url, token, timeout=600)
    known = _packages(api, request_id)
    if package_id not in known:
        raise click.ClickException(f"no package {package_id} on request {request_id}")
    expected_sha = known[package_id]["ciphertext_sha256"]
    size = known[package_id]["ciphertext_size"]
    part = output.with_name(output.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    if have > size:
        part.unlink()
        have = 0
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    if have:
        headers["Range"] = f"bytes={have}-"
        click.echo(f"resuming at byte {have}", err=True)
    path = f"/v1/requests/{request_id}/packages/{package_id}/content"
    if have < size:
        try:
            with (
                httpx.Client(base_url=api.url, timeout=600) as http,
                http.stream("GET", path, headers=headers) as resp,
            ):
                if resp.status_code not in (200, 206):
                    resp.read()
                    raise click.ClickException(describe_problem(resp))
                mode = "ab" if resp.status_code == 206 else "wb"
                with (
                    part.open(mode) as out,
                    click.progressbar(length=size, label="downloading", file=sys.stderr) as bar,
                ):
                    bar.update(have if mode == "ab" else 0)
                    for chunk in resp.iter_bytes(CHUNK):
                        out.write(chunk)
                        bar.update(len(chunk))
        except httpx.HTTPError as exc:
            raise click.ClickException(
                f"download interrupted: {exc}; run the same command again to resume"
            ) from exc
    sha, got = _sha256_of(part, "verifying")
    if (sha, got) != (expected_sha, size):
        part.unlink()
        raise click.ClickException(
            f"downloaded bytes do not match the delivery statement (sha256 {sha}, {got} bytes;"
            f" expected {expected_sha}, {size}); the partial file was removed"
        )
    os.replace(part, output)
    click.echo(f"downloaded {package_id} to {output}: {size} bytes, sha256 {sha} (verified)")
