"""Restore of a backup made by storage.backup into the configured database and data folder.

Every file is checked against the manifest before anything changes, and a target that
already holds a hub is refused unless forced.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from ..config import Settings
from .backup import _libpq, _pg_state, _run, find_pg_tool, sqlite_path
from .backup_manifest import (
    KEY_FILES,
    PG_FILE,
    SQLITE_FILE,
    BackupError,
    Manifest,
    _blobs,
    _copy,
    check,
)
from .db import is_sqlite


def _known_revision(revision: str | None) -> None:
    if revision is None:
        return
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from .migrate import alembic_config

    try:
        ScriptDirectory.from_config(alembic_config()).get_revision(revision)
    except CommandError as exc:
        raise BackupError(
            f"the backup is at database revision {revision}, unknown to this version of "
            f"mla-tracker: restore it with the version that made it, or a newer one"
        ) from exc


def occupied(settings: Settings, kind: str) -> list[str]:
    """What in the target already holds a hub (empty: safe to restore into)."""
    found: list[str] = []
    for name in KEY_FILES:
        if (settings.data_dir / name).exists():
            found.append(str(settings.data_dir / name))
    if next(_blobs(settings.resolved_blob_dir), None) is not None:
        found.append(f"blobs in {settings.resolved_blob_dir}")
    url = settings.resolved_database_url
    if kind == "sqlite":
        path = sqlite_path(settings)
        if path.exists() and path.stat().st_size > 0:
            found.append(f"database {path}")
    else:
        _, tables = asyncio.run(_pg_state(url))
        if tables:
            found.append(f"database {make_url(url).database} ({tables} tables)")
    return found


def restore(settings: Settings, folder: Path, *, force: bool = False) -> Manifest:
    """Restore a checked backup into the configured database and data folder; its manifest.

    Stop the server first. The caller then brings the database to the newest revision.
    """
    manifest = check(folder)
    url = settings.resolved_database_url
    kind = "sqlite" if is_sqlite(url) else "postgresql"
    if kind != manifest.database:
        raise BackupError(
            f"this is a {manifest.database} backup but MLA_DATABASE_URL points at {kind}"
        )
    _known_revision(manifest.alembic_revision)
    pg_restore = find_pg_tool("pg_restore") if kind == "postgresql" else ""
    taken = occupied(settings, kind)
    if taken and not force:
        raise BackupError(
            "the target already holds a hub (" + "; ".join(taken) + "): restore into an empty "
            "data folder and database, or pass --force to overwrite"
        )
    settings.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    if kind == "sqlite":
        target = sqlite_path(settings)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        src = sqlite3.connect(f"file:{folder / SQLITE_FILE}?mode=ro", uri=True)
        if not target.exists():
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst, pages=-1)  # handles the target's -wal, unlike a file copy
        finally:
            dst.close()
            src.close()
    else:
        database, env = _libpq(url)
        argv = [
            pg_restore,
            "--no-owner",
            "--no-privileges",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={database}",
        ]
        if force:
            argv += ["--clean", "--if-exists"]
        _run([*argv, str(folder / PG_FILE)], env, "pg_restore")
    for name in KEY_FILES:
        if name in manifest.files:
            _copy(folder / name, settings.data_dir / name)
    blob_root = settings.resolved_blob_dir
    for name in manifest.files:
        if name.startswith("blobs/"):
            target = blob_root / name.removeprefix("blobs/")
            if not target.exists():
                _copy(folder / name, target)
    return manifest
