"""`mla request …`: create, act on, show and list requests, signing on this machine."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import click

from .. import protocol
from ..crypto.statement import GENESIS, SignedStatement
from ..domain.bodies import BODY_TYPES
from ..domain.model import Action
from .client import Api, api_options, load_document, load_signing_key

#: The text field --reason fills, per action (else the body's `note`).
REASON_FIELD = {
    Action.REFUSE: "reasons",
    Action.POSTPONE: "reason",
    Action.REQUEST_INFO: "questions",
    Action.PROVIDE_INFO: "answer",
    Action.REPORT_OBSTACLE: "reasons",
    Action.NOTIFY_CONFIDENTIALITY: "reasons",
    Action.NOTIFY_PRESERVATION_RISK: "reasons",
    Action.AMEND: "changes",
    Action.ACCEPT_CONDITIONALLY: "conditions",
}


def _key_option(func: Any) -> Any:
    return click.option("--key", envvar="MLA_KEY", help="signing key file [env MLA_KEY]")(func)


def _whoami(api: Api) -> str:
    me = api.call("GET", "/v1/whoami")
    if not me.get("agency_id"):
        raise click.ClickException("this token is the operator's; agencies sign requests")
    return str(me["agency_id"])


def _post_statement(api: Api, path: str, signed: SignedStatement) -> dict[str, Any]:
    result: dict[str, Any] = api.call("POST", path, json_body=protocol.to_json(signed))
    return result


def _print_request(r: dict[str, Any]) -> None:
    click.echo(
        f"{r['id']}  {r['kind']:<12} {r['state']:<18} {r['urgency']:<9} "
        f"{r['requesting_agency']} → {r['requested_agency']}"
        + (f" (executing: {r['executing_agency']})" if r["executing_agency"] else "")
        + f"  {r['case_reference']}"
    )


@click.group()
def request() -> None:
    """Create, act on and read requests."""


@request.command("create")
@api_options
@_key_option
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
def create(url: str, token: str | None, key: str | None, file: Path) -> None:
    """Sign and transmit a request from a JSON or YAML file of its content.

    `requesting_agency` defaults to your agency. Example:
    mla request create subscriber-request.yaml
    """
    content = load_document(file)
    if not isinstance(content, dict):
        raise click.ClickException(f"{file}: the request must be a mapping of fields")
    signing = load_signing_key(key)
    api = Api(url, token)
    actor = _whoami(api)
    content.setdefault("requesting_agency", actor)
    signed = protocol.sign(
        signing,
        request_id=uuid.uuid4(),
        seq=1,
        prev=GENESIS,
        action="transmit",
        actor=actor,
        body=json.loads(json.dumps(content, default=str)),
    )
    result = _post_statement(api, "/v1/requests", signed)
    _print_request(result["request"])
    click.echo(f"statement {result['statement']['digest']} (seq 1)")


@request.command("act")
@api_options
@_key_option
@click.argument("request_id", type=click.UUID)
@click.argument("action", type=click.Choice([a.value for a in Action if a != Action.TRANSMIT]))
@click.option(
    "--body",
    "body_file",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON or YAML file with the action's body",
)
@click.option("--reason", help="the text of the action (reasons, questions, answer or note)")
@click.option("--until", help="date for postpone, preserve, extend (YYYY-MM-DD)")
@click.option("--ground", "grounds", multiple=True, help="refusal ground (repeatable)")
@click.option("--executing-agency", help="for assign: the executing authority's id")
def act(
    url: str,
    token: str | None,
    key: str | None,
    request_id: uuid.UUID,
    action: str,
    body_file: Path | None,
    reason: str | None,
    until: str | None,
    grounds: tuple[str, ...],
    executing_agency: str | None,
) -> None:
    """Sign the next statement on a request and send it.

    Examples: mla request act 7c0e… acknowledge;
    mla request act 7c0e… refuse --ground political_offence --reason "…";
    mla request act 7c0e… assign --executing-agency th-ccib;
    mla request act 7c0e… accept_conditionally --reason "use in this case only";
    mla request act 7c0e… report_obstacle --body obstacle.yaml (reason: data_not_available)
    """
    move = Action(action)
    body: dict[str, Any] = {}
    if body_file is not None:
        loaded = load_document(body_file)
        if not isinstance(loaded, dict):
            raise click.ClickException(f"{body_file}: the body must be a mapping of fields")
        body.update(loaded)
    fields = BODY_TYPES[move].__struct_fields__
    if reason is not None:
        body[REASON_FIELD.get(move, "note")] = reason
    for name, value in (("until", until), ("executing_agency", executing_agency)):
        if value is not None:
            if name not in fields:
                raise click.UsageError(f"--{name.replace('_', '-')} does not apply to {action}")
            body[name] = value
    if grounds:
        body["grounds"] = list(grounds)
    signing = load_signing_key(key)
    api = Api(url, token)
    actor = _whoami(api)
    current = api.call("GET", f"/v1/requests/{request_id}")
    head = current["head"]
    signed = protocol.sign(
        signing,
        request_id=request_id,
        seq=head["seq"] + 1,
        prev=head["digest"],
        action=action,
        actor=actor,
        body=body,
    )
    result = _post_statement(api, f"/v1/requests/{request_id}/statements", signed)
    _print_request(result["request"])
    click.echo(f"statement {result['statement']['digest']} (seq {result['statement']['seq']})")


@request.command("show")
@api_options
@click.argument("request_id", type=click.UUID)
@click.option("--json", "as_json", is_flag=True, help="print the raw JSON")
def show(url: str, token: str | None, request_id: uuid.UUID, as_json: bool) -> None:
    """Show a request and its statement timeline.

    Example: mla request show 7c0e…
    """
    api = Api(url, token)
    r = api.call("GET", f"/v1/requests/{request_id}")
    statements = api.call("GET", f"/v1/requests/{request_id}/statements")
    if as_json:
        click.echo(json.dumps({"request": r, "statements": statements}, indent=2))
        return
    _print_request(r)
    for s in statements:
        click.echo(
            f"  {s['seq']:>3}  {s['received_at']}  {s['actor']:<14} {s['action']:<20}"
            f" {s['digest'][:16]}…"
        )


@request.command("list")
@api_options
@click.option("--kind", type=click.Choice(["mla", "preservation"]))
@click.option("--state")
@click.option("--counterparty", help="only requests involving this agency")
@click.option("--limit", type=click.IntRange(1, 200), default=50, show_default=True)
@click.option("--all", "all_pages", is_flag=True, help="follow every page")
def list_requests(
    url: str,
    token: str | None,
    kind: str | None,
    state: str | None,
    counterparty: str | None,
    limit: int,
    all_pages: bool,
) -> None:
    """List the requests you may see, newest first.

    Example: mla request list --kind preservation --state preserved
    """
    api = Api(url, token)
    params: dict[str, Any] = {"limit": limit}
    for name, value in (("kind", kind), ("state", state), ("counterparty", counterparty)):
        if value:
            params[name] = value
    while True:
        page = api.call("GET", "/v1/requests", params=params)
        for r in page["items"]:
            _print_request(r)
        if not all_pages or not page["next_cursor"]:
            if page["next_cursor"]:
                click.echo(f"(more: --all, or cursor {page['next_cursor']})")
            return
        params["cursor"] = page["next_cursor"]
