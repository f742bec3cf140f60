"""`mla witness init|serve`: run a C2SP tlog-witness that cosigns hubs' checkpoints.

A witness is run by someone other than the hub's operator (another member state's agency, a
regional secretariat). It keeps only the size and root of the latest checkpoint it cosigned
per log and never sees a statement, let alone a body (docs/audit.md, "Witnesses").
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import click

from ..crypto.cosignature import Cosigner
from ..crypto.errors import CryptoError
from ..crypto.note import NoteVerifier
from .client import write_secret
from .extras import require_server


def load_cosigner(path: Path) -> Cosigner:
    """The witness key in `path` (PRIVATE+KEY+<name>+<id>+<base64(0x04 || seed)>)."""
    try:
        return Cosigner.from_skey(path.read_text().strip())
    except OSError as exc:
        raise click.ClickException(f"cannot read the witness key {path}: {exc}") from exc
    except CryptoError as exc:
        raise click.ClickException(f"{path}: {exc}") from exc


@click.group()
def witness() -> None:
    """Run a witness: cosign a hub's checkpoints once they extend what it saw before."""


@witness.command("init")
@click.option("--name", required=True, help="the witness's name, e.g. witness.example.org/w1")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False))
def init(name: str, output: Path) -> None:
    """Make a witness key (file mode 0600) and print its verifier key.

    Give the verifier key to hub operators (MLA_WITNESSES) and to auditors (--witness).
    Example: mla witness init --name witness.example.org/w1 -o witness.key
    """
    try:
        cosigner = Cosigner.generate(name)
    except CryptoError as exc:
        raise click.ClickException(str(exc)) from exc
    write_secret(output, (cosigner.to_skey() + "\n").encode("ascii"))
    click.echo(f"witness key:  {output} (keep private)")
    click.echo(f"verifier key: {cosigner.verifier_key()}")


@witness.command("serve")
@click.option("--key", "key_file", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--log-key",
    "log_keys",
    required=True,
    multiple=True,
    help="a log's note verifier key to witness (repeatable; the hub's /v1/log/key)",
)
@click.option(
    "--state",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="where the latest cosigned size and root of each log are kept",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8001, show_default=True, type=click.IntRange(0, 65535))
def serve(key_file: Path, log_keys: tuple[str, ...], state: Path, host: str, port: int) -> None:
    """Serve POST /add-checkpoint (C2SP tlog-witness) for the given logs.

    Cosigns a checkpoint only if the log's key signed it and it extends, by a valid
    consistency proof, the last one cosigned for that log: never a fork, never a rollback.
    Example: mla witness serve --key witness.key --log-key "$(curl -s
    https://hub.example/.well-known/mla-tracker-log-key)" --state witness-state.json
    """
    require_server("mla witness serve")
    from ..witness.core import Witness
    from ..witness.server import StateInUse, server_for, state_lock

    cosigner = load_cosigner(key_file)
    try:
        logs = [NoteVerifier.from_vkey(k) for k in log_keys]
    except CryptoError as exc:
        raise click.ClickException(f"--log-key: {exc}") from exc
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        with state_lock(state):
            server = server_for(Witness(cosigner, logs, state), host=host, port=port)
            click.echo(f"witness {cosigner.verifier_key()}", err=True)
            click.echo(f"listening on http://{host}:{port}/add-checkpoint", err=True)
            # uvicorn stops on SIGINT and SIGTERM by itself.
            asyncio.run(server.serve())
    except StateInUse as exc:
        raise click.ClickException(str(exc)) from exc
