"""Merkle log math: RFC 6962/9162 reference recursion, published vectors, and refused proofs."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator, Mapping, Sequence
from functools import cache, partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mla_tracker.crypto import merkle as m
from mla_tracker.crypto.errors import CryptoError, ProofError

VECTORS = Path(__file__).parent.parent / "vectors" / "merkle"
REF = json.loads((VECTORS / "rfc6962_reference.json").read_text())
N = 70  # every size up to and past 64, so trees of 2^6 and 2^6 + a few are both covered
ENTRIES = [f"entry {i}".encode() for i in range(N)]
SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


# --- The reference: RFC 9162 §2.1 definitions, transcribed recursively -----------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    if not d:
        return hashlib.sha256(b"").digest()
    if len(d) == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = _k(len(d))
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_path(idx: int, d: Sequence[bytes]) -> list[bytes]:
    if len(d) == 1:
        return []
    k = _k(len(d))
    if idx < k:
        return [*ref_path(idx, d[:k]), ref_mth(d[k:])]
    return [*ref_path(idx - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(old: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    if old == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if old <= k:
        return [*ref_subproof(old, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(old - k, d[k:], False), ref_mth(d[:k])]


def ref_path_shape(idx: int, n: int) -> tuple[str, ...]:
    """Which side each PATH hash sits on; RFC 9162 verification sees (index, size) only so."""
    if n == 1:
        return ()
    k = _k(n)
    return (*ref_path_shape(idx, k), "R") if idx < k else (*ref_path_shape(idx - k, n - k), "L")


def ref_proof_shape(old: int, n: int, b: bool = True) -> tuple[str, ...]:
    """The same for PROOF: "seed" is MTH(D[m]) itself, R/L a right/left sibling subtree."""
    if old == n:
        return () if b else ("seed",)
    k = _k(n)
    if old <= k:
        return (*ref_proof_shape(old, k, b), "R")
    return (*ref_proof_shape(old - k, n - k, False), "L")


def _same_shape(a: tuple[int, int], b: tuple[int, int], inclusion: bool) -> bool:
    """True when two (index or old size, size) pairs are indistinguishable to a verifier.

    A proof then verifies for both: the tree size is bound by the signed checkpoint that
    carries (size, root), never by the proof alone (e.g. leaf 0 of 3 and of 4 share a path).
    """
    if inclusion:
        return 0 <= a[0] < a[1] and 0 <= b[0] < b[1] and ref_path_shape(*a) == ref_path_shape(*b)
    # The shape has no "seed" exactly when the old size is a power of two, which is when step 2
    # of §2.1.4.2 prepends the old root, so equal shapes mean equal verifier steps.
    return all(0 < x[0] < x[1] for x in (a, b)) and ref_proof_shape(*a) == ref_proof_shape(*b)


@cache
def ref_root(size: int) -> bytes:
    return ref_mth(ENTRIES[:size])


def _build_store(entries: Sequence[bytes]) -> dict[tuple[int, int], bytes]:
    store: dict[tuple[int, int], bytes] = {}
    for i, entry in enumerate(entries):
        for level, idx, value in m.new_nodes(i, m.leaf_hash(entry), store):
            store[(level, idx)] = value
    return store


STORE = _build_store(ENTRIES)


class Recording(dict[tuple[int, int], bytes]):
    """A node store that remembers which coordinates were read."""

    def __init__(self, data: Mapping[tuple[int, int], bytes]) -> None:
        super().__init__(data)
        self.seen: set[tuple[int, int]] = set()

    def __getitem__(self, key: tuple[int, int]) -> bytes:
        self.seen.add(key)
        return super().__getitem__(key)


def _flip(proof: Sequence[bytes], i: int, bit: int = 3) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ (1 << bit)]) + out[i][1:]
    return out


# --- The node store -------------------------------------------------------------------------


def test_store_holds_exactly_the_perfect_subtrees() -> None:
    expected = {
        (level, i): ref_mth(ENTRIES[i << level : (i + 1) << level])
        for level in range(N.bit_length())
        for i in range(N >> level)
    }
    assert expected == STORE


@pytest.mark.parametrize("index", range(N))
def test_new_nodes_reads_only_its_coords(index: int) -> None:
    before = {c: v for c, v in STORE.items() if (c[1] + 1) << c[0] <= index}
    rec = Recording(before)
    out = m.new_nodes(index, m.leaf_hash(ENTRIES[index]), rec)
    assert rec.seen == set(m.new_nodes_coords(index))
    assert out[0][:2] == (0, index)
    assert all(STORE[(lv, i)] == v for lv, i, v in out)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=9), min_size=1, max_size=12))
def test_batches_equal_one_by_one(sizes: list[int]) -> None:
    store: dict[tuple[int, int], bytes] = {}
    start = 0
    for size in sizes:
        leaves = [m.leaf_hash(e) for e in ENTRIES[start : start + size]]
        if not leaves:
            break
        rec = Recording(dict(store))
        for level, idx, value in m.batch_new_nodes(start, leaves, rec):
            store[(level, idx)] = value
        assert rec.seen == set(m.batch_new_nodes_coords(start, len(leaves)))
        start += len(leaves)
    assert store == {c: v for c, v in STORE.items() if (c[1] + 1) << c[0] <= start}


@pytest.mark.parametrize("size", range(N + 1))
def test_root_matches_reference(size: int) -> None:
    rec = Recording(STORE)
    assert m.root(size, rec) == ref_root(size)
    assert rec.seen == set(m.root_coords(size))
    assert len(m.root_coords(size)) == bin(size).count("1")


def test_missing_node_is_a_key_error_naming_it() -> None:
    store = dict(STORE)
    del store[(1, 2)]
    with pytest.raises(KeyError, match=r"\(1, 2\)"):
        m.inclusion_proof(0, 7, store)
    with pytest.raises(m.MissingNodeError):
        m.root(7, store)
    with pytest.raises(ProofError):  # new_nodes takes the leaf hash, never the entry
        m.new_nodes(0, b"an entry, not its hash", {})


# --- Published vectors ----------------------------------------------------------------------


def test_reference_vectors_roots_and_proofs() -> None:
    h = REF["hasher"]
    assert m.EMPTY_ROOT.hex() == h["empty_root"]
    assert m.leaf_hash(b"").hex() == h["empty_leaf"]
    assert m.leaf_hash(b"L123456").hex() == h["leaf_L123456"]
    assert m.node_hash(b"N123", b"N456").hex() == h["node_N123_N456"]
    leaves = [bytes.fromhex(x) for x in REF["leaves"]]
    store = _build_store(leaves)
    for size, want in enumerate(REF["roots"], start=1):
        assert m.root(size, store).hex() == want
    for v in REF["inclusion_proofs"]:
        index, size = v["leaf"] - 1, v["size"]
        assert [h.hex() for h in m.inclusion_proof(index, size, store)] == v["proof"]
        proof = [bytes.fromhex(h) for h in v["proof"]]
        m.verify_inclusion(m.leaf_hash(leaves[index]), index, size, proof, m.root(size, store))
    for v in REF["consistency_proofs"]:
        s1, s2 = v["size1"], v["size2"]
        assert [h.hex() for h in m.consistency_proof(s1, s2, store)] == v["proof"]
        proof = [bytes.fromhex(h) for h in v["proof"]]
        m.verify_consistency(s1, s2, m.root(s1, store), m.root(s2, store), proof)


def test_reference_vectors_node_coordinates() -> None:
    # The Go library lists the same perfect nodes (its "rehash" ranges fold to one proof hash).
    for v in REF["inclusion_nodes"]:
        got = m.inclusion_coords(v["index"], v["size"])
        assert sorted(got) == sorted(map(tuple, v["nodes"])), v
    for v in REF["consistency_nodes"]:
        got = m.consistency_coords(v["size1"], v["size2"])
        assert sorted(got) == sorted(map(tuple, v["nodes"])), v
    for v in REF["inclusion_nodes_invalid"]:
        with pytest.raises(ProofError):
            m.inclusion_coords(v["index"], v["size"])
    for v in REF["consistency_nodes_invalid"]:
        with pytest.raises(ProofError):
            m.consistency_coords(v["size1"], v["size2"])


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


@pytest.mark.parametrize(
    "path",
    sorted((VECTORS / "transparency-dev-testdata").rglob("*.json")),
    ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}",
)
def test_transparency_dev_testdata(path: Path) -> None:
    v = json.loads(path.read_text())
    proof = [_b64(h) for h in v["proof"] or []]
    if "leafIdx" in v:
        leaf, root = _b64(v["leafHash"]), _b64(v["root"])
        check = partial(m.verify_inclusion, leaf, v["leafIdx"], v["treeSize"], proof, root)
    else:
        r1, r2 = _b64(v["root1"]), _b64(v["root2"])
        check = partial(m.verify_consistency, v["size1"], v["size2"], r1, r2, proof)
    if v["wantErr"]:
        with pytest.raises(ProofError):
            check()
    else:
        check()


# --- Inclusion: every index of every size, and every mutation refused ----------------------


def _inclusion_mutants(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> Iterator[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    for i in range(len(proof)):
        for bit in (0, 3, 7):
            yield f"flip proof[{i}] bit {bit}", (leaf, index, size, _flip(proof, i, bit), root)
    if proof:
        yield "truncated", (leaf, index, size, proof[:-1], root)
        yield "first dropped", (leaf, index, size, proof[1:], root)
    if len(proof) > 1:
        yield "reversed", (leaf, index, size, proof[::-1], root)
    yield "extended", (leaf, index, size, [*proof, SOME_HASH], root)
    yield "trailing root", (leaf, index, size, [*proof, root], root)
    yield "preceding root", (leaf, index, size, [root, *proof], root)
    yield "wrong leaf", (m.leaf_hash(b"other"), index, size, proof, root)
    yield "entry instead of leaf hash", (ENTRIES[index], index, size, proof, root)
    yield "empty root", (leaf, index, size, proof, m.EMPTY_ROOT)
    yield "random root", (leaf, index, size, proof, SOME_HASH)
    for other in {index - 1, index + 1, index ^ 1, index ^ 2, size, -1} - {index}:
        alike = _same_shape((index, size), (other, size), inclusion=True)
        yield f"index {other}" + "=" * alike, (leaf, other, size, proof, root)
    for other in {size - 1, size + 1, size * 2, size // 2, 0} - {size}:
        alike = _same_shape((index, size), (index, other), inclusion=True)
        yield f"size {other}" + "=" * alike, (leaf, index, other, proof, root)
    if size > 1:
        yield "root of size - 1", (leaf, index, size, proof, ref_root(size - 1))


@pytest.mark.parametrize("size", range(1, N + 1))
def test_inclusion_every_index(size: int) -> None:
    root = ref_root(size)
    for index in range(size):
        rec = Recording(STORE)
        proof = m.inclusion_proof(index, size, rec)
        assert proof == ref_path(index, ENTRIES[:size])
        assert rec.seen == set(m.inclusion_coords(index, size))
        leaf = m.leaf_hash(ENTRIES[index])
        m.verify_inclusion(leaf, index, size, proof, root)
        for desc, args in _inclusion_mutants(leaf, index, size, proof, root):
            if desc.endswith("="):  # indistinguishable by design; see _same_shape
                m.verify_inclusion(*args)
                continue
            with pytest.raises(ProofError):
                m.verify_inclusion(*args)
                pytest.fail(f"accepted {desc} for index {index} of size {size}")


def test_inclusion_refuses_malformed_input() -> None:
    leaf, root = m.leaf_hash(ENTRIES[0]), ref_root(2)
    proof = m.inclusion_proof(0, 2, STORE)
    m.verify_inclusion(leaf, 0, 2, proof, root)
    for bad in (b"", b"\x00" * 31, b"\x00" * 33):
        for args in ((bad, 0, 2, proof, root), (leaf, 0, 2, [bad], root), (leaf, 0, 2, proof, bad)):
            with pytest.raises(ProofError):
                m.verify_inclusion(*args)
    for index, size in ((0, 0), (1, 1), (2, 1), (-1, 2), (True, 2)):
        with pytest.raises(ProofError):
            m.verify_inclusion(leaf, index, size, proof, root)
    with pytest.raises(ProofError):
        m.verify_inclusion(leaf, 0, 2, [SOME_HASH] * 65, root)
    assert issubclass(ProofError, CryptoError)
    assert (ProofError.status, ProofError.problem) == (422, "bad-proof")


# --- Consistency: every pair of sizes, and every mutation refused --------------------------


def _consistency_mutants(
    old: int, new: int, proof: list[bytes]
) -> Iterator[tuple[str, tuple[int, int, bytes, bytes, list[bytes]]]]:
    r1, r2 = ref_root(old), ref_root(new)
    for i in range(len(proof)):
        for bit in (0, 4, 7):
            yield f"flip proof[{i}] bit {bit}", (old, new, r1, r2, _flip(proof, i, bit))
    if proof:
        yield "empty proof", (old, new, r1, r2, [])
        yield "truncated", (old, new, r1, r2, proof[:-1])
        yield "first dropped", (old, new, r1, r2, proof[1:])
        yield "preceding proof[0]", (old, new, r1, r2, [proof[0], *proof])
    yield "extended", (old, new, r1, r2, [*proof, SOME_HASH])
    yield "trailing root1", (old, new, r1, r2, [*proof, r1])
    yield "preceding root2", (old, new, r1, r2, [r2, *proof])
    if r1 != r2:
        yield "swapped roots", (old, new, r2, r1, proof)
    yield "wrong old root", (old, new, SOME_HASH, r2, proof)
    if old != new:
        yield "sizes reversed", (new, old, r2, r1, proof)
    for other in {old - 1, old + 1, old ^ 2, new + 1} - {old}:
        if other >= 0:
            alike = _same_shape((old, new), (other, new), inclusion=False)
            yield f"old size {other}" + "=" * alike, (other, new, r1, r2, proof)
    if old == 0:
        return  # every tree extends the empty one: there is nothing about the new tree to refute
    yield "wrong new root", (old, new, r1, SOME_HASH, proof)
    for other in {new - 1, new + 1, new * 2, new // 2} - {new}:
        alike = _same_shape((old, new), (old, other), inclusion=False)
        yield f"new size {other}" + "=" * alike, (old, other, r1, r2, proof)


@pytest.mark.parametrize("new", range(N + 1))
def test_consistency_every_pair(new: int) -> None:
    for old in range(new + 1):
        rec = Recording(STORE)
        proof = m.consistency_proof(old, new, rec)
        want = ref_subproof(old, ENTRIES[:new], True) if 0 < old < new else []
        assert proof == want
        assert rec.seen == set(m.consistency_coords(old, new))
        m.verify_consistency(old, new, ref_root(old), ref_root(new), proof)
        for desc, args in _consistency_mutants(old, new, proof):
            if desc.endswith("="):  # indistinguishable by design; see _same_shape
                m.verify_consistency(*args)
                continue
            with pytest.raises(ProofError):
                m.verify_consistency(*args)
                pytest.fail(f"accepted {desc} for {old} -> {new}")


def test_consistency_refuses_malformed_input() -> None:
    r1, r2 = ref_root(3), ref_root(5)
    proof = m.consistency_proof(3, 5, STORE)
    m.verify_consistency(3, 5, r1, r2, proof)
    for bad in (b"", b"\x00" * 31, b"\x00" * 33):
        for r1_, r2_, proof_ in ((bad, r2, proof), (r1, bad, proof), (r1, r2, [bad, *proof[1:]])):
            with pytest.raises(ProofError):
                m.verify_consistency(3, 5, r1_, r2_, proof_)
    with pytest.raises(ProofError):
        m.verify_consistency(-1, 5, r1, r2, proof)
    with pytest.raises(ProofError):
        m.verify_consistency(3, 5, r1, r2, [SOME_HASH] * 65)
    with pytest.raises(ProofError):  # the empty tree has one root only
        m.verify_consistency(0, 5, SOME_HASH, r2, [])
    with pytest.raises(ProofError):  # same size, different trees: a fork
        m.verify_consistency(5, 5, r2, SOME_HASH, [])
    with pytest.raises(ProofError):
        m.consistency_proof(5, 3, STORE)


# --- Properties over large trees: O(log n) reads ----------------------------------------------


@given(st.integers(min_value=1, max_value=2**62), st.data())
def test_coords_are_logarithmic(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    old = data.draw(st.integers(min_value=0, max_value=size))
    bound = 2 * size.bit_length()
    assert len(m.inclusion_coords(index, size)) <= bound
    assert len(m.consistency_coords(old, size)) <= bound
    assert len(m.root_coords(size)) <= size.bit_length()
    assert len(m.new_nodes_coords(index)) <= size.bit_length()
    for level, i in m.inclusion_coords(index, size) + m.consistency_coords(old, size):
        assert (i + 1) << level <= size  # never a node the tree of that size lacks


@settings(deadline=None)
@given(st.integers(min_value=1, max_value=N), st.data())
def test_proofs_bind_every_byte(size: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = m.inclusion_proof(index, size, STORE)
    if proof:
        i = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))
        byte = data.draw(st.integers(min_value=0, max_value=31))
        mask = data.draw(st.integers(min_value=1, max_value=255))
        bad = bytearray(proof[i])
        bad[byte] ^= mask
        proof[i] = bytes(bad)
        with pytest.raises(ProofError):
            m.verify_inclusion(m.leaf_hash(ENTRIES[index]), index, size, proof, ref_root(size))
