"""What a witness remembers per log: the size and root hash of the latest checkpoint it cosigned.

"For each log, uniquely identified by its origin line, the witness is only required to keep
track of the latest checkpoint it observed and verified" (tlog-witness). The file is replaced
atomically (a temporary file in the same folder, fsync, rename, fsync of the folder), so a
crash leaves the old state or the new one, never half of either.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import msgspec


class LogState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The latest cosigned checkpoint of one log."""

    size: int
    root_hash: str  # standard base64


class WitnessState(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """Every log's latest cosigned checkpoint, by origin."""

    version: int = 1
    logs: dict[str, LogState] = msgspec.field(default_factory=dict)


def load(path: Path) -> WitnessState:
    """The state in `path`, or an empty one if the file does not exist yet."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return WitnessState()
    return msgspec.json.decode(data, type=WitnessState)


def save(path: Path, state: WitnessState) -> None:
    """Replace the state file atomically and durably (returns once it is on disk)."""
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(msgspec.json.encode(state))
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    # The rename itself is durable only once the folder's entry is on disk.
    dir_fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
