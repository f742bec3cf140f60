"""compose.yaml cannot be run here (no container engine), so it is checked against the code:
every MLA_* variable it sets is one the service reads, every `mla` command and flag exists,
and what the processes must share (database, blob store, server key) is shared."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click
import pytest
import yaml

from mla_tracker.cli.main import cli
from mla_tracker.config import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
#: The services that run `mla`.
MLA = {name: s for name, s in SERVICES.items() if s.get("command", [""])[0] == "mla"}
#: What every `mla` process must agree on.
SHARED = ("MLA_DATABASE_URL", "MLA_DATA_DIR", "MLA_BLOB_DIR", "MLA_OPERATOR_TOKEN")


def _variables_read_by_the_service() -> set[str]:
    """Every MLA_* name written as a string in src/ (config.py and the few read elsewhere)."""
    names = set()
    for path in (ROOT / "src" / "mla_tracker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                names.update(re.findall(r"^MLA_[A-Z0-9_]+$", node.value))
    return names


def _env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment, each `${VAR…}` taken as set (to the placeholder `x`)."""
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping"
    return {k: re.sub(r"\$\{[^}]*\}", "x", str(v)) for k, v in env.items()}


def _resolve(args: list[str]) -> click.Command:
    """The `mla` command ARGS name, after click parsed every option (unknown ones fail)."""
    command: click.Command = cli
    ctx = cli.make_context("mla", list(args))
    while isinstance(command, click.Group):
        # click >= 8.2 keeps the subcommand's words in _protected_args, 8.1 in protected_args.
        words = ctx._protected_args if hasattr(ctx, "_protected_args") else ctx.protected_args
        name, sub, rest = command.resolve_command(ctx, [*words, *ctx.args])
        assert sub is not None, args
        command, ctx = sub, sub.make_context(name, rest, parent=ctx)
    return command


def test_services_run_the_whole_layout() -> None:
    assert {"db", "migrate", "api", "worker", "proxy"} <= set(SERVICES)
    assert set(MLA) == {"migrate", "api", "worker"}
    assert SERVICES["api"]["deploy"]["replicas"]


def test_every_mla_variable_set_is_read_by_the_service() -> None:
    read = _variables_read_by_the_service()
    assert {"MLA_DATABASE_URL", "MLA_DATA_DIR", "MLA_BLOB_DIR", "MLA_OPERATOR_TOKEN"} <= read
    for name, service in MLA.items():
        unknown = {k for k in _env(service) if k.startswith("MLA_")} - read
        assert not unknown, f"{name} sets {unknown}, which nothing in src/ reads"


@pytest.mark.parametrize("name", sorted(MLA))
def test_commands_and_flags_exist(name: str) -> None:
    args = MLA[name]["command"][1:]
    command = _resolve(args)
    expected = {"migrate": "upgrade", "api": "serve", "worker": "worker"}[name]
    assert command.name == expected


def test_processes_share_database_blob_store_and_server_key() -> None:
    envs = {name: _env(service) for name, service in MLA.items()}
    for variable in SHARED:
        values = {env.get(variable) for env in envs.values()}
        assert len(values) == 1 and None not in values, (variable, values)
    env = envs["api"]
    # The data folder (server.key lives there) and the blob store are on one named volume,
    # mounted at the same place in every process.
    for service in MLA.values():
        volumes = [v.split(":") for v in service["volumes"]]
        data = [src for src, dst, *_ in volumes if dst == env["MLA_DATA_DIR"]]
        assert data and data[0] in COMPOSE["volumes"], service["volumes"]
    assert env["MLA_BLOB_DIR"].startswith(env["MLA_DATA_DIR"] + "/")
    # PostgreSQL: the db service, with its user and database.
    url = urlsplit(env["MLA_DATABASE_URL"])
    db = _env(SERVICES["db"])
    assert url.scheme in ("postgresql", "postgresql+asyncpg")
    assert url.hostname == "db" and url.username == db["POSTGRES_USER"]
    assert url.path == "/" + db["POSTGRES_DB"]


def test_one_migration_then_replicas_without_it() -> None:
    api, worker = SERVICES["api"], SERVICES["worker"]
    assert "--no-migrate" in api["command"]
    assert "--no-worker" in api["command"]  # the one worker service does that work
    for service in (api, worker):
        assert service["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert SERVICES["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_proxy_sends_to_the_api_port() -> None:
    port = _env(SERVICES["api"])["MLA_PORT"]
    config = COMPOSE["configs"]["nginx"]["content"]
    assert f"server api:{port};" in config
    assert "client_max_body_size 0;" in config  # evidence packages stream through


def test_postgres_takes_every_pool_at_once() -> None:
    """Each process holds at most its pool (no overflow): all of them fit max_connections,
    with as much again to spare for operators' sessions and a rolling restart."""
    command = SERVICES["db"]["command"]
    limit = int(command[command.index("-c") + 1].removeprefix("max_connections="))
    replicas = int(
        re.sub(r"\$\{[^:}]*:-(\d+)\}", r"\1", str(SERVICES["api"]["deploy"]["replicas"]))
    )
    pool = int(_env(SERVICES["api"]).get("MLA_DB_POOL_SIZE", Settings().db_pool_size))
    assert (replicas + 2) * 2 * pool < limit  # replicas, the worker, the migration
