"""Bounded decompression of request bodies: gzip, deflate, bombs, truncated and garbage input."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest

from collector.otlp.inflate import BadEncoding, Inflater, TooLarge, inflate

BODY = b"".join(b"span %d of a request body " % i for i in range(2000))


@pytest.mark.parametrize("encoding", ["", "identity", "gzip", "x-gzip", " GZIP ", "deflate"])
def test_each_encoding_round_trips(encoding: str) -> None:
    name = encoding.strip().lower()
    if name in ("gzip", "x-gzip"):
        data = gzip.compress(BODY)
    elif name == "deflate":
        data = zlib.compress(BODY)
    else:
        data = BODY
    assert inflate(data, encoding, len(BODY)) == BODY


def test_fed_one_byte_at_a_time() -> None:
    inflater = Inflater("gzip", len(BODY))
    for byte in gzip.compress(BODY):
        inflater.feed(bytes([byte]))
    assert inflater.finish() == BODY


def test_concatenated_gzip_members_are_one_body() -> None:
    assert inflate(gzip.compress(b"first ") + gzip.compress(b"second"), "gzip", 100) == (
        b"first second"
    )


def test_a_body_exactly_at_the_limit_is_accepted_one_past_it_is_not() -> None:
    data = gzip.compress(BODY)
    assert inflate(data, "gzip", len(BODY)) == BODY
    with pytest.raises(TooLarge):
        inflate(data, "gzip", len(BODY) - 1)


def test_identity_body_over_the_limit_is_too_large() -> None:
    with pytest.raises(TooLarge):
        inflate(b"x" * 11, "", 10)


def _peak_bytes_fed(inflater: Inflater, data: bytes) -> int:
    """Feed ``data`` in 64 KiB chunks until TooLarge; the peak memory allocated meanwhile."""
    tracemalloc.start()
    try:
        with pytest.raises(TooLarge, match="after decompression"):
            for i in range(0, len(data), 64 * 1024):
                inflater.feed(data[i : i + 64 * 1024])
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_stops_at_the_limit_without_inflating_it() -> None:
    packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    bomb = b"".join(packer.compress(zeros) for _ in range(256)) + packer.flush()
    assert len(bomb) < 2 << 20  # 256 MiB inside
    limit = 1 << 20
    assert _peak_bytes_fed(Inflater("gzip", limit), bomb) < 4 * limit


def test_bomb_of_many_gzip_members_stops_at_the_limit() -> None:
    bomb = gzip.compress(bytes(1 << 20)) * 1024  # 1 GiB in 1 MiB members, about 1 MiB sent
    limit = 1 << 20
    assert _peak_bytes_fed(Inflater("gzip", limit), bomb) < 4 * limit


def test_deflate_bomb_stops_at_the_limit() -> None:
    bomb = zlib.compress(bytes(64 << 20), 1)
    with pytest.raises(TooLarge):
        inflate(bomb, "deflate", 1 << 20)


def test_truncated_gzip_is_bad_encoding() -> None:
    data = gzip.compress(BODY)
    with pytest.raises(BadEncoding, match="truncated"):
        inflate(data[: len(data) // 2], "gzip", len(BODY))


def test_empty_gzip_body_is_truncated() -> None:
    with pytest.raises(BadEncoding):
        inflate(b"", "gzip", 100)


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_garbage_is_bad_encoding(encoding: str) -> None:
    with pytest.raises(BadEncoding, match="corrupt"):
        inflate(b"this is not compressed at all", encoding, 1000)


def test_gzip_with_a_bad_checksum_is_bad_encoding() -> None:
    data = bytearray(gzip.compress(BODY))
    data[-6] ^= 0xFF  # inside the CRC32 trailer
    with pytest.raises(BadEncoding):
        inflate(bytes(data), "gzip", len(BODY))


def test_gzip_sent_as_deflate_is_bad_encoding() -> None:
    with pytest.raises(BadEncoding):
        inflate(gzip.compress(BODY), "deflate", len(BODY))


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, br", "compress"])
def test_unknown_encodings_are_refused_before_reading(encoding: str) -> None:
    with pytest.raises(BadEncoding, match="unsupported Content-Encoding"):
        Inflater(encoding, 1000)
