import pytest

from hashfed_wire.merkle import (
    append_leaves,
    inclusion_nodes,
    inclusion_proof,
    leaf_hash,
    root_from,
    verify_inclusion,
)
from hashfed_wire.tiles import (
    TILE_WIDTH,
    Tile,
    TileError,
    entries_path,
    entry_bundle_bytes,
    full_tile_count,
    node_from_tile,
    parse_entry_bundle,
    parse_tile,
    parse_tile_path,
    partial_tiles,
    tile_bytes,
    tile_for_node,
    tile_hashes,
    tile_nodes,
    tile_path,
    tiles_for_size,
)


def test_tile_paths_follow_the_spec_examples():
    assert tile_path(0, 1234067) == "tile/0/x001/x234/067"
    assert tile_path(0, 0) == "tile/0/000"
    assert tile_path(1, 5) == "tile/1/005"
    assert tile_path(2, 1000) == "tile/2/x001/000"
    assert tile_path(0, 273, 112) == "tile/0/273.p/112"
    assert tile_path(0, 273, TILE_WIDTH) == "tile/0/273"
    assert tile_path(63, 999) == "tile/63/999"
    assert entries_path(1234067) == "tile/entries/x001/x234/067"
    assert entries_path(0, 1) == "tile/entries/000.p/1"
    for bad in [(-1, 0, None), (64, 0, None), (0, -1, None), (0, 0, 0), (0, 0, 257)]:
        with pytest.raises(TileError):
            tile_path(*bad)


def test_tile_paths_parse_back_only_in_their_canonical_spelling():
    for tile in [Tile(0, 1234067), Tile(1, 0, 17), Tile(None, 273, 112), Tile(None, 5)]:
        assert parse_tile_path(tile.path) == tile
        assert parse_tile_path("/" + tile.path) == tile
    for bad in [
        "tile/0/1234067",
        "tile/0/x001/x234/67",
        "tile/0/001/234/067",
        "tile/0/x000/067",
        "tile/00/067",
        "tile/64/067",
        "tile/0/067.p/0",
        "tile/0/067.p/256",
        "tile/0/067.p/012",
        "tile/0/067.p/",
        "tile/entries/x001",
        "tile/data/000",
        "tile/0/000/",
        "tiles/0/000",
    ]:
        with pytest.raises(TileError):
            parse_tile_path(bad)


def test_the_tiles_of_a_tree_match_the_spec_examples():
    tiles = tiles_for_size(70_000)
    level0 = [tile for tile in tiles if tile.level == 0]
    assert len(level0) == 274
    assert [tile for tile in level0 if tile.is_partial] == [Tile(0, 273, 112)]
    assert [tile for tile in tiles if tile.level == 1] == [Tile(1, 0), Tile(1, 1, 17)]
    assert [tile for tile in tiles if tile.level == 2] == [Tile(2, 0, 1)]
    assert len(tiles) == 274 + 2 + 1
    assert partial_tiles(70_000) == [Tile(0, 273, 112), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []
    assert tiles_for_size(1) == [Tile(0, 0, 1)]
    assert full_tile_count(70_000, 0) == 273


def test_tiles_and_bundles_encode_and_parse():
    hashes = [bytes([i]) * 32 for i in range(3)]
    data = tile_bytes(hashes)
    assert data == b"".join(hashes)
    assert parse_tile(data, 3) == hashes
    with pytest.raises(TileError):
        parse_tile(data)
    with pytest.raises(TileError):
        parse_tile(data[:-1], 3)
    with pytest.raises(TileError):
        tile_bytes([])
    with pytest.raises(TileError):
        tile_bytes([b"short"])
    with pytest.raises(TileError):
        tile_bytes([bytes(32)] * 257)

    entries = [b"", b"a", b"x" * 300, b"\x00" * 65_535]
    bundle = entry_bundle_bytes(entries)
    assert bundle[:5] == b"\x00\x00\x00\x01a"
    assert bundle[5:7] == (300).to_bytes(2, "big")
    assert parse_entry_bundle(bundle) == entries
    assert parse_entry_bundle(bundle, 4) == entries
    with pytest.raises(TileError):
        parse_entry_bundle(bundle, 5)
    for bad in [b"", b"\x00", b"\x00\x02a", bundle[:-1]]:
        with pytest.raises(TileError):
            parse_entry_bundle(bad)
    with pytest.raises(TileError):
        entry_bundle_bytes([b"\x00" * 65_536])
    with pytest.raises(TileError):
        entry_bundle_bytes([b""] * 257)


def test_tiles_rendered_from_stored_nodes_give_back_every_proof():
    size = 70_000
    appended = append_leaves(0, [], (leaf_hash(i.to_bytes(4, "big")) for i in range(size)))
    stored = {(level, index): value for level, index, value in appended.nodes}

    def hash_at(level: int, index: int) -> bytes:
        return stored[(level, index)]

    served = {tile.path: tile_bytes(tile_hashes(tile, hash_at)) for tile in tiles_for_size(size)}
    assert tile_nodes(Tile(1, 1, 17))[0] == (8, 256)

    # A client computing proofs from the served tiles alone.
    def hash_from_tiles(level: int, index: int) -> bytes:
        tile = parse_tile_path(tile_for_node(level, index, size).path)
        return node_from_tile(tile, parse_tile(served[tile.path], tile.width), level, index)

    root = root_from(size, hash_at)
    assert root == appended.root
    assert root_from(size, hash_from_tiles) == root
    for index in [0, 1, 255, 256, 65_535, 65_536, 69_887, 69_888, 69_999]:
        proof = inclusion_proof(index, size, hash_from_tiles)
        assert proof == inclusion_proof(index, size, hash_at)
        verify_inclusion(hash_at(0, index), index, size, proof, root)
        for level, node_index in inclusion_nodes(index, size):
            assert hash_from_tiles(level, node_index) == hash_at(level, node_index)


def test_the_tile_for_a_node_is_the_one_the_tree_serves():
    assert tile_for_node(0, 5, 70_000) == Tile(0, 0)
    assert tile_for_node(5, 2186, 70_000) == Tile(0, 273, 112)
    assert tile_for_node(8, 256, 70_000) == Tile(1, 1, 17)
    assert tile_for_node(9, 128, 70_000) == Tile(1, 1, 17)
    assert tile_for_node(16, 0, 70_000) == Tile(2, 0, 1)
    with pytest.raises(TileError, match="not complete"):
        tile_for_node(1, 35_000, 70_000)


def test_node_from_tile_refuses_nodes_outside_the_tile():
    hashes = [bytes([i]) * 32 for i in range(4)]
    with pytest.raises(TileError):
        node_from_tile(Tile(0, 0, 4), hashes, 2, 1)
    with pytest.raises(TileError):
        node_from_tile(Tile(0, 0, 4), hashes, 8, 0)
    with pytest.raises(TileError):
        node_from_tile(Tile(0, 0, 4), hashes[:3], 0, 0)
    assert node_from_tile(Tile(0, 0, 4), hashes, 0, 3) == hashes[3]
