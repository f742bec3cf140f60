"""`mla backup` and `mla restore`: the database, blob store and server key, together."""

from __future__ import annotations

from pathlib import Path

import click

from .server import _private_files, _settings, run_upgrade


@click.command()
@click.option(
    "-o",
    "--output",
    "output",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder to write (must not exist, or be empty)",
)
def backup(output: Path) -> None:
    """Back up the hub (database, blobs, server key) while it runs.

    Reads MLA_DATA_DIR, MLA_DATABASE_URL and MLA_BLOB_DIR as `mla serve` does. SQLite is
    copied with its online backup API, PostgreSQL with `pg_dump` (needs the client tools);
    blobs are copied after the database, so every package it refers to is included. The
    folder is private (0700): it holds the server key.

    Example: MLA_DATA_DIR=/var/lib/mla mla backup -o /backups/mla-2026-11-29
    """
    from ..storage.backup import backup as run_backup
    from ..storage.backup_manifest import BackupError

    _private_files()
    try:
        manifest = run_backup(_settings(), output)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"backup failed: {exc}") from exc
    click.echo(
        f"backed up {manifest.database} database at revision {manifest.alembic_revision}, "
        f"{manifest.blob_count} blobs ({manifest.blob_bytes} bytes) to {output}"
    )


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite a target that already holds a hub")
def restore(folder: Path, force: bool) -> None:
    """Restore a backup made by `mla backup` (stop the server first).

    Checks every file against the backup's manifest before changing anything, refuses a
    target that already holds a hub unless --force, restores, then upgrades the database
    as `mla db upgrade` does. Restores into MLA_DATA_DIR and MLA_DATABASE_URL; for
    PostgreSQL, create the (empty) database first and have `pg_restore` installed.

    Example: MLA_DATA_DIR=/var/lib/mla mla restore /backups/mla-2026-11-29
    """
    from ..storage.backup_manifest import BackupError
    from ..storage.backup_restore import restore as run_restore

    _private_files()
    settings = _settings()
    try:
        manifest = run_restore(settings, folder, force=force)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    except OSError as exc:
        raise click.ClickException(f"restore failed: {exc}") from exc
    revision = run_upgrade(settings)
    click.echo(
        f"restored {manifest.database} database from {manifest.created_at} "
        f"({manifest.blob_count} blobs); database at revision {revision}"
    )
