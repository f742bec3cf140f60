"""What `pip install mla-tracker` leaves out, and the one-line error when a command needs it.

The base install is the client. `mla serve`, `mla worker`, `mla db`, `mla backup`/`restore`
and an embedded `mla demo` run the service, which needs the `server` extra.
"""

from __future__ import annotations

import importlib.util

import click

#: Top-level modules only the `server` extra installs: the web stack, the database stack
#: and what the service alone imports.
SERVER_MODULES = frozenset(
    {
        "aiosqlite",
        "alembic",
        "asyncpg",
        "holidays",
        "litestar",
        "prometheus_client",
        "sqlalchemy",
        "standardwebhooks",
        "swagger_ui_bundle",
        "uvicorn",
    }
)
INSTALL_HINT = 'pip install "mla-tracker[server]"'


def server_module(exc: ModuleNotFoundError) -> str | None:
    """The server-only module whose absence raised EXC, or None for any other module."""
    top = (exc.name or "").partition(".")[0]
    return top if top in SERVER_MODULES else None


def server_extra_missing(command: str, module: str) -> click.ClickException:
    """The error for a command that needs the server extra, naming the fix."""
    return click.ClickException(
        f"{command} needs the server extra ({module} is not installed): {INSTALL_HINT}"
    )


def require_server(command: str) -> None:
    """Stop with the one-line error if any server-only module is missing."""
    for module in sorted(SERVER_MODULES):
        try:
            found = importlib.util.find_spec(module) is not None
        except ImportError:
            found = False
        if not found:
            raise server_extra_missing(command, module)
