"""Backup and restore of a hub: its database, blob store and server key, consistent together.

The database is snapshotted first (SQLite's online backup API on its own synchronous
connection, or `pg_dump --format=custom`), then blobs are copied. Blobs are content-addressed
and only ever added, so every blob the snapshot refers to already exists when it is copied;
blobs uploaded after the snapshot are copied too and are harmless. A backup is a folder
(storage.backup_manifest says what it holds); storage.backup_restore restores one.

Here too: finding PostgreSQL's client tools and reading a database's revision, which the
restore uses as well.
"""

from __future__ import annotations

import asyncio
import datetime
import glob
import os
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from ..config import Settings
from .backup_manifest import (
    KEY_FILES,
    MANIFEST,
    PG_FILE,
    SQLITE_FILE,
    BackupError,
    Manifest,
    _blobs,
    _copy,
    _entry,
    _fsync,
)
from .db import create_engine, is_sqlite

# --- PostgreSQL tools ---------------------------------------------------------------------


def find_pg_tool(name: str) -> str:
    """The path of `pg_dump` or `pg_restore`: on PATH, else the newest /usr/lib/postgresql."""
    found = shutil.which(name)
    if found:
        return found

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.parent.name
        return tuple(int(p) for p in part.split(".") if p.isdigit())

    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=version)
    if candidates:
        return candidates[-1]
    raise BackupError(
        f"{name} not found on PATH or under /usr/lib/postgresql/*/bin: install the PostgreSQL "
        f"client tools (e.g. apt-get install postgresql-client) matching the server's version"
    )


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A database name and PG* environment for libpq tools; the password never on argv."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    for var, value in (
        ("PGHOST", parsed.host),
        ("PGPORT", str(parsed.port) if parsed.port else None),
        ("PGUSER", parsed.username),
        ("PGPASSWORD", parsed.password),
    ):
        if value:
            env[var] = str(value)
    ssl = parsed.query.get("sslmode") or parsed.query.get("ssl")
    if isinstance(ssl, str) and ssl:
        env["PGSSLMODE"] = {"true": "require"}.get(ssl, ssl)
    return parsed.database or "", env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()}")


# --- database inspection -------------------------------------------------------------------


async def _pg_state(url: str) -> tuple[str | None, int]:
    """The alembic revision (or None) and the number of tables in the current schema."""
    engine = create_engine(url, pool=False)
    try:
        async with engine.connect() as conn:
            tables = (
                (
                    await conn.execute(
                        text(
                            "SELECT table_name FROM information_schema.tables"
                            " WHERE table_schema = current_schema()"
                        )
                    )
                )
                .scalars()
                .all()
            )
            revision = None
            if "alembic_version" in tables:
                revision = (
                    await conn.execute(text("SELECT version_num FROM alembic_version"))
                ).scalar()
            return revision, len(tables)
    finally:
        await engine.dispose()


def _sqlite_revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()
    return str(row[0]) if row else None


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file the settings point at."""
    database = make_url(settings.resolved_database_url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database)


# --- backup --------------------------------------------------------------------------------


def _sqlite_snapshot(source: Path, target: Path) -> None:
    if not source.is_file():
        raise BackupError(f"no database at {source}: check MLA_DATA_DIR or MLA_DATABASE_URL")
    src = sqlite3.connect(source, timeout=30)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout=30000")
        # pages=-1: one step under one read transaction, so writers never restart it and
        # the copy is one consistent state of the database.
        src.backup(dst, pages=-1)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        dst.close()
        src.close()


def backup(settings: Settings, out: Path) -> Manifest:
    """Write a backup of the configured hub into `out` (absent or empty); its manifest."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise BackupError(f"{out} exists and is not an empty folder: choose a new one")
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    url = settings.resolved_database_url
    files: dict[str, dict[str, Any]] = {}
    if is_sqlite(url):
        kind = "sqlite"
        _sqlite_snapshot(sqlite_path(settings), out / SQLITE_FILE)
        revision = _sqlite_revision(out / SQLITE_FILE)
        files[SQLITE_FILE] = _entry(out / SQLITE_FILE)
    else:
        kind = "postgresql"
        pg_dump = find_pg_tool("pg_dump")
        before, _ = asyncio.run(_pg_state(url))
        database, env = _libpq(url)
        dump = out / PG_FILE
        os.close(os.open(dump, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        _run(
            [
                pg_dump,
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={dump}",
                f"--dbname={database}",
            ],
            env,
            "pg_dump",
        )
        after, _ = asyncio.run(_pg_state(url))
        if before != after:
            raise BackupError(
                f"the database was migrated during the backup ({before} -> {after}): run it again"
            )
        revision = after
        files[PG_FILE] = _entry(dump)
    # After the snapshot: every blob it refers to is already stored.
    for name in KEY_FILES:
        source = settings.data_dir / name
        if source.is_file():
            _copy(source, out / name)
            files[name] = _entry(out / name)
    count = size = 0
    blob_root = settings.resolved_blob_dir
    for blob in _blobs(blob_root):
        relative = "blobs/" + blob.relative_to(blob_root).as_posix()
        target = out / relative
        digest = _copy(blob, target)
        if digest != blob.name:
            raise BackupError(f"stored blob {blob} is corrupt: its bytes hash to {digest}")
        length = target.stat().st_size
        files[relative] = {"sha256": digest, "size": length}
        count, size = count + 1, size + length
    manifest = Manifest(
        created_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        database=kind,
        alembic_revision=revision,
        blob_count=count,
        blob_bytes=size,
        files=files,
    )
    manifest_path = out / MANIFEST
    part = out / (MANIFEST + ".part")
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(manifest.to_json() + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(part, manifest_path)
    _fsync(out)
    return manifest
