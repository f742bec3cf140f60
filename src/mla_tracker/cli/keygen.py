"""`mla keygen`: an agency's signing key and age identity, made on the agency's machine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from ..crypto.age import X25519Identity
from ..crypto.keys import SigningKey
from .client import write_secret


@click.command()
@click.option(
    "-o",
    "--out",
    "out_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="folder to write signing.key, signing.pub and age.key into",
)
def keygen(out_dir: Path) -> None:
    """Make an Ed25519 signing key and an age X25519 identity (files mode 0600).

    Example: mla keygen -o ./keys/th-oag
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    signing = SigningKey.generate()
    identity = X25519Identity.generate()
    recipient = identity.recipient().to_string()
    created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    write_secret(out_dir / "signing.key", signing.to_pem())
    write_secret(
        out_dir / "age.key",
        f"# created: {created}\n# public key: {recipient}\n{identity.to_string()}\n".encode(),
    )
    (out_dir / "signing.pub").write_text(signing.public.to_base64() + "\n")
    click.echo(f"signing key:  {out_dir / 'signing.key'} (keep private)")
    click.echo(f"public key:   {signing.public.to_base64()}")
    click.echo(f"key id:       {signing.key_id}")
    click.echo(f"age identity: {out_dir / 'age.key'} (keep private)")
    click.echo(f"age recipient: {recipient}")
