"""The lock files agree with pyproject.toml, and the minimum-versions job reads it right.

`make test` installs requirements/lock.txt, `make run` and the image requirements/server.txt
(scripts/lock.sh writes both). A dependency added or raised in pyproject.toml without
`make lock` would leave CI testing something else than what is declared: this fails first.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path
from types import ModuleType

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
TEST_TOOLS = {"pytest", "pytest-asyncio", "hypothesis", "mypy", "ruff", "schemathesis", "uv"}


def _pins(path: Path) -> dict[str, tuple[Version, int]]:
    """name → (version, number of hashes) of a `uv pip compile --generate-hashes` file."""
    pins: dict[str, tuple[Version, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9._-]+)==([^ ;\\]+)", line):
            current = canonicalize_name(match.group(1))
            assert current not in pins, f"{path.name}: {current} pinned twice"
            pins[current] = (Version(match.group(2)), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


LOCK = _pins(ROOT / "requirements" / "lock.txt")
SERVER = _pins(ROOT / "requirements" / "server.txt")


def _declared(*groups: str) -> list[Requirement]:
    lines = list(PROJECT["dependencies"])
    for group in groups:
        lines += PROJECT["optional-dependencies"][group]
    return [r for r in map(Requirement, lines) if r.name != PROJECT["name"]]


@pytest.mark.parametrize(
    ("lock", "groups"), [(LOCK, ("server", "test")), (SERVER, ("server",))], ids=["lock", "server"]
)
def test_every_declared_dependency_is_pinned_within_its_bounds(
    lock: dict[str, tuple[Version, int]], groups: tuple[str, ...]
) -> None:
    for req in _declared(*groups):
        if req.marker and not req.marker.evaluate(default_environment()):
            continue
        name = canonicalize_name(req.name)
        assert name in lock, f"{req} is not in the lock file: run `make lock`"
        version = lock[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"{req}: the lock pins {version}; run `make lock`"
        )


def test_every_pin_has_hashes() -> None:
    for name, (_, hashes) in {**LOCK, **SERVER}.items():
        assert hashes, f"{name} has no --hash: installs use --require-hashes"


def test_the_server_lock_is_the_test_lock_without_the_test_tools() -> None:
    """Same versions as what CI tests, and nothing only the tests need."""
    for name, (version, _) in SERVER.items():
        assert name in LOCK and LOCK[name][0] == version, name
    assert not TEST_TOOLS & set(SERVER)
    assert set(LOCK) >= TEST_TOOLS


def _min_requirements() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "min_requirements", ROOT / "scripts" / "min_requirements.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_minimum_versions_pin_every_runtime_dependency_to_its_lower_bound() -> None:
    script = _min_requirements()
    lines = script.minimum_requirements(ROOT / "pyproject.toml")
    pinned = {canonicalize_name(Requirement(line).name): line for line in lines if "==" in line}
    for req in _declared("server"):
        name = canonicalize_name(req.name)
        low = next(s.version for s in req.specifier if s.operator == ">=")
        assert str(Requirement(pinned[name]).specifier) == f"=={low}", pinned[name]
    # The test tools are installed as declared, the project itself is not installed there.
    assert "pytest>=8" in lines
    assert not any(Requirement(line).name == PROJECT["name"] for line in lines)


def test_minimum_of_a_requirement_keeps_extras_and_markers() -> None:
    script = _min_requirements()
    assert script.pinned_to_minimum("litestar[standard]>=2.25,<3") == "litestar[standard]==2.25"
    assert (
        script.pinned_to_minimum('uvloop>=0.19; sys_platform != "win32"')
        == 'uvloop==0.19; sys_platform != "win32"'
    )
    with pytest.raises(SystemExit, match="lower bound"):
        script.pinned_to_minimum("types-PyYAML")
