"""File handling shared by sealing, extraction and validation: open flags, chunks, progress."""

from __future__ import annotations

import os
from collections.abc import Callable

_CHUNK = 256 * 1024

_O_BINARY: int = getattr(os, "O_BINARY", 0)
_O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)
_O_CLOEXEC: int = getattr(os, "O_CLOEXEC", 0)

ProgressCallback = Callable[[int], None]


def _progress_counter(on_progress: ProgressCallback | None) -> Callable[[int], None]:
    """Turn per-chunk byte counts into running totals reported to `on_progress` (if given)."""
    done = 0

    def progress(n: int) -> None:
        nonlocal done
        done += n
        if on_progress is not None:
            on_progress(done)

    return progress
