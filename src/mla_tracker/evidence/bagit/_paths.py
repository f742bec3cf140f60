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


class _Node:
    """One registered name: as first seen, whether a directory, and whether named itself."""

    __slots__ = ("children", "explicit", "is_dir", "name")

    def __init__(self, name: str, is_dir: bool, explicit: bool) -> None:
        self.name = name
        self.is_dir = is_dir
        self.explicit = explicit
        self.children: dict[str, _Node] = {}


class _PathRegistry:
    """Tracks bag-relative paths; reports duplicates and names that collide once normalised.

    A tree of components, not a set of whole paths: each name is stored once, so memory and
    time grow with the number of entries, not with their depth times their count (a deep
    hostile tree would otherwise cost quadratic work). `dirs` counts every directory,
    including those only implied by a deeper path; after `add`, `new_dirs` is the index of
    the first component it created as a directory (all later ones are new too), or None.
    """

    def __init__(self) -> None:
        self._root = _Node("", True, True)
        self.dirs = 0
        self.new_dirs: int | None = None

    def add(self, path: str, *, is_dir: bool) -> str | None:
        """Register `path` and its parents; return a description of any conflict."""
        parts = path.split("/")
        node = self._root
        self.new_dirs = None
        last = len(parts) - 1
        for i, part in enumerate(parts):
            want_dir = is_dir if i == last else True
            key = _norm_key(part)
            child = node.children.get(key)
            if child is None:
                child = node.children[key] = _Node(part, want_dir, i == last)
                if want_dir:
                    self.dirs += 1
                    if self.new_dirs is None:
                        self.new_dirs = i
            else:
                problem = _conflict(parts, i, child, is_dir=want_dir, explicit=i == last)
                if problem:
                    return problem
            node = child
        return None


def _conflict(parts: list[str], i: int, node: _Node, *, is_dir: bool, explicit: bool) -> str | None:
    """Why component `i` of `parts` cannot be added over the existing `node`, if it cannot."""
    path = "/".join(parts[: i + 1])
    if node.name != parts[i]:
        # Earlier components matched exactly, or this one would not have been reached.
        prev_path = "/".join([*parts[:i], node.name])
        if unicodedata.normalize("NFC", path) == unicodedata.normalize("NFC", prev_path):
            how = "differ only in Unicode normalisation"
            shown = f"{path!a} and {prev_path!a}"
        else:
            how = "differ only in letter case"
            shown = f"{_show(path)} and {_show(prev_path)}"
        return f"{shown} {how}, so they are the same name on some file systems (macOS, Windows)"
    if is_dir != node.is_dir:
        return f"{_show(path)} is both a file and a directory"
    if not is_dir or (explicit and node.explicit):
        return f"{_show(path)} appears more than once"
    if explicit:
        node.explicit = True
    return None
