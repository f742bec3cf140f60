"""The `mla` command."""

from __future__ import annotations

import click

from .. import __version__
from .agency import agency
from .evidence import evidence
from .keygen import keygen
from .requests import request
from .server import db, serve
from .transfer import download, upload


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="mla")
def cli() -> None:
    """mla-tracker: signed, deadline-aware tracking of cross-border MLA requests."""


cli.add_command(serve)
cli.add_command(db)
cli.add_command(agency)
cli.add_command(keygen)
cli.add_command(request)
cli.add_command(evidence)
evidence.add_command(upload)
evidence.add_command(download)


def main() -> None:
    """Entry point of the `mla` console script."""
    cli()


if __name__ == "__main__":
    main()
