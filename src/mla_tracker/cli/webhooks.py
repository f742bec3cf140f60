"""`mla webhooks …`: an agency's webhook subscriptions, their delivery logs, and re-drive.

Client-side only (the hub's HTTP API): no server module is imported, so these commands work
with the light client install.
"""

from __future__ import annotations

import json
from typing import Any

import click

from .client import Api, api_options

#: The event types a subscription may name (workflows/events.py EventType; docs/notifications.md).
EVENT_TYPES = ("statement.accepted", "deadline.warning", "deadline.missed", "preservation.expired")
_KEY = click.option("--key", envvar="MLA_KEY", help="signing key file, to log in [env MLA_KEY]")
_JSON = click.option("--json", "as_json", is_flag=True, help="print the raw JSON")


def _show(hook: dict[str, Any]) -> None:
    types = ", ".join(hook["event_types"]) or "every event type"
    click.echo(f"{hook['id']}  {hook['url']}")
    click.echo(f"    events: {types}; created {hook['created_at']}")
    if hook["secret_rotated_at"]:
        line = f"    secret rotated {hook['secret_rotated_at']}"
        if hook["previous_secret_expires_at"]:
            line += f"; the previous one signs too until {hook['previous_secret_expires_at']}"
        click.echo(line)


def _issued(hook: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(hook, indent=2))
        return
    _show(hook)
    click.echo(f"secret: {hook['secret']}")
    click.echo(
        "Keep it now: it is not shown again. Verify each delivery with it (docs/notifications.md).",
        err=True,
    )


@click.group("webhooks")
def webhooks() -> None:
    """Your agency's webhook subscriptions (signed per Standard Webhooks) and their deliveries.

    Examples: mla webhooks add https://hooks.example.org/mla;
    mla webhooks deliveries <id>; MLA_TOKEN=<operator token> mla webhooks redrive 42
    """


@webhooks.command("add")
@api_options
@_KEY
@click.argument("target", metavar="URL")
@click.option(
    "--event",
    "events",
    multiple=True,
    type=click.Choice(EVENT_TYPES),
    help="an event type to receive (repeat; default: every type)",
)
@_JSON
def add(
    url: str,
    token: str | None,
    key: str | None,
    target: str,
    events: tuple[str, ...],
    as_json: bool,
) -> None:
    """Subscribe to your agency's events; prints the secret, this once.

    Example: mla webhooks add https://hooks.example.org/mla --event deadline.missed
    """
    body = {"url": target, "event_types": list(events)}
    _issued(Api(url, token).call("POST", "/v1/webhooks", json_body=body), as_json)


@webhooks.command("list")
@api_options
@_KEY
@_JSON
def list_hooks(url: str, token: str | None, key: str | None, as_json: bool) -> None:
    """Your agency's subscriptions (never their secrets).

    Example: mla webhooks list
    """
    hooks = Api(url, token).call("GET", "/v1/webhooks")
    if as_json:
        click.echo(json.dumps(hooks, indent=2))
    elif not hooks:
        click.echo("no webhooks")
    for hook in [] if as_json else hooks:
        _show(hook)


@webhooks.command("remove")
@api_options
@_KEY
@click.argument("webhook_id", type=click.UUID)
def remove(url: str, token: str | None, key: str | None, webhook_id: Any) -> None:
    """Delete a subscription and its delivery log.

    Example: mla webhooks remove 3f2c…
    """
    Api(url, token).call("DELETE", f"/v1/webhooks/{webhook_id}")
    click.echo(f"removed {webhook_id}")


@webhooks.command("rotate")
@api_options
@_KEY
@click.argument("webhook_id", type=click.UUID)
@click.option(
    "--overlap",
    type=click.IntRange(0, 7 * 86_400),
    default=86_400,
    show_default=True,
    help="seconds the current secret keeps signing beside the new one",
)
@_JSON
def rotate(
    url: str, token: str | None, key: str | None, webhook_id: Any, overlap: int, as_json: bool
) -> None:
    """Issue a new secret; deliveries carry both signatures during the overlap.

    Example: mla webhooks rotate 3f2c… --overlap 3600
    """
    path = f"/v1/webhooks/{webhook_id}/rotate-secret"
    hook = Api(url, token).call("POST", path, json_body={"overlap_seconds": overlap})
    _issued(hook, as_json)


@webhooks.command("deliveries")
@api_options
@_KEY
@click.argument("webhook_id", type=click.UUID)
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@_JSON
def deliveries(
    url: str, token: str | None, key: str | None, webhook_id: Any, limit: int, as_json: bool
) -> None:
    """A subscription's delivery log, newest first.

    Example: mla webhooks deliveries 3f2c… --limit 20
    """
    page = Api(url, token).call(
        "GET", f"/v1/webhooks/{webhook_id}/deliveries", params={"limit": limit}
    )
    if as_json:
        click.echo(json.dumps(page, indent=2))
        return
    if not page["items"]:
        click.echo("no deliveries yet")
        return
    click.echo(f"{'ID':>8}  {'EVENT':>8}  {'STATUS':<9}  {'TRIES':>5}  {'LAST':<24}  NEXT")
    for d in page["items"]:
        last = str(d["last_status"] or d["last_error"] or "-")[:24]
        click.echo(
            f"{d['id']:>8}  {d['event_id'] or '-':>8}  {d['status']:<9}  {d['attempts']:>5}  "
            f"{last:<24}  {d['next_attempt_at'] or '-'}"
        )
    if page["next_cursor"]:
        click.echo("(older deliveries: --json and the API's cursor)", err=True)


@webhooks.command("redrive")
@api_options(auto_login=False)
@click.argument("delivery_id", type=click.IntRange(1))
def redrive(url: str, token: str | None, delivery_id: int) -> None:
    """Operator: send a dead delivery again, its attempts counted from zero.

    Example: MLA_TOKEN=$(cat data/operator.token) mla webhooks redrive 42
    """
    found = Api(url, token).call("POST", f"/v1/webhooks/deliveries/{delivery_id}/redrive")
    click.echo(f"delivery {found['id']} is {found['status']} again (event {found['event_id']})")
