"""C2SP tlog-cosignature v1 (Ed25519): published examples, round trips, refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from mla_tracker.crypto.cosignature import (
    MAX_TIMESTAMP,
    SIG_TYPE_COSIGNATURE_V1,
    Cosigner,
    WitnessVerifier,
    signed_message,
)
from mla_tracker.crypto.errors import CosignatureError, NoteError
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.note import (
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    key_id_for,
    open_note,
    parse_note,
    signature_line,
)

V = json.loads(
    (Path(__file__).parent.parent / "vectors" / "cosignature" / "vectors.json").read_text()
)
SPEC = V["c2sp_tlog_cosignature_example"]
TDEV = V["transparency_dev_formats"]
LOG = NoteSigner("example.org/log", SigningKey.generate())
TEXT = Checkpoint("example.org/log", 7, b"\x07" * 32).to_text()
NOW = 1_790_000_000


def _note() -> str:
    return LOG.sign(TEXT)


# --- Published examples -------------------------------------------------------------------


def test_spec_signed_message_example() -> None:
    """The message of the spec's 'Ed25519 signed message' section, byte for byte."""
    text, _ = parse_note(SPEC["note"])
    assert signed_message(text, SPEC["timestamp"]) == SPEC["signed_message"].encode()


def test_spec_cosignature_line_layout() -> None:
    """The spec's cosigned checkpoint: key ID, then a big-endian u64 time, then 64 bytes."""
    _, sigs = parse_note(SPEC["note"])
    witness = [s for s in sigs if s.name == SPEC["witness_name"]]
    assert len(witness) == 1
    assert f"{witness[0].key_id:08x}" == SPEC["witness_key_id"]
    assert len(witness[0].signature) == 8 + 64
    assert int.from_bytes(witness[0].signature[:8], "big") == SPEC["timestamp"]


def test_spec_witness_line_is_ignored_by_another_key_of_that_name() -> None:
    """A verifier that knows neither key finds no signature; the cosignature is not the log's."""
    other = Cosigner.generate(SPEC["witness_name"]).verifier
    with pytest.raises(CosignatureError, match="no cosignature"):
        other.verify(SPEC["note"])  # same name, another key ID: ignored, not "failed"


def test_real_witness_vkey_of_type_0x04() -> None:
    """A public witness's verifier key: its ID is SHA-256(name || 0x0A || 0x04 || key)[:4]."""
    witness = WitnessVerifier.from_vkey(TDEV["witness_vkey"])
    assert witness.name == "remora.n621.de"
    assert witness.key_id == 0xDA77ADE7
    assert witness.vkey() == TDEV["witness_vkey"]
    # A plain note verifier must not take it: type 0x04 is not an Ed25519 note key (0x01).
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(TDEV["witness_vkey"])


def test_a_plain_note_key_is_not_a_witness_key() -> None:
    with pytest.raises(NoteError, match="0x04"):
        WitnessVerifier.from_vkey(TDEV["plain_ed25519_vkey"])


def test_published_cosignature_timestamp() -> None:
    blob = base64.b64decode(TDEV["cosignature_b64"])
    assert len(blob) == 4 + 8 + 64
    assert int.from_bytes(blob[4:12], "big") == TDEV["cosignature_timestamp"]


# --- Round trips --------------------------------------------------------------------------


def test_cosign_and_verify_round_trip() -> None:
    cosigner = Cosigner.generate("witness.example.org/w1")
    note = _note() + cosigner.cosign(TEXT, NOW)
    got = WitnessVerifier.from_vkey(cosigner.verifier_key()).verify(note, not_after=NOW)
    assert (got.witness, got.timestamp) == ("witness.example.org/w1", NOW)
    assert got.line in note
    # The log's own verification still holds, the cosignature line being an unknown key.
    assert open_note(note, LOG.verifier()) == TEXT


def test_key_id_uses_the_cosignature_type_byte() -> None:
    cosigner = Cosigner.generate("w")
    raw = cosigner.verifier.key.raw
    assert cosigner.key_id == key_id_for("w", SIG_TYPE_COSIGNATURE_V1, raw)
    assert cosigner.key_id != key_id_for("w", 0x01, raw)
    assert cosigner.verifier_key().split("+")[2].startswith("B")  # base64 of a 0x04 byte


def test_skey_round_trip_and_refusals() -> None:
    cosigner = Cosigner.generate("witness.example.org/w1")
    again = Cosigner.from_skey(cosigner.to_skey())
    assert again.verifier_key() == cosigner.verifier_key()
    name_changed = cosigner.to_skey().replace("witness.example.org/w1", "witness.example.org/w2")
    with pytest.raises(CosignatureError, match="does not match"):
        Cosigner.from_skey(name_changed)
    with pytest.raises(CosignatureError):
        Cosigner.from_skey(LOG.verifier_key())


# --- Refusals -----------------------------------------------------------------------------


def test_an_edited_body_is_refused() -> None:
    cosigner = Cosigner.generate("w1")
    line = cosigner.cosign(TEXT, NOW)
    edited = Checkpoint("example.org/log", 7, b"\x08" * 32).to_text()
    with pytest.raises(CosignatureError, match="does not verify"):
        cosigner.verifier.verify(LOG.sign(edited) + line)


def test_another_key_under_the_same_name_is_no_cosignature() -> None:
    line = Cosigner.generate("w1").cosign(TEXT, NOW)
    with pytest.raises(CosignatureError, match="no cosignature by witness w1"):
        Cosigner.generate("w1").verifier.verify(_note() + line)


def test_a_plain_note_signature_by_the_witness_key_is_not_a_cosignature() -> None:
    """The same key signing with type 0x01 (no timestamp, no header) does not count."""
    private = SigningKey.generate()
    plain = NoteSigner("w1", private)
    witness = WitnessVerifier("w1", private.public)
    plain_line = plain.sign(TEXT).split("\n\n", 1)[1]
    with pytest.raises(CosignatureError, match="no cosignature"):
        witness.verify(_note() + plain_line)
    # Given the cosignature key ID, the plain signature still fails: it signs other bytes.
    sig = private.sign(TEXT.encode())
    forged = signature_line("w1", witness.key_id, NOW.to_bytes(8, "big") + sig)
    with pytest.raises(CosignatureError, match="does not verify"):
        witness.verify(_note() + forged)


def test_a_signature_with_the_wrong_type_byte_in_the_message_is_refused() -> None:
    """A signature over the note text alone (no cosignature/v1 header) never verifies."""
    private = SigningKey.generate()
    witness = WitnessVerifier("w1", private.public)
    blob = NOW.to_bytes(8, "big") + private.sign(b"time %d\n" % NOW + TEXT.encode())
    with pytest.raises(CosignatureError, match="does not verify"):
        witness.verify(_note() + signature_line("w1", witness.key_id, blob))


def test_bad_timestamps_are_refused() -> None:
    cosigner = Cosigner.generate("w1")
    witness = cosigner.verifier
    # Above 2^63 - 1: "It MUST NOT exceed 2^63 - 1".
    blob = (MAX_TIMESTAMP + 1).to_bytes(8, "big") + b"\x00" * 64
    with pytest.raises(CosignatureError, match="out of range"):
        witness.verify(_note() + signature_line("w1", witness.key_id, blob))
    with pytest.raises(CosignatureError, match="out of range"):
        cosigner.cosign(TEXT, -1)
    # In the future: "verifiers MAY reject cosignatures with timestamps in the future".
    late = _note() + cosigner.cosign(TEXT, NOW + 3600)
    with pytest.raises(CosignatureError, match="in the future"):
        witness.verify(late, not_after=NOW)
    assert witness.verify(late, not_after=NOW + 3600).timestamp == NOW + 3600
    # The time in the line is the time signed: another time does not verify.
    line = cosigner.cosign(TEXT, NOW)
    _, sigs = parse_note(_note() + line)
    moved = (NOW + 1).to_bytes(8, "big") + sigs[-1].signature[8:]
    with pytest.raises(CosignatureError, match="does not verify"):
        witness.verify(_note() + signature_line("w1", witness.key_id, moved))


def test_a_truncated_cosignature_is_refused() -> None:
    witness = Cosigner.generate("w1").verifier
    with pytest.raises(CosignatureError, match="72 bytes"):
        witness.verify(_note() + signature_line("w1", witness.key_id, b"\x00" * 64))
