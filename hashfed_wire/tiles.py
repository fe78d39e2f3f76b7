"""C2SP tlog-tiles: the static paths, tile and entry-bundle encodings of a tiled log.

A tile at level ``L`` and index ``N`` holds up to 256 consecutive Merkle tree hashes at
tree level ``8 * L``: those of the complete subtrees ``(8L, N * 256 + i)``. A full tile is
256 hashes (8,192 bytes); the rightmost tile of a level is partial (1 to 255 hashes) and
served under ``.p/<W>``. Entry bundles hold the entries whose leaf hashes make up the level
0 tile of the same index, each as a big-endian uint16 length and its bytes.
See https://c2sp.org/tlog-tiles.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hashfed_wire.merkle import HASH_SIZE, Node, node_hash

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
MAX_TILE_LEVEL = 63
MAX_ENTRY_SIZE = 0xFFFF


class TileError(ValueError):
    """A tile path, tile or entry bundle is malformed."""


@dataclass(frozen=True)
class Tile:
    """One tile resource: ``level`` is None for an entry bundle; ``width`` 256 is full."""

    level: int | None
    index: int
    width: int = TILE_WIDTH

    @property
    def is_partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        if self.level is None:
            return entries_path(self.index, self.width)
        return tile_path(self.level, self.index, self.width)


def _index_path(index: int) -> str:
    if index < 0:
        raise TileError("a tile index is not negative")
    digits = str(index)
    digits = "0" * (-len(digits) % 3) + digits
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + group for group in groups[:-1]), groups[-1]])


def _width_suffix(width: int | None) -> str:
    if width is None or width == TILE_WIDTH:
        return ""
    if not 1 <= width < TILE_WIDTH:
        raise TileError(f"a tile's width is between 1 and {TILE_WIDTH}")
    return f".p/{width}"


def tile_path(level: int, index: int, width: int | None = None) -> str:
    """``tile/<L>/<N>[.p/<W>]``, ``N`` in zero-padded 3-digit groups, all but the last
    prefixed ``x`` (1234067 is ``x001/x234/067``); no suffix for a full tile."""
    if not 0 <= level <= MAX_TILE_LEVEL:
        raise TileError(f"a tile level is between 0 and {MAX_TILE_LEVEL}")
    return f"tile/{level}/{_index_path(index)}{_width_suffix(width)}"


def entries_path(index: int, width: int | None = None) -> str:
    """``tile/entries/<N>[.p/<W>]``: the entry bundle for the level 0 tile ``index``."""
    return f"tile/entries/{_index_path(index)}{_width_suffix(width)}"


_TILE_PATH = re.compile(
    r"tile/(?P<level>entries|0|[1-9][0-9]?)/(?P<index>(?:x[0-9]{3}/)*[0-9]{3})"
    r"(?:\.p/(?P<width>[1-9][0-9]{0,2}))?"
)


def parse_tile_path(path: str) -> Tile:
    """The tile a path names (a leading ``/`` is allowed). Only the canonical spelling is
    accepted, so each tile has exactly one path."""
    match = _TILE_PATH.fullmatch(path.removeprefix("/"))
    if not match:
        raise TileError(f"not a tile path: {path!r}")
    index = int(match["index"].replace("x", "").replace("/", ""))
    width = int(match["width"]) if match["width"] else TILE_WIDTH
    level = None if match["level"] == "entries" else int(match["level"])
    if (match["width"] and width >= TILE_WIDTH) or (level is not None and level > MAX_TILE_LEVEL):
        raise TileError(f"not a tile path: {path!r}")
    tile = Tile(level, index, width)
    if tile.path != path.removeprefix("/"):
        raise TileError(f"not the canonical path of its tile: {path!r}")
    return tile


def tile_bytes(hashes: Sequence[bytes]) -> bytes:
    """A tile's contents: its 1 to 256 hashes, concatenated."""
    if not 1 <= len(hashes) <= TILE_WIDTH:
        raise TileError(f"a tile holds 1 to {TILE_WIDTH} hashes")
    if any(len(value) != HASH_SIZE for value in hashes):
        raise TileError(f"a tile holds {HASH_SIZE}-byte hashes")
    return b"".join(hashes)


def parse_tile(data: bytes, width: int = TILE_WIDTH) -> list[bytes]:
    """A tile's hashes; its length must be exactly ``width`` hashes."""
    if not 1 <= width <= TILE_WIDTH:
        raise TileError(f"a tile's width is between 1 and {TILE_WIDTH}")
    if len(data) != width * HASH_SIZE:
        raise TileError(f"a tile of width {width} is {width * HASH_SIZE} bytes, not {len(data)}")
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def entry_bundle_bytes(entries: Sequence[bytes]) -> bytes:
    """An entry bundle: each entry as a big-endian uint16 length and its bytes."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileError(f"an entry bundle holds 1 to {TILE_WIDTH} entries")
    parts = []
    for entry in entries:
        if len(entry) > MAX_ENTRY_SIZE:
            raise TileError(f"an entry is at most {MAX_ENTRY_SIZE} bytes")
        parts.append(len(entry).to_bytes(2, "big") + entry)
    return b"".join(parts)


def parse_entry_bundle(data: bytes, width: int | None = None) -> list[bytes]:
    """The entries of a bundle; with ``width``, there must be exactly that many."""
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if offset + 2 > len(data):
            raise TileError("an entry bundle ends inside a length")
        length = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + length > len(data):
            raise TileError("an entry bundle ends inside an entry")
        entries.append(data[offset : offset + length])
        offset += length
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise TileError(f"an entry bundle holds 1 to {TILE_WIDTH} entries")
    if width is not None and len(entries) != width:
        raise TileError(f"the entry bundle holds {len(entries)} entries, not {width}")
    return entries


def partial_tiles(size: int) -> list[Tile]:
    """The partial tiles of a tree of ``size`` leaves, lowest level first: at level L,
    ``size // 256**L % 256`` hashes wide, where that is not 0."""
    if size < 0:
        raise TileError("a tree size is not negative")
    tiles = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        width = (size >> (TILE_HEIGHT * level)) % TILE_WIDTH
        if width:
            tiles.append(Tile(level, (size >> (TILE_HEIGHT * (level + 1))), width))
        level += 1
    return tiles


def full_tile_count(size: int, level: int) -> int:
    """How many full tiles level ``level`` of a tree of ``size`` leaves has."""
    return size >> (TILE_HEIGHT * (level + 1))


def tiles_for_size(size: int) -> list[Tile]:
    """Every tile (full, then partial, per level) of a tree of ``size`` leaves. A tree of
    70,000 leaves has 273 full and one 112-wide level 0 tiles, one full and one 17-wide
    level 1 tiles and one 1-wide level 2 tile."""
    partial = {tile.level: tile for tile in partial_tiles(size)}
    tiles: list[Tile] = []
    level = 0
    while size >> (TILE_HEIGHT * level):
        tiles += [Tile(level, index) for index in range(full_tile_count(size, level))]
        if level in partial:
            tiles.append(partial[level])
        level += 1
    return tiles


def tile_nodes(tile: Tile) -> list[Node]:
    """The complete Merkle nodes whose hashes a (hash) tile holds, in order."""
    if tile.level is None:
        raise TileError("an entry bundle holds entries, not hashes")
    level = TILE_HEIGHT * tile.level
    return [(level, tile.index * TILE_WIDTH + i) for i in range(tile.width)]


def tile_for_node(level: int, index: int, size: int) -> Tile:
    """The tile of a tree of ``size`` leaves from which the complete node ``(level,
    index)`` can be computed (its hash is in the tile, or hashes from a run of the tile's
    hashes): the full tile if the tree has it, else the level's partial tile."""
    tile_level = level // TILE_HEIGHT
    shift = level - TILE_HEIGHT * tile_level
    base_level = TILE_HEIGHT * tile_level
    # Positions the node covers at the tile's base level, and how many the tree has there.
    begin, end = index << shift, (index + 1) << shift
    available = size >> base_level
    if end > available:
        raise TileError(f"the node {(level, index)} is not complete in a tree of {size} leaves")
    tile_index = begin // TILE_WIDTH
    width = min(TILE_WIDTH, available - tile_index * TILE_WIDTH)
    return Tile(tile_level, tile_index, width)


def node_from_tile(tile: Tile, hashes: Sequence[bytes], level: int, index: int) -> bytes:
    """The hash of the complete node ``(level, index)`` from the hashes of ``tile`` (one
    ``tile_for_node`` returns, or a wider tile of the same level and index)."""
    if tile.level is None or level // TILE_HEIGHT != tile.level or len(hashes) != tile.width:
        raise TileError("the node is not in that tile")
    shift = level - TILE_HEIGHT * tile.level
    begin = (index << shift) - tile.index * TILE_WIDTH
    end = begin + (1 << shift)
    if not 0 <= begin < end <= tile.width:
        raise TileError("the node is not in that tile")
    row = list(hashes[begin:end])
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def tile_hashes(tile: Tile, hash_at: Callable[[int, int], bytes]) -> list[bytes]:
    """A tile's hashes from a store of complete nodes (see ``hashfed_wire.merkle``)."""
    return [hash_at(level, index) for level, index in tile_nodes(tile)]
