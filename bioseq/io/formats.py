"""What kind of sequence file a file is: the rules, from its name and its first lines.

:class:`~bioseq.io.inputs.InputFile` reads a file's first lines once and applies these rules;
this module does no I/O of its own.

>>> from pathlib import Path
>>> format_from_head(Path("family.a2m.gz"), [">WT/1-3", "MHK"])
'alignment'
>>> format_from_head(Path("lambda.gbk"), ["LOCUS       NC_001416  48502 bp"])
'genbank'
>>> alphabet_from_head([">p", "MKVLAAGIVG"]).name
'protein'
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from bioseq.errors import InputError
from bioseq.io.alphabet import Alphabet, guess_alphabet

__all__ = [
    "ALIGNMENT_SUFFIXES", "GENBANK_SUFFIXES", "SEQUENCE_SUFFIXES", "Format",
    "alphabet_from_head", "file_suffix", "format_from_head",
]  # fmt: skip

Format = Literal["fasta", "genbank", "alignment", "gff"]
ALIGNMENT_SUFFIXES = {".a2m", ".a3m", ".sto", ".aln"}
GENBANK_SUFFIXES = {".gb", ".gbk", ".gbff", ".genbank"}
SEQUENCE_SUFFIXES = {
    ".fa", ".fasta", ".fna", ".ffn", ".faa", ".fas", ".mfa", ".afa",
    ".gb", ".gbk", ".gbff", ".genbank", ".a2m", ".a3m",
}  # fmt: skip
FORMAT_LINES = 200  # first lines that decide the format
ALPHABET_LINES = 2000  # first lines that decide DNA or protein


def file_suffix(path: Path) -> str:
    """The last suffix that is not a compression one, lower case: ``x.FA.gz`` -> ``.fa``."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() not in (".gz", ".bgz")]
    return suffixes[-1] if suffixes else ""


def format_from_head(path: Path, head: list[str]) -> Format:
    """``fasta``, ``genbank``, ``gff`` or ``alignment`` (a2m/a3m) from the file's first lines
    (:data:`FORMAT_LINES` of them) and its suffix; InputError for anything else."""
    lines = [line for line in head if line.strip()]
    if not lines:
        raise InputError(f"{path}: empty file, expected FASTA, GenBank or an alignment")
    first = lines[0].lstrip("\ufeff")
    if first.startswith("LOCUS"):
        return "genbank"
    if first.startswith("##gff-version"):
        return "gff"
    if first.startswith(";"):  # FASTA ';' comment lines before the first header (as iter_fasta)
        first = next((line for line in lines if not line.startswith(";")), first)
    if first.startswith(">"):
        return "alignment" if file_suffix(path) in ALIGNMENT_SUFFIXES else "fasta"
    if file_suffix(path) in GENBANK_SUFFIXES:
        raise InputError(f"{path}:1: expected a GenBank 'LOCUS' line, found {first[:40]!r}")
    raise InputError(
        f"{path}:1: expected a FASTA header '>', a GenBank 'LOCUS' line or '##gff-version', "
        f"found {first[:40]!r}"
    )


def alphabet_from_head(head: list[str]) -> Alphabet:
    """DNA or protein, guessed from the sequence lines among a FASTA or alignment file's first
    lines (:data:`ALPHABET_LINES` of them); gaps are ignored."""
    seq = "".join(line for line in head if not line.startswith((">", ";")))
    return guess_alphabet(seq.replace("-", "").replace(".", ""))
