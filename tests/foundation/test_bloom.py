"""The Bloom filter: never a false negative, false positives near the expected rate, bits round-trip."""

from __future__ import annotations

import pytest

from tradebus.bloom import BloomFilter


def test_every_added_key_is_found_and_few_others_are() -> None:
    bloom = BloomFilter(1024, hashes=3)
    added = [f"td.evt.sim.A.order-{i}" for i in range(2000)]
    for key in added:
        bloom.add(key)
    assert all(key in bloom for key in added)
    others = [f"td.evt.sim.A.other-{i}" for i in range(20000)]
    hits = sum(key in bloom for key in others) / len(others)
    expected = bloom.false_positive_rate()
    assert 0.01 < expected < 0.2  # 2 000 keys in 8 192 bits: a rate a test can see
    assert expected / 2 < hits < expected * 2


def test_an_empty_filter_finds_nothing_and_bits_round_trip() -> None:
    bloom = BloomFilter(1024)
    assert "x" not in bloom and bloom.false_positive_rate() == 0.0
    bloom.add("x")
    copy = BloomFilter(1024, bloom.hashes, bytes(bloom.bits), bloom.count)
    assert "x" in copy and copy.count == 1
    with pytest.raises(ValueError):
        BloomFilter(2048, bits=bytes(bloom.bits))
