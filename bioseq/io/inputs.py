"""The files a command reads: folders expanded to their sequence files, and the alphabet they hold.

>>> from bioseq.data import example_genome
>>> paths = expand_inputs([example_genome("lambda")])
>>> choose_alphabet(paths)
'dna'
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from pathlib import Path

import numpy as np

from bioseq.errors import InputError
from bioseq.io.alphabet import ALPHABETS, as_codes
from bioseq.io.formats import detect_format, sniff_alphabet

SEQUENCE_SUFFIXES = {
    ".fa", ".fasta", ".fna", ".ffn", ".faa", ".fas", ".mfa", ".afa",
    ".gb", ".gbk", ".gbff", ".genbank", ".a2m", ".a3m",
}  # fmt: skip


def expand_inputs(
    inputs: Sequence[str | Path], suffixes: Collection[str] = SEQUENCE_SUFFIXES,
    kind: str = "sequence",
) -> list[Path]:  # fmt: skip
    """Files as given, and the files inside folders whose suffix (gzip allowed) is one of
    ``suffixes``."""
    out = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.is_file() and _suffix(p) in suffixes)
            if not found:
                listed = ", ".join(sorted(suffixes))
                raise InputError(f"{path}: folder holds no {kind} file ({listed})")
            out.extend(found)
        elif not path.exists():
            raise InputError(f"{path}: no such file or folder")
        else:
            out.append(path)
    return out


def _suffix(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bgz")]
    return suffixes[-1] if suffixes else ""


def choose_alphabet(paths: Sequence[Path], requested: str = "auto") -> str:
    """``"dna"`` or ``"protein"``: as requested, or guessed from every file's content."""
    found = {}
    for path in paths:
        try:
            kind = detect_format(path)  # an unreadable file fails here, naming it
        except InputError as err:
            if _suffix(path) != ".txt":
                raise
            raise InputError(f"{err}; to train on plain text pass --text") from None
        if kind == "gff":
            raise InputError(f"{path}: is GFF3 annotation, expected FASTA, GenBank or an alignment")
        guessed = "dna" if kind == "genbank" else sniff_alphabet(path).name.lower()
        if requested == "dna" and guessed == "protein":
            raise InputError(
                f"{path}: holds protein sequences (judged by content), but --alphabet dna was given"
            )
        found[path] = guessed if requested == "auto" else requested
    kinds = set(found.values())
    if len(kinds) > 1:
        dna = next(p for p, k in found.items() if k == "dna")
        protein = next(p for p, k in found.items() if k == "protein")
        raise InputError(f"inputs mix DNA ({dna}) and protein ({protein}); train on one kind")
    return kinds.pop()


def iter_sequences(path: Path, alphabet: str, progress: bool = False) -> Iterator[np.ndarray]:
    """Every record (contig, protein) of ``path`` as normalised uint8 codes, in ``alphabet``
    (``dna`` or ``protein``; alignments lose their gaps), with a progress bar on request."""
    from tqdm.auto import tqdm

    from bioseq.io.formats import open_genome

    kind = detect_format(path)
    if kind == "genbank" and alphabet != "dna":
        raise InputError(f"{path}: is GenBank input, expected FASTA or an alignment of {alphabet}")
    if alphabet != "dna" or kind == "alignment":
        from bioseq.io.proteins import read_alignment, read_protein_fasta

        chosen = ALPHABETS[alphabet]
        if kind == "alignment":  # sequences with the gaps removed
            records = read_alignment(path, alphabet=chosen).records
        else:
            records = read_protein_fasta(path, alphabet=chosen)
        with tqdm(total=len(records), desc=path.name, unit="record", disable=not progress) as bar:
            for record in records:
                yield as_codes(record.sequence)
                bar.update(1)
        return
    genome = open_genome(path)
    try:
        total = sum(genome.contigs.values())
        with tqdm(total=total, desc=path.name, unit="bp", unit_scale=True,
                  disable=not progress) as bar:  # fmt: skip
            for contig, length in genome.contigs.items():
                yield genome.fetch_codes(contig)
                bar.update(length)
    finally:
        close = getattr(genome, "close", None)
        if close is not None:
            close()
