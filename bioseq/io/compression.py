"""Compression, in one place: gzip vs bgzip (BGZF) by their magic bytes, openers, and the
one-line error for a damaged stream.

Every reader opens its files through here, so a plain, gzip or bgzip file is recognised by
content (never by its name) and a truncated or corrupt gzip stream becomes one
:class:`~bioseq.errors.InputError` naming the file.

>>> import gzip, tempfile
>>> from pathlib import Path
>>> path = Path(tempfile.mkdtemp()) / "toy.fa.gz"
>>> _ = path.write_bytes(gzip.compress(b">a\\nACGT\\n"))
>>> compression_of(path.read_bytes()[:64]), is_gzip(path)
('gzip', True)
>>> head_lines(path)
['>a', 'ACGT']
>>> with open_lines(path, str(path)) as lines:
...     list(lines)
[b'>a\\n', b'ACGT\\n']
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import struct
import sys
import zlib
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import IO, Any, Literal

from bioseq.errors import InputError

__all__ = [
    "GZIP_ERRORS", "GZIP_MAGIC", "GZIP_READ_ERRORS", "Compression", "bgzf_block_size",
    "compression_of", "corrupt_gzip", "guarded", "head_lines", "is_bgzf", "is_gzip",
    "open_binary", "open_lines", "open_text", "other_compression", "read_head", "reading_text",
    "ungzip",
]  # fmt: skip

Compression = Literal["plain", "gzip", "bgzf"]
GZIP_MAGIC = b"\x1f\x8b"
BGZF_MAGIC = b"\x1f\x8b\x08\x04"  # gzip, deflate, FEXTRA set: where BGZF keeps its block size
OTHER_COMPRESSION = {
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"PK\x03\x04": "zip",
}
# What reading a damaged gzip/BGZF stream raises (zlib, gzip, the BGZF reader, struct).
GZIP_ERRORS = (EOFError, zlib.error, OSError, ValueError, RuntimeError, struct.error)
# What reading a damaged gzip stream through gzip.open raises.
GZIP_READ_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile)


# ----------------------------------------------------------------------------- magic bytes


def bgzf_block_size(extra: bytes) -> int | None:
    """Total bytes of a BGZF block from its gzip header's extra field (the ``BC`` subfield
    holds the size minus one), None when there is no such subfield."""
    i = 0
    while i + 4 <= len(extra):
        slen = int.from_bytes(extra[i + 2 : i + 4], "little")
        if extra[i : i + 2] == b"BC" and slen == 2:
            return int.from_bytes(extra[i + 4 : i + 6], "little") + 1
        i += 4 + slen
    return None


def is_bgzf(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) starts a gzip member with BGZF's ``BC`` field."""
    if len(head) < 18 or head[:4] != BGZF_MAGIC:
        return False
    xlen = int.from_bytes(head[10:12], "little")
    return bgzf_block_size(head[12 : 12 + xlen]) is not None


def compression_of(head: bytes) -> Compression:
    """``bgzf``, ``gzip`` or ``plain``, from a file's first bytes (4 KiB is plenty)."""
    if head.startswith(GZIP_MAGIC):
        return "bgzf" if is_bgzf(head) else "gzip"
    return "plain"


def other_compression(head: bytes) -> str | None:
    """The name of a compression bioseq does not read (bzip2, xz, zstd, zip), or None."""
    return next((kind for magic, kind in OTHER_COMPRESSION.items() if head.startswith(magic)), None)


def is_gzip(path: str | Path) -> bool:
    """Whether the file starts with the gzip magic bytes (gzip or bgzip)."""
    with open(path, "rb") as handle:
        return handle.read(2) == GZIP_MAGIC


def read_head(path: str | Path, label: str, what: str, n: int = 4096) -> bytes:
    """The first ``n`` bytes of a file; one-line InputErrors for a missing file, a folder or a
    read error (``what`` names what was expected, e.g. ``a FASTA file``)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(n)
    except FileNotFoundError:
        raise InputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise InputError(f"{label}: is a directory, expected {what}") from None
    except OSError as err:
        raise InputError(f"{label}: cannot read file ({err.strerror or err})") from None


# ----------------------------------------------------------------------------- errors


def corrupt_gzip(
    label: object, err: BaseException | None = None, after_line: int | None = None
) -> InputError:
    """The error for a gzip or bgzip stream that does not inflate to its end (``after_line``:
    the last line read whole)."""
    reason = f" ({err})" if err is not None else ""
    where = f" after line {after_line:,}" if after_line is not None else ""
    return InputError(f"{label}: truncated or corrupt gzip file{reason}{where}")


def guarded(lines: Iterable[bytes], label: str) -> Iterator[bytes]:
    """Lines of a gzip stream, with decompression errors turned into one InputError."""
    try:
        yield from lines
    except GZIP_ERRORS:
        raise corrupt_gzip(label) from None


# ----------------------------------------------------------------------------- openers


def open_text(
    path: str | Path, encoding: str = "latin-1", errors: str = "strict", newline: str | None = None
) -> IO[str]:
    """A text handle on a plain or gzip file (gzip recognised by its magic bytes)."""
    if is_gzip(path):
        return gzip.open(path, "rt", encoding=encoding, errors=errors, newline=newline)
    return open(path, encoding=encoding, errors=errors, newline=newline)  # noqa: SIM115


def open_binary(path: str | Path) -> IO[bytes]:
    """A binary handle on the content of a plain or gzip file (gzip recognised by its magic
    bytes; a BGZF file reads as the gzip it is)."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")  # noqa: SIM115


@contextlib.contextmanager
def reading_text(path: str | Path, label: object = None) -> Iterator[None]:
    """Turn the errors of reading a damaged gzip stream into :func:`corrupt_gzip` (with the
    reason) inside the block."""
    try:
        yield
    except GZIP_READ_ERRORS as err:
        raise corrupt_gzip(path if label is None else label, err) from None


def head_lines(path: str | Path, n: int = 200) -> list[str]:
    """The first ``n`` lines of a plain or gzipped text file (decoded leniently)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected a sequence file")
    try:
        with open_text(path) as handle:
            return [line.rstrip("\r\n") for line in islice(handle, n)]
    except (EOFError, OSError, zlib.error) as err:
        raise corrupt_gzip(path, err) from None


def ungzip(data: bytes, label: object, reason: bool = False) -> bytes:
    """``data`` decompressed when it is gzip, else as it is (``reason``: the error says why)."""
    if data[:2] != GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as err:
        raise corrupt_gzip(label, err if reason else None) from None


def _peek(handle: Any, n: int) -> bytes:
    """The first ``n`` bytes of a binary handle without consuming them ('' if impossible)."""
    if hasattr(handle, "peek"):
        with contextlib.suppress(OSError, ValueError):
            return bytes(handle.peek(n)[:n])
    with contextlib.suppress(OSError, ValueError, AttributeError):
        if handle.seekable():
            pos = handle.tell()
            head = handle.read(n)
            handle.seek(pos)
            return head if isinstance(head, bytes) else b""
    return b""


def _text_lines(handle: Iterable[str | bytes]) -> Iterator[bytes]:
    for line in handle:
        yield line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line


@contextlib.contextmanager
def open_lines(source: Any, label: str, what: str = "a FASTA file") -> Iterator[Iterator[bytes]]:
    """Byte lines (with their endings) of a path, ``-`` (standard input) or an open handle,
    text or binary; gzip is detected by its magic bytes and decompression errors become one
    InputError."""
    if isinstance(source, (str, os.PathLike)) and not (isinstance(source, str) and source == "-"):
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            raise InputError(f"{label}: no such file") from None
        except IsADirectoryError:
            raise InputError(f"{label}: is a directory, expected {what}") from None
        except OSError as err:
            raise InputError(f"{label}: cannot read file ({err.strerror or err})") from None
        try:
            if handle.peek(2)[:2] == GZIP_MAGIC:
                with gzip.GzipFile(fileobj=handle, mode="rb") as gz:
                    yield guarded(gz, label)
            else:
                yield iter(handle)
        finally:
            handle.close()
        return
    if isinstance(source, str):  # "-": standard input, binary when possible
        source = getattr(sys.stdin, "buffer", sys.stdin)
    if isinstance(source, io.TextIOBase):
        yield _text_lines(source)
    elif _peek(source, 2) == GZIP_MAGIC:
        with gzip.GzipFile(fileobj=source, mode="rb") as gz:
            yield guarded(gz, label)
    elif isinstance(source, (io.BufferedIOBase, io.RawIOBase)):
        yield iter(source)
    else:  # any other iterable of lines, text or bytes
        yield _text_lines(source)
