"""Bounded fuzzing of the package opener and the age header parser (issue 12).

Mutated tars (inside real age encryption) and mutated age headers must fail only with the
documented error types (`BagError`, `AgeError`, `PackageError`, all `CryptoError`s) and leave
nothing behind. `make test` runs a few dozen examples per test; `make fuzz` sets
MLA_FUZZ_EXAMPLES for a long run.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mla_tracker.crypto.age import AgeError, Decryptor, HybridIdentity, X25519Identity, encrypt
from mla_tracker.crypto.errors import CryptoError
from mla_tracker.evidence.bagit._cleanup import remove_tree
from mla_tracker.evidence.package import open_package
from tests.tar_craft import BLOCK, bag, header, leftovers, pax, pax_record

EXAMPLES = int(os.environ.get("MLA_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
IDENT = X25519Identity.generate()
PQ = HybridIdentity.generate()

#: Seeds: PAX paths, long names, a bag at the archive root (GNU long names come as splices).
SEEDS = [
    bag(files={"a.txt": b"alpha\n", "d/" + "n" * 120: b"long"}, info=b"Source-Organization: X\n"),
    bag("", files={"x": b"root bag"}),
    bag(files={"m" * 150: b"gnu"}),
]
#: Blocks a hostile sender would splice in.
SPLICES = [
    header("BAG/data/s", b"S", 10, extra={482: b"\x01"}),
    pax(pax_record("GNU.sparse.map", "0,1")),
    pax(pax_record("path", "../x")),
    pax(b"BAG/data/" + b"m" * 150 + b"\0", b"L"),
    pax(pax_record("size", "99999999999")),
    pax(b"9" * 600),
    header("BAG/l", b"2", extra={157: b"/etc/passwd"}),
    header("BAG/data/d", b"5", 512),
    bytes(BLOCK),
]


def mutate(data: st.DataObject, blob: bytes) -> bytes:
    """Flip bytes, splice hostile blocks at block boundaries, and maybe truncate."""
    out = bytearray(blob)
    for _ in range(data.draw(st.integers(0, 6), label="flips")):
        at = data.draw(st.integers(0, len(out) - 1))
        out[at] = data.draw(st.integers(0, 255))
    for _ in range(data.draw(st.integers(0, 2), label="splices")):
        at = data.draw(st.integers(0, len(out) // BLOCK)) * BLOCK
        out[at:at] = data.draw(st.sampled_from(SPLICES))
    cut = data.draw(st.one_of(st.none(), st.integers(0, len(out))), label="cut")
    return bytes(out[:cut])


@FUZZ
@given(st.data())
def test_package_opener_fails_only_typed_and_leaves_nothing(data: st.DataObject) -> None:
    """open_package on an encrypted mutated tar: success or a CryptoError, never debris."""
    plaintext = mutate(data, data.draw(st.sampled_from(SEEDS), label="seed"))
    ciphertext = io.BytesIO()
    encrypt([IDENT.recipient()], io.BytesIO(plaintext), ciphertext)
    with tempfile.TemporaryDirectory() as tmp:
        dest = Path(tmp) / "out"
        try:
            open_package(
                io.BytesIO(ciphertext.getvalue()),
                [IDENT],
                dest,
                max_total_bytes=1 << 20,
                max_files=50,
            )
        except CryptoError:
            assert leftovers(dest) == []
        else:
            remove_tree(dest)


@FUZZ
@given(st.data())
def test_age_header_parser_fails_only_with_age_errors(data: st.DataObject) -> None:
    """A mutated age file (either recipient type): AgeError or the right plaintext."""
    ident = data.draw(st.sampled_from([IDENT, PQ]), label="identity")
    plaintext = b"evidence " * 20
    out = io.BytesIO()
    encrypt([ident.recipient()], io.BytesIO(plaintext), out)
    blob = out.getvalue()
    header_end = blob.index(b"\n---") + 48
    mutated = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4), label="flips")):
        at = data.draw(st.integers(0, header_end))  # mostly the header
        mutated[at] = data.draw(st.sampled_from([*b" \n-=>+/aA0", 0, 255]))
    if data.draw(st.booleans(), label="insert line"):
        at = data.draw(st.integers(0, header_end))
        mutated[at:at] = data.draw(st.sampled_from([b"-> X25519 \n", b"\n", b"-> a b c\n\n"]))
    try:
        got = Decryptor(io.BytesIO(bytes(mutated)), [ident]).readall()
    except AgeError:
        return
    assert got == plaintext
