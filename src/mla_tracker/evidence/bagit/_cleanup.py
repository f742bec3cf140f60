"""Deleting a partly extracted tree: iteratively, never following links, whatever its depth."""

from __future__ import annotations

import os
from pathlib import Path


def remove_tree(root: Path) -> list[str]:
    """Delete `root` and everything under it without recursion; return what could not go.

    `shutil.rmtree` recurses once per level, so a hostile archive ~1,000 folders deep made it
    raise RecursionError and leave the tree behind. Here an explicit stack holds each folder
    twice: first to empty it of files and push its subfolders, then (once those are gone) to
    remove it. Symbolic links are unlinked, never followed. Errors do not stop the walk.
    """
    failed: list[str] = []
    if os.path.islink(root):
        os.unlink(root)  # the link only, never what it points to
        return failed
    stack: list[tuple[str, bool]] = [(os.fspath(root), False)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            try:
                os.rmdir(path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed.append(f"{path}: {exc.strerror}")
            continue
        stack.append((path, True))
        try:
            with os.scandir(path) as entries:
                for entry in entries:
                    if entry.is_dir(follow_symlinks=False):
                        stack.append((entry.path, False))
                        continue
                    try:
                        os.unlink(entry.path)
                    except FileNotFoundError:
                        pass
                    except OSError as exc:
                        failed.append(f"{entry.path}: {exc.strerror}")
        except FileNotFoundError:
            stack.pop()
        except OSError as exc:
            failed.append(f"{path}: {exc.strerror}")
    return failed
