"""docs/protocol.md is enough to write a client: its worked example and its client code hold."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mla_tracker.crypto import dsse
from mla_tracker.crypto.keys import SigningKey, VerifyingKey
from mla_tracker.crypto.statement import verify_statement
from tests.e2e.conftest import Server
from tests.e2e.test_cli import _token, mla
from tests.support import OPERATOR_TOKEN, mla_content

DOC = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text()


def _value(label: str) -> str:
    match = re.search(rf"^{re.escape(label)}\s+(\S+)$", DOC, re.MULTILINE)
    assert match, label
    return match.group(1)


def test_worked_example_reproduces_byte_for_byte() -> None:
    block = DOC.split("The payload, 391 bytes, exactly")[1].split("```")[1]
    payload = block.strip("\n").encode()
    assert len(payload) == 391
    secret = bytes.fromhex(_value("secret key (hex)"))
    key = Ed25519PrivateKey.from_private_bytes(secret)
    signing = SigningKey(key)
    assert signing.public.to_base64() == _value("public key (b64)")
    assert signing.key_id == _value("key id")
    ptype = "application/vnd.mla-tracker.statement+json"
    pae = b"DSSEv1 %d %s %d %s" % (len(ptype), ptype.encode(), len(payload), payload)
    assert pae == dsse.pae(ptype, payload)
    assert hashlib.sha256(pae).hexdigest() == _value("SHA-256(PAE)")
    assert base64.b64encode(key.sign(pae)).decode() == _value("signature (b64)")
    assert hashlib.sha256(payload).hexdigest() == _value("statement digest")
    envelope_json = DOC.split("The envelope is:")[1].split("```json")[1].split("```")[0]
    envelope = dsse.parse_envelope(envelope_json.strip().encode())
    statement, raw = verify_statement(envelope, lambda _kid: VerifyingKey(signing.public.raw))
    assert raw == payload and statement.seq == 2 and statement.actor == "th-oag"


def test_the_documented_client_is_accepted_by_the_server(server: Server, tmp_path: Path) -> None:
    code = DOC.split("## A complete client in 30 lines")[1].split("```python")[1].split("```")[0]
    namespace: dict[str, Any] = {}
    exec(compile(code, "docs/protocol.md", "exec"), namespace)
    op = {"MLA_URL": server.url, "MLA_TOKEN": OPERATOR_TOKEN}
    keys = {}
    tokens = {}
    for agency_id, country in (("la-mps", "LA"), ("th-oag", "TH")):
        mla("keygen", "-o", str(tmp_path / agency_id))
        keys[agency_id] = (tmp_path / agency_id / "signing.key").read_bytes()
        out = mla(
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
        ).output
        tokens[agency_id] = _token(out)
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
    status, answer = namespace["sign_and_send"](
        server.url,
        tokens["th-oag"],
        "th-oag",
        keys["th-oag"],
        rid,
        "acknowledge",
        {"note": "received"},
    )
    assert status == 201
    assert answer["request"]["state"] == "acknowledged"
    assert answer["statement"]["seq"] == 2
