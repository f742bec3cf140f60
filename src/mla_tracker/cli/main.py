"""The `mla` command.

Subcommands are imported on first use (click's lazy-loading pattern), so that e.g.
`mla evidence seal` does not pay for the server's asyncio stack or the request and
transfer modules it never runs.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import click

from .. import __version__
from .extras import server_extra_missing, server_module

#: Every `mla` subcommand, as "module:attribute".
COMMANDS: dict[str, str] = {
    "agency": "mla_tracker.cli.agency:agency",
    "audit": "mla_tracker.cli.audit:audit",
    "backup": "mla_tracker.cli.backup:backup",
    "db": "mla_tracker.cli.server:db",
    "deadlines": "mla_tracker.cli.deadlines:deadlines",
    "demo": "mla_tracker.cli.demo:demo",
    "evidence": "mla_tracker.cli.evidence:evidence",
    "keygen": "mla_tracker.cli.keygen:keygen",
    "login": "mla_tracker.cli.login:login_command",
    "request": "mla_tracker.cli.requests:request",
    "restore": "mla_tracker.cli.backup:restore",
    "serve": "mla_tracker.cli.server:serve",
    "webhooks": "mla_tracker.cli.webhooks:webhooks",
    "witness": "mla_tracker.cli.witness:witness",
    "worker": "mla_tracker.cli.worker:worker",
}

#: Commands that join a subgroup defined in another module, by subgroup name. Upload and
#: download talk to the hub, so they live beside the HTTP client rather than in evidence.py,
#: and sealing or opening offline should not import them.
EXTENSIONS: dict[str, dict[str, str]] = {
    "agency": {"watch": "mla_tracker.cli.audit:watch"},
    "evidence": {
        "download": "mla_tracker.cli.transfer:download",
        "upload": "mla_tracker.cli.transfer:upload",
    },
}


def import_command(path: str) -> click.Command:
    """The click command at "module:attribute", importing the module."""
    module_name, _, attribute = path.partition(":")
    command = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(command, click.Command):
        raise TypeError(f"{path} is not a click command")
    return command


class LazyCommand(click.Command):
    """A placeholder in a group that imports the real command when it is run or listed.

    Meant for visible commands: `hidden` is the placeholder's own (False), since reading the
    real one would mean importing it just to check.
    """

    def __init__(self, name: str, import_path: str) -> None:
        super().__init__(name)
        self.import_path = import_path
        self._command: click.Command | None = None

    def load(self) -> click.Command:
        """The real command, imported on first use."""
        if self._command is None:
            self._command = import_command(self.import_path)
        return self._command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        """The real command's context, so the real command parses, runs and prints help."""
        # Group.invoke and shell completion carry on with sub_ctx.command, not with the
        # object get_command returned, so the placeholder drops out here.
        return self.load().make_context(info_name, args, parent, **extra)

    def get_short_help_str(self, limit: int = 45) -> str:
        """The real command's one-line help, for the group's command list."""
        return self.load().get_short_help_str(limit)

    def to_info_dict(self, ctx: click.Context) -> dict[str, Any]:
        """The real command's description."""
        return self.load().to_info_dict(ctx)


class LazyGroup(click.Group):
    """A click group whose subcommands are imported only when asked for by name."""

    def __init__(
        self,
        *args: Any,
        lazy_subcommands: Mapping[str, str] | None = None,
        extensions: Mapping[str, Mapping[str, str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})
        self.extensions = {name: dict(more) for name, more in (extensions or {}).items()}

    def list_commands(self, ctx: click.Context) -> list[str]:
        """Loaded and not yet loaded subcommands, sorted as click.Group sorts them."""
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The subcommand, imported (and its extensions attached) the first time."""
        path = self.lazy_subcommands.get(cmd_name)
        if path is None:
            return super().get_command(ctx, cmd_name)
        try:
            command = import_command(path)
        except ModuleNotFoundError as exc:
            # A server command's module that needs the server extra to be imported at all:
            # listed in `mla --help`, and a one-line error when run.
            module = server_module(exc)
            if module is None:
                raise
            return _needs_server(cmd_name, module)
        if isinstance(command, click.Group):
            for name, extra in self.extensions.get(cmd_name, {}).items():
                if name not in command.commands:
                    command.add_command(LazyCommand(name, extra))
        # Kept as an ordinary subcommand from now on, so the next lookup neither imports
        # nor attaches the extensions again.
        self.add_command(command, cmd_name)
        del self.lazy_subcommands[cmd_name]
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; a server-only module missing on the way is a one-line error.

        Without the `server` extra, server commands fail when they import the service (in
        their body, where the imports are lazy), not with a traceback.
        """
        try:
            return super().invoke(ctx)
        except ModuleNotFoundError as exc:
            module = server_module(exc)
            if module is None:
                raise
            raise server_extra_missing(f"mla {ctx.invoked_subcommand}", module) from exc


def _needs_server(name: str, module: str) -> click.Command:
    """A stand-in for a command whose module cannot be imported without the server extra."""

    def refuse() -> None:
        raise server_extra_missing(f"mla {name}", module)

    return click.Command(
        name,
        callback=refuse,
        help=f"(needs the server extra: {module} is not installed)",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )


@click.group(
    cls=LazyGroup,
    lazy_subcommands=COMMANDS,
    extensions=EXTENSIONS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, prog_name="mla")
def cli() -> None:
    """mla-tracker: signed, deadline-aware tracking of cross-border MLA requests."""


def main() -> None:
    """Entry point of the `mla` console script."""
    cli()


if __name__ == "__main__":
    main()
