"""The hub's own Ed25519 log key, kept in the data folder (mode 0600)."""

from __future__ import annotations

import os
from pathlib import Path

from ..crypto.keys import SigningKey


def load_or_create(path: Path) -> SigningKey:
    """Load the server key, creating it on first start."""
    if path.exists():
        return SigningKey.from_pem(path.read_bytes())
    path.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return SigningKey.from_pem(path.read_bytes())
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.to_pem())
    return key
