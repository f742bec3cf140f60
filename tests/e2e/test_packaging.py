"""`pip install mla-tracker` is a working client; the server commands need `[server]`.

Installing a client-only copy for every run would be slow and need the network, so each
`mla` command here runs in a subprocess that cannot import what a client install lacks: a
`sys.meta_path` finder refuses every installed module outside the closure of the base
dependencies, and records any attempt at the server's own packages (litestar, SQLAlchemy,
asyncpg, aiosqlite, alembic, uvicorn, …), which fails the command even if the import was
caught. A new top-level import of the server stack on a client path fails this test.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement

from mla_tracker.cli.extras import INSTALL_HINT, SERVER_MODULES
from mla_tracker.cli.main import COMMANDS
from tests.e2e.conftest import Server, start_server
from tests.support import OPERATOR_TOKEN

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"

#: What the client must never import, named in the issue, and the rest of the server extra.
SERVER_PACKAGES = {"litestar", "sqlalchemy", "asyncpg", "aiosqlite", "alembic", "uvicorn"}
REFUSED = sorted(SERVER_PACKAGES | SERVER_MODULES)

#: Runs `mla` (argv after the script) as a client-only install would.
CLIENT_MLA = r"""
import importlib.abc, json, os, sys

REFUSED = set(json.loads(os.environ["MLA_TEST_REFUSED"]))
ABSENT = set(json.loads(os.environ["MLA_TEST_ABSENT"]))
STRICT = os.environ.get("MLA_TEST_STRICT") == "1"
attempts = []


class ClientInstall(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        if top in REFUSED:
            attempts.append(name)
        elif top not in ABSENT:
            return None
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)


if __name__ == "__main__":
    sys.meta_path.insert(0, ClientInstall())
    sys.argv[0] = "mla"
    from mla_tracker.cli.main import main

    try:
        main()
    finally:
        if STRICT and attempts:
            sys.stdout.flush()
            sys.stderr.write(f"\nimported server packages: {sorted(set(attempts))}\n")
            sys.stderr.flush()
            os._exit(99)
"""


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def client_distributions() -> set[str]:
    """The distributions `pip install mla-tracker` brings: pyproject's base dependencies and
    theirs (as installed here), recursively."""
    declared = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    found: set[str] = {"mla-tracker"}
    todo = [Requirement(line) for line in declared]
    while todo:
        req = todo.pop()
        env = default_environment()
        if req.marker and not req.marker.evaluate({**env, "extra": ""}):
            continue
        key = f"{_normal(req.name)}[{','.join(sorted(req.extras))}]"
        if key in found:
            continue
        found.add(key)
        try:
            requires = metadata.requires(req.name) or []
        except metadata.PackageNotFoundError:
            continue  # an optional dependency this machine does not have
        for line in requires:
            dep = Requirement(line)
            if not dep.marker or any(
                dep.marker.evaluate({**env, "extra": extra}) for extra in {"", *req.extras}
            ):
                dep.marker = None
                todo.append(dep)
    return {key.partition("[")[0] for key in found}


def absent_modules() -> list[str]:
    """Installed top-level modules a client install would not have."""
    client = client_distributions()
    assert "litestar" not in client and "sqlalchemy" not in client, client
    return sorted(
        module
        for module, dists in metadata.packages_distributions().items()
        if module not in sys.stdlib_module_names and not any(_normal(d) in client for d in dists)
    )


@pytest.fixture(scope="module")
def client_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLA_")}
    env.update(
        MLA_TEST_REFUSED=json.dumps(REFUSED),
        MLA_TEST_ABSENT=json.dumps(absent_modules()),
        MLA_TEST_STRICT="1",
    )
    return env


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One `mla serve` (the full install) on SQLite for every client command here."""
    folder = tmp_path_factory.mktemp("hub")
    with contextlib.contextmanager(start_server)(
        None, folder / "data", {"MLA_OPERATOR_TOKEN": OPERATOR_TOKEN}
    ) as server:
        yield server


class Client:
    """`mla` as a client-only install, in one working folder."""

    def __init__(self, script: Path, env: dict[str, str], cwd: Path) -> None:
        self.script, self.env, self.cwd = script, env, cwd

    def run(self, *args: str, code: int = 0, **env: str) -> str:
        proc = subprocess.run(
            [sys.executable, str(self.script), *args],
            env={**self.env, **env},
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        shown = f"$ mla {' '.join(args)}\n{proc.stdout}{proc.stderr}"
        assert "imported server packages" not in proc.stderr, shown
        assert "Traceback" not in proc.stderr, shown
        assert proc.returncode == code, shown
        return proc.stdout


@pytest.fixture
def client(tmp_path: Path, client_env: dict[str, str]) -> Client:
    script = tmp_path / "client_mla.py"
    script.write_text(CLIENT_MLA)
    work = tmp_path / "work"
    work.mkdir()
    return Client(script, client_env, work)


def test_absent_modules_cover_the_server_stack(client_env: dict[str, str]) -> None:
    """The finder's list really holds the server extra (else the test below proves nothing)."""
    absent = set(json.loads(client_env["MLA_TEST_ABSENT"]))
    assert absent >= SERVER_PACKAGES
    assert {"pytest", "holidays", "prometheus_client"} <= absent
    assert not {"click", "httpx", "cryptography", "msgspec", "yaml"} & absent


def test_client_commands_run_without_the_server_packages(hub: Server, client: Client) -> None:
    """Every client command against a real hub, with the server's packages unimportable."""
    op = {"MLA_URL": hub.url, "MLA_TOKEN": OPERATOR_TOKEN}
    listing = client.run("--help")
    assert "serve" in listing and "evidence" in listing

    # The demo on a given hub plays keygen, agency add, request create and act, evidence
    # seal, upload, download and open, and audit verify, all in this one client process.
    played = client.run("demo", "--url", hub.url, "--token", OPERATOR_TOKEN)
    assert "everything holds" in played

    made = client.run("keygen", "-o", "keys/audit")
    assert "age recipient: age1" in made
    client.run(
        "agency", "add", "--id", "pkg-audit", "--name", "Packaging auditor", "--country", "SG",
        "--role", "auditor", "--public-key", "keys/audit/signing.pub", **op,
    )  # fmt: skip
    agencies = client.run("agency", "list", MLA_URL=hub.url)
    assert "pkg-audit" in agencies and "la-mps" in agencies
    key = {"MLA_URL": hub.url, "MLA_KEY": "keys/audit/signing.key"}
    session = client.run("login", **key)
    token = re.search(r"export MLA_TOKEN=(\S+)", session)
    assert token
    auditor = {"MLA_URL": hub.url, "MLA_TOKEN": token.group(1)}

    client.run("keygen", "-o", "keys/audit-2")
    rotated = client.run("agency", "rotate-key", "--new-key", "keys/audit-2/signing.pub", **key)
    assert "added key" in rotated
    assert "pkg-audit" in client.run("agency", "key-events", "pkg-audit", MLA_URL=hub.url)
    client.run("agency", "watch", "pkg-audit", MLA_URL=hub.url)

    requests = client.run("request", "list", "--all", **auditor)
    ids = re.findall(r"^([0-9a-f-]{36})\s+mla\s", requests, re.MULTILINE)
    assert len(ids) == 1, requests
    assert "closed" in client.run("request", "show", ids[0], **auditor)
    assert "RULE" in client.run("deadlines", "--all", **auditor)
    client.run("audit", "export", "--request", ids[0], "-o", "case.bundle", **auditor)
    offline = client.run("audit", "verify", "case.bundle")
    assert "result: everything holds" in offline, offline
    online = client.run("audit", "verify", "--state", "state.json", **auditor)
    assert "result: everything holds" in online


SERVER_COMMANDS = [
    ["serve"],
    ["db", "upgrade"],
    ["db", "erase-bodies", str(uuid.uuid4()), "--yes"],
    ["backup", "-o", "backup"],
    ["restore", "."],
    ["demo"],
    # Nothing is read before the check: the key and state files need not exist.
    ["witness", "serve", "--key", "w.key", "--log-key", "log+0a0b0c0d+AA", "--state", "w.json"],
] + ([["worker"]] if "worker" in COMMANDS else [])


@pytest.mark.parametrize("args", SERVER_COMMANDS, ids=" ".join)
def test_server_commands_without_the_extra_name_the_fix(client: Client, args: list[str]) -> None:
    """One line naming `pip install "mla-tracker[server]"`, exit 1, nothing created."""
    client.env = {**client.env, "MLA_TEST_STRICT": "0", "MLA_DATA_DIR": "data"}
    proc = subprocess.run(
        [sys.executable, str(client.script), *args],
        env=client.env,
        cwd=client.cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"Error: mla {args[0]}"), lines
    assert "needs the server extra" in lines[0] and lines[0].endswith(INSTALL_HINT), lines
    assert proc.stdout == ""
    assert sorted(p.name for p in client.cwd.iterdir()) == []  # no data folder, no backup
