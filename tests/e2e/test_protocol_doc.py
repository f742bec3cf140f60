"""docs/protocol.md is enough to write a client: its worked example and its client code hold."""

from __future__ import annotations

import base64
import hashlib
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mla_tracker.crypto import dsse, wire
from mla_tracker.crypto.keys import SigningKey, VerifyingKey
from mla_tracker.crypto.statement import PAYLOAD_TYPE, SignedStatement, check_body, verify_statement
from mla_tracker.domain import content, model
from tests.e2e.conftest import Server
from tests.e2e.test_cli import mla
from tests.support import OPERATOR_TOKEN, mla_content

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def _value(label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s+(\S+)$", DOC, re.MULTILINE)
    assert match, label
    return match.group(1)


def _block_after(marker: str) -> bytes:
    return DOC.split(marker)[1].split("```")[1].strip("\n").encode()


def test_worked_example_reproduces_byte_for_byte() -> None:
    body = _block_after("The body, 44 bytes, exactly")
    assert len(body) == 44
    assert hashlib.sha256(body).hexdigest() == _value("body_sha256")
    assert base64.b64encode(body).decode() == _value("body (b64)")
    payload = _block_after("The payload, 430 bytes, exactly")
    assert len(payload) == 430
    secret = bytes.fromhex(_value("secret key (hex)"))
    key = Ed25519PrivateKey.from_private_bytes(secret)
    signing = SigningKey(key)
    assert signing.public.to_base64() == _value("public key (b64)")
    assert signing.key_id == _value("key id")
    # Recomputed by hand here, not through the project's own PAE code.
    ptype = "application/vnd.mla-tracker.statement.v2+json"
    assert ptype == PAYLOAD_TYPE
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
    assert pae.startswith(b"DSSEv1 45 " + ptype.encode() + b" 430 {")
    assert pae == dsse.pae(ptype, payload)
    assert hashlib.sha256(pae).hexdigest() == _value("SHA-256(PAE)")
    assert base64.b64encode(key.sign(pae)).decode() == _value("signature (b64)")
    assert hashlib.sha256(payload).hexdigest() == _value("statement digest")
    sent = DOC.split("What is sent:")[1].split("```json")[1].split("```")[0].strip().encode()
    signed = wire.decode(sent, SignedStatement, "example")
    statement, raw = verify_statement(signed.envelope, lambda _k: VerifyingKey(signing.public.raw))
    assert raw == payload and statement.seq == 2 and statement.actor == "th-oag"
    check_body(statement, signed.body_bytes())
    assert signed.body_bytes() == body


@pytest.mark.parametrize(
    "enum",
    [
        model.Kind,
        model.Urgency,
        model.AgencyRole,
        model.State,
        model.Action,
        content.Instrument,
        content.DataCategory,
        content.RefusalGround,
        content.ObstacleReason,
        content.PreservationRisk,
    ],
)
def test_every_enumerated_value_is_documented(enum: type[StrEnum]) -> None:
    table = DOC.split("### Every enumerated value")[1].split("\n## ")[0]
    listed = {v for line in table.splitlines() for v in re.findall(r"`([a-z0-9_]+)`", line)}
    missing = {m.value for m in enum} - listed
    assert not missing, f"{enum.__name__} values missing from docs/protocol.md: {missing}"


def test_the_documented_client_is_accepted_by_the_server(server: Server, tmp_path: Path) -> None:
    code = DOC.split("## A complete client")[1].split("```python")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/protocol.md", "exec"), namespace)
    op = {"MLA_URL": server.url, "MLA_TOKEN": OPERATOR_TOKEN}
    keys = {}
    tokens = {}
    for agency_id, country in (("la-mps", "LA"), ("th-oag", "TH")):
        mla("keygen", "-o", str(tmp_path / agency_id))
        keys[agency_id] = (tmp_path / agency_id / "signing.key").read_bytes()
        mla(
            "agency",
            "add",
            "--id",
            agency_id,
            "--name",
            agency_id,
            "--country",
            country,
            "--role",
            "central_authority",
            "--public-key",
            str(tmp_path / agency_id / "signing.pub"),
            env=op,
        )
        tokens[agency_id] = namespace["login"](server.url, agency_id, keys[agency_id])
    status, me = namespace["call"](server.url, tokens["la-mps"], "GET", "/v1/whoami")
    assert status == 200 and me["agency_id"] == "la-mps"
    request_file = tmp_path / "r.yaml"
    import yaml

    request_file.write_text(yaml.safe_dump(mla_content("la-mps", "th-oag")))
    rid = mla(
        "request",
        "create",
        str(request_file),
        env={
            "MLA_URL": server.url,
            "MLA_TOKEN": tokens["la-mps"],
            "MLA_KEY": str(tmp_path / "la-mps" / "signing.key"),
        },
    ).output.split()[0]
    for action, body, state in [
        ("acknowledge", {"note": "received"}, "acknowledged"),
        ("accept", {}, "accepted"),
    ]:
        status, answer = namespace["sign_and_send"](
            server.url, tokens["th-oag"], "th-oag", keys["th-oag"], rid, action, body
        )
        assert status == 201
        assert answer["request"]["state"] == state
    assert answer["statement"]["seq"] == 3
