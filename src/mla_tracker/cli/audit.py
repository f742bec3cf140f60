"""`mla audit verify|export` and `mla agency watch`: what auditors and agencies check."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from ..crypto import wire
from ..crypto.keys import VerifyingKey
from .client import Api, api_options

PAGE = 1000


def _fetch_all(api: Api, *, label: str, witnessed: bool = False) -> Any:
    """Everything an auditor sees, with a progress bar; returns audit.verify.Fetched.

    `witnessed`: audit the latest checkpoint a witness cosigned, not the very latest, which
    the hub may not have pushed to its witnesses yet.
    """
    from ..audit.verify import Entry, Fetched

    key = api.call("GET", "/v1/log/key")
    note = api.text("/v1/log/checkpoint" + ("?witnessed=true" if witnessed else ""))
    size = int(note.splitlines()[1]) if len(note.splitlines()) > 1 else 0
    server = api.call("GET", "/v1/server-key")
    entries: list[Entry] = []
    with click.progressbar(length=size, label=f"{label}: log entries", file=sys.stderr) as bar:
        for start in range(0, size, PAGE):
            page = api.call(
                "GET", "/v1/log/entries", params={"start": start, "end": min(size, start + PAGE)}
            )
            for item in page:
                entries.append(
                    Entry(
                        item["index"],
                        wire.b64decode(item["entry"], "entry"),
                        wire.b64decode(item["leaf_hash"], "leaf_hash"),
                    )
                )
            bar.update(len(page))
    requests: dict[str, list[Any]] = {}
    listed = _all_requests(api)
    with click.progressbar(listed, label=f"{label}: requests", file=sys.stderr) as bar:
        for rid in bar:
            requests[rid] = api.call("GET", f"/v1/requests/{rid}/statements")
    directory = {a["id"]: {k["key_id"] for k in a["keys"]} for a in api.call("GET", "/v1/agencies")}
    return Fetched(
        log_note=note,
        verifier_key=key["verifier_key"],
        server_key=VerifyingKey.from_base64(server["public_key"]),
        entries=entries,
        requests=requests,
        directory=directory,
    )


def _all_requests(api: Api) -> list[str]:
    ids: list[str] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        page = api.call("GET", "/v1/requests", params=params)
        ids += [r["id"] for r in page["items"]]
        if not page["next_cursor"]:
            return ids
        params["cursor"] = page["next_cursor"]


@click.group()
def audit() -> None:
    """Verify the hub's log and every request, online or from an offline bundle."""


@audit.command("verify")
@api_options
@click.option("--key", envvar="MLA_KEY", help="the auditor's signing key [env MLA_KEY]")
@click.argument("bundle", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    help="the last trusted checkpoint [default: ~/.local/state/mla/audit-state.json]",
)
@click.option("--workers", type=click.IntRange(1, 64), help="processes (default: every core)")
@click.option(
    "--log-key",
    help="the log's note verifier key you trust (from /.well-known/mla-tracker-log-key); "
    "a bundle or hub signed by another key fails",
)
@click.option(
    "--witness",
    "witness_keys",
    multiple=True,
    help="a witness's verifier key (repeatable): the checkpoint must carry a valid "
    "cosignature by each",
)
def verify(
    url: str,
    token: str | None,
    key: str | None,
    bundle: Path | None,
    state: Path | None,
    workers: int | None,
    log_key: str | None,
    witness_keys: tuple[str, ...],
) -> None:
    """Verify everything you may see (online), or one exported bundle (offline, BUNDLE).

    Online: the checkpoint's signature, every log entry against its root, consistency with
    the checkpoint this auditor trusted last (a rollback or fork fails), every key event,
    every request's chain, and that every statement is in the log. Exits 0 only if all holds.
    With --witness, the latest checkpoint the hub's witnesses cosigned is audited, and it
    must carry a valid cosignature by each witness given.
    Examples: MLA_KEY=keys/audit/signing.key mla audit verify;
    mla audit verify case-0142.bundle --witness "witness.example.org/w1+3789779f+BKiA…"
    """
    if bundle is not None:
        from ..audit.bundle import verify_bundle

        report = verify_bundle(bundle.read_bytes(), log_key=log_key, witnesses=witness_keys)
        _print(report.lines())
        sys.exit(0 if report.ok else 1)
    from ..audit import state as trusted
    from ..audit.checkpoints import check_witnesses
    from ..audit.verify import audit as run_audit

    api = Api(url, token)
    fetched = _fetch_all(api, label="fetching", witnessed=bool(witness_keys))
    report, checkpoint = run_audit(fetched, workers=workers)
    if checkpoint is not None:
        check_witnesses(fetched.log_note, checkpoint, witness_keys, report)
    if log_key is not None and log_key != fetched.verifier_key:
        report.fail("log key", f"the hub signs with {fetched.verifier_key}, not {log_key}")
    path = state or trusted.default_state_file()
    if checkpoint is not None:
        origin = checkpoint.origin
        before = trusted.load(path)
        if before is not None:
            proof = None
            if before.size < checkpoint.size and before.size > 0:
                got = api.call(
                    "GET",
                    "/v1/log/proof/consistency",
                    params={"first": before.size, "second": checkpoint.size},
                )
                proof = [wire.b64decode(h, "proof") for h in got["proof"]]
            problem = trusted.compare(
                before,
                origin=origin,
                verifier_key=fetched.verifier_key,
                size=checkpoint.size,
                root=checkpoint.root_hash,
                consistency=proof,
            )
            if problem is not None:
                report.fail("checkpoint", problem)
        if report.ok:
            trusted.save(
                path,
                trusted.TrustedCheckpoint(
                    origin=origin,
                    verifier_key=fetched.verifier_key,
                    size=checkpoint.size,
                    root_hash=wire.b64encode(checkpoint.root_hash),
                ),
            )
    _print(report.lines())
    sys.exit(0 if report.ok else 1)


@audit.command("export")
@api_options
@click.option("--key", envvar="MLA_KEY", help="your signing key [env MLA_KEY]")
@click.option("--request", "request_id", required=True, type=click.UUID)
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--with-bodies", is_flag=True, help="include statement bodies (parties only)")
@click.option(
    "--witnessed",
    is_flag=True,
    help="use the latest checkpoint the hub's witnesses cosigned (for `verify --witness`)",
)
def export(
    url: str,
    token: str | None,
    key: str | None,
    request_id: Any,
    output: Path,
    with_bodies: bool,
    witnessed: bool,
) -> None:
    """Write one self-contained, offline-verifiable bundle of a request.

    It holds the signed checkpoint, the log key, every statement with its inclusion proof,
    and the key events of every agency involved with theirs. Hand it to a court.
    Example: mla audit export --request 7c0e… -o case-0142.bundle
    """
    from ..audit.bundle import build_bundle

    data = build_bundle(
        Api(url, token), str(request_id), with_bodies=with_bodies, witnessed=witnessed
    )
    output.write_bytes(data)
    click.echo(f"wrote {output} ({len(data)} bytes)")


@click.command("watch")
@click.argument("agency_id")
@click.option("--url", envvar="MLA_URL", default="http://127.0.0.1:8000", show_default=True)
def watch(agency_id: str, url: str) -> None:
    """List an agency's key events from the log; fail on one it did not sign itself.

    The operator registers an agency's first key; every later event should be the agency's
    own. A recovery key or an operator revocation shows here, so an attempt to impersonate
    the agency cannot go unnoticed. Example: mla agency watch la-mps
    """
    from ..audit.watch import watch_agency

    lines, foreign = watch_agency(Api(url, None), agency_id)
    _print(lines)
    sys.exit(1 if foreign else 0)


def _print(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)
