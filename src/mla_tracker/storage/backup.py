"""Backup and restore of a hub: its database, blob store and server key, consistent together.

The database is snapshotted first (SQLite's online backup API on its own synchronous
connection, or `pg_dump --format=custom`), then blobs are copied. Blobs are content-addressed
and only ever added, so every blob the snapshot refers to already exists when it is copied;
blobs uploaded after the snapshot are copied too and are harmless. A backup is a folder:

    manifest.json          created_at, database kind, alembic revision, blob count and bytes,
                           the sha256 and size of every other file (written last)
    database.sqlite        or database.pgdump
    server.key             the hub's log key (0600); operator.token too when it exists
    blobs/sha256/ab/cd/<hex>

Restore checks the manifest against every file before it changes anything, and refuses a
target that already holds a hub unless forced.
"""

from __future__ import annotations

import asyncio
import datetime
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from ..config import Settings
from .db import create_engine, is_sqlite

MANIFEST = "manifest.json"
FORMAT = 1
SQLITE_FILE = "database.sqlite"
PG_FILE = "database.pgdump"
#: Secrets of the data folder carried along with the database (copied when present).
KEY_FILES = ("server.key", "operator.token")
CHUNK = 1024 * 1024


class BackupError(Exception):
    """A backup or restore cannot proceed; the message says why and what to do."""


@dataclass
class Manifest:
    """What a backup folder holds."""

    created_at: str
    database: str
    alembic_revision: str | None
    blob_count: int
    blob_bytes: int
    files: dict[str, dict[str, Any]] = field(default_factory=dict)

    def to_json(self) -> str:
        """The manifest as indented JSON."""
        return json.dumps(
            {
                "format": FORMAT,
                "created_at": self.created_at,
                "database": self.database,
                "alembic_revision": self.alembic_revision,
                "blob_count": self.blob_count,
                "blob_bytes": self.blob_bytes,
                "files": self.files,
            },
            indent=2,
            sort_keys=True,
        )

    @classmethod
    def load(cls, folder: Path) -> Manifest:
        """Read and shape-check `manifest.json`, or BackupError."""
        path = folder / MANIFEST
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise BackupError(f"{path} is missing: not a backup, or an unfinished one") from exc
        except (OSError, ValueError) as exc:
            raise BackupError(f"{path} is unreadable: {exc}") from exc
        try:
            if raw["format"] != FORMAT:
                raise BackupError(f"{path}: unknown backup format {raw['format']!r}")
            manifest = cls(
                created_at=str(raw["created_at"]),
                database=str(raw["database"]),
                alembic_revision=raw["alembic_revision"],
                blob_count=int(raw["blob_count"]),
                blob_bytes=int(raw["blob_bytes"]),
                files={str(k): dict(v) for k, v in raw["files"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise BackupError(f"{path} is malformed: {exc!r}") from exc
        if manifest.database not in ("sqlite", "postgresql"):
            raise BackupError(f"{path}: unknown database kind {manifest.database!r}")
        return manifest


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _entry(path: Path) -> dict[str, Any]:
    return {"sha256": _sha256_file(path), "size": path.stat().st_size}


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy(source: Path, target: Path, mode: int = 0o600) -> str:
    """Copy a file through a temporary name, fsynced, with `mode`; its sha256."""
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    part = target.with_name(target.name + ".part")
    digest = hashlib.sha256()
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with source.open("rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        os.fchmod(fd, mode)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(part, target)
    return digest.hexdigest()


def _blobs(root: Path) -> Iterator[Path]:
    """Stored blobs under a blob root (`sha256/ab/cd/<hex>`), in a stable order."""
    base = root / "sha256"
    if base.is_dir():
        for path in sorted(base.glob("??/??/*")):
            if path.is_file() and len(path.name) == 64 and not path.name.endswith(".part"):
                yield path


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


# --- restore -------------------------------------------------------------------------------


def check(folder: Path) -> Manifest:
    """The manifest of a backup whose every file matches it; BackupError names a misfit."""
    manifest = Manifest.load(folder)
    database_file = SQLITE_FILE if manifest.database == "sqlite" else PG_FILE
    if database_file not in manifest.files:
        raise BackupError(f"the manifest lists no {database_file} for a {manifest.database} backup")
    blobs = {k: v for k, v in manifest.files.items() if k.startswith("blobs/")}
    if len(blobs) != manifest.blob_count or sum(int(v["size"]) for v in blobs.values()) != (
        manifest.blob_bytes
    ):
        raise BackupError("the manifest's blob count or bytes do not match its file list")
    for name, expected in sorted(manifest.files.items()):
        path = folder / name
        if ".." in Path(name).parts or Path(name).is_absolute():
            raise BackupError(f"the manifest names a file outside the backup: {name!r}")
        if not path.is_file():
            raise BackupError(f"{name} is listed in the manifest but missing from {folder}")
        if name.startswith("blobs/") and Path(name).name != expected.get("sha256"):
            raise BackupError(f"{name}: the manifest's sha256 is not the blob's name")
        actual = _sha256_file(path)
        if actual != expected.get("sha256") or path.stat().st_size != expected.get("size"):
            raise BackupError(
                f"{name} does not match the manifest (sha256 {actual}, manifest says "
                f"{expected.get('sha256')}): the backup is damaged or was altered"
            )
    present = {
        "blobs/" + p.relative_to(folder / "blobs").as_posix() for p in _blobs(folder / "blobs")
    }
    extra = sorted(present - set(blobs))
    if extra:
        raise BackupError(f"{extra[0]} is in the backup but not in its manifest")
    return manifest


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
