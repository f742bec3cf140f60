"""The witness's add-checkpoint rules (C2SP tlog-witness), on real keys, proofs and files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mla_tracker.crypto import merkle
from mla_tracker.crypto.cosignature import Cosigner
from mla_tracker.crypto.keys import SigningKey
from mla_tracker.crypto.note import Checkpoint, NoteSigner
from mla_tracker.witness import state as stored
from mla_tracker.witness.core import Witness
from mla_tracker.witness.protocol import (
    SIZE_CONTENT_TYPE,
    WitnessRequestError,
    cosignature_lines,
    format_add_checkpoint,
    parse_add_checkpoint,
    parse_size_body,
)

V = json.loads(
    (Path(__file__).parent.parent / "vectors" / "cosignature" / "vectors.json").read_text()
)
ORIGIN = "example.org/log"
NOW = 1_790_000_000


class Tree:
    """A log's tree, kept as the hub keeps it (perfect-subtree nodes), and its signer."""

    def __init__(self, signer: NoteSigner, prefix: bytes = b"entry") -> None:
        self.signer = signer
        self.prefix = prefix
        self.nodes: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def grow(self, n: int) -> Tree:
        for _ in range(n):
            leaf = merkle.leaf_hash(self.prefix + str(self.size).encode())
            for level, index, value in merkle.new_nodes(self.size, leaf, self.nodes):
                self.nodes[(level, index)] = value
            self.size += 1
        return self

    def root(self, size: int | None = None) -> bytes:
        return merkle.root(self.size if size is None else size, self.nodes)

    def note(self, size: int | None = None, root: bytes | None = None) -> str:
        size = self.size if size is None else size
        return self.signer.sign(Checkpoint(ORIGIN, size, root or self.root(size)).to_text())

    def proof(self, old: int, new: int | None = None) -> list[bytes]:
        new = self.size if new is None else new
        return [] if old == 0 else merkle.consistency_proof(old, new, self.nodes)

    def request(self, old: int, size: int | None = None) -> bytes:
        size = self.size if size is None else size
        return format_add_checkpoint(old, self.proof(old, size), self.note(size))


@pytest.fixture
def log_key() -> NoteSigner:
    return NoteSigner(ORIGIN, SigningKey.generate())


@pytest.fixture
def witness(log_key: NoteSigner, tmp_path: Path) -> Witness:
    return Witness(
        Cosigner.generate("witness.example/w1"),
        [log_key.verifier()],
        tmp_path / "state.json",
        clock=lambda: NOW,
    )


def _cosigned(witness: Witness, note: str, body: str) -> None:
    assert witness.cosigner.verifier.verify(note + body).timestamp == NOW


# --- Accepts consistent growth ------------------------------------------------------------


def test_first_checkpoint_then_consistent_growth(witness: Witness, log_key: NoteSigner) -> None:
    tree = Tree(log_key).grow(5)
    first = witness.add_checkpoint(tree.request(0))
    assert first.status == 200, first.body
    _cosigned(witness, tree.note(), first.body)
    assert witness.latest(ORIGIN) == (5, tree.root(5))
    tree.grow(6)  # 11: neither size a power of two
    grown = witness.add_checkpoint(tree.request(5))
    assert grown.status == 200, grown.body
    _cosigned(witness, tree.note(), grown.body)
    assert witness.latest(ORIGIN) == (11, tree.root())
    # The same checkpoint again (old = size, same root): cosigned again, nothing moves.
    same = witness.add_checkpoint(tree.request(11))
    assert same.status == 200 and witness.latest(ORIGIN) == (11, tree.root())


def test_state_is_on_disk_before_the_answer(
    witness: Witness, log_key: NoteSigner, tmp_path: Path
) -> None:
    tree = Tree(log_key).grow(3)
    assert witness.add_checkpoint(tree.request(0)).status == 200
    on_disk = stored.load(tmp_path / "state.json")
    assert on_disk.logs[ORIGIN].size == 3
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]  # no temporary file left
    # A witness restarted on the same file refuses what the first one would refuse.
    again = Witness(witness.cosigner, [log_key.verifier()], tmp_path / "state.json")
    assert again.add_checkpoint(tree.request(0)).status == 409


# --- Refuses stale `old`, forks and rollbacks ---------------------------------------------


def test_stale_old_size_is_409_with_the_witness_size(witness: Witness, log_key: NoteSigner) -> None:
    tree = Tree(log_key).grow(4)
    assert witness.add_checkpoint(tree.request(0)).status == 200
    tree.grow(4)
    stale = witness.add_checkpoint(tree.request(2))
    assert (stale.status, stale.body, stale.content_type) == (409, "4\n", SIZE_CONTENT_TYPE)
    assert parse_size_body(stale.body) == 4
    never = witness.add_checkpoint(tree.request(0))  # a client that knows nothing asks with 0
    assert (never.status, never.body) == (409, "4\n")
    assert witness.latest(ORIGIN) == (4, tree.root(4))


def test_fork_same_size_other_root_is_refused(witness: Witness, log_key: NoteSigner) -> None:
    honest = Tree(log_key).grow(6)
    assert witness.add_checkpoint(honest.request(0)).status == 200
    forked = Tree(log_key, prefix=b"other").grow(6)  # signed by the log's own key
    answer = witness.add_checkpoint(format_add_checkpoint(6, [], forked.note()))
    assert answer.status == 409 and answer.content_type == SIZE_CONTENT_TYPE
    assert witness.latest(ORIGIN) == (6, honest.root())


def test_fork_by_a_larger_tree_that_does_not_extend_is_422(
    witness: Witness, log_key: NoteSigner
) -> None:
    honest = Tree(log_key).grow(6)
    assert witness.add_checkpoint(honest.request(0)).status == 200
    forked = Tree(log_key, prefix=b"other").grow(9)
    answer = witness.add_checkpoint(forked.request(6))  # its own, self-consistent proof
    assert answer.status == 422, answer.body
    # A proof of the honest tree does not help a checkpoint of another root either.
    honest.grow(3)
    mixed = format_add_checkpoint(6, honest.proof(6), forked.note())
    assert witness.add_checkpoint(mixed).status == 422
    assert witness.latest(ORIGIN) == (6, honest.root(6))


def test_a_tampered_proof_is_422(witness: Witness, log_key: NoteSigner) -> None:
    tree = Tree(log_key).grow(5)
    assert witness.add_checkpoint(tree.request(0)).status == 200
    tree.grow(3)
    proof = tree.proof(5)
    proof[0] = bytes([proof[0][0] ^ 1]) + proof[0][1:]
    answer = witness.add_checkpoint(format_add_checkpoint(5, proof, tree.note()))
    assert answer.status == 422
    assert witness.latest(ORIGIN) == (5, tree.root(5))


def test_rollback_is_refused(witness: Witness, log_key: NoteSigner) -> None:
    tree = Tree(log_key).grow(8)
    assert witness.add_checkpoint(tree.request(0)).status == 200
    # The smaller checkpoint, claiming the witness's size: old > size is a 400.
    smaller = witness.add_checkpoint(format_add_checkpoint(8, [], tree.note(5)))
    assert smaller.status == 400
    # Claiming its own size as old: the witness is beyond it, 409.
    claimed = witness.add_checkpoint(format_add_checkpoint(5, [], tree.note(5)))
    assert (claimed.status, claimed.body) == (409, "8\n")
    assert witness.latest(ORIGIN) == (8, tree.root(8))


def test_non_empty_proof_from_zero_is_422(witness: Witness, log_key: NoteSigner) -> None:
    tree = Tree(log_key).grow(4)
    body = format_add_checkpoint(0, [b"\x00" * 32], tree.note())
    assert witness.add_checkpoint(body).status == 422
    assert witness.latest(ORIGIN) is None


# --- Unknown logs, bad signatures, malformed requests -------------------------------------


def test_unknown_origin_is_404_and_bad_signature_403(witness: Witness) -> None:
    stranger = Tree(NoteSigner("example.org/other", SigningKey.generate())).grow(2)
    stranger_note = stranger.signer.sign(
        Checkpoint("example.org/other", 2, stranger.root()).to_text()
    )
    assert witness.add_checkpoint(format_add_checkpoint(0, [], stranger_note)).status == 404
    impostor = Tree(NoteSigner(ORIGIN, SigningKey.generate())).grow(2)  # right name, other key
    assert witness.add_checkpoint(impostor.request(0)).status == 403
    assert witness.latest(ORIGIN) is None


def test_malformed_requests_are_400(witness: Witness, log_key: NoteSigner) -> None:
    note = Tree(log_key).grow(1).note()
    for body in (
        b"",
        b"old 01\n\n" + note.encode(),  # a leading zero
        b"new 0\n\n" + note.encode(),
        b"old 0\n" + note.encode(),  # no empty line
        b"old 0\nnot base64!\n\n" + note.encode(),
        b"old 0\nAAAA\n\n" + note.encode(),  # base64, but not a 32-byte hash
        b"old 0\n" + b"".join([b"A" * 43 + b"=\n"] * 64) + b"\n" + note.encode(),  # 64 lines
        b"old 0\n\nnot a note\n",
        b"\xff" + note.encode(),
    ):
        answer = witness.add_checkpoint(body)
        assert answer.status == 400, (body[:40], answer)
    assert witness.latest(ORIGIN) is None


def test_the_spec_example_request_parses() -> None:
    example = V["c2sp_tlog_witness_example"]
    parsed = parse_add_checkpoint(example["request"].encode())
    assert parsed.old_size == example["old_size"]
    assert len(parsed.proof) == example["proof_lines"]
    assert parsed.note.startswith("example.com/behind-the-sofa\n20852163\n")
    lines = cosignature_lines(example["response"])
    assert [line.split(" ")[1] for line in lines] == [
        "witness.example/w1",
        "witness.example/w1",
        "witness.example/w2",
    ]
    with pytest.raises(WitnessRequestError):
        cosignature_lines("not a signature line\n")


def test_the_spec_example_log_is_unknown_here(witness: Witness) -> None:
    request = V["c2sp_tlog_witness_example"]["request"].encode()
    assert witness.add_checkpoint(request).status == 404


def test_state_file_is_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "w" / "state.json"
    stored.save(path, stored.WitnessState(logs={ORIGIN: stored.LogState(1, "AA==")}))
    stored.save(path, stored.WitnessState(logs={ORIGIN: stored.LogState(2, "AA==")}))
    assert stored.load(path).logs[ORIGIN].size == 2
    assert os.listdir(path.parent) == ["state.json"]
