"""`mla deadlines`: the deadlines you may see, as a table, overdue first."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

from .client import Api, api_options

#: Pages fetched at most when following cursors (200 deadlines each).
MAX_PAGES = 50
COLUMNS = ("STATUS", "DUE (UTC)", "DUE (LOCAL)", "DEADLINE", "RESPONSIBLE", "REQUEST", "RULE")


def _label(d: dict[str, Any]) -> str:
    if d["overdue"]:
        return "OVERDUE"
    if d["status"] == "pending" and d["due_at"] is None:
        return "stopped"
    return str(d["status"])


def _order(d: dict[str, Any]) -> tuple[int, str]:
    # Overdue first, then what is still running by due time, stopped clocks, then history.
    if d["overdue"]:
        rank = 0
    elif d["status"] == "pending":
        rank = 1 if d["due_at"] else 2
    else:
        rank = 3
    return rank, d["due_at"] or d["stopped_at"] or ""


def _due(value: str | None, remaining: str | None) -> str:
    if value is None:
        return f"({remaining} left)" if remaining else "-"
    return value.replace("T", " ")[:19]


def _local(value: str | None) -> str:
    if value is None:
        return ""
    offset = "Z" if value.endswith("Z") else value[-6:]
    return value.replace("T", " ")[:19] + offset


def _instant(value: str) -> datetime:
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        when = None
    if when is None or when.tzinfo is None:
        raise click.BadParameter(
            f"{value!r}: an ISO 8601 instant with offset or Z", param_hint="--due-before"
        )
    return when


def render_table(items: Sequence[dict[str, Any]], *, sources: bool = False) -> list[str]:
    """The deadlines as aligned text lines, overdue first."""
    rows = [COLUMNS + (("SOURCE",) if sources else ())]
    for d in sorted(items, key=_order):
        row = (
            _label(d),
            _due(d["due_at"], d["remaining"]),
            _local(d["due_local"]),
            d["deadline"],
            f"{d['responsible_agency']} ({d['responsible_party']})",
            str(d["request_id"])[:8],
            d["rule"],
        )
        rows.append(row + ((d["source"],) if sources else ()))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:-1], widths, strict=True)) + "  " + r[-1]
        for r in rows
    ]


@click.command("deadlines")
@api_options
@click.option("--key", envvar="MLA_KEY", help="signing key file, to log in [env MLA_KEY]")
@click.option("--agency", help="only deadlines this agency is responsible for")
@click.option("--request", "request_id", type=click.UUID, help="only this request's deadlines")
@click.option(
    "--state",
    type=click.Choice(["pending", "met", "missed"]),
    help="only deadlines in this state (default: the open ones: pending and overdue)",
)
@click.option("--due-before", help="only those due before this ISO 8601 instant (with offset)")
@click.option("--all", "show_all", is_flag=True, help="also met and late-met deadlines")
@click.option("--sources", is_flag=True, help="add each rule's source")
@click.option("--json", "as_json", is_flag=True, help="print the raw JSON")
def deadlines(
    url: str,
    token: str | None,
    key: str | None,
    agency: str | None,
    request_id: uuid.UUID | None,
    state: str | None,
    due_before: str | None,
    show_all: bool,
    sources: bool,
    as_json: bool,
) -> None:
    """Deadlines of the requests you may see, overdue first.

    Each has its rule and source (docs/deadlines.md), its due time in UTC and in the
    responsible agency's zone, who owes it, and pending / met / missed at the hub's clock.

    Examples: mla deadlines; mla deadlines --agency th-oag --state missed;
    mla deadlines --request 7c0e… --all --sources
    """
    if due_before is not None:
        _instant(due_before)  # refuse a naive or malformed instant before asking the hub
    api = Api(url, token)
    if request_id is not None:
        items = list(api.call("GET", f"/v1/requests/{request_id}/deadlines")["deadlines"])
        items = [d for d in items if _wanted(d, agency, state, due_before)]
    else:
        items = _fetch(api, agency, state, due_before)
    if not (show_all or state):
        items = [d for d in items if d["closed_at"] is None]
    if as_json:
        click.echo(json.dumps(sorted(items, key=_order), indent=2))
        return
    if not items:
        click.echo("no deadlines")
        return
    for line in render_table(items, sources=sources):
        click.echo(line)


def _wanted(d: dict[str, Any], agency: str | None, state: str | None, before: str | None) -> bool:
    return (
        (agency is None or d["responsible_agency"] == agency)
        and (state is None or d["status"] == state)
        and (
            before is None or (d["due_at"] is not None and _instant(d["due_at"]) < _instant(before))
        )
    )


def _fetch(
    api: Api, agency: str | None, state: str | None, due_before: str | None
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": 200}
    for name, value in (("agency", agency), ("state", state), ("due_before", due_before)):
        if value:
            params[name] = value
    items: list[dict[str, Any]] = []
    for _ in range(MAX_PAGES):
        page = api.call("GET", "/v1/deadlines", params=params)
        items += page["items"]
        if not page["next_cursor"]:
            return items
        params["cursor"] = page["next_cursor"]
    click.echo(f"(showing the first {len(items)}; narrow with --agency or --state)", err=True)
    return items
