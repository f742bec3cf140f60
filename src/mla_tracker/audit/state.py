"""The last checkpoint an auditor trusted, kept locally, so a rollback or a fork shows.

A later audit must see the same log (same origin and key), a tree at least as large, and a
consistency proof from the trusted tree to the new one; the same size with another root is
a forked view, a smaller size a rollback.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from ..crypto import merkle, wire
from ..crypto.errors import CryptoError


class TrustedCheckpoint(msgspec.Struct, frozen=True, kw_only=True):
    """What an auditor keeps between audits."""

    origin: str
    verifier_key: str
    size: int
    root_hash: str


def default_state_file() -> Path:
    """Where the state lives by default (XDG state home)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "mla" / "audit-state.json"


def load(path: Path) -> TrustedCheckpoint | None:
    """The trusted checkpoint, or None on first use."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=TrustedCheckpoint)
    except FileNotFoundError:
        return None


def save(path: Path, state: TrustedCheckpoint) -> None:
    """Replace the trusted checkpoint atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(msgspec.json.encode(state))
    os.replace(tmp, path)


def compare(
    trusted: TrustedCheckpoint,
    *,
    origin: str,
    verifier_key: str,
    size: int,
    root: bytes,
    consistency: list[bytes] | None,
) -> str | None:
    """Why the new checkpoint cannot follow the trusted one, or None if it does."""
    if (trusted.origin, trusted.verifier_key) != (origin, verifier_key):
        return f"the log is {origin} ({verifier_key}), but this auditor trusted {trusted.origin}"
    old_root = wire.b64decode(trusted.root_hash, "state root_hash")
    if size < trusted.size:
        return f"rollback: tree size {size} after a trusted checkpoint of size {trusted.size}"
    if size == trusted.size:
        return None if root == old_root else f"forked view: another tree of size {size}"
    if consistency is None:
        return "no consistency proof from the trusted checkpoint"
    try:
        merkle.verify_consistency(trusted.size, size, old_root, root, consistency)
    except CryptoError as exc:
        return f"forked view: the tree of size {size} does not extend the trusted one ({exc})"
    return None
