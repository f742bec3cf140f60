"""Bag-relative path names: portable components and detection of names that collide.

Paths are compared after Unicode NFC normalisation and case folding, both when sealing and
when extracting, so a bag never depends on a case-sensitive file system to be opened.
"""

from __future__ import annotations

import os
import unicodedata

from .errors import BagError, _show

_MAX_COMPONENT_BYTES = 255


def _norm_key(path: str) -> str:
    return unicodedata.normalize("NFC", path).casefold()


def _check_component(name: str, error: type[BagError], what: str) -> None:
    """Refuse a path component that is empty, special, or not portable."""
    bad = ""
    if name in ("", ".", ".."):
        bad = "is empty or a special name"
    elif "/" in name or "\0" in name or (os.sep != "/" and os.sep in name):
        bad = "contains a path separator or NUL"
    elif os.altsep is not None and os.altsep in name:
        bad = "contains a path separator"
    elif os.path.splitdrive(name)[0]:
        bad = "starts with a drive name"
    else:
        try:
            encoded = name.encode("utf-8")
        except UnicodeEncodeError:
            bad = "is not valid UTF-8"
        else:
            if len(encoded) > _MAX_COMPONENT_BYTES:
                bad = f"is longer than {_MAX_COMPONENT_BYTES} bytes"
    if bad:
        raise error(f"{what} {_show(name)} {bad}")


class _PathRegistry:
    """Tracks bag-relative paths; reports duplicates and names that collide once normalised."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[str, bool, bool]] = {}  # key -> (path, is_dir, explicit)

    def add(self, path: str, *, is_dir: bool) -> str | None:
        """Register `path` and its parents; return a description of any conflict."""
        parts = path.split("/")
        for i in range(1, len(parts)):
            problem = self._add_one("/".join(parts[:i]), is_dir=True, explicit=False)
            if problem:
                return problem
        return self._add_one(path, is_dir=is_dir, explicit=True)

    def _add_one(self, path: str, *, is_dir: bool, explicit: bool) -> str | None:
        key = _norm_key(path)
        previous = self._seen.get(key)
        if previous is None:
            self._seen[key] = (path, is_dir, explicit)
            return None
        prev_path, prev_is_dir, prev_explicit = previous
        if prev_path != path:
            if unicodedata.normalize("NFC", path) == unicodedata.normalize("NFC", prev_path):
                how = "differ only in Unicode normalisation"
                shown = f"{path!a} and {prev_path!a}"
            else:
                how = "differ only in letter case"
                shown = f"{_show(path)} and {_show(prev_path)}"
            return f"{shown} {how}, so they are the same name on some file systems (macOS, Windows)"
        if is_dir != prev_is_dir:
            return f"{_show(path)} is both a file and a directory"
        if not is_dir or (explicit and prev_explicit):
            return f"{_show(path)} appears more than once"
        if explicit:
            self._seen[key] = (path, True, True)
        return None
