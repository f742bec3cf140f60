"""`mla login`: trade a signature of the hub's challenge for a short-lived session token."""

from __future__ import annotations

import click

from .client import DEFAULT_URL, load_signing_key, login


@click.command("login")
@click.option(
    "--url",
    envvar="MLA_URL",
    default=DEFAULT_URL,
    show_default=True,
    help="service URL [env MLA_URL]",
)
@click.option("--key", envvar="MLA_KEY", help="the agency's signing key [env MLA_KEY]")
@click.option("--agency", "agency_id", help="agency id (default: found in the directory by key)")
def login_command(url: str, key: str | None, agency_id: str | None) -> None:
    """Log in as your agency; prints `export MLA_TOKEN=…` for your shell.

    The key never leaves this machine: the hub sends a one-time challenge, this command
    signs it, and the hub answers with a token valid for an hour (by default). Other `mla`
    commands log in by themselves when MLA_KEY is set and MLA_TOKEN is not.

    Example: eval "$(MLA_KEY=la/signing.key mla login)"
    """
    session = login(url, load_signing_key(key), agency_id)
    click.echo(
        f"# {session['agency_id']}, key {session['key_id'][:16]}…, until {session['expires_at']}"
    )
    click.echo(f"export MLA_TOKEN={session['token']}")
