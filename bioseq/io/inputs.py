"""The one entrance for sequence files: :func:`open_input`, and the files a command reads.

:func:`open_input` returns an :class:`InputFile` that works out once, on first use, what a file
is: its ``format`` (``fasta``, ``genbank``, ``alignment`` or ``gff``, by content and suffix:
:mod:`bioseq.io.formats`), its ``compression`` (``plain``, ``gzip`` or ``bgzf``, by magic bytes:
:mod:`bioseq.io.compression`) and its ``alphabet`` (as requested, else DNA for GenBank and GFF3
and a guess from the first lines of FASTA and alignments). It then reads the file the way that
format is read: :meth:`InputFile.records` streams its records, :meth:`InputFile.source` opens it
for random access (an indexed :class:`~bioseq.io.genome.Genome` for FASTA, a
:class:`~bioseq.io.genbank.GenBankGenome` for GenBank). Every command and dataset that takes a
sequence file goes through here, so the rules live in one place.

>>> from bioseq.data import default_genome, example_genome
>>> lam = open_input(example_genome("lambda"))
>>> lam.format, lam.compression, lam.alphabet.name
('genbank', 'plain', 'DNA')
>>> [(r.name, len(r.sequence)) for r in lam.records()]
[('NC_001416.1', 48502)]
>>> with open_input(default_genome()).source() as genome:
...     genome.fetch("NC_000913.3", 0, 8)
'AGCTTTTC'
>>> choose_alphabet(expand_inputs([example_genome("lambda")]))
'dna'
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from bioseq.errors import InputError
from bioseq.io.alphabet import (
    ALPHABETS,
    DNA,
    Alphabet,
    AmbiguousPolicy,
    InvalidPolicy,
    as_codes,
    get_alphabet,
)
from bioseq.io.compression import Compression, compression_of, head_lines, read_head
from bioseq.io.formats import (
    ALPHABET_LINES,
    FORMAT_LINES,
    SEQUENCE_SUFFIXES,
    Format,
    alphabet_from_head,
    file_suffix,
    format_from_head,
)
from bioseq.io.genome import Genome
from bioseq.io.gff import read_gff
from bioseq.io.proteins import Alignment, iter_protein_fasta, read_alignment
from bioseq.io.source import SequenceSource

__all__ = [
    "InputFile", "choose_alphabet", "detect_format", "expand_inputs", "iter_sequences",
    "open_genome", "open_input",
]  # fmt: skip


class InputFile:
    """A sequence file, with its format, compression and alphabet worked out once, lazily.

    Build it with :func:`open_input`. ``records()`` streams every record (objects with
    ``name`` and ``sequence``, normalised in ``alphabet``); ``source()`` opens the file for
    random access. Biopython's GenBank parser is imported only when a GenBank file is read.
    """

    def __init__(self, path: str | Path, alphabet: Alphabet | str | None = "auto") -> None:
        self.path = Path(path)
        self._requested = None if alphabet in (None, "auto") else get_alphabet(alphabet)
        self._head: list[str] = []
        self._head_read = 0  # lines asked of head_lines so far

    def __repr__(self) -> str:
        return f"InputFile({str(self.path)!r})"

    def head(self, n: int) -> list[str]:
        """The file's first ``n`` lines (decompressed, decoded leniently), read once."""
        if n > self._head_read:
            self._head = head_lines(self.path, n)
            self._head_read = n
        return self._head[:n]

    @cached_property
    def compression(self) -> Compression:
        """``plain``, ``gzip`` or ``bgzf`` (bgzip), by the file's magic bytes."""
        return compression_of(read_head(self.path, str(self.path), "a sequence file"))

    @cached_property
    def format(self) -> Format:
        """``fasta``, ``genbank``, ``alignment`` or ``gff``; InputError for anything else."""
        return format_from_head(self.path, self.head(FORMAT_LINES))

    @cached_property
    def alphabet(self) -> Alphabet:
        """The alphabet asked for, else DNA for GenBank and GFF3, else guessed from content."""
        if self._requested is not None:
            return self._requested
        if self.format in ("genbank", "gff"):
            return DNA
        return alphabet_from_head(self.head(ALPHABET_LINES))

    def with_alphabet(self, alphabet: Alphabet | str) -> InputFile:
        """The same file read in ``alphabet`` (what was worked out about it is kept)."""
        other = copy.copy(self)
        other._requested = get_alphabet(alphabet)
        other.__dict__.pop("alphabet", None)
        return other

    def records(
        self, ambiguous: AmbiguousPolicy = "unknown", invalid: InvalidPolicy = "error"
    ) -> Iterator[Any]:
        """Every record, in file order: objects with ``name`` and ``sequence`` (a normalised
        string) and what their format adds.

        FASTA: :class:`~bioseq.io.fasta.FastaRecord` (each record checked as it is read; an
        empty one is an error). Alignments: :class:`~bioseq.io.proteins.AlignedRecord`
        (``sequence`` without gaps). GenBank: :class:`~bioseq.io.genbank.GenBankRecord` (with
        ``cds``). GFF3: the :class:`~bioseq.io.gff.GffRecord` of its ``##FASTA`` section.
        """
        kind = self.format
        if kind == "fasta":
            yield from iter_protein_fasta(self.path, self.alphabet, ambiguous, invalid)
        elif kind == "alignment":
            yield from self.alignment(ambiguous, invalid).records
        elif kind == "genbank":
            from bioseq.io.genbank import read_genbank  # deferred: Biopython, ~0.15 s

            yield from read_genbank(self.path, ambiguous=ambiguous, invalid=invalid)
        else:
            yield from (r for r in read_gff(self.path) if r.sequence is not None)

    def alignment(
        self, ambiguous: AmbiguousPolicy = "unknown", invalid: InvalidPolicy = "error"
    ) -> Alignment:
        """The whole alignment (a2m/a3m): records, match columns, sequence weights."""
        if self.format != "alignment":
            raise InputError(f"{self.path}: is {self.format} input, expected an alignment")
        return read_alignment(
            self.path, alphabet=self.alphabet, ambiguous=ambiguous, invalid=invalid
        )

    def source(
        self, ambiguous: AmbiguousPolicy = "unknown", invalid: InvalidPolicy = "error"
    ) -> SequenceSource:
        """Random access by contig and coordinates: an indexed :class:`Genome` for FASTA (plain,
        bgzip or gzip), a :class:`GenBankGenome` for GenBank; InputError otherwise."""
        kind = self.format
        if kind == "genbank":
            from bioseq.io.genbank import GenBankGenome  # deferred: Biopython, ~0.15 s

            return GenBankGenome(self.path, ambiguous=ambiguous, invalid=invalid)
        if kind in ("alignment", "gff"):
            raise InputError(f"{self.path}: is {kind} input, expected a genome (FASTA or GenBank)")
        return Genome(self.path, alphabet=self.alphabet, ambiguous=ambiguous, invalid=invalid)


def open_input(path: str | Path | InputFile, alphabet: Alphabet | str | None = "auto") -> InputFile:
    """The :class:`InputFile` of ``path`` (``alphabet``: ``auto``, or one to read it in).

    >>> from bioseq.data import example_genome
    >>> open_input(example_genome("lambda")).format
    'genbank'
    """
    if isinstance(path, InputFile):
        return path if alphabet in (None, "auto") else path.with_alphabet(alphabet)
    return InputFile(path, alphabet)


def detect_format(path: str | Path) -> Format:
    """``fasta``, ``genbank``, ``gff`` or ``alignment`` (a2m/a3m), by content and suffix."""
    return open_input(path).format


def open_genome(
    path: str | Path,
    alphabet: Alphabet | str = DNA,
    ambiguous: AmbiguousPolicy = "unknown",
    invalid: InvalidPolicy = "error",
) -> SequenceSource:
    """Open a FASTA (indexed) or GenBank file as a :class:`SequenceSource`."""
    return open_input(path, alphabet).source(ambiguous, invalid)


# ----------------------------------------------------------------------------- a command's files


def expand_inputs(
    inputs: Sequence[str | Path],
    suffixes: Collection[str] = SEQUENCE_SUFFIXES,
    kind: str = "sequence",
) -> list[Path]:
    """Files as given, and the files inside folders whose suffix (gzip allowed) is one of
    ``suffixes``."""
    out = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and file_suffix(p) in suffixes)
            if not found:
                listed = ", ".join(sorted(suffixes))
                raise InputError(f"{path}: folder holds no {kind} file ({listed})")
            out.extend(found)
        elif not path.exists():
            raise InputError(f"{path}: no such file or folder")
        else:
            out.append(path)
    return out


def choose_alphabet(inputs: Sequence[Path | InputFile], requested: str = "auto") -> str:
    """``"dna"`` or ``"protein"``: as requested, or guessed from every file's content."""
    found = {}
    for item in inputs:
        file = open_input(item)
        try:
            kind = file.format  # an unreadable file fails here, naming it
        except InputError as err:
            if file_suffix(file.path) != ".txt":
                raise
            raise InputError(f"{err}; to train on plain text pass --text") from None
        if kind == "gff":
            raise InputError(
                f"{file.path}: is GFF3 annotation, expected FASTA, GenBank or an alignment"
            )
        guessed = file.alphabet.name.lower()
        if requested == "dna" and guessed == "protein":
            raise InputError(
                f"{file.path}: holds protein sequences (judged by content), but --alphabet dna "
                f"was given"
            )
        found[file.path] = guessed if requested == "auto" else requested
    kinds = set(found.values())
    if len(kinds) > 1:
        dna = next(p for p, k in found.items() if k == "dna")
        protein = next(p for p, k in found.items() if k == "protein")
        raise InputError(f"inputs mix DNA ({dna}) and protein ({protein}); train on one kind")
    return kinds.pop()


def iter_sequences(
    path: Path | InputFile, alphabet: str, progress: bool = False
) -> Iterator[np.ndarray]:
    """Every record (contig, protein) of ``path`` as normalised uint8 codes, in ``alphabet``
    (``dna`` or ``protein``; alignments lose their gaps), with a progress bar on request."""
    from tqdm.auto import tqdm  # deferred: ~0.1 s that bioseq info does not need

    file = open_input(path, ALPHABETS[alphabet])
    name, kind = file.path.name, file.format
    if kind == "genbank" and alphabet != "dna":
        raise InputError(
            f"{file.path}: is GenBank input, expected FASTA or an alignment of {alphabet}"
        )
    if alphabet != "dna" or kind == "alignment":
        if kind not in ("fasta", "alignment"):
            raise InputError(f"{file.path}: is {kind} input, expected FASTA or an alignment")
        records = list(file.records())
        with tqdm(total=len(records), desc=name, unit="record", disable=not progress) as bar:
            for record in records:
                yield as_codes(record.sequence)
                bar.update(1)
        return
    genome = file.source()
    try:
        total = sum(genome.contigs.values())
        with tqdm(total=total, desc=name, unit="bp", unit_scale=True, disable=not progress) as bar:
            for contig, length in genome.contigs.items():
                yield genome.fetch_codes(contig)
                bar.update(length)
    finally:
        close = getattr(genome, "close", None)
        if close is not None:
            close()
