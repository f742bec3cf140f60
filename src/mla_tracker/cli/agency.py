"""`mla agency …`: the operator's commands, the agency's own key events, and the directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import msgspec

from ..crypto.errors import KeyFormatError
from ..crypto.keyevents import GENESIS, EventKind, encode_key_event, sign_key_event
from ..crypto.keys import SigningKey, VerifyingKey
from ..domain.model import AgencyRole
from .client import Api, agency_of_key, api_options, load_signing_key


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
        if k["revoked_at"]:
            state = f"revoked {k['revoked_at']}"
        elif k["usable_from"] != k["valid_from"]:
            state = f"usable from {k['usable_from']}"
        else:
            state = "active"
        click.echo(
            f"    key {k['key_id'][:16]}…  {k['origin']:<9}  from {k['valid_from']}  {state}"
        )


def _sign_event(
    api: Api,
    agency_id: str,
    signer: SigningKey,
    event: EventKind,
    key_id: str,
    public_key: VerifyingKey | None = None,
) -> dict[str, Any]:
    """Sign a key event on the agency's current head and post it (no token needed)."""
    events = api.call("GET", f"/v1/agencies/{agency_id}/key-events")
    seq, prev = (events[-1]["seq"], events[-1]["digest"]) if events else (0, GENESIS)
    payload = encode_key_event(
        agency=agency_id,
        seq=seq + 1,
        prev=prev,
        event=event,
        key_id=key_id,
        issued_at=datetime.now(UTC),
        public_key=public_key,
    )
    envelope = msgspec.to_builtins(sign_key_event(payload, signer))
    result: dict[str, Any] = api.call(
        "POST", f"/v1/agencies/{agency_id}/key-events", json_body={"envelope": envelope}
    )
    return result


@click.group()
def agency() -> None:
    """Register agencies (operator), manage keys (agency, signed), read the directory."""


@agency.command("add")
@api_options(auto_login=False)
@click.option("--id", "agency_id", required=True, help="short id, e.g. th-oag")
@click.option("--name", required=True)
@click.option("--country", required=True, help="ISO 3166 alpha-2, e.g. TH")
@click.option(
    "--role",
    required=True,
    type=click.Choice([role.value for role in AgencyRole]),
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
    """Register an agency and its first key (operator token).

    No token is printed: the agency logs in itself with `mla login` and its key.

    Example: MLA_TOKEN=$(cat data/operator.token) mla agency add --id th-oag
    --name "Thailand OAG" --country TH --role central_authority --public-key th/signing.pub
    """
    body: dict[str, Any] = {"id": agency_id, "name": name, "country": country.upper(), "role": role}
    if timezone:
        body["timezone"] = timezone
    if public_key:
        body["public_key"] = _public_key(public_key)
    _print_agency(Api(url, token).call("POST", "/v1/agencies", json_body=body))
    if public_key:
        click.echo(f"the agency logs in with its key: MLA_KEY=… mla login (agency {agency_id})")


@agency.command("list")
@api_options(auto_login=False)
def list_agencies(url: str, token: str | None) -> None:
    """The public directory of agencies and their keys (origin, validity, revocation).

    Example: mla agency list
    """
    for a in Api(url, token).call("GET", "/v1/agencies"):
        _print_agency(a)


@agency.command("rotate-key")
@api_options(auto_login=False)
@click.option("--key", envvar="MLA_KEY", help="a current key of the agency [env MLA_KEY]")
@click.option("--new-key", required=True, help="the new public key (base64, .pub or .key file)")
@click.option("--revoke-old", is_flag=True, help="then revoke the --key that signed the add")
def rotate_key(
    url: str, token: str | None, key: str | None, new_key: str, revoke_old: bool
) -> None:
    """Add a signing key to your agency with a key event signed locally by a current key.

    The private key never leaves this machine; the hub records the signed event, which
    anyone can verify (GET /v1/agencies/ID/key-events).

    Example: MLA_KEY=la/signing.key mla agency rotate-key --new-key la2/signing.pub --revoke-old
    """
    signer = load_signing_key(key)
    new = VerifyingKey.from_base64(_public_key(new_key))
    api = Api(url, None)
    agency_id = agency_of_key(api, signer.key_id)
    added = _sign_event(api, agency_id, signer, "add", new.key_id, new)
    click.echo(f"added key {new.key_id} to {agency_id} (key event {added['seq']})")
    if revoke_old:
        revoked = _sign_event(api, agency_id, signer, "revoke", signer.key_id)
        click.echo(f"revoked key {signer.key_id} (key event {revoked['seq']}); its sessions ended")


@agency.command("revoke-key")
@api_options(auto_login=False)
@click.option("--key", envvar="MLA_KEY", help="sign as the agency with this key [env MLA_KEY]")
@click.argument("agency_id")
@click.argument("key_id")
def revoke_key(url: str, token: str | None, key: str | None, agency_id: str, key_id: str) -> None:
    """Revoke a key from now on; its sessions end at once, its signatures are refused.

    With --key / MLA_KEY the agency signs the revocation itself (e.g. of a recovery key it
    never asked for); otherwise the operator token revokes it.

    Example (as the agency): MLA_KEY=la/signing.key mla agency revoke-key la-mps 3f2a…

    Example (as the operator): MLA_TOKEN=$(cat data/operator.token) mla agency revoke-key
    la-mps 3f2a…
    """
    if key:
        event = _sign_event(Api(url, None), agency_id, load_signing_key(key), "revoke", key_id)
        click.echo(f"revoked key {key_id} at {event['issued_at']} (signed by the agency)")
        return
    revoked = Api(url, token).call(
        "POST", f"/v1/agencies/{agency_id}/keys/{key_id}/revoke", json_body={}
    )
    click.echo(f"revoked key {revoked['key_id']} at {revoked['revoked_at']}")


@agency.command("recover-key")
@api_options(auto_login=False)
@click.argument("agency_id")
@click.option("--public-key", required=True, help="the recovery key (base64 or file)")
def recover_key(url: str, token: str | None, agency_id: str, public_key: str) -> None:
    """Add a recovery key for an agency that lost its keys (operator token).

    The key is logged for all to see, announced at the agency's every login, and signs
    nothing until the recovery delay (MLA_RECOVERY_DELAY_HOURS, default 72) has passed;
    the agency can revoke it meanwhile.

    Example: MLA_TOKEN=$(cat data/operator.token) mla agency recover-key la-mps
    --public-key la-new/signing.pub
    """
    key = Api(url, token).call(
        "POST",
        f"/v1/agencies/{agency_id}/recovery-keys",
        json_body={"public_key": _public_key(public_key)},
    )
    click.echo(f"recovery key {key['key_id']} added; usable from {key['usable_from']}")


@agency.command("key-events")
@api_options(auto_login=False)
@click.argument("agency_id", required=False)
def key_events(url: str, token: str | None, agency_id: str | None) -> None:
    """List the signed key events of one agency, or of all (public).

    Example: mla agency key-events la-mps
    """
    path = f"/v1/agencies/{agency_id}/key-events" if agency_id else "/v1/key-events"
    for e in Api(url, None).call("GET", path):
        click.echo(
            f"{e['agency_id']:<20} {e['seq']:>3} {e['event']:<8} {e['key_id'][:16]}…  "
            f"by {e['signer'][:16]}  at {e['issued_at']}"
        )
