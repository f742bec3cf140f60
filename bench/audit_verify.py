"""`mla audit verify`'s checking core on N statements beside pyca/cryptography's raw Ed25519
verify rate on the same number of processes, measured in the same run.

The data is made here (not fetched over HTTP): N statements in chains of 10, two agencies
whose keys come from signed key events, all in one log whose checkpoint is signed. The
audit recomputes every leaf and the root, rebuilds the key history, then verifies every
chain on every core. The baseline is the bare Ed25519 verification of N signatures over
messages of the same size, in the same number of processes: the floor any verifier pays.
Goal: audit rate >= 0.8 x baseline rate.

Both are timed BENCH_ROUNDS times (3 by default), alternately, so that load from other
processes on the machine falls on both alike; each round's ratio is printed, then the median
and the spread.

    .venv/bin/python bench/audit_verify.py            # N = 100000
    BENCH_STATEMENTS=20000 BENCH_ROUNDS=5 .venv/bin/python bench/audit_verify.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cryptography.hazmat.primitives.asymmetric.ed25519 import (  # noqa: E402
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from mla_tracker import protocol  # noqa: E402
from mla_tracker.audit.verify import Entry, Fetched, audit, root_of  # noqa: E402
from mla_tracker.crypto import merkle, wire  # noqa: E402
from mla_tracker.crypto.keyevents import encode_key_event, sign_key_event  # noqa: E402
from mla_tracker.crypto.keys import SigningKey  # noqa: E402
from mla_tracker.crypto.log_entry import entry_of  # noqa: E402
from mla_tracker.crypto.note import Checkpoint, NoteSigner  # noqa: E402
from mla_tracker.crypto.statement import GENESIS, digest  # noqa: E402

N = int(os.environ.get("BENCH_STATEMENTS", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CHAIN = 10
WORKERS = os.cpu_count() or 1


def _make() -> Fetched:
    server = SigningKey.generate()
    keys = {"la-mps": SigningKey.generate(), "th-oag": SigningKey.generate()}
    now = datetime.now(UTC)
    envelopes = []
    for agency, key in keys.items():
        payload = encode_key_event(
            agency=agency,
            seq=1,
            prev=GENESIS,
            event="register",
            key_id=key.key_id,
            issued_at=now,
            public_key=key.public,
        )
        envelopes.append(sign_key_event(payload, server))
    requests: dict[str, list[Mapping[str, object]]] = {}
    content = {
        "kind": "mla",
        "urgency": "normal",
        "requesting_agency": "la-mps",
        "requested_agency": "th-oag",
    }
    for _ in range(N // CHAIN):
        rid = uuid.uuid4()
        prev, rows = GENESIS, list[Mapping[str, object]]()
        for seq in range(1, CHAIN + 1):
            if seq == 1:
                actor, action, body = "la-mps", "transmit", content
                meta = {"kind": "mla", "urgency": "normal", "requested_agency": "th-oag"}
            elif seq == 2:
                actor, action, body, meta = "th-oag", "acknowledge", {}, {}
            elif seq % 2 == 1:
                actor, action, body, meta = "th-oag", "request_info", {"questions": "q"}, {}
            else:
                actor, action, body, meta = "la-mps", "provide_info", {"answer": "a"}, {}
            signed = protocol.sign(
                keys[actor],
                request_id=rid,
                seq=seq,
                prev=prev,
                action=action,
                actor=actor,
                body=body,
                meta=meta,
                issued_at=now,
            )
            envelopes.append(signed.envelope)
            prev = digest(signed.envelope.payload_bytes())
            rows.append(
                {"seq": seq, "digest": prev, "envelope": wire.loads(signed.envelope.to_json(), "e")}
            )
        requests[str(rid)] = rows
    entries = []
    for index, envelope in enumerate(envelopes):
        data = entry_of(envelope)
        entries.append(Entry(index, data, merkle.leaf_hash(data)))
    root = root_of(e.leaf_hash for e in entries)
    signer = NoteSigner("bench/log", server)
    note = signer.sign(Checkpoint("bench/log", len(entries), root).to_text())
    return Fetched(
        log_note=note,
        verifier_key=signer.verifier_key(),
        server_key=server.public,
        entries=entries,
        requests=requests,
        directory={a: {k.key_id} for a, k in keys.items()},
    )


def _raw_chunk(args: tuple[bytes, list[tuple[bytes, bytes]]]) -> int:
    public, items = args
    key = Ed25519PublicKey.from_public_bytes(public)
    for signature, message in items:
        key.verify(signature, message)
    return len(items)


def _raw(count: int, size: int) -> float:
    private = Ed25519PrivateKey.generate()
    public = private.public_key().public_bytes_raw()
    message = os.urandom(size)
    signature = private.sign(message)
    items = [(signature, message)] * count
    chunk = count // WORKERS + 1
    batches = [(public, items[i : i + chunk]) for i in range(0, count, chunk)]
    started = time.perf_counter()
    with ProcessPoolExecutor(WORKERS) as pool:
        done = sum(pool.map(_raw_chunk, batches))
    elapsed = time.perf_counter() - started
    assert done == count
    return count / elapsed


def _audit(fetched: Fetched) -> float:
    started = time.perf_counter()
    report, checkpoint = audit(fetched, workers=WORKERS)
    elapsed = time.perf_counter() - started
    assert report.ok and checkpoint is not None, report.lines()[:8]
    assert report.statements == N
    return report.statements / elapsed


def main() -> None:
    """Make the data, time both in alternate rounds, print each ratio, the median and spread."""
    print(f"{N} statements in chains of {CHAIN}, {WORKERS} processes, {ROUNDS} rounds")
    made = time.perf_counter()
    fetched = _make()
    print(f"made and signed in {time.perf_counter() - made:.1f} s (untimed)")
    size = len(fetched.entries[-1].entry)
    ratios = []
    for round_ in range(1, ROUNDS + 1):
        baseline = _raw(N, size)
        rate = _audit(fetched)
        ratios.append(rate / baseline)
        print(
            f"round {round_}: raw Ed25519 verify {baseline:8.0f} sig/s, "
            f"audit (log, keys, chains) {rate:8.0f} statements/s, ratio {ratios[-1]:.2f}"
        )
    ratio = statistics.median(ratios)
    print(
        f"ratio {ratio:.2f} median, {min(ratios):.2f}-{max(ratios):.2f} over {ROUNDS} rounds"
        f"  (goal >= 0.80: {'met' if ratio >= 0.8 else 'missed'})"
    )


if __name__ == "__main__":
    main()
