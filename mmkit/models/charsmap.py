"""A SentencePiece "precompiled charsmap" built from a per-character replacement table.

``tokenizers``' ``normalizers.Precompiled`` is the only serialisable normaliser that applies an arbitrary
table (thousands of entries: NFKC, dropped control characters, unusual spaces...). It reads SentencePiece's
binary form:

    uint32 trie size in bytes
    the trie: a darts-clone double array of uint32 units
    replacements, each + b"\\0"

The trie maps the UTF-8 bytes of a key to the byte offset of its replacement. Each unit packs a label (bits
0-7), a has-leaf flag (bit 8) and an offset (bits 10-30); a node at position p with offset o keeps its child
for byte c at p ^ o ^ c, whose unit must carry label c, and its value (bit 31 set) at p ^ o. Lookup walks the
key's bytes from the root (position 0), so a node's children only need free slots and an offset no other node
uses.
"""

from __future__ import annotations

import struct

_LEAF = 1 << 31
_HAS_LEAF = 1 << 8
_MAX_OFFSET = 1 << 21  # larger offsets need darts-clone's shifted form; tables here stay far below
_OPEN_BLOCKS = 16


def _trie(keys: dict[bytes, int]) -> dict:
    """Nested dicts byte -> child; the value of a key sits under None."""
    root: dict = {}
    for key, value in keys.items():
        node = root
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    return root


def double_array(keys: dict[bytes, int]) -> list[int]:
    """darts-clone units for ``keys`` (non-empty byte strings without NUL -> values < 2**31), root at 0.

    The children of a node share one 256-unit block (p ^ o ^ c differs from p ^ o only in the low byte). Like
    darts-clone we only look for room in the last few blocks, else open a new one, which keeps the build
    linear.
    """
    units, bases = [0] * 256, bytearray(256)
    free = [set(range(1, 256))]  # per block, the low bytes of its empty units; unit 0 is the root

    def find_base(labels: list[int]) -> int:
        for block in range(max(0, len(free) - _OPEN_BLOCKS), len(free)):
            for low in free[block]:
                base = block * 256 + (low ^ labels[0])
                if not bases[base] and all(low ^ labels[0] ^ c in free[block] for c in labels):
                    return base
        free.append(set(range(256)))
        units.extend([0] * 256)
        bases.extend(bytes(256))
        return (len(free) - 1) * 256

    def put(pos: int, unit: int) -> None:
        units[pos] = unit
        free[pos // 256].discard(pos % 256)

    queue = [(0, _trie(keys))]
    for pos, node in queue:  # breadth first; the queue grows while we walk it
        base = find_base([0 if byte is None else byte for byte in node])
        if pos ^ base >= _MAX_OFFSET:
            raise ValueError("character table too large for the simple double-array layout")
        bases[base] = 1
        units[pos] |= (pos ^ base) << 10
        for byte, child in node.items():
            if byte is None:
                units[pos] |= _HAS_LEAF
                put(base, child | _LEAF)
            else:
                put(base ^ byte, byte)
                queue.append((base ^ byte, child))
    return units


def precompiled_charsmap(table: dict[int, str]) -> bytes:
    """{code point: replacement} -> the bytes ``tokenizers.normalizers.Precompiled`` expects.

    An empty replacement deletes the character. Identical replacements share one string.
    """
    strings: dict[str, int] = {}
    blob = bytearray()
    keys = {}
    for code, replacement in sorted(table.items()):
        if replacement not in strings:
            strings[replacement] = len(blob)
            blob += replacement.encode("utf-8") + b"\0"
        keys[chr(code).encode("utf-8")] = strings[replacement]
    units = double_array(keys)
    return struct.pack(f"<I{len(units)}I", 4 * len(units), *units) + bytes(blob)
