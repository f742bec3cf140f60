"""The layout rule of design.md §8: the pure layers import nothing from web or database code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "mla_tracker"
PURE = ("domain", "crypto", "evidence", "audit")
FORBIDDEN = ("mla_tracker.api", "mla_tracker.storage", "mla_tracker.workflows", "mla_tracker.cli")
FORBIDDEN_LIBS = ("litestar", "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "httpx")


def _imports(path: Path) -> list[str]:
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            names += [base] + [f"{base}.{a.name}" for a in node.names]
    return names


@pytest.mark.parametrize(
    "path",
    [p for layer in PURE for p in sorted((SRC / layer).rglob("*.py"))],
    ids=lambda p: str(p.relative_to(SRC)),
)
def test_pure_layers_import_no_web_or_database_code(path: Path) -> None:
    for name in _imports(path):
        assert not name.startswith(FORBIDDEN), f"{path.relative_to(SRC)} imports {name}"
        assert name.split(".")[0] not in FORBIDDEN_LIBS, f"{path.relative_to(SRC)} imports {name}"
