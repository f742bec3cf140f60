"""Offline bundles: one request with everything needed to verify it without the hub.

In the spirit of C2SP tlog-proof: the signed checkpoint, the log's verifier key, every
statement of the request and the full key-event chain of every agency involved, each with
its inclusion proof in the checkpoint's tree, and the custody assertions of its packages.
The checkpoint note keeps the witnesses' cosignatures the hub served with it.
Whoever receives it checks it with `mla audit verify FILE`, pinning the log key they got
from the hub's well-known URL (`--log-key`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import msgspec

from .. import protocol
from ..crypto import dsse, merkle, wire
from ..crypto.custody import CUSTODY_PAYLOAD_TYPE
from ..crypto.errors import CryptoError
from ..crypto.keyhistory import KeyHistory
from ..crypto.keys import VerifyingKey
from ..domain.errors import DomainError
from .checkpoints import check_witnesses, open_checkpoint
from .report import Report

FORMAT = "https://mla-tracker.dev/audit-bundle/v1"


class BundleEntry(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A log entry with its inclusion proof (and, for statements, the body if shared)."""

    index: int
    entry: str
    proof: list[str]
    body: str | None = None


class Bundle(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One request, verifiable offline."""

    format: str
    request_id: str
    verifier_key: str
    checkpoint: str
    server_key: str
    key_events: list[BundleEntry]
    statements: list[BundleEntry]
    custody: list[BundleEntry]


def _proved(api: Any, digest: str, size: int, body: str | None = None) -> BundleEntry:
    found = api.call("GET", "/v1/log/proof/inclusion", params={"digest": digest, "size": size})
    return BundleEntry(
        index=found["entry"]["index"],
        entry=found["entry"]["entry"],
        proof=found["proof"],
        body=body,
    )


def build_bundle(
    api: Any,
    request_id: str,
    *,
    with_bodies: bool,
    witnessed: bool = False,
    patience: float = 10.0,
) -> bytes:
    """Fetch one request's bundle from the hub through `api` (cli.client.Api).

    Entries queued but not yet integrated have no proof: wait (up to `patience` seconds)
    for a checkpoint that holds them all. `witnessed`: use the latest checkpoint a witness
    cosigned (its note carries the cosignatures), waiting likewise for one that holds them.
    """
    import click

    deadline = time.monotonic() + patience
    while True:
        try:
            return _build(api, request_id, with_bodies=with_bodies, witnessed=witnessed)
        except click.ClickException as exc:
            waiting = ("not in the tree", "queued", "cosigned by a witness yet")
            if not any(words in exc.message for words in waiting):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _build(api: Any, request_id: str, *, with_bodies: bool, witnessed: bool) -> bytes:
    key = api.call("GET", "/v1/log/key")
    server = api.call("GET", "/v1/server-key")
    # The note is kept whole, witnesses' cosignature lines included.
    checkpoint = api.text("/v1/log/checkpoint" + ("?witnessed=true" if witnessed else ""))
    size = int(checkpoint.splitlines()[1])
    rows = api.call("GET", f"/v1/requests/{request_id}/statements")
    request = api.call("GET", f"/v1/requests/{request_id}")
    statements = [
        _proved(api, r["digest"], size, r.get("body") if with_bodies else None) for r in rows
    ]
    agencies = {r["actor"] for r in rows} | {
        a
        for a in (
            request["requesting_agency"],
            request["requested_agency"],
            request["executing_agency"],
        )
        if a
    }
    key_events = [
        _proved(api, e["digest"], size)
        for agency in sorted(agencies)
        for e in api.call("GET", f"/v1/agencies/{agency}/key-events")
    ]
    custody = [
        _proved(api, e["digest"], size)
        for e in api.call("GET", f"/v1/log/requests/{request_id}")
        if e["kind"] == "custody" and e["index"] < size
    ]
    bundle = Bundle(
        format=FORMAT,
        request_id=request_id,
        verifier_key=key["verifier_key"],
        checkpoint=checkpoint,
        server_key=server["public_key"],
        key_events=sorted(key_events, key=lambda e: e.index),
        statements=statements,
        custody=custody,
    )
    return msgspec.json.encode(bundle)


def _envelope(item: BundleEntry, where: str) -> dsse.Envelope:
    return wire.decode(wire.b64decode(item.entry, where), dsse.Envelope, where)


def verify_bundle(
    data: bytes, *, log_key: str | None = None, witnesses: Sequence[str] = ()
) -> Report:
    """Check a bundle with no network; every failure lands in the report.

    `witnesses`: verifier keys of witnesses whose cosignature the checkpoint must carry.
    """
    report = Report(by_proof=True)
    try:
        bundle = wire.decode(data, Bundle, "bundle")
    except CryptoError as exc:
        report.fail("bundle", str(exc))
        return report
    if bundle.format != FORMAT:
        report.fail("bundle", f"unknown format {bundle.format!r}")
        return report
    if log_key is not None and log_key != bundle.verifier_key:
        report.fail("log key", f"the bundle's log key is {bundle.verifier_key}, not {log_key}")
    try:
        checkpoint = open_checkpoint(bundle.checkpoint, bundle.verifier_key)
    except CryptoError as exc:
        report.fail("checkpoint", str(exc))
        return report
    report.checkpoint_size = checkpoint.size
    check_witnesses(bundle.checkpoint, checkpoint, witnesses, report)
    for label, items in (
        ("key event", bundle.key_events),
        ("statement", bundle.statements),
        ("custody", bundle.custody),
    ):
        for item in items:
            try:
                leaf = merkle.leaf_hash(wire.b64decode(item.entry, label))
                proof = [wire.b64decode(p, "proof") for p in item.proof]
                merkle.verify_inclusion(
                    leaf, item.index, checkpoint.size, proof, checkpoint.root_hash
                )
                report.entries += 1
            except CryptoError as exc:
                report.fail(
                    f"{label} not in the log", f"entry {item.index}: {exc}", bundle.request_id
                )
    server_key = VerifyingKey.from_base64(bundle.server_key)
    history = KeyHistory(server_key)
    for item in bundle.key_events:
        try:
            history.append(_envelope(item, "key event"))
            report.key_events += 1
        except CryptoError as exc:
            report.fail("key event", f"entry {item.index}: {exc}")
    for recorded in history.recoveries():
        report.recoveries.append(f"{recorded.event.agency}: recovery key {recorded.event.key_id}")
    envelopes = [_envelope(s, "statement") for s in bundle.statements]
    bodies = [None if s.body is None else wire.b64decode(s.body, "body") for s in bundle.statements]
    try:
        verified = protocol.verify_request(envelopes, history, bodies)
        report.requests, report.statements = 1, len(verified.statements)
        if str(verified.request_id) != bundle.request_id:
            report.fail("bundle", f"its statements belong to {verified.request_id}")
    except (CryptoError, DomainError) as exc:
        report.fail_from(exc, bundle.request_id)
    for item in bundle.custody:
        envelope = _envelope(item, "custody")
        try:
            dsse.verify(envelope, CUSTODY_PAYLOAD_TYPE, lambda _k: server_key)
        except CryptoError as exc:
            report.fail("custody", f"entry {item.index}: {exc}", bundle.request_id)
    return report
