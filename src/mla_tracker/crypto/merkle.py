"""RFC 6962 / RFC 9162 Merkle tree hashing, proofs and their verification over stored nodes.

Storage model: only *perfect* subtree hashes are stored, keyed (level, index). Level 0 index i
is the leaf hash of entry i; level L index i is node_hash(level L-1 index 2i, level L-1 index
2i+1) and covers leaves [i*2^L, (i+1)*2^L). A node is written once, when its last leaf is
appended, and never changes, so any past tree size can be served from the same rows.

Every hash the RFC needs that is *not* perfect (the right edge of a tree whose size is not a
power of two) is recomputed from O(log n) perfect nodes. The `*_coords` functions name exactly
the stored nodes a computation reads, so the caller can fetch them in one query; the functions
taking `nodes` read nothing else and raise MissingNodeError (a KeyError) if one is absent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence

from .errors import ProofError

HASH_SIZE = 32
# MTH({}) = SHA-256() (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

Coord = tuple[int, int]
Nodes = Mapping[Coord, bytes]
# A subtree of the RFC's recursion, as the half-open leaf range [start, end).
_Range = tuple[int, int]


class MissingNodeError(KeyError):
    """A stored node the computation needs is not in `nodes` (a storage fault, not a bad proof)."""


def leaf_hash(entry: bytes) -> bytes:
    """RFC 6962 leaf hash: SHA-256(0x00 || entry)."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """RFC 6962 interior node hash: SHA-256(0x01 || left || right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162 §2.1.1: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: int) -> None:
    # bool is an int subclass; a True "size" is a caller bug, not a tree of one leaf.
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProofError(f"{name} must be a non-negative integer, got {value!r}")


def _get(nodes: Nodes, coord: Coord) -> bytes:
    try:
        value = nodes[coord]
    except KeyError:
        raise MissingNodeError(f"Merkle node (level, index) = {coord} is not stored") from None
    if len(value) != HASH_SIZE:
        raise MissingNodeError(f"Merkle node {coord} is {len(value)} bytes, not {HASH_SIZE}")
    return value


def _dedup(coords: Iterable[Coord]) -> list[Coord]:
    return list(dict.fromkeys(coords))


# --- Subtrees as perfect nodes -------------------------------------------------------------


def _range_coords(start: int, end: int) -> list[Coord]:
    """The perfect nodes whose right fold is MTH(D[start:end]), left to right.

    Every subtree of the RFC recursion starts at a multiple of the smallest power of two not
    below its size, so its binary decomposition from the top bit yields aligned perfect nodes.
    """
    coords: list[Coord] = []
    size = end - start
    pos = start
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            coords.append((level, pos >> level))
            pos += 1 << level
    return coords


def _range_hash(start: int, end: int, nodes: Nodes) -> bytes:
    """MTH(D[start:end]) from perfect nodes: MTH(D[0:n]) = H(MTH(D[0:k]), MTH(D[k:n]))."""
    hashes = [_get(nodes, c) for c in _range_coords(start, end)]
    acc = hashes[-1]
    for left in reversed(hashes[:-1]):
        acc = node_hash(left, acc)
    return acc


# --- Appending -----------------------------------------------------------------------------


def new_nodes_coords(index: int) -> list[Coord]:
    """The stored nodes `new_nodes(index, ...)` reads: the left siblings that leaf completes."""
    _check_size("index", index)
    coords: list[Coord] = []
    level = 0
    # Appending leaf `index` completes the parent at each level where the new node is a right
    # child (its index is odd); the left sibling of that node is already stored.
    while index >> level & 1:
        coords.append((level, (index >> level) - 1))
        level += 1
    return coords


def new_nodes(index: int, leaf: bytes, nodes: Nodes) -> list[tuple[int, int, bytes]]:
    """(level, index, hash) of every perfect node completed by appending leaf hash `leaf`."""
    if len(leaf) != HASH_SIZE:
        raise ProofError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)}")
    out = [(0, index, leaf)]
    acc = leaf
    for level, sibling in new_nodes_coords(index):
        acc = node_hash(_get(nodes, (level, sibling)), acc)
        out.append((level + 1, (sibling + 1) >> 1, acc))
    return out


def batch_new_nodes_coords(start: int, count: int) -> list[Coord]:
    """The stored nodes `batch_new_nodes(start, leaves, ...)` reads (all older than `start`)."""
    _check_size("start", start)
    _check_size("count", count)
    needed = (c for i in range(start, start + count) for c in new_nodes_coords(i))
    # Nodes ending at or before `start` exist already; later ones come from the batch itself.
    return _dedup(c for c in needed if (c[1] + 1) << c[0] <= start)


def batch_new_nodes(
    start: int, leaves: Sequence[bytes], nodes: Nodes
) -> list[tuple[int, int, bytes]]:
    """Every perfect node completed by appending leaf hashes `leaves` at `start`, in order."""
    overlay: dict[Coord, bytes] = {
        c: _get(nodes, c) for c in batch_new_nodes_coords(start, len(leaves))
    }
    out: list[tuple[int, int, bytes]] = []
    for offset, leaf in enumerate(leaves):
        for level, idx, value in new_nodes(start + offset, leaf, overlay):
            overlay[(level, idx)] = value
            out.append((level, idx, value))
    return out


# --- Tree heads ----------------------------------------------------------------------------


def root_coords(size: int) -> list[Coord]:
    """The stored nodes `root(size, ...)` reads: one per set bit of size."""
    _check_size("size", size)
    return _range_coords(0, size)


def root(size: int, nodes: Nodes) -> bytes:
    """MTH of the first `size` leaves (RFC 9162 §2.1.1); EMPTY_ROOT for size 0."""
    _check_size("size", size)
    return EMPTY_ROOT if size == 0 else _range_hash(0, size, nodes)


# --- Inclusion proofs (RFC 9162 §2.1.3) ----------------------------------------------------


def _inclusion_ranges(m: int, start: int, end: int) -> list[_Range]:
    """PATH(m, D[start:end]) as subtree ranges, in the RFC's order (leaf side first)."""
    n = end - start
    if n == 1:
        return []  # PATH(0, {d(0)}) = {}
    k = _largest_power_of_two_below(n)
    if m < k:  # PATH(m, D[n]) = PATH(m, D[0:k]) : MTH(D[k:n])
        return [*_inclusion_ranges(m, start, start + k), (start + k, end)]
    # PATH(m, D[n]) = PATH(m - k, D[k:n]) : MTH(D[0:k])
    return [*_inclusion_ranges(m - k, start + k, end), (start, start + k)]


def _check_index(index: int, size: int) -> None:
    _check_size("index", index)
    _check_size("size", size)
    if index >= size:
        raise ProofError(f"leaf index {index} is not in a tree of size {size}")


def inclusion_coords(index: int, size: int) -> list[Coord]:
    """The stored nodes `inclusion_proof(index, size, ...)` reads."""
    _check_index(index, size)
    return _dedup(c for r in _inclusion_ranges(index, 0, size) for c in _range_coords(*r))


def inclusion_proof(index: int, size: int, nodes: Nodes) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 §2.1.3.1: sibling hashes from the leaf upwards."""
    _check_index(index, size)
    return [_range_hash(s, e, nodes) for s, e in _inclusion_ranges(index, 0, size)]


# --- Consistency proofs (RFC 9162 §2.1.4) --------------------------------------------------


def _subproof_ranges(m: int, start: int, end: int, b: bool) -> list[_Range]:
    """SUBPROOF(m, D[start:end], b) of RFC 9162 §2.1.4.1 as subtree ranges."""
    n = end - start
    if m == n:
        # SUBPROOF(m, D[m], true) = {}; SUBPROOF(m, D[m], false) = {MTH(D[m])}.
        return [] if b else [(start, end)]
    k = _largest_power_of_two_below(n)
    if m <= k:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
        return [*_subproof_ranges(m, start, start + k, b), (start + k, end)]
    # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
    return [*_subproof_ranges(m - k, start + k, end, False), (start, start + k)]


def _consistency_ranges(old_size: int, new_size: int) -> list[_Range]:
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == 0 or old_size == new_size:
        return []  # Nothing to prove: the empty tree and a tree itself are always consistent.
    return _subproof_ranges(old_size, 0, new_size, True)


def consistency_coords(old_size: int, new_size: int) -> list[Coord]:
    """The stored nodes `consistency_proof(old_size, new_size, ...)` reads."""
    ranges = _consistency_ranges(old_size, new_size)
    return _dedup(c for r in ranges for c in _range_coords(*r))


def consistency_proof(old_size: int, new_size: int, nodes: Nodes) -> list[bytes]:
    """PROOF(old_size, D[new_size]) of RFC 9162 §2.1.4.1 (empty if old_size is 0 or equal)."""
    return [_range_hash(s, e, nodes) for s, e in _consistency_ranges(old_size, new_size)]


# --- Verification ---------------------------------------------------------------------------


def _check_hash(name: str, value: bytes) -> None:
    if not isinstance(value, bytes | bytearray) or len(value) != HASH_SIZE:
        raise ProofError(f"{name} must be {HASH_SIZE} bytes")


def _check_proof(proof: Sequence[bytes]) -> None:
    # A bound far above any real path (a 2^64-leaf tree needs at most 64) keeps hostile input
    # from costing work before it fails.
    if len(proof) > 64:
        raise ProofError(f"a proof has at most 64 hashes, got {len(proof)}")
    for i, h in enumerate(proof):
        _check_hash(f"proof[{i}]", h)


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise ProofError unless `proof` shows leaf hash `leaf` at `index` of the tree `root`."""
    _check_hash("leaf hash", leaf)
    _check_hash("root", root)
    _check_proof(proof)
    # RFC 9162 §2.1.3.2, step 1: the index must lie inside the tree.
    _check_index(index, size)
    # Step 2-3.
    fn, sn, r = index, size - 1, bytes(leaf)
    for p in proof:  # Step 4.
        if sn == 0:  # 4a: more proof than tree.
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # 4b
            r = node_hash(p, r)
            # 4b-ii: skip the levels where this node has no right sibling.
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1  # 4c
        sn >>= 1
    # Step 5: the path must end exactly at the root and reproduce it.
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(f"inclusion proof for leaf {index} does not lead to the given root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Raise ProofError unless `proof` shows tree (old_size, old_root) is a prefix of new_root."""
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_proof(proof)
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    if old_size == new_size:
        # A tree is consistent with itself only; the RFC's proof for this case is empty.
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {old_size}")
        return
    if old_size == 0:
        # Every tree extends the empty tree, whose root is fixed.
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT:
            raise ProofError("the root of the empty tree is SHA-256 of the empty string")
        return
    # RFC 9162 §2.1.4.2, step 1.
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    # Step 2: a perfect old tree is itself a node of the new one, so the proof omits it.
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    # Step 3-4.
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    # Step 5.
    fr = sr = path[0]
    for c in path[1:]:  # Step 6.
        if sn == 0:  # 6a
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:  # 6b
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1  # 6c
        sn >>= 1
    # Step 7.
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError(f"consistency proof does not reproduce the root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not reproduce the root of size {new_size}")
