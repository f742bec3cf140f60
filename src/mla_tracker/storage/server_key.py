"""The hub's own Ed25519 log key, kept in the data folder (mode 0600)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ..crypto.keys import SigningKey


def load_or_create(path: Path) -> SigningKey:
    """Load the server key, creating it on first start.

    Several processes may start at once on one data folder (replicas, a worker): the key
    is written whole to a temporary file and then linked into place, which fails if
    another process linked its own first, so nobody ever reads a half-written key and
    every process ends up with the same one.
    """
    if path.exists():
        return SigningKey.from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".server-key-")
    try:
        with os.fdopen(fd, "wb") as fh:  # mkstemp makes it 0600
            fh.write(key.to_pem())
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:  # another process made it first: use theirs
            return SigningKey.from_pem(path.read_bytes())
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return key
