"""C2SP signed notes and tlog checkpoints: published examples, round trips, refusals."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from mla_tracker.crypto.errors import CryptoError, NoteError
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.note import (
    MAX_SIGNATURES,
    Checkpoint,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_note,
)

V = json.loads((Path(__file__).parent.parent / "vectors" / "note" / "vectors.json").read_text())
GO = V["golang_sumdb_note"]
TEXT: str = GO["text"]
PETER_SIG: str = GO["peter_sig_line"]
ENOCH_SIG: str = GO["enoch_sig_line"]
PETER = NoteVerifier.from_vkey(GO["peter_vkey"])
ENOCH = NoteVerifier.from_vkey(GO["enoch_vkey"])


def _go_signing_key(skey: str) -> tuple[str, SigningKey]:
    """Parse a golang.org/x/mod/sumdb/note private key: PRIVATE+KEY+name+id+base64(0x01||seed)."""
    _, _, name, _, key64 = skey.split("+", 4)
    blob = base64.b64decode(key64)
    assert blob[0] == 1
    return name, SigningKey(Ed25519PrivateKey.from_private_bytes(blob[1:]))


def _refused(note: str, verifier: NoteVerifier = PETER) -> None:
    with pytest.raises(NoteError):
        open_note(note, verifier)


# --- Verifier keys ------------------------------------------------------------------------


def test_go_vkey_parses_and_round_trips() -> None:
    assert PETER.name == "PeterNeumann"
    assert PETER.key_id == 0xC74F20A3
    assert PETER.vkey() == GO["peter_vkey"]
    assert ENOCH.key_id == 0xAF0CFE78


def test_every_mangled_vkey_is_refused() -> None:
    # golang.org/x/mod note_test.go TestNewVerifier: every proper substring and every
    # single-character increment of a valid verifier key must fail.
    vkey: str = GO["peter_vkey"]
    for i in range(len(vkey) + 1):
        for j in range(i + 1, len(vkey) + 1):
            if (i, j) != (0, len(vkey)):
                with pytest.raises(NoteError):
                    NoteVerifier.from_vkey(vkey[i:j])
    for i, ch in enumerate(vkey):
        with pytest.raises(NoteError):
            NoteVerifier.from_vkey(vkey[:i] + chr(ord(ch) + 1) + vkey[i + 1 :])
    for bad in [*GO["bad_vkeys"], "", "a+b", "PeterNeumann+C74F20A3+" + vkey.split("+", 2)[2]]:
        with pytest.raises(NoteError):
            NoteVerifier.from_vkey(bad)


def test_signer_reproduces_the_go_vectors() -> None:
    name, key = _go_signing_key(GO["peter_skey"])
    signer = NoteSigner(name, key)
    assert signer.verifier_key() == GO["peter_vkey"]
    # Ed25519 is deterministic, so the whole note must match Go's byte for byte.
    assert signer.sign(TEXT) == GO["signed_by_peter"]
    assert signer.verifier() == PETER


@pytest.mark.parametrize("name", ["", "a b", "a+b", "tab\tname", "nbsp\u00a0name", "nl\n"])
def test_signer_refuses_bad_key_names(name: str) -> None:
    with pytest.raises(NoteError):
        NoteSigner(name, SigningKey.generate())


@pytest.mark.parametrize("text", ["", "no newline", "a\x00\n", "cr\r\n", "esc\x1b\n", "\ud800\n"])
def test_signer_refuses_bad_texts(text: str) -> None:
    with pytest.raises(NoteError):
        NoteSigner("example.com/log", SigningKey.generate()).sign(text)


# --- Opening notes: golang.org/x/mod vectors ----------------------------------------------


def test_go_note_opens() -> None:
    assert open_note(GO["signed_by_peter"], PETER) == TEXT
    # "Verifiers MUST ignore signatures from unknown keys": Enoch's line is skipped for Peter.
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(both, PETER) == TEXT
    assert open_note(both, ENOCH) == TEXT
    text, sigs = parse_note(both)
    assert text == TEXT
    assert [(s.name, s.key_id) for s in sigs] == [
        ("PeterNeumann", 0xC74F20A3),
        ("EnochRoot", 0xAF0CFE78),
    ]


def test_note_signed_only_by_another_key_is_refused() -> None:
    _refused(TEXT + "\n" + ENOCH_SIG)


@pytest.mark.parametrize("note", GO["bad_notes"])
def test_go_malformed_notes_are_refused(note: str) -> None:
    _refused(note)


def test_corrupted_signature_is_refused() -> None:
    # Go inserts "ABCD" at byte 60; "— " is four bytes in UTF-8 but two characters here.
    _refused(TEXT + "\n" + PETER_SIG[:58] + "ABCD" + PETER_SIG[58:])
    # A known key's bad signature sinks the note even beside a good one (spec: SHOULD reject).
    _refused(TEXT + "\n" + PETER_SIG + PETER_SIG[:58] + "ABCD" + PETER_SIG[58:])


def test_signature_limits() -> None:
    # "MUST accept at least up to 16 signatures"; more than MAX_SIGNATURES is refused.
    assert open_note(TEXT + "\n" + ENOCH_SIG * 15 + PETER_SIG, PETER) == TEXT
    assert open_note(TEXT + "\n" + PETER_SIG * MAX_SIGNATURES, PETER) == TEXT
    _refused(TEXT + "\n" + PETER_SIG * (MAX_SIGNATURES + 1))


# --- Opening notes: every tampering refused -----------------------------------------------

_, _PETER_KEY = _go_signing_key(GO["peter_skey"])
_GOOD = GO["signed_by_peter"]
_SIG_B64 = PETER_SIG.split(" ")[2].rstrip("\n")
_SIG_RAW = base64.b64decode(_SIG_B64)


def _line(name: str, blob: bytes) -> str:
    return f"— {name} {base64.b64encode(blob).decode()}\n"


TAMPERED = {
    "edited body": _GOOD.replace("cryptography", "cryptographY"),
    "body line added": "Trust me.\n" + _GOOD,
    "text without final newline": TEXT[:-1] + "\n" + PETER_SIG,
    "missing final newline": _GOOD[:-1],
    "no blank line": TEXT + PETER_SIG,
    "two blank lines": TEXT + "\n\n" + PETER_SIG,
    "no signature lines": TEXT + "\n",
    "trailing blank line": _GOOD + "\n",
    "CRLF line endings": _GOOD.replace("\n", "\r\n"),
    "control character": _GOOD.replace("If", "I\x07f"),
    "lone surrogate": _GOOD.replace("If", "I\udc80f"),
    "hyphen for em dash": _GOOD.replace("—", "-"),
    "en dash for em dash": _GOOD.replace("—", "–"),
    "no space after dash": _GOOD.replace("— ", "—"),
    "double space": _GOOD.replace(" x08", "  x08"),
    "tab separator": _GOOD.replace(" x08", "\tx08"),
    "trailing space": _GOOD[:-1] + " \n",
    "name with plus": _GOOD.replace("— PeterNeumann", "— Peter+Neumann"),
    "empty name": _GOOD.replace("— PeterNeumann ", "—  "),
    "wrong key id": TEXT + "\n" + _line("PeterNeumann", b"\x00\x00\x00\x01" + _SIG_RAW[4:]),
    "wrong key name": TEXT + "\n" + _line("PeterNeuman", _SIG_RAW),
    "signature too short": TEXT + "\n" + _line("PeterNeumann", _SIG_RAW[:4]),
    "signature truncated": TEXT + "\n" + _line("PeterNeumann", _SIG_RAW[:-1]),
    "signature extended": TEXT + "\n" + _line("PeterNeumann", _SIG_RAW + b"\x00"),
    "signature unpadded": _GOOD.replace(_SIG_B64, _SIG_B64.rstrip("=")),
    "signature urlsafe": _GOOD.replace(_SIG_B64, _SIG_B64.replace("/", "_").replace("+", "-")),
    "signature non-canonical": _GOOD.replace("AM=", "AN="),  # unused trailing bits set
    "signature bit flipped": TEXT + "\n" + _line("PeterNeumann", _SIG_RAW[:-1] + b"\x02"),
    "other key, same name and id": TEXT
    + "\n"
    + _line("PeterNeumann", _SIG_RAW[:4] + SigningKey.generate().sign(TEXT.encode())),
    "other key, same name": NoteSigner("PeterNeumann", SigningKey.generate()).sign(TEXT),
}


@pytest.mark.parametrize("note", TAMPERED.values(), ids=TAMPERED.keys())
def test_tampered_note_is_refused(note: str) -> None:
    _refused(note)


def test_note_error_is_a_422_problem() -> None:
    assert issubclass(NoteError, CryptoError)
    assert (NoteError.status, NoteError.problem) == (422, "bad-note")


# --- Published C2SP examples ----------------------------------------------------------------


def test_c2sp_signed_note_example_parses() -> None:
    ex = V["c2sp_signed_note_example"]
    text, sigs = parse_note(ex["note"])
    # "the text is separated from the signatures by the last empty line in the note."
    assert text == ex["text"]
    assert [(s.name, len(s.signature)) for s in sigs] == [(ex["key_name"], 64)]
    # No key is published for it; a same-named key of ours has another ID and is ignored.
    stranger = NoteSigner(ex["key_name"], SigningKey.generate()).verifier()
    _refused(ex["note"], stranger)


def test_c2sp_checkpoint_example() -> None:
    ex = V["c2sp_tlog_checkpoint_example"]
    text, _ = parse_note(ex["note"])
    cp = Checkpoint.parse(text)
    assert (cp.origin, cp.size, cp.extensions) == (ex["origin"], ex["size"], ())
    assert base64.b64encode(cp.root_hash).decode() == ex["root_hash_b64"]
    assert cp.to_text() == text
    # The example is a sum.golang.org checkpoint with its origin and key name renamed: as
    # printed the signature matches no known key; with both names restored it verifies.
    sumdb = NoteVerifier.from_vkey(V["sum_golang_org"]["vkey"])
    _refused(ex["note"], sumdb)
    orig = ex["renamed_from"]
    restored = ex["note"].replace(ex["origin"] + "\n", orig["origin"] + "\n")
    restored = restored.replace("— " + ex["origin"], "— " + orig["key_name"])
    assert Checkpoint.parse(open_note(restored, sumdb)).size == ex["size"]


def test_sum_golang_org_checkpoint_verifies() -> None:
    ex = V["sum_golang_org"]
    cp = Checkpoint.parse(open_note(ex["note"], NoteVerifier.from_vkey(ex["vkey"])))
    # The origin has spaces: "clients MUST NOT assume that the origin is following this format".
    assert (cp.origin, cp.size) == (ex["origin"], ex["size"])
    assert base64.b64encode(cp.root_hash).decode() == ex["root_hash_b64"]


def test_sigsum_checkpoint_is_reproduced_and_verifies() -> None:
    ex = V["sigsum_checkpoint"]
    key = SigningKey(Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ex["seed_hex"])))
    signer = NoteSigner(ex["origin"], key)
    cp = Checkpoint(ex["origin"], ex["size"], bytes.fromhex(ex["root_hash_hex"]))
    assert signer.sign(cp.to_text()) == ex["note"]
    verifier = NoteVerifier.from_vkey(signer.verifier_key())
    assert Checkpoint.parse(open_note(ex["note"], verifier)) == cp


# --- Checkpoints ----------------------------------------------------------------------------

ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()


def test_checkpoint_round_trip_through_a_signed_note() -> None:
    signer = NoteSigner("mla.example/log", SigningKey.generate())
    cp = Checkpoint("mla.example/log", 42, ROOT, ("ext one", "ext two"))
    assert cp.to_text() == f"mla.example/log\n42\n{ROOT_B64}\next one\next two\n"
    verifier = NoteVerifier.from_vkey(signer.verifier_key())
    assert Checkpoint.parse(open_note(signer.sign(cp.to_text()), verifier)) == cp
    assert Checkpoint.parse(f"o\n0\n{ROOT_B64}\n") == Checkpoint("o", 0, ROOT)
    assert Checkpoint.parse(f"o\n{2**64 - 1}\n{ROOT_B64}\n").size == 2**64 - 1


BAD_CHECKPOINTS = {
    "one line": "o\n",
    "two lines": "o\n1\n",
    "missing final newline": f"o\n1\n{ROOT_B64}",
    "empty origin": f"\n1\n{ROOT_B64}\n",
    "empty extension": f"o\n1\n{ROOT_B64}\n\nx\n",
    "trailing blank line": f"o\n1\n{ROOT_B64}\n\n",
    "leading zero": f"o\n01\n{ROOT_B64}\n",
    "negative": f"o\n-1\n{ROOT_B64}\n",
    "plus sign": f"o\n+1\n{ROOT_B64}\n",
    "space in size": f"o\n 1\n{ROOT_B64}\n",
    "underscore": f"o\n1_000\n{ROOT_B64}\n",
    "non-ascii digit": f"o\n\u0661\n{ROOT_B64}\n",
    "hex size": f"o\n0x10\n{ROOT_B64}\n",
    "size over uint64": f"o\n{2**64}\n{ROOT_B64}\n",
    "huge size": f"o\n{'9' * 5000}\n{ROOT_B64}\n",
    "root not base64": "o\n1\nnot base64!\n",
    "root 31 bytes": f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
    "root 33 bytes": f"o\n1\n{base64.b64encode(ROOT + b'x').decode()}\n",
    "root unpadded": f"o\n1\n{ROOT_B64.rstrip('=')}\n",
    "root non-canonical": f"o\n1\n{ROOT_B64[:-2]}9=\n",
    "root urlsafe": "o\n1\n" + base64.urlsafe_b64encode(b"\xff" * 32).decode() + "\n",
    "CRLF": f"o\r\n1\r\n{ROOT_B64}\r\n",
    "control character": f"o\x00\n1\n{ROOT_B64}\n",
}


@pytest.mark.parametrize("text", BAD_CHECKPOINTS.values(), ids=BAD_CHECKPOINTS.keys())
def test_malformed_checkpoint_is_refused(text: str) -> None:
    with pytest.raises(NoteError):
        Checkpoint.parse(text)


@pytest.mark.parametrize(
    "args",
    [
        ("", 1, ROOT, ()),
        ("two\nlines", 1, ROOT, ()),
        ("o", -1, ROOT, ()),
        ("o", 2**64, ROOT, ()),
        ("o", True, ROOT, ()),
        ("o", 1, ROOT[:31], ()),
        ("o", 1, ROOT, ("",)),
        ("o", 1, ROOT, ("a\nb",)),
    ],
)
def test_checkpoint_constructor_refuses_what_it_cannot_print(
    args: tuple[str, int, bytes, tuple[str, ...]],
) -> None:
    with pytest.raises(NoteError):
        Checkpoint(*args)


_LINE = st.text(
    st.characters(min_codepoint=0x20, exclude_categories=["Cs"]), min_size=1, max_size=30
).filter(lambda s: "\n" not in s)


@settings(max_examples=50, deadline=None)
@given(
    _LINE,
    st.integers(min_value=0, max_value=2**64 - 1),
    st.binary(min_size=32, max_size=32),
    st.lists(_LINE, max_size=3),
)
def test_checkpoint_text_round_trips(origin: str, size: int, root: bytes, ext: list[str]) -> None:
    cp = Checkpoint(origin, size, root, tuple(ext))
    assert Checkpoint.parse(cp.to_text()) == cp


_KEY = SigningKey.generate()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(st.characters(min_codepoint=0x20, exclude_categories=["Cs"])), min_size=1))
def test_any_text_round_trips_and_edits_are_caught(lines: list[str]) -> None:
    text = "".join(line.replace("\n", "") + "\n" for line in lines)
    signer = NoteSigner("example.com/log", _KEY)
    note = signer.sign(text)
    assert open_note(note, signer.verifier()) == text
    _refused("x" + note, signer.verifier())
