"""What a backup folder is (storage.backup writes one, storage.backup_restore reads one):

    manifest.json          created_at, database kind, alembic revision, blob count and bytes,
                           the sha256 and size of every other file (written last)
    database.sqlite        or database.pgdump
    server.key             the hub's log key (0600); operator.token too when it exists
    blobs/sha256/ab/cd/<hex>

and the file handling both sides share: hashing, fsynced copies, finding blobs, and `check`,
which holds a folder against its manifest before a restore changes anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
