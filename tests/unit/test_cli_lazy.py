"""`mla` imports a subcommand's module only when that subcommand is used."""

from __future__ import annotations

import json
import subprocess
import sys

# A fresh interpreter: in the test process every command module is already imported.
PROBE = """
import json, sys
from mla_tracker.cli.main import cli
try:
    cli(sys.argv[1:], prog_name="mla")
except SystemExit:
    pass
print(json.dumps(sorted(m for m in sys.modules if m.startswith("mla_tracker.cli."))))
print(json.dumps(sorted({m.partition(".")[0] for m in sys.modules})))
"""

#: The server's stack: no client command's module may import it (tests/e2e/test_packaging.py
#: runs the commands themselves without it).
SERVER_PACKAGES = {"litestar", "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "uvicorn"}


def _probe(*args: str) -> tuple[set[str], set[str]]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    cli_modules, top_level = proc.stdout.splitlines()[-2:]
    return set(json.loads(cli_modules)), set(json.loads(top_level))


def _cli_modules(*args: str) -> set[str]:
    return _probe(*args)[0]


def test_seal_help_imports_only_the_evidence_module() -> None:
    """`mla evidence seal --help` loads neither the server, requests nor transfer modules."""
    modules = _cli_modules("evidence", "seal", "--help")
    assert "mla_tracker.cli.evidence" in modules
    unused = {"agency", "keygen", "requests", "server", "transfer"}
    assert not modules & {f"mla_tracker.cli.{name}" for name in unused}


def test_evidence_help_loads_upload_and_download() -> None:
    """Listing the evidence group imports transfer, for the help of upload and download."""
    modules = _cli_modules("evidence", "--help")
    assert "mla_tracker.cli.transfer" in modules
    assert "mla_tracker.cli.server" not in modules


def test_version_imports_no_command() -> None:
    """`mla --version` needs no subcommand at all."""
    assert _cli_modules("--version") == {"mla_tracker.cli.main", "mla_tracker.cli.extras"}


def test_help_lists_every_command_without_the_server_stack() -> None:
    """`mla --help` imports every command's module, server ones included, and still none of
    the server's packages: their imports stay inside the commands that run the service."""
    modules, top_level = _probe("--help")
    assert {"mla_tracker.cli.server", "mla_tracker.cli.backup", "mla_tracker.cli.demo"} <= modules
    assert not top_level & SERVER_PACKAGES
