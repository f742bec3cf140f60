"""Print the lowest versions pyproject.toml allows, pinned, for scripts/min-versions.sh.

Every runtime dependency (the base install and the `server` extra) must declare a lower
bound (`>=X`), which becomes `==X`: a dependency without one cannot be tested at its
minimum, so it is an error here. The `test` extra's tools are printed as declared (users
never run them), without the project's own `mla-tracker[server]`.

Usage: python scripts/min_requirements.py [pyproject.toml] > min-requirements.txt
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

RUNTIME_EXTRAS = ("server",)


def pinned_to_minimum(line: str) -> str:
    """`name[extras]>=X,<Y; marker` as `name[extras]==X; marker`."""
    req = Requirement(line)
    lows = [spec.version for spec in req.specifier if spec.operator == ">="]
    if len(lows) != 1:
        raise SystemExit(f"{line!r}: a runtime dependency needs exactly one '>=' lower bound")
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    marker = f"; {req.marker}" if req.marker else ""
    return f"{req.name}{extras}=={lows[0]}{marker}"


def minimum_requirements(pyproject: Path) -> list[str]:
    """The pinned runtime dependencies, then the test tools as declared."""
    project = tomllib.loads(pyproject.read_text())["project"]
    runtime = list(project["dependencies"])
    for extra in RUNTIME_EXTRAS:
        runtime += project["optional-dependencies"][extra]
    lines = [pinned_to_minimum(line) for line in runtime]
    for line in project["optional-dependencies"]["test"]:
        if Requirement(line).name != project["name"]:
            lines.append(line)
    return lines


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("pyproject.toml")
    print("\n".join(minimum_requirements(path)))
