"""RFC 6962 / RFC 9162 section 2.1 Merkle trees: hashes, proofs and their verification.

The tree over leaves ``D[0:n]`` is the one RFC 9162 section 2.1.1 defines: a leaf hashes as
``SHA-256(0x00 || entry)``, an inner node as ``SHA-256(0x01 || left || right)``, and the
left subtree of ``D[lo:hi]`` holds the largest power of two of leaves smaller than
``hi - lo``. The empty tree's root is ``SHA-256("")``.

A node is named ``(level, index)``: the complete subtree of ``2**level`` leaves
``[index * 2**level, (index + 1) * 2**level)``. A log only ever stores such complete
nodes, as they never change once their last leaf is appended. The hashes along the right
edge of a tree whose size is not a power of two ("ephemeral" nodes) are computed here from
complete ones, through a ``hash_at(level, index)`` lookup the caller provides. The
``*_nodes`` functions list the complete nodes a computation will look up, so a server can
fetch them all in one query and then answer ``hash_at`` from a dict.

Verification (``verify_inclusion``, ``verify_consistency``) follows RFC 9162 sections
2.1.3.2 and 2.1.4.2 step by step and raises ``ProofError`` on any mismatch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Node = tuple[int, int]
"""A complete subtree ``(level, index)``: leaves ``[index << level, (index + 1) << level)``."""

HashAt = Callable[[int, int], bytes]
"""Returns the stored hash of the complete subtree ``(level, index)``; level 0 is a leaf hash."""


class ProofError(ValueError):
    """A proof does not verify, or its arguments cannot describe a proof at all."""


def leaf_hash(entry: bytes) -> bytes:
    """The RFC 6962 hash of one log entry: ``SHA-256(0x00 || entry)``."""
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The RFC 6962 hash of an inner node: ``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """The Merkle tree hash of a whole list of leaf hashes, in O(n) time and O(log n) memory."""
    right_edge: list[bytes] = []
    for size, leaf in enumerate(leaf_hashes):
        _push(size, right_edge, leaf, None)
    return root_from_right_edge(len(leaf_hashes), right_edge)


def subtree_nodes(begin: int, end: int) -> list[Node]:
    """The complete nodes that exactly cover leaves ``[begin, end)``, left to right, each as
    large as alignment allows (the "compact range" of transparency-dev/merkle)."""
    if not 0 <= begin <= end:
        raise ValueError(f"not a range of leaves: [{begin}, {end})")
    nodes: list[Node] = []
    while begin < end:
        # The largest aligned block starting at begin that still fits before end.
        level = (begin & -begin).bit_length() - 1 if begin else (end - begin).bit_length() - 1
        while (1 << level) > end - begin:
            level -= 1
        nodes.append((level, begin >> level))
        begin += 1 << level
    return nodes


def compact_range_nodes(size: int) -> list[Node]:
    """The complete nodes a tree of ``size`` leaves decomposes into, largest first: one per
    set bit of ``size``. Their hashes are the "right edge" ``append_leaf`` works from."""
    return subtree_nodes(0, size)


def _fold(nodes: Sequence[Node], hash_at: HashAt) -> bytes:
    # The hash of the range these nodes cover, when it starts at a multiple of a power of
    # two at least its length (true of every range a proof or root needs): RFC 9162's
    # split then makes the largest node the left child, so hashes combine right to left.
    result = hash_at(*nodes[-1])
    for level, index in reversed(nodes[:-1]):
        result = node_hash(hash_at(level, index), result)
    return result


def _range_hash(begin: int, end: int, hash_at: HashAt) -> bytes:
    return _fold(subtree_nodes(begin, end), hash_at)


def root_nodes(size: int) -> list[Node]:
    """The complete nodes ``root_from(size, ...)`` looks up."""
    return compact_range_nodes(size)


def root_from(size: int, hash_at: HashAt) -> bytes:
    """The root hash of the tree of the first ``size`` leaves, from stored complete nodes."""
    if size < 0:
        raise ValueError("a tree size is not negative")
    if size == 0:
        return EMPTY_ROOT
    return _fold(compact_range_nodes(size), hash_at)


def root_from_right_edge(size: int, right_edge: Sequence[bytes]) -> bytes:
    """The root hash of a tree of ``size`` leaves from its right edge (the hashes of
    ``compact_range_nodes(size)``, in that order)."""
    nodes = compact_range_nodes(size)
    if len(right_edge) != len(nodes):
        raise ValueError(f"a tree of {size} leaves has {len(nodes)} right-edge hashes")
    if size == 0:
        return EMPTY_ROOT
    by_node = dict(zip(nodes, right_edge, strict=True))
    return _fold(nodes, lambda level, index: by_node[(level, index)])


def _largest_power_of_two_below(n: int) -> int:
    # n > 1: the k of RFC 9162, with k < n <= 2k.
    return 1 << ((n - 1).bit_length() - 1)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PATH(index, D[0:size]), in proof order
    (leaf to root), per RFC 9162 section 2.1.3.1."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    ranges: list[tuple[int, int]] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = _largest_power_of_two_below(hi - lo)
        if index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up PROOF(old_size, D[0:new_size]), in proof
    order, per RFC 9162 section 2.1.4.1."""
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from size {old_size} to size {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    lo, hi, m, complete_subtree_known = 0, new_size, old_size, True
    while m != hi - lo:
        k = _largest_power_of_two_below(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
            m -= k
            complete_subtree_known = False
    if not complete_subtree_known:
        ranges.append((lo, hi))
    ranges.reverse()
    return ranges


def _nodes_of(ranges: Iterable[tuple[int, int]]) -> list[Node]:
    return [node for begin, end in ranges for node in subtree_nodes(begin, end)]


def inclusion_nodes(index: int, size: int) -> list[Node]:
    """The complete nodes ``inclusion_proof(index, size, ...)`` looks up."""
    return _nodes_of(_inclusion_ranges(index, size))


def consistency_nodes(old_size: int, new_size: int) -> list[Node]:
    """The complete nodes ``consistency_proof(old_size, new_size, ...)`` looks up."""
    return _nodes_of(_consistency_ranges(old_size, new_size))


def needed_nodes(
    size: int, *, index: int | None = None, old_size: int | None = None, root: bool = False
) -> list[Node]:
    """Every complete node needed, for a tree of ``size`` leaves, by the inclusion proof of
    leaf ``index`` and/or the consistency proof from ``old_size`` and/or (``root=True``)
    its root hash: one batch for the server to fetch. Each node once, in first-use order."""
    nodes: list[Node] = []
    if index is not None:
        nodes += inclusion_nodes(index, size)
    if old_size is not None:
        nodes += consistency_nodes(old_size, size)
    if root:
        nodes += root_nodes(size)
    return list(dict.fromkeys(nodes))


def inclusion_proof(index: int, size: int, hash_at: HashAt) -> list[bytes]:
    """The RFC 9162 inclusion proof (audit path) of leaf ``index`` in the tree of the first
    ``size`` leaves. Raises ValueError unless ``0 <= index < size``."""
    return [_range_hash(begin, end, hash_at) for begin, end in _inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, hash_at: HashAt) -> list[bytes]:
    """The RFC 9162 consistency proof from the tree of ``old_size`` leaves to the tree of
    ``new_size`` leaves. Empty when the sizes are equal or ``old_size`` is 0 (the empty tree
    is a prefix of every tree). Raises ValueError unless ``0 <= old_size <= new_size``."""
    return [
        _range_hash(begin, end, hash_at) for begin, end in _consistency_ranges(old_size, new_size)
    ]


def _check_hash(value: bytes, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise ProofError(f"the {what} is not a {HASH_SIZE}-byte hash")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves whose root
    is ``root``, following RFC 9162 section 2.1.3.2. Raises ProofError if not."""
    _check_hash(leaf_hash, "leaf hash")
    _check_hash(root, "root hash")
    for position, element in enumerate(proof):
        _check_hash(element, f"proof element {position}")
    if not 0 <= index < size:
        raise ProofError(f"leaf {index} is not in a tree of {size} leaves")
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the path to the root")
    if r != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root")


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``old_size`` leaves with root ``old_root`` is a prefix of the
    tree of ``new_size`` leaves with root ``new_root``, following RFC 9162 section 2.1.4.2.
    Equal sizes need an empty proof and equal roots; an old size of 0 needs an empty proof
    and the empty tree's root. Raises ProofError if not."""
    _check_hash(old_root, "old root hash")
    _check_hash(new_root, "new root hash")
    for position, element in enumerate(proof):
        _check_hash(element, f"proof element {position}")
    if old_size < 0 or new_size < old_size:
        raise ProofError(f"no tree of {new_size} leaves extends a tree of {old_size} leaves")
    # RFC 9162 defines proofs for 0 < old_size < new_size only; the two edge cases:
    if old_size == 0:
        if proof:
            raise ProofError("a consistency proof from the empty tree must be empty")
        if old_root != EMPTY_ROOT or (new_size == 0 and new_root != EMPTY_ROOT):
            raise ProofError("the root of the empty tree is SHA-256 of nothing")
        return
    if old_size == new_size:
        if proof:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError("two trees of the same size have different roots")
        return
    # RFC 9162 section 2.1.4.2, steps 1 to 7.
    if not proof:
        raise ProofError("the consistency proof is empty")
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is high")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError("the consistency proof does not lead to the old root")
    if sr != new_root:
        raise ProofError("the consistency proof does not lead to the new root")


@dataclass(frozen=True)
class Appended:
    """What appending leaves produced: the complete nodes to store, as ``(level, index,
    hash)`` (each leaf, then every node it completed, bottom up), and the new tree's size,
    right edge and root."""

    nodes: list[tuple[int, int, bytes]]
    size: int
    right_edge: list[bytes]
    root: bytes


def _push(
    size: int, right_edge: list[bytes], leaf: bytes, out: list[tuple[int, int, bytes]] | None
) -> None:
    # Appending leaf `size` completes one node per trailing one bit of `size`: merge it
    # with the right edge's smallest subtrees, like a carry in binary addition.
    level, index, value = 0, size, leaf
    if out is not None:
        out.append((level, index, value))
    while index & 1:
        value = node_hash(right_edge.pop(), value)
        level += 1
        index >>= 1
        if out is not None:
            out.append((level, index, value))
    right_edge.append(value)


def push_leaf(
    size: int, right_edge: list[bytes], leaf_hash: bytes, out: list[tuple[int, int, bytes]]
) -> None:
    """Append leaf ``leaf_hash`` as leaf number ``size`` to a tree whose right edge is
    ``right_edge``, updating ``right_edge`` in place and adding to ``out`` the leaf and each
    node it completes, ``(level, index, hash)``, bottom up: ``append_leaves`` one leaf at a
    time, for a caller that needs the root after each (``root_from_right_edge``)."""
    if len(leaf_hash) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
    if len(right_edge) != size.bit_count():
        raise ValueError(f"a tree of {size} leaves has {size.bit_count()} right-edge hashes")
    _push(size, right_edge, leaf_hash, out)


def append_leaves(size: int, right_edge: Sequence[bytes], leaf_hashes: Iterable[bytes]) -> Appended:
    """Append leaf hashes to a tree of ``size`` leaves whose right edge (the hashes of
    ``compact_range_nodes(size)``, largest first) is ``right_edge``: O(log n) hashing per
    leaf, nothing recomputed. Raises ValueError if the right edge does not fit the size."""
    if size < 0:
        raise ValueError("a tree size is not negative")
    if len(right_edge) != size.bit_count():
        raise ValueError(f"a tree of {size} leaves has {size.bit_count()} right-edge hashes")
    edge = list(right_edge)
    nodes: list[tuple[int, int, bytes]] = []
    for leaf in leaf_hashes:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        _push(size, edge, leaf, nodes)
        size += 1
    return Appended(nodes=nodes, size=size, right_edge=edge, root=root_from_right_edge(size, edge))


def append_leaf(
    size: int, right_edge: Sequence[bytes], leaf_hash: bytes
) -> list[tuple[int, int, bytes]]:
    """The complete nodes to store when leaf ``leaf_hash`` becomes leaf number ``size``:
    ``(0, size, leaf_hash)`` then each node it completes, bottom up. ``append_leaves``
    also returns the new right edge and root."""
    return append_leaves(size, right_edge, [leaf_hash]).nodes


class RightEdge:
    """The compact range ``[0, size)`` of a tree a reader follows leaf by leaf: the hashes
    of ``compact_range_nodes(size)``, largest first, one per set bit of ``size``. That is
    all it takes to append further leaves and to compute the root of every size reached,
    so a reader never needs the earlier leaves again. Mutable; ``copy`` before a change
    that may have to be undone."""

    __slots__ = ("hashes", "size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError("a tree size is not negative")
        if len(hashes) != size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} right-edge hashes")
        if any(not isinstance(h, bytes) or len(h) != HASH_SIZE for h in hashes):
            raise ValueError(f"a right-edge hash is {HASH_SIZE} bytes")
        self.size = size
        self.hashes = list(hashes)

    def copy(self) -> RightEdge:
        return RightEdge(self.size, self.hashes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RightEdge):
            return NotImplemented
        return (self.size, self.hashes) == (other.size, other.hashes)

    # Mutable, so not hashable.
    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"RightEdge(size={self.size}, root={self.root().hex()})"

    def append(self, leaf_hash: bytes) -> None:
        """Append one leaf hash (``SHA-256(0x00 || entry)``)."""
        if len(leaf_hash) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        _push(self.size, self.hashes, leaf_hash, None)
        self.size += 1

    def append_entries(self, entries: Iterable[bytes]) -> None:
        """Append entries (their bytes; each is hashed as a leaf), in order. The loop a
        syncing client runs on every entry: one leaf hash and, on average, one node hash
        per entry."""
        sha256 = hashlib.sha256
        self.append_hashes([sha256(b"\x00" + entry).digest() for entry in entries])

    def append_hashes(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append leaf hashes, in order, all at once: the subtree over them is built level by
        level, each level's pairs hashed in one pass, and joined with the right edge where
        a level starts on a right child (the edge holds its left sibling). The same hashes
        as appending them one by one, with less work per hash."""
        if any(len(value) != HASH_SIZE for value in leaf_hashes):
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes")
        if not leaf_hashes:
            return
        sha256 = hashlib.sha256
        edge = self.hashes
        new_size = self.size + len(leaf_hashes)
        # The node at the start of `level` is number `size >> level` of its level: when that
        # is odd, its left sibling is the edge's smallest hash (one per set bit of size).
        index = self.size
        nodes = list(leaf_hashes)
        completed: list[bytes] = []
        while nodes:
            if index & 1:
                nodes.insert(0, edge.pop())
                index -= 1
            if len(nodes) & 1:
                # No right sibling yet: this node joins the new tree's right edge.
                completed.append(nodes.pop())
            nodes = [
                sha256(b"\x01" + left + right).digest()
                for left, right in zip(nodes[::2], nodes[1::2], strict=True)
            ]
            index >>= 1
        edge.extend(reversed(completed))
        self.size = new_size

    def root(self) -> bytes:
        """The root hash of the tree of ``size`` leaves (``EMPTY_ROOT`` when empty)."""
        if not self.hashes:
            return EMPTY_ROOT
        result = self.hashes[-1]
        for value in reversed(self.hashes[:-1]):
            result = node_hash(value, result)
        return result
