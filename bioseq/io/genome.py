"""Indexed random access to FASTA files: :class:`Genome`, a sequence source.

:class:`Genome` opens a FASTA file (plain, bgzip-compressed or plain gzip) as a
:class:`~bioseq.io.source.SequenceSource`. Plain files are memory-mapped and read through the
``.fai`` index (built with pyfaidx next to the file, or in a temporary directory when that
folder is read-only), so a random 1 kb fetch costs microseconds. bgzip files are read block by
block through their ``.gzi`` index (:mod:`bioseq.io.bgzf`, whatever block size wrote them);
plain gzip cannot be indexed, so it is parsed once into memory (by :mod:`bioseq.io.fasta`).
Coordinates are 0-based and half-open. Characters are checked lazily, on each fetch (genomes
can be gigabytes): an invalid one raises :class:`~bioseq.errors.InputError` naming the file,
line, contig and character. :meth:`Genome.validate` checks a whole file.

>>> import shutil, tempfile
>>> from pathlib import Path
>>> from bioseq.io.genome import Genome
>>> folder = Path(tempfile.mkdtemp())
>>> _ = (folder / "toy.fa").write_text(">chr1 a toy contig\\nACGTac\\ngtNN\\n>chr2\\nTTTT\\n")
>>> with Genome(folder / "toy.fa") as genome:
...     genome.contigs, genome.fetch("chr1", 2, 8), genome.fetch("chr1", 2, 8, strand="-")
({'chr1': 10, 'chr2': 4}, 'GTACGT', 'ACGTAC')
>>> shutil.rmtree(folder)
"""

from __future__ import annotations

import contextlib
import gzip
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from bioseq.errors import InputError, located
from bioseq.io.alphabet import (
    DNA,
    Alphabet,
    AmbiguousPolicy,
    InvalidPolicy,
    get_alphabet,
    soft_mask,
)
from bioseq.io.bgzf import BgzfError, BgzfReader, read_gzi, write_gzi
from bioseq.io.compression import (
    GZIP_ERRORS,
    compression_of,
    corrupt_gzip,
    guarded,
    open_lines,
    other_compression,
    read_head,
)
from bioseq.io.fasta import (
    EMPTY_FASTA,
    WHITESPACE,
    check_codes,
    fasta_records,
    invalid_message,
    not_header,
)
from bioseq.io.source import InMemoryGenome, check_region, orient

__all__ = ["Genome"]

_KEEP = np.ones(256, dtype=bool)  # bytes that are sequence, not line terminators
_KEEP[[ord("\n"), ord("\r")]] = False
_KEEP.flags.writeable = False
_EMPTY = np.zeros(0, dtype=np.uint8)
_EMPTY.flags.writeable = False
_VALIDATE_CHUNK = 1 << 22  # bases per chunk in Genome.validate (bounded memory)


# ----------------------------------------------------------------------------- file checks


def _sniff(path: Path, label: str) -> str:
    """``plain``, ``bgzf`` or ``gzip``; InputError for missing, empty or non-FASTA files."""
    head = read_head(path, label, "a FASTA file")
    if not head:
        raise InputError(f"{label}: {EMPTY_FASTA}")
    kind = compression_of(head)
    if kind != "plain":
        return kind
    other = other_compression(head)
    if other is not None:
        raise InputError(
            f"{label}: {other}-compressed file; only plain, gzip or bgzip FASTA is supported "
            f"(recompress it with bgzip)"
        )
    if b"\x00" in head:
        raise InputError(f"{label}: binary file, not FASTA text")
    return "plain"


def _dir_writable(directory: Path) -> bool:
    """Whether index files can be created in ``directory`` (tries it: root ignores modes)."""
    if not os.access(directory, os.W_OK):
        return False
    try:
        fd, name = tempfile.mkstemp(dir=directory, prefix=".bioseq-write-test-")
    except OSError:
        return False
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return True


def _stamp(path: Path) -> tuple[int, int] | None:
    """Identity of a file's current version (inode, mtime), None when absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns


def _fresh(index: Path | None, data: Path) -> bool:
    """An index file that exists and is not older than the data file."""
    if index is None:
        return True
    try:
        return index.is_file() and index.stat().st_mtime >= data.stat().st_mtime
    except OSError:
        return False


def _layout_problem(
    lines: Iterable[bytes], blank_lines: bool = True
) -> tuple[int | None, str] | None:
    """The first thing that stops a file being indexed (line, message), or None.

    Mirrors what faidx accepts: all sequence lines of a record have the same length and line
    ending except the last, which may be shorter; at most one blank line ends a record (checked
    only with ``blank_lines``: pyfaidx sometimes accepts more, and they do not break the index).
    """
    name: str | None = None
    width: tuple[int, int] | None = None  # (bases, bytes) of the record's first line
    short: tuple[int, int] | None = None  # (line, bases) of a line shorter than width
    blank: int | None = None
    for lineno, line in enumerate(lines, 1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            return lineno, "line is not UTF-8 text (is this a FASTA file?)"
        if line[:1] == b">":
            fields = line[1:].split()
            if not fields:
                return lineno, "FASTA header with no name"
            name = fields[0].decode()
            width = short = blank = None
            continue
        if name is None:
            if not line.strip() or line.startswith(b";"):
                continue
            return lineno, not_header(line)
        bases = len(line.rstrip(b"\r\n"))
        if bases == 0:
            if blank_lines and (blank is not None or line != b"\n"):
                return lineno, (
                    f"blank line after the sequence of contig {name!r} (an indexed "
                    f"FASTA allows at most one blank line, ending in \\n, per record)"
                )
            blank = blank or lineno
            continue
        if blank is not None:
            return blank, f"blank line inside the sequence of contig {name!r}"
        shape = (bases, len(line))
        if width is None:
            width = shape
            continue
        if short is not None:
            line_no, n = short
            if n == width[0]:
                return line_no, (
                    f"line ending differs from the lines before it in contig {name!r}"
                    f" (mixed \\n and \\r\\n line endings)"
                )
            return line_no, _inconsistent(name, n, width[0])
        if shape != width:
            if bases > width[0]:
                return lineno, _inconsistent(name, bases, width[0])
            short = (lineno, bases)
    if name is None:
        return None, "empty file (no FASTA records)"
    return None


def _inconsistent(name: str, bases: int, width: int) -> str:
    return (
        f"inconsistent line length in contig {name!r}: this line has {bases} bases but the "
        f"lines before it have {width}; every line of a sequence except the last must have "
        f"the same length (re-wrap the file, e.g. `seqkit seq -w 60`)"
    )


# ----------------------------------------------------------------------------- indexed access


class Genome:
    """Indexed random access to a FASTA file (plain, bgzip or gzip), a ``SequenceSource``.

    ``contigs`` maps names (first word of each header) to lengths in file order;
    ``fetch(contig, start, end, strand)`` returns normalised bases (0-based, half-open; ``-``
    gives the reverse complement) and ``fetch_mask`` the soft-mask track (lower case in the
    file). The ``.fai`` (and for bgzip ``.gzi``) index is reused when present and current,
    otherwise built next to the file, or in a temporary directory that :meth:`close` removes
    when that folder is not writable; ``index_path`` says where (None for plain gzip, which is
    parsed into memory). A contig with no sequence (a header directly followed by another header
    or the end of the file) is an error, as are duplicate names. Genomes pickle by path (for
    DataLoader workers) and are usable as context managers.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        alphabet: Alphabet | str = DNA,
        ambiguous: AmbiguousPolicy = "unknown",
        invalid: InvalidPolicy = "error",
    ) -> None:
        self._setup(path, alphabet, ambiguous, invalid, None)

    def _setup(
        self,
        path: str | os.PathLike[str],
        alphabet: Alphabet | str,
        ambiguous: AmbiguousPolicy,
        invalid: InvalidPolicy,
        index_hint: tuple[Path, Path | None] | None,
    ) -> None:
        self.path = Path(path)
        self.alphabet = get_alphabet(alphabet)
        self.ambiguous = ambiguous
        self.invalid = invalid
        self._label = str(path)
        self._table = self.alphabet.table(ambiguous, invalid)  # also checks the policies
        self._mm: np.ndarray | None = None
        self._bgzf: BgzfReader | None = None
        self._memory: InMemoryGenome | None = None
        self._tmpdir: Path | None = None
        self._finalizer: weakref.finalize | None = None
        self._rows: list[tuple[str, int, int, int, int]] = []
        self._layout: dict[str, tuple[int, int, int, int]] = {}
        self._lengths: dict[str, int] = {}
        self._header_lines: list[int] | None = None
        self._closed = False
        self.index_path: Path | None = None
        self._gzi_path: Path | None = None
        self._kind = _sniff(self.path, self._label)
        try:
            if self._kind == "gzip":
                self._load_gzip()
            else:
                self._open_indexed(index_hint)
        except BaseException:
            self.close()
            raise

    # -- opening ------------------------------------------------------------------------

    def _tmp(self) -> Path:
        if self._tmpdir is None:
            self._tmpdir = Path(tempfile.mkdtemp(prefix="bioseq-index-"))
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(self._tmpdir), True)
        return self._tmpdir

    def _temp_index(self) -> tuple[Path, Path | None]:
        folder = self._tmp()
        gzi = folder / (self.path.name + ".gzi") if self._kind == "bgzf" else None
        return folder / (self.path.name + ".fai"), gzi

    def _pyfaidx_name(self) -> Path:
        """The path to give pyfaidx, which judges compression by the file name's suffix."""
        named_gz = self.path.name.lower().endswith((".gz", ".bgz"))
        if self._kind == "bgzf" and named_gz:
            return self.path
        if self._kind == "plain" and not self.path.name.lower().endswith(
            (".gz", ".bgz", ".bz2", ".zip")
        ):
            return self.path
        link = self._tmp() / ("genome.fa.gz" if self._kind == "bgzf" else "genome.fa")
        if not link.exists():
            try:
                os.symlink(self.path.resolve(), link)
            except OSError:
                raise InputError(
                    f"{self._label}: cannot index a {'bgzip' if self._kind == 'bgzf' else 'plain'}"
                    f" FASTA file with this name; rename it to end in "
                    f"{'.gz' if self._kind == 'bgzf' else '.fa'}"
                ) from None
        return link

    def _faidx_open(self, fai: Path, gzi: Path | None) -> Any:
        import pyfaidx  # deferred: ~0.15 s, and only an indexed read needs it (not bioseq info)

        return pyfaidx.Faidx(
            str(self._pyfaidx_name()),
            indexname=str(fai),
            gzi_indexname=str(gzi) if gzi is not None else None,
            as_raw=True,
            strict_bounds=True,
            duplicate_action="first",  # duplicates are reported below, with line numbers
            rebuild=True,
            build_index=True,
        )

    def _open_indexed(self, hint: tuple[Path, Path | None] | None) -> None:
        bgzf = self._kind == "bgzf"
        default = (Path(f"{self.path}.fai"), Path(f"{self.path}.gzi") if bgzf else None)
        fai, gzi = hint if hint is not None and _fresh(hint[0], self.path) else default
        fresh = _fresh(fai, self.path) and _fresh(gzi, self.path)
        if not fresh and (fai, gzi) == default and not _dir_writable(self.path.parent):
            fai, gzi = self._temp_index()
        before = {p: _stamp(p) for p in (*default, fai, gzi) if p is not None}
        try:
            faidx, fai, gzi = self._build_or_read_index(fai, gzi, default)
            self.index_path, self._gzi_path = fai, gzi
            self._rows = _read_fai(fai)
            faidx.close()
            if bgzf:
                self._bgzf = _open_bgzf(self.path, gzi, self._label)
            else:
                self._mm = np.asarray(np.memmap(self.path, dtype=np.uint8, mode="r"))
            built = _stamp(fai) != before.get(fai)
            self._check_rows(built)
            if bgzf and built:
                # pyfaidx accepts a last line longer than the others (plain files are checked
                # against the index in _check_layout); check a newly indexed bgzip file's layout.
                problem = self._diagnose(blank_lines=False)
                if problem is not None:
                    raise InputError(located(self._label, problem[0], problem[1]))
        except BaseException:
            # Never leave behind an index written for a file that turned out to be bad.
            for index, stamp in before.items():
                if _stamp(index) != stamp:
                    with contextlib.suppress(OSError):
                        index.unlink()
            raise

    def _build_or_read_index(
        self, fai: Path, gzi: Path | None, default: tuple[Path, Path | None]
    ) -> tuple[Any, Path, Path | None]:
        import pyfaidx  # deferred: see _faidx_open

        for attempt in range(2):
            try:
                if gzi is not None and not _fresh(gzi, self.path):
                    write_gzi(self.path, gzi)  # faster than pyfaidx's, which inflates blocks
                return self._faidx_open(fai, gzi), fai, gzi
            except (pyfaidx.FastaIndexingError, UnicodeDecodeError) as err:
                raise self._indexing_error(err) from None
            except GZIP_ERRORS as err:
                # An unwritable or unreadable index at the usual place: build one in a temporary
                # directory. A second failure is the file's fault.
                if attempt == 0 and (fai, gzi) == default:
                    fai, gzi = self._temp_index()
                    continue
                if self._kind == "bgzf":
                    raise corrupt_gzip(self._label) from None
                raise self._indexing_error(err) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _indexing_error(self, err: Exception) -> InputError:
        problem = self._diagnose()
        if problem is not None:
            return InputError(located(self._label, problem[0], problem[1]))
        return InputError(f"{self._label}: cannot index FASTA file ({err})")

    def _diagnose(self, blank_lines: bool = True) -> tuple[int | None, str] | None:
        """Scan the file for the first layout problem (on error paths only)."""
        try:
            if self._kind == "plain":
                with open(self.path, "rb") as handle:
                    return _layout_problem(handle, blank_lines)
            with gzip.open(self.path, "rb") as handle:
                return _layout_problem(guarded(handle, self._label), blank_lines)
        except OSError as err:
            raise InputError(f"{self._label}: cannot read file ({err.strerror or err})") from None

    def _check_rows(self, built: bool) -> None:
        seen: dict[str, int] = {}
        for k, (name, length, offset, lenc, lenb) in enumerate(self._rows):
            if name in seen:
                first = self._header_line(seen[name])
                raise InputError(
                    located(
                        self._label,
                        self._header_line(k),
                        f"duplicate contig name {name!r} (first at line {first})",
                    )
                )
            seen[name] = k
            if length == 0:
                raise InputError(
                    located(
                        self._label,
                        self._header_line(k),
                        f"contig {name!r} has no sequence (a header with no sequence lines "
                        f"after it)",
                    )
                )
            if lenc <= 0 or lenb < lenc:
                raise InputError(f"{self._label}: index {self.index_path} is corrupt; delete it")
            self._layout[name] = (length, offset, lenc, lenb)
            self._lengths[name] = length
        if self._mm is not None:
            self._check_layout(built)

    def _check_layout(self, built: bool) -> None:
        """Every contig's last line must start after a newline and end at one (vectorised)."""
        mm = self._mm
        assert mm is not None
        rows = np.array([r[1:] for r in self._rows], dtype=np.int64).reshape(-1, 4)
        length, offset, lenc, lenb = rows.T
        nlines = -(-length // lenc)
        last = offset + (nlines - 1) * lenb
        end = last + length - (nlines - 1) * lenc
        size = mm.size
        ok = (end <= size) & ((nlines == 1) | (lenb > lenc))
        before = mm[np.clip(last - 1, 0, size - 1)]
        after = mm[np.clip(end, 0, size - 1)]
        ok &= (nlines == 1) | (before == ord("\n"))
        ok &= (end == size) | (after == ord("\n")) | (after == ord("\r"))
        if ok.all():
            return
        bad = self._rows[int(np.flatnonzero(~ok)[0])][0]
        problem = self._diagnose()
        if problem is not None and problem[0] is not None:
            raise InputError(located(self._label, problem[0], problem[1]))
        if built:
            raise InputError(f"{self._label}: cannot index contig {bad!r} (inconsistent lines)")
        raise InputError(
            f"{self._label}: index {self.index_path} does not match the file (contig {bad!r}); "
            f"delete the index to rebuild it"
        )

    def _load_gzip(self) -> None:
        """Plain gzip cannot be indexed: parse it once into memory, checking every base."""
        label, alphabet, ambiguous = self._label, self.alphabet, self.ambiguous

        def records() -> Iterator[tuple[str, bytes]]:
            seen: dict[str, int] = {}
            with open_lines(self.path, label) as lines:
                for name, _, header_line, seq in fasta_records(lines, label):
                    if name in seen:
                        raise InputError(
                            located(
                                label,
                                header_line,
                                f"duplicate contig name {name!r} (first at line {seen[name]})",
                            )
                        )
                    seen[name] = header_line
                    raw = b"".join(seq).translate(None, WHITESPACE)
                    if not raw:
                        raise InputError(
                            located(
                                label,
                                header_line,
                                f"contig {name!r} has no sequence (a header with no sequence lines "
                                f"after it)",
                            )
                        )
                    check_codes(
                        raw, self._table, seq, header_line, name, label, alphabet, ambiguous
                    )
                    yield name, raw

        self._memory = InMemoryGenome(records(), self.path, alphabet, ambiguous, self.invalid)
        self._lengths = self._memory.contigs

    # -- line numbers -------------------------------------------------------------------

    def _header_line(self, k: int) -> int:
        """1-based line number of the header of row ``k`` of the index."""
        if self._header_lines is None:
            self._header_lines = self._count_header_lines()
        return self._header_lines[k]

    def _count_header_lines(self) -> list[int]:
        # The header is the line just before a contig's first base, so its number is the count
        # of newlines before that offset. Plain files: add up each contig's sequence lines and
        # the newlines in the gaps between contigs (headers, blank lines). bgzip: stream.
        offsets = [row[2] for row in self._rows]
        if self._mm is None:
            return _newlines_before_gzip(self.path, offsets, self._label)
        mm = self._mm
        result: list[int] = []
        count = 0
        gap_start = 0
        for _, length, offset, lenc, lenb in self._rows:
            count += int(np.count_nonzero(mm[gap_start:offset] == ord("\n")))
            result.append(count)
            nlines = -(-length // lenc) if lenc else 0
            count += nlines
            gap_start = offset + max(nlines - 1, 0) * lenb + length - max(nlines - 1, 0) * lenc
            gap_start += (lenb - lenc) if nlines else 0
        return result

    def _line_of(self, contig: str, pos: int) -> int:
        k = next(i for i, row in enumerate(self._rows) if row[0] == contig)
        return self._header_line(k) + 1 + pos // self._layout[contig][2]

    # -- reading ------------------------------------------------------------------------

    def _raw(self, contig: str, start: int, end: int) -> np.ndarray:
        """File bytes of bases ``[start, end)`` with line terminators removed (not checked)."""
        if start == end:
            return _EMPTY
        length, offset, lenc, lenb = self._layout[contig]
        q, r = divmod(start, lenc)
        b0 = offset + q * lenb + r
        q, r = divmod(end - 1, lenc)
        b1 = offset + q * lenb + r + 1
        raw = self._bytes(b0, b1)
        n = end - start
        if raw.size != n:
            raw = raw[raw != 10] if lenb - lenc == 1 else raw[raw > 13]
            if raw.size != n:  # a control character, or an odd terminator: exact filter
                raw = self._bytes(b0, b1)
                raw = raw[_KEEP[raw]]
                if raw.size != n:
                    self._layout_error(contig)
        return raw

    def _bytes(self, start: int, end: int) -> np.ndarray:
        """Uncompressed file bytes ``[start, end)`` (a view of the mapped file when plain)."""
        if self._mm is not None:
            return self._mm[start:end]
        if self._bgzf is None:
            raise ValueError(f"{self!r} is closed")
        try:
            data = self._bgzf.read(start, end)
        except BgzfError as err:
            raise InputError(f"{self._label}: truncated or corrupt BGZF file ({err})") from None
        except OSError as err:
            raise InputError(f"{self._label}: cannot read file ({err.strerror or err})") from None
        return np.frombuffer(data, dtype=np.uint8)

    def _index_paths(self) -> tuple[Path, Path | None]:
        assert self.index_path is not None
        return self.index_path, self._gzi_path

    def _layout_error(self, contig: str) -> None:
        problem = self._diagnose()
        if problem is not None and problem[0] is not None:
            raise InputError(located(self._label, problem[0], problem[1]))
        raise InputError(
            f"{self._label}: contig {contig!r} does not match its index {self.index_path} (was the "
            f"file changed?); delete the index to rebuild it"
        )

    def _invalid(self, contig: str, start: int, raw: np.ndarray, out: np.ndarray) -> None:
        i = int(np.flatnonzero(out == 0)[0])
        line = self._line_of(contig, start + i)
        raise InputError(
            invalid_message(self._label, line, int(raw[i]), contig, self.alphabet, self.ambiguous)
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"{self!r} is closed")

    # -- the SequenceSource interface ---------------------------------------------------

    @property
    def contigs(self) -> dict[str, int]:
        """Contig names and lengths, in file order (a new dict each call)."""
        return dict(self._lengths)

    def fetch_codes(
        self, contig: str, start: int = 0, end: int | None = None, strand: str = "+"
    ) -> np.ndarray:
        """Normalised ASCII codes (uint8) of ``contig[start:end]``, reverse complement for ``-``."""
        if self._memory is not None:
            return self._memory.fetch_codes(contig, start, end, strand)
        start, end = check_region(self._label, self._lengths, contig, start, end)
        raw = self._raw(contig, start, end)
        out = self._table[raw]  # the alphabet's normalisation table (as normalize_array)
        if not out.all():
            self._invalid(contig, start, raw, out)
        return out if strand == "+" else orient(out, strand)

    def fetch(self, contig: str, start: int = 0, end: int | None = None, strand: str = "+") -> str:
        """Normalised bases of ``contig[start:end]`` as a string."""
        return self.fetch_codes(contig, start, end, strand).tobytes().decode("ascii")

    def fetch_mask(self, contig: str, start: int = 0, end: int | None = None) -> np.ndarray:
        """True where the base is lower case in the file (soft-masked), forward strand."""
        if self._memory is not None:
            return self._memory.fetch_mask(contig, start, end)
        start, end = check_region(self._label, self._lengths, contig, start, end)
        return soft_mask(self._raw(contig, start, end))

    def validate(self) -> None:
        """Check every base of every contig, in chunks; raise InputError at the first problem."""
        self._check_open()
        if self._memory is not None:
            return  # checked when loaded
        for contig, length in self._lengths.items():
            for start in range(0, length, _VALIDATE_CHUNK):
                self.fetch_codes(contig, start, min(start + _VALIDATE_CHUNK, length))

    # -- housekeeping -------------------------------------------------------------------

    def close(self) -> None:
        """Release the file and remove any temporary index. Fetching afterwards fails."""
        self._closed = True
        self._mm = None
        if self._bgzf is not None:
            self._bgzf.close()
            self._bgzf = None
        self._memory = None
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> Genome:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return len(self._lengths)

    def __contains__(self, contig: object) -> bool:
        return contig in self._lengths

    def __repr__(self) -> str:
        state = ", closed" if self._closed else ""
        return (
            f"Genome({self._label!r}, {len(self._lengths)} contigs, "
            f"{sum(self._lengths.values())} bp{state})"
        )

    def __getstate__(self) -> dict[str, Any]:
        # Reopen rather than pickle the mapped file or pyfaidx's handle and lock.
        return {
            "path": self._label,
            "alphabet": self.alphabet,
            "ambiguous": self.ambiguous,
            "invalid": self.invalid,
            "index": self._index_paths() if self.index_path is not None else None,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._setup(
            state["path"], state["alphabet"], state["ambiguous"], state["invalid"], state["index"]
        )


def _open_bgzf(path: Path, gzi: Path | None, label: str) -> BgzfReader:
    if gzi is None:
        raise AssertionError("a bgzip genome has a .gzi index")  # pragma: no cover
    try:
        return BgzfReader(path, read_gzi(gzi))
    except BgzfError as err:
        raise InputError(f"{label}: {err}; delete the index to rebuild it") from None


def _read_fai(fai: Path) -> list[tuple[str, int, int, int, int]]:
    rows = []
    with open(fai) as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 5:
                continue
            rows.append((fields[0], *map(int, fields[1:5])))
    return rows  # type: ignore[return-value]


def _newlines_before_gzip(path: Path, offsets: list[int], label: str) -> list[int]:
    """Newlines before each (ascending) uncompressed offset, streaming the decompressed file."""
    result: list[int] = []
    pos = count = 0
    i = 0
    try:
        with gzip.open(path, "rb") as handle:
            while i < len(offsets):
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                end = pos + len(chunk)
                while i < len(offsets) and offsets[i] <= end:
                    result.append(count + chunk.count(b"\n", 0, offsets[i] - pos))
                    i += 1
                count += chunk.count(b"\n")
                pos = end
    except GZIP_ERRORS:
        raise corrupt_gzip(label) from None
    result.extend([count] * (len(offsets) - len(result)))
    return result
