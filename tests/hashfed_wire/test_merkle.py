import base64
import hashlib
import os

import pytest

from hashfed_wire.merkle import (
    EMPTY_ROOT,
    ProofError,
    RightEdge,
    append_leaf,
    append_leaves,
    compact_range_nodes,
    consistency_nodes,
    consistency_proof,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    needed_nodes,
    node_hash,
    push_leaf,
    root_from,
    root_from_right_edge,
    root_hash,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)

# The RFC 6962 reference leaves and roots, as certificate-transparency and
# transparency-dev/merkle (testonly/constants.go) publish them.
LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
NODE_HASHES = {
    (0, 0): "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    (0, 1): "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    (0, 2): "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
    (0, 3): "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
    (0, 4): "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    (0, 5): "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
    (0, 6): "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
    (0, 7): "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    (1, 0): "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    (1, 1): "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    (1, 2): "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    (1, 3): "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    (2, 0): "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    (2, 1): "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    (3, 0): "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}


def b64(text: str) -> bytes:
    return base64.b64decode(text)


# transparency-dev/merkle testdata/inclusion/*/happy-path.json: (index, size, leaf, proof).
INCLUSION_VECTORS = [
    (0, 1, "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=", []),
    (
        0,
        8,
        "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        5,
        8,
        "QnGia+DYqE8L1UyMMC58s6O10fpngKQLzOKHNHfatlg=",
        [
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        2,
        3,
        "ApjRIpBtz8EIkstTpzmS/FufST6kybrbJ7eRtBJ6f+c=",
        ["+sVCA+fMaWzw38tCySodnbr3CtnmIfS9jZhmLwDjwSU="],
    ),
    (
        1,
        5,
        "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
        [
            "bjQLnP+zepicpUTmu3gKLHiQHT+zNzh2hRGjBhevoB0=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
    ),
]

# transparency-dev/merkle testdata/consistency/*/happy-path.json: (old size, new size, proof).
CONSISTENCY_VECTORS = [
    (1, 1, []),
    (
        1,
        8,
        [
            "lqKW0iTyhcZ77pPDD4owkVfw2qNdxbh+QQt4YwoJz8c=",
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "a0eq8p7jwq+a+Im8H7klTavTEXfxYjLdaqsDXKOb9uQ=",
        ],
    ),
    (
        6,
        8,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "yoVOoSjtBQtBs1/8G4e46yveRh6eO1WW7Oa51ZdaCuA=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
    (
        2,
        5,
        [
            "Xwg/ChozygdqlSeYMlgNs+DvRYS9/x9UyKNg9Q3jAx4=",
            "vBoGQ7EuTS18d5GPROD095qDi2z57FtcKD4fTYhZnms=",
        ],
    ),
    (
        6,
        7,
        [
            "DrxdNDf74tsVi58Sah0RjjCBgQMdCpSfje3t68VY72o=",
            "sIaT7C5yFZcTBkHoIR5+7cy0wmQTlj7ubB4u0W/7Gl8=",
            "037kGJdt2VdTwcc4Yrk5j6Kiz5tP8P3+izDNlSCWFLc=",
        ],
    ),
]


class Tree:
    """Every complete node of a tree, built once, as a log's storage would hold them."""

    def __init__(self, leaf_hashes: list[bytes]) -> None:
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self.levels[-1]) > 1:
            below = self.levels[-1]
            self.levels.append(
                [node_hash(below[i], below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    def hash_at(self, level: int, index: int) -> bytes:
        return self.levels[level][index]


def tree_of(size: int) -> Tree:
    return Tree([leaf_hash(i.to_bytes(4, "big")) for i in range(size)])


REFERENCE = Tree([leaf_hash(entry) for entry in LEAVES])


def reference_root(leaves: list[bytes]) -> bytes:
    """MTH exactly as RFC 9162 section 2.1.1 writes it, recursively."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_the_reference_leaves_hash_to_the_published_nodes_and_roots():
    for (level, index), expected in NODE_HASHES.items():
        assert REFERENCE.hash_at(level, index).hex() == expected
    hashes = [leaf_hash(entry) for entry in LEAVES]
    for size, expected in enumerate(ROOTS):
        assert root_hash(hashes[:size]).hex() == expected
        assert root_from(size, REFERENCE.hash_at).hex() == expected
    assert EMPTY_ROOT.hex() == ROOTS[0]


def test_the_published_inclusion_proofs_are_the_ones_generated_and_they_verify():
    for index, size, leaf, proof in INCLUSION_VECTORS:
        expected = [b64(p) for p in proof]
        assert inclusion_proof(index, size, REFERENCE.hash_at) == expected
        assert REFERENCE.hash_at(0, index) == b64(leaf)
        verify_inclusion(b64(leaf), index, size, expected, bytes.fromhex(ROOTS[size]))


def test_the_published_consistency_proofs_are_the_ones_generated_and_they_verify():
    for old_size, new_size, proof in CONSISTENCY_VECTORS:
        expected = [b64(p) for p in proof]
        assert consistency_proof(old_size, new_size, REFERENCE.hash_at) == expected
        verify_consistency(
            old_size,
            new_size,
            bytes.fromhex(ROOTS[old_size]),
            bytes.fromhex(ROOTS[new_size]),
            expected,
        )


def test_the_needed_nodes_for_the_reference_proofs():
    # transparency-dev/merkle proof_test.go: 6 in 7 needs i (1,2) and k (2,0) via f=(0,5)'s
    # sibling; 5 to 7 needs e, f, j (=(0,6)) and k.
    assert inclusion_nodes(4, 7) == [(0, 5), (0, 6), (2, 0)]
    assert inclusion_nodes(6, 7) == [(1, 2), (2, 0)]
    assert consistency_nodes(5, 7) == [(0, 4), (0, 5), (0, 6), (2, 0)]
    assert consistency_nodes(4, 4) == []
    assert needed_nodes(8, index=5) == [(0, 4), (1, 3), (2, 0)]
    assert needed_nodes(7, old_size=6, root=True) == [(1, 2), (0, 6), (2, 0)]
    assert needed_nodes(7, root=True) == compact_range_nodes(7) == [(2, 0), (1, 2), (0, 6)]


def test_subtree_nodes_cover_a_range_with_aligned_complete_subtrees():
    assert subtree_nodes(0, 0) == []
    assert subtree_nodes(3, 13) == [(0, 3), (2, 1), (2, 2), (0, 12)]
    for begin in range(40):
        for end in range(begin, 70):
            covered = []
            for level, index in subtree_nodes(begin, end):
                covered += range(index << level, (index + 1) << level)
            assert covered == list(range(begin, end))


def test_roots_agree_with_the_recursive_definition():
    tree = tree_of(300)
    leaves = tree.levels[0]
    for size in range(301):
        assert root_from(size, tree.hash_at) == reference_root(leaves[:size])
        assert root_hash(leaves[:size]) == reference_root(leaves[:size])


# Exhaustive checks cost O(n^2 log n) hashes (about 2 minutes up to 2,000): every pair up
# to EXHAUSTIVE, then a strided sample up to LARGEST (every size, each against ~40 earlier
# sizes or indexes, edges included). HASHFED_MERKLE_EXHAUSTIVE=2000 checks every pair.
EXHAUSTIVE = int(os.environ.get("HASHFED_MERKLE_EXHAUSTIVE", "600"))
LARGEST = max(2000, EXHAUSTIVE)


def _sample(size: int) -> range | list[int]:
    if size <= EXHAUSTIVE:
        return range(size)
    stride = max(1, size // 40)
    return sorted({*range(0, size, stride), 1, size - 2, size - 1, size // 2, size - size // 3})


@pytest.fixture(scope="module")
def big_tree():
    return tree_of(LARGEST)


def test_every_inclusion_proof_verifies(big_tree):
    checked = 0
    for size in range(1, LARGEST + 1):
        root = root_from(size, big_tree.hash_at)
        for index in _sample(size):
            proof = inclusion_proof(index, size, big_tree.hash_at)
            verify_inclusion(big_tree.hash_at(0, index), index, size, proof, root)
            checked += 1
    assert checked > 50_000


def test_every_consistency_proof_verifies(big_tree):
    roots = [root_from(size, big_tree.hash_at) for size in range(LARGEST + 1)]
    checked = 0
    for new_size in range(0, LARGEST + 1):
        for old_size in [*_sample(new_size), new_size]:
            proof = consistency_proof(old_size, new_size, big_tree.hash_at)
            verify_consistency(old_size, new_size, roots[old_size], roots[new_size], proof)
            checked += 1
    assert checked > 50_000


def _mutations(proof: list[bytes]) -> list[list[bytes]]:
    mutated = []
    for position in range(len(proof)):
        flipped = bytearray(proof[position])
        flipped[position % 32] ^= 0x01
        mutated.append([*proof[:position], bytes(flipped), *proof[position + 1 :]])
        mutated.append(proof[:position] + proof[position + 1 :])
        mutated.append([*proof[: position + 1], proof[position], *proof[position + 1 :]])
    for position in range(len(proof) - 1):
        if proof[position] != proof[position + 1]:
            swapped = list(proof)
            swapped[position], swapped[position + 1] = swapped[position + 1], swapped[position]
            mutated.append(swapped)
    mutated.append([*proof, b"\x00" * 32])
    mutated.append([b"\x00" * 32, *proof])
    if proof:
        mutated.append([*proof[:-1], proof[-1][:31]])
    return mutated


def test_mutated_inclusion_proofs_are_rejected():
    tree = tree_of(70)
    roots = [root_from(size, tree.hash_at) for size in range(71)]
    for size in range(1, 71):
        root = roots[size]
        for index in range(size):
            leaf = tree.hash_at(0, index)
            proof = inclusion_proof(index, size, tree.hash_at)
            for bad in _mutations(proof):
                with pytest.raises(ProofError):
                    verify_inclusion(leaf, index, size, bad, root)
            for other_index in {index - 1, index + 1, index ^ 2, index * 2}:
                if other_index != index and other_index >= 0:
                    with pytest.raises(ProofError):
                        verify_inclusion(leaf, other_index, size, proof, root)
            # A wrong size is checked against the root of that size (a checkpoint binds
            # the two); the same proof stays valid only where the path is the same.
            for other_size in {size - 1, size + 1, size * 2, size // 2}:
                if not 0 < other_size <= 70 or other_size == size:
                    continue
                if index < other_size and inclusion_proof(index, other_size, tree.hash_at) == proof:
                    continue
                with pytest.raises(ProofError):
                    verify_inclusion(leaf, index, other_size, proof, roots[other_size])
            with pytest.raises(ProofError):
                verify_inclusion(leaf_hash(b"other"), index, size, proof, root)
            with pytest.raises(ProofError):
                verify_inclusion(leaf, index, size, proof, EMPTY_ROOT)


def test_mutated_consistency_proofs_are_rejected():
    tree = tree_of(70)
    roots = [root_from(size, tree.hash_at) for size in range(71)]
    for new_size in range(1, 71):
        for old_size in range(1, new_size):
            proof = consistency_proof(old_size, new_size, tree.hash_at)
            for bad in _mutations(proof):
                with pytest.raises(ProofError):
                    verify_consistency(old_size, new_size, roots[old_size], roots[new_size], bad)
            for other_old, other_new in {
                (old_size - 1, new_size),
                (old_size + 1, new_size),
                (old_size, new_size - 1),
                (old_size, new_size + 1),
            }:
                if not 0 < other_old < other_new <= 70:
                    continue
                if consistency_proof(other_old, other_new, tree.hash_at) == proof:
                    continue
                with pytest.raises(ProofError):
                    verify_consistency(
                        other_old, other_new, roots[other_old], roots[other_new], proof
                    )
            with pytest.raises(ProofError):
                verify_consistency(new_size, old_size, roots[new_size], roots[old_size], proof)
            with pytest.raises(ProofError):
                verify_consistency(old_size, new_size, roots[old_size - 1], roots[new_size], proof)
            with pytest.raises(ProofError):
                verify_consistency(old_size, new_size, roots[old_size], roots[new_size - 1], proof)
            with pytest.raises(ProofError):
                verify_consistency(old_size, new_size, roots[new_size], roots[old_size], proof)


EMPTY_B64 = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
JUNK_1, JUNK_2 = "ZG9uJ3QgY2FyZSAx", "ZG9uJ3QgY2FyZSAy"
LEAF_B64 = "q6yroAAAAAAAAAAAAAAAAAAAAAAAAAAAAGAGHgASNFY="
ONE_B64 = "DTrtAjFI/9KiWfvQzcf7PPl1ZYdg03dbgq9vkKrMLfw="


# transparency-dev/merkle testdata/consistency/additional: (size1, size2, root1, root2,
# proof, valid). All but one are errors.
@pytest.mark.parametrize(
    ("old_size", "new_size", "old_root", "new_root", "proof", "valid"),
    [
        (0, 1, EMPTY_B64, EMPTY_B64, [EMPTY_B64], False),
        (0, 0, EMPTY_B64, JUNK_2, [], False),
        (1, 1, EMPTY_B64, JUNK_2, [], False),
        (2, 1, JUNK_1, JUNK_2, [], False),
        (1, 0, JUNK_1, JUNK_2, [], False),
        (0, 1, JUNK_1, JUNK_2, [], False),
        (0, 1, EMPTY_B64, JUNK_2, [], False),
        (1, 1, ONE_B64, ONE_B64, [], True),
        (1, 1, JUNK_1, JUNK_2, [], False),
        (0, 0, JUNK_1, JUNK_1, [], False),
        (0, 0, JUNK_1, JUNK_2, [], False),
        (1, 2, JUNK_1, JUNK_2, [], False),
        (1, 1, EMPTY_B64, EMPTY_B64, [EMPTY_B64], False),
        (0, 0, EMPTY_B64, EMPTY_B64, [EMPTY_B64], False),
    ],
)
def test_the_reference_consistency_edge_cases(old_size, new_size, old_root, new_root, proof, valid):
    # (The reference's valid case uses a 12-byte junk root; a 32-byte one stands in.)
    arguments = (old_size, new_size, b64(old_root), b64(new_root), [b64(p) for p in proof])
    if valid:
        verify_consistency(*arguments)
    else:
        with pytest.raises(ProofError):
            verify_consistency(*arguments)


# transparency-dev/merkle testdata/inclusion/additional and single-entry: (index, size,
# root, leaf, valid).
@pytest.mark.parametrize(
    ("index", "size", "root", "leaf", "valid"),
    [
        (0, 0, EMPTY_B64, LEAF_B64, False),
        (0, 0, EMPTY_B64, "", False),
        (0, 0, "", LEAF_B64, False),
        (0, 1, EMPTY_B64, LEAF_B64, False),
        (0, 1, EMPTY_B64, "", False),
        (0, 1, "", LEAF_B64, False),
        (1, 0, EMPTY_B64, LEAF_B64, False),
        (2, 1, EMPTY_B64, LEAF_B64, False),
        (0, 1, ONE_B64, "", False),
        (0, 1, "", "", False),
        (0, 1, "", ONE_B64, False),
        (0, 1, ONE_B64, ONE_B64, True),
    ],
)
def test_the_reference_inclusion_edge_cases(index, size, root, leaf, valid):
    if valid:
        verify_inclusion(b64(leaf), index, size, [], b64(root))
    else:
        with pytest.raises(ProofError):
            verify_inclusion(b64(leaf), index, size, [], b64(root))


def test_consistency_edge_cases():
    root = bytes.fromhex(ROOTS[3])
    verify_consistency(0, 3, EMPTY_ROOT, root, [])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(3, 3, root, root, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 0, root, root, [])
    with pytest.raises(ProofError, match="empty tree"):
        verify_consistency(0, 3, root, root, [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(0, 3, EMPTY_ROOT, root, [root])
    with pytest.raises(ProofError, match="different roots"):
        verify_consistency(3, 3, root, EMPTY_ROOT, [])
    with pytest.raises(ProofError, match="must be empty"):
        verify_consistency(3, 3, root, root, [root])
    with pytest.raises(ProofError, match="extends"):
        verify_consistency(4, 3, root, root, [root])
    with pytest.raises(ProofError, match="is empty"):
        verify_consistency(2, 3, bytes.fromhex(ROOTS[2]), root, [])
    with pytest.raises(ProofError, match="32-byte"):
        verify_consistency(2, 3, b"short", root, [root])
    assert consistency_proof(0, 5, REFERENCE.hash_at) == []
    with pytest.raises(ValueError):
        consistency_proof(5, 4, REFERENCE.hash_at)


def test_inclusion_edge_cases():
    leaf = leaf_hash(b"")
    with pytest.raises(ProofError, match="not in a tree"):
        verify_inclusion(leaf, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="not in a tree"):
        verify_inclusion(leaf, 3, 3, [], EMPTY_ROOT)
    with pytest.raises(ProofError, match="not in a tree"):
        verify_inclusion(leaf, -1, 3, [], EMPTY_ROOT)
    verify_inclusion(leaf, 0, 1, [], leaf)
    with pytest.raises(ProofError, match="longer"):
        verify_inclusion(leaf, 0, 1, [leaf], leaf)
    with pytest.raises(ProofError, match="shorter"):
        verify_inclusion(leaf, 0, 2, [], leaf)
    with pytest.raises(ValueError):
        inclusion_proof(3, 3, REFERENCE.hash_at)


def test_incremental_appends_give_the_batch_roots_and_nodes():
    tree = tree_of(1100)
    size, edge = 0, []
    stored: dict[tuple[int, int], bytes] = {}
    for leaf in tree.levels[0]:
        nodes = append_leaf(size, edge, leaf)
        result = append_leaves(size, edge, [leaf])
        assert result.nodes == nodes
        for level, index, value in nodes:
            assert (level, index) not in stored
            stored[(level, index)] = value
        size, edge = result.size, result.right_edge
        assert result.root == root_from(size, tree.hash_at)
        assert edge == [tree.hash_at(*node) for node in compact_range_nodes(size)]
        assert root_from_right_edge(size, edge) == result.root
    assert stored == {
        (level, index): value
        for level, hashes in enumerate(tree.levels)
        for index, value in enumerate(hashes)
    }
    # Appending in batches of any length gives the same.
    size, edge = 0, []
    for batch in (1, 2, 3, 250, 513, 331):
        result = append_leaves(size, edge, tree.levels[0][size : size + batch])
        size, edge = result.size, result.right_edge
        assert result.root == root_from(size, tree.hash_at)
    assert size == 1100


def test_append_refuses_a_right_edge_that_does_not_fit():
    with pytest.raises(ValueError, match="right-edge"):
        append_leaf(3, [leaf_hash(b"")], leaf_hash(b"x"))
    with pytest.raises(ValueError, match="32 bytes"):
        append_leaf(0, [], b"short")


def test_a_right_edge_gives_the_reference_roots_leaf_by_leaf_and_in_batches():
    edge = RightEdge()
    assert edge.root() == EMPTY_ROOT
    for size, leaf in enumerate(LEAVES, start=1):
        edge.append_entries([leaf])
        assert (edge.size, edge.root().hex()) == (size, ROOTS[size])
        assert edge.hashes == [
            bytes.fromhex(NODE_HASHES[node]) for node in compact_range_nodes(size)
        ]
    for split in range(len(LEAVES) + 1):
        first = RightEdge()
        first.append_entries(LEAVES[:split])
        second = first.copy()
        second.append_entries(LEAVES[split:])
        assert first.root().hex() == ROOTS[split]
        assert second.root().hex() == ROOTS[len(LEAVES)]
        assert RightEdge(second.size, second.hashes).root() == second.root()
    by_hash = RightEdge()
    for leaf in LEAVES:
        by_hash.append(leaf_hash(leaf))
    assert by_hash.hashes == second.hashes


def test_a_right_edge_agrees_with_append_leaves_on_a_large_tree():
    entries = [os.urandom(n % 50) for n in range(1000)]
    edge = RightEdge()
    appended = append_leaves(0, [], [])
    for start in range(0, 1000, 137):
        edge.append_entries(entries[start : start + 137])
        appended = append_leaves(
            appended.size, appended.right_edge, map(leaf_hash, entries[start : start + 137])
        )
        assert (edge.size, edge.hashes, edge.root()) == (
            appended.size,
            appended.right_edge,
            appended.root,
        )
    assert edge.root() == root_hash([leaf_hash(e) for e in entries])


def test_a_right_edge_refuses_hashes_that_do_not_fit_its_size():
    with pytest.raises(ValueError):
        RightEdge(3, [EMPTY_ROOT])
    with pytest.raises(ValueError):
        RightEdge(1, [b"short"])
    with pytest.raises(ValueError):
        RightEdge(-1)
    with pytest.raises(ValueError):
        RightEdge().append(b"short")


def test_push_leaf_one_at_a_time_gives_append_leaves_nodes_and_every_prefix_root():
    leaves = [leaf_hash(os.urandom(8)) for _ in range(45)]
    edge: list[bytes] = []
    nodes: list[tuple[int, int, bytes]] = []
    for size, leaf in enumerate(leaves):
        push_leaf(size, edge, leaf, nodes)
        assert root_from_right_edge(size + 1, edge) == root_hash(leaves[: size + 1])
    assert nodes == append_leaves(0, [], leaves).nodes
    with pytest.raises(ValueError, match="right-edge hashes"):
        push_leaf(3, edge, leaves[0], nodes)
    with pytest.raises(ValueError, match="32 bytes"):
        push_leaf(45, edge, b"short", nodes)


def test_a_batch_appended_at_any_size_makes_the_tree_of_one_leaf_at_a_time():
    leaves = [leaf_hash(b"%d" % n) for n in range(70)]
    for start in range(0, 40):
        for count in range(0, 35):
            one_by_one = RightEdge()
            for leaf in leaves[: start + count]:
                one_by_one.append(leaf)
            batched = RightEdge()
            batched.append_hashes(leaves[:start])
            batched.append_hashes(leaves[start : start + count])
            assert batched == one_by_one
    with pytest.raises(ValueError, match="32 bytes"):
        RightEdge().append_hashes([leaves[0], b"short"])
