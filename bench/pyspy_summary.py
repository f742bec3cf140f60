"""Sum py-spy's collapsed stacks (`-f raw`) by function: self time and inclusive time.

    .venv/bin/python bench/pyspy_summary.py /tmp/spy/service-120000.txt [--top 40]

Inclusive time counts a function once per sample however deep it recurs; "where the
time goes" in the issue 13 notes comes from this.
"""

from __future__ import annotations

import argparse
import collections
import re
from pathlib import Path

_LOCATION = re.compile(r" \\((?P<file>[^:]+):\\d+\\)$")


def _name(frame: str) -> str:
    match = _LOCATION.search(frame)
    func = frame[: match.start()] if match else frame
    where = match.group("file") if match else ""
    for marker in ("site-packages/", "mla_tracker/", "lib/python3"):
        if marker in where:
            where = where.split(marker, 1)[1]
            break
    return f"{func} ({where})"


def main() -> None:
    """Print the top functions by inclusive and by self samples."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--grep", default="", help="only functions whose name contains this")
    args = parser.parse_args()
    inclusive: collections.Counter[str] = collections.Counter()
    self_time: collections.Counter[str] = collections.Counter()
    total = 0
    for line in args.file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        frames = [_name(f) for f in stack.split(";")]
        total += count
        for name in set(frames):
            inclusive[name] += count
        self_time[frames[-1]] += count
    print(f"{total} samples")
    print("inclusive:")
    for name, count in inclusive.most_common():
        if args.grep in name:
            print(f"  {100 * count / total:5.1f}%  {name}")
            args.top -= 1
            if args.top <= 0:
                break
    print("self:")
    for name, count in self_time.most_common(25):
        print(f"  {100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()
