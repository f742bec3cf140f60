"""`mla agency …`: the operator's commands (register, keys, tokens) and the directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..crypto.errors import KeyFormatError
from ..crypto.keys import SigningKey, VerifyingKey
from .client import Api, api_options


def _public_key(value: str) -> str:
    """Accept base64 of the raw key, a signing.pub file, or a PEM signing key file."""
    path = Path(value)
    if path.is_file():
        data = path.read_bytes()
        if b"PRIVATE KEY" in data:
            try:
                return SigningKey.from_pem(data).public.to_base64()
            except KeyFormatError as exc:
                raise click.BadParameter(f"{value}: {exc}") from exc
        value = data.decode().strip()
    try:
        return VerifyingKey.from_base64(value).to_base64()
    except KeyFormatError as exc:
        raise click.BadParameter(
            f"{exc}; give base64 of the raw Ed25519 key or a signing.pub file"
        ) from exc


def _print_agency(a: dict[str, Any]) -> None:
    click.echo(f"{a['id']:<20} {a['country']}  {a['role']:<20} {a['timezone']:<18} {a['name']}")
    for k in a["keys"]:
        state = f"revoked {k['revoked_at']}" if k["revoked_at"] else "active"
        click.echo(f"    key {k['key_id'][:16]}…  from {k['valid_from']}  {state}")


@click.group()
def agency() -> None:
    """Register agencies and manage their keys and tokens (operator)."""


@agency.command("add")
@api_options
@click.option("--id", "agency_id", required=True, help="short id, e.g. th-oag")
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166 alpha-2, e.g. TH")
@click.option(
    "--role",
    required=True,
    type=click.Choice(["central_authority", "executing_authority", "auditor"]),
)
@click.option("--timezone", help="IANA zone (default: the ASEAN member's)")
@click.option("--public-key", help="base64 Ed25519 key, or signing.pub / signing.key file")
def add(
    url: str,
    token: str | None,
    agency_id: str,
    name: str,
    country: str,
    role: str,
    timezone: str | None,
    public_key: str | None,
) -> None:
    """Register an agency; prints its bearer token once.

    Example: mla agency add --id th-oag --name "Thailand OAG" --country TH
    --role central_authority --public-key th/signing.pub
    """
    body: dict[str, Any] = {"id": agency_id, "name": name, "country": country.upper(), "role": role}
    if timezone:
        body["timezone"] = timezone
    if public_key:
        body["public_key"] = _public_key(public_key)
    created = Api(url, token).call("POST", "/v1/agencies", json_body=body)
    _print_agency(created["agency"])
    click.echo(f"token (shown once, keep it secret): {created['token']}")


@agency.command("list")
@api_options
def list_agencies(url: str, token: str | None) -> None:
    """The public directory of agencies and their keys.

    Example: mla agency list
    """
    for a in Api(url, token).call("GET", "/v1/agencies"):
        _print_agency(a)


@agency.command("rotate-key")
@api_options
@click.argument("agency_id")
@click.option("--public-key", required=True, help="the new key (base64 or file)")
def rotate_key(url: str, token: str | None, agency_id: str, public_key: str) -> None:
    """Register a further signing key for an agency.

    Example: mla agency rotate-key th-oag --public-key th2/signing.pub
    """
    key = Api(url, token).call(
        "POST", f"/v1/agencies/{agency_id}/keys", json_body={"public_key": _public_key(public_key)}
    )
    click.echo(f"added key {key['key_id']}")


@agency.command("revoke-key")
@api_options
@click.argument("agency_id")
@click.argument("key_id")
def revoke_key(url: str, token: str | None, agency_id: str, key_id: str) -> None:
    """Revoke a key now; statements signed with it are refused from then on.

    Example: mla agency revoke-key th-oag 3f2a…
    """
    key = Api(url, token).call(
        "POST", f"/v1/agencies/{agency_id}/keys/{key_id}/revoke", json_body={}
    )
    click.echo(f"revoked key {key['key_id']} at {key['revoked_at']}")


@agency.command("token")
@api_options
@click.argument("agency_id")
def new_token(url: str, token: str | None, agency_id: str) -> None:
    """Issue a further bearer token for an agency (shown once).

    Example: mla agency token th-oag
    """
    issued = Api(url, token).call("POST", f"/v1/agencies/{agency_id}/tokens")
    click.echo(f"token (shown once, keep it secret): {issued['token']}")
