"""A per-character table written as a SentencePiece charsmap normalises through tokenizers' Precompiled."""

import pytest
from tokenizers import normalizers

from mmkit.models.charsmap import double_array, precompiled_charsmap

TABLE = {ord("Ａ"): "A", ord("\t"): " ", 0x7F: "", ord("™"): "TM", ord("ｶ"): "カ", ord("①"): "1", 0x1D400: "A"}


def test_each_entry_is_replaced_and_other_characters_are_kept():
    normalizer = normalizers.Precompiled(precompiled_charsmap(TABLE))
    for code, replacement in TABLE.items():
        assert normalizer.normalize_str(chr(code)) == replacement
    assert normalizer.normalize_str("Ａb\tc\x7f™ ｶ①𝐀 中文 é") == "Ab cTM カ1A 中文 é"


def test_keys_sharing_a_prefix_keep_their_own_values():
    keys = {"é".encode(): 1, "è".encode(): 2, "ê".encode(): 3, b"a": 4, "中".encode(): 5, "丰".encode(): 6}
    units = double_array(keys)

    def lookup(key: bytes):  # darts-clone exact-match walk, as spm_precompiled does it
        pos = units[0] >> 10
        for byte in key:
            pos ^= byte
            if units[pos] & ((1 << 31) | 0xFF) != byte:
                return None
            has_leaf, pos = units[pos] >> 8 & 1, pos ^ (units[pos] >> 10)
        return units[pos] & ~(1 << 31) if has_leaf else None

    assert {key: lookup(key) for key in keys} == keys
    assert lookup("ë".encode()) is None and lookup(b"b") is None


@pytest.mark.parametrize("size", [1, 300, 5000])
def test_large_tables_build(size):
    table = {0xFF01 + i: chr(0x21 + i % 90) for i in range(min(size, 94))}
    table.update({0x4E00 + i: "" for i in range(size)})
    normalizer = normalizers.Precompiled(precompiled_charsmap(table))
    sample = sorted(table)[:: max(1, size // 50)]
    assert [normalizer.normalize_str(chr(c)) for c in sample] == [table[c] for c in sample]
