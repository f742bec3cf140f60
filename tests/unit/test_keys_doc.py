"""docs/keys.md's worked example, recomputed from its seeds with the project's own code."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mla_tracker.crypto.keyevents import GENESIS, digest, encode_key_event, sign_key_event
from mla_tracker.crypto.keyhistory import KeyHistory
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.login import sign_login

DOC = (Path(__file__).parents[2] / "docs" / "keys.md").read_text()


def _seed(n: int) -> SigningKey:
    return SigningKey(Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32))


def test_worked_example_is_byte_exact() -> None:
    server, k1, k2 = _seed(1), _seed(2), _seed(3)
    for key in (server, k1, k2):
        assert key.key_id in DOC and key.public.to_base64() in DOC
    p1 = encode_key_event(
        agency="la-mps",
        seq=1,
        prev=GENESIS,
        event="register",
        key_id=k1.key_id,
        issued_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
        public_key=k1.public,
    )
    p2 = encode_key_event(
        agency="la-mps",
        seq=2,
        prev=digest(p1),
        event="add",
        key_id=k2.key_id,
        issued_at=datetime(2026, 12, 2, 9, 30, tzinfo=UTC),
        public_key=k2.public,
    )
    e1, e2 = sign_key_event(p1, server), sign_key_event(p2, k1)
    blocks = re.findall(r"```json\n(.*?)\n```", DOC, re.S)
    for text in (p1, e1.to_json(), p2, e2.to_json()):
        assert text.decode() in blocks
    assert digest(p1) in DOC and digest(p2) in DOC
    history = KeyHistory.from_events([e1, e2], server.public)
    assert history.key_for("la-mps", k2.key_id, datetime(2026, 12, 3, tzinfo=UTC)) == k2.public
    login = sign_login(
        agency="la-mps",
        challenge="q83vEjRWeJq83vEjRWeJq83vEjRWeJq83vEjRWeJq80=",
        key=k2,
        issued_at=datetime(2026, 12, 2, 9, 31, tzinfo=UTC),
    )
    assert login.payload_bytes().decode() in DOC.replace("\n   ", "\n")
    assert login.signatures[0].sig in DOC
