"""Random access to a BGZF (bgzip) file by uncompressed byte offset, through its ``.gzi`` index.

A BGZF file is a series of independent gzip members ("blocks") of at most 64 KiB of data each;
the htslib ``.gzi`` index lists where each block starts, compressed and uncompressed. To read
bytes ``[start, end)`` the reader finds the block holding ``start`` in that table and inflates
blocks until ``end``. Block sizes are read from the table, not assumed: htslib's bgzip writes
65,280 bytes a block, Biopython's writer 65,536, and both read the same.

Reads use ``os.pread`` (no shared file offset, so forked DataLoader workers may share the
reader) and keep the most recently inflated blocks in a small cache.

>>> import gzip, tempfile
>>> from pathlib import Path
>>> from Bio import bgzf
>>> path = Path(tempfile.mkdtemp()) / "x.gz"
>>> with bgzf.BgzfWriter(str(path)) as out:
...     _ = out.write(b"ACGT" * 50_000)
>>> reader = BgzfReader(path, write_gzi(path, Path(f"{path}.gzi")))
>>> reader.read(65_534, 65_540)
b'GTACGT'
"""

from __future__ import annotations

import bisect
import itertools
import os
import struct
import zlib
from collections import OrderedDict
from pathlib import Path

from bioseq.io.compression import BGZF_MAGIC, bgzf_block_size

__all__ = ["BgzfError", "BgzfReader", "read_gzi", "write_gzi"]

_CACHED_BLOCKS = 128  # inflated blocks kept (up to 8 MiB)


class BgzfError(ValueError):
    """A block that does not inflate, or an index that does not match the file."""


def read_gzi(path: str | os.PathLike) -> list[tuple[int, int]]:
    """``(compressed, uncompressed)`` start offsets of every block, the first ``(0, 0)``."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise BgzfError(f"{path}: not a .gzi index (too short)")
    (count,) = struct.unpack_from("<Q", data)
    if len(data) != 8 + 16 * count:
        raise BgzfError(f"{path}: not a .gzi index ({len(data)} bytes for {count} entries)")
    pairs = [(0, 0), *struct.iter_unpack("<QQ", data[8:])]
    if any(b <= a for a, b in itertools.pairwise(pairs)):  # both offsets strictly increase
        raise BgzfError(f"{path}: .gzi index offsets are not increasing")
    return pairs


def write_gzi(path: str | os.PathLike, gzi: str | os.PathLike) -> list[tuple[int, int]]:
    """Scan the block headers of the BGZF file ``path``, write its ``.gzi`` index, return it."""
    blocks = []
    compressed = uncompressed = 0
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        fd = handle.fileno()
        while compressed < size:
            block_size = _block_size(fd, compressed)
            if compressed + block_size > size:
                raise BgzfError(f"the block at byte {compressed} is truncated")
            (length,) = struct.unpack("<I", os.pread(fd, 4, compressed + block_size - 4))
            blocks.append((compressed, uncompressed))
            compressed += block_size
            uncompressed += length
    if not blocks or blocks[-1][1] != uncompressed:
        raise BgzfError("no end-of-file block (the file is probably truncated)")
    blocks.pop()  # the empty end-of-file block
    with open(gzi, "wb") as out:
        out.write(struct.pack("<Q", max(len(blocks) - 1, 0)))
        for pair in blocks[1:]:
            out.write(struct.pack("<QQ", *pair))
    return blocks or [(0, 0)]


def _block_size(fd: int, offset: int) -> int:
    """Total bytes of the BGZF block at ``offset``, from the ``BC`` field of its gzip header."""
    head = os.pread(fd, 18, offset)
    if len(head) < 18 or head[:4] != BGZF_MAGIC:
        raise BgzfError(f"no BGZF block header at byte {offset}")
    xlen = int.from_bytes(head[10:12], "little")
    size = bgzf_block_size(os.pread(fd, xlen, offset + 12))
    if size is None:
        raise BgzfError(f"BGZF block at byte {offset} has no BC size field")
    return size


class BgzfReader:
    """Read uncompressed byte ranges of a BGZF file, given its block table (:func:`read_gzi`)."""

    def __init__(self, path: str | os.PathLike, blocks: list[tuple[int, int]]) -> None:
        self.path = Path(path)
        self._file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        self._size = os.fstat(self._file.fileno()).st_size
        self._compressed = [c for c, _ in blocks]
        self._starts = [u for _, u in blocks]
        if self._compressed[-1] >= self._size:
            self.close()
            raise BgzfError(f"{self.path}: its .gzi index lists blocks past the end of the file")
        self._cache: OrderedDict[int, bytes] = OrderedDict()

    def read(self, start: int, end: int) -> bytes:
        """Uncompressed bytes ``[start, end)``; fewer only at the end of the data."""
        if end <= start:
            return b""
        first = bisect.bisect_right(self._starts, start) - 1
        last = bisect.bisect_right(self._starts, end - 1) - 1
        data = b"".join(self._block(k) for k in range(first, last + 1))
        offset = start - self._starts[first]
        return data[offset : offset + end - start]

    def _block(self, k: int) -> bytes:
        cached = self._cache.get(k)
        if cached is not None:
            self._cache.move_to_end(k)
            return cached
        begin = self._compressed[k]
        stop = self._compressed[k + 1] if k + 1 < len(self._compressed) else self._size
        raw = os.pread(self._file.fileno(), stop - begin, begin)
        data = _inflate(raw, begin)
        if k + 1 < len(self._starts) and len(data) != self._starts[k + 1] - self._starts[k]:
            raise BgzfError(
                f"block at byte {begin} holds {len(data)} bytes, its index says "
                f"{self._starts[k + 1] - self._starts[k]}"
            )
        self._cache[k] = data
        if len(self._cache) > _CACHED_BLOCKS:
            self._cache.popitem(last=False)
        return data

    def close(self) -> None:
        self._file.close()
        self._cache.clear()


def _inflate(raw: bytes, offset: int) -> bytes:
    """The data of the gzip member(s) in ``raw`` (one block, or the last block plus the
    empty end-of-file block)."""
    parts = []
    while raw:
        inflater = zlib.decompressobj(wbits=31)
        try:
            parts.append(inflater.decompress(raw))
        except zlib.error as err:
            raise BgzfError(f"block at byte {offset} does not inflate ({err})") from None
        if not inflater.eof:
            raise BgzfError(f"block at byte {offset} is truncated")
        raw = inflater.unused_data
    return b"".join(parts)
