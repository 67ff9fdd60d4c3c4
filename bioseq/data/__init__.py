"""Small real genomes and public-domain English texts shipped with bioseq, so every default
works offline.

>>> from bioseq.data import default_genome, default_text, default_text_corpus, example_genome
>>> default_genome().name
'ecoli_k12_mg1655.fa.gz'
>>> example_genome("lambda").name
'lambda_NC_001416.gbk'
>>> default_text().name
'alice_in_wonderland.txt.gz'
>>> [p.name for p in default_text_corpus()]
['alice_in_wonderland.txt.gz', 'world_factbook_1992.txt.gz', 'circulating_decimals.txt.gz']

Open them with any reader, e.g. ``Genome(default_genome())``. Provenance: PROVENANCE.md.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from bioseq.errors import InputError

DEFAULT_GENOME = "ecoli_k12_mg1655.fa.gz"
DEFAULT_TEXT = "alice_in_wonderland.txt.gz"
NUMERAL_TEXT = "world_factbook_1992.txt.gz"
DIGIT_TABLE = "circulating_decimals.txt.gz"
DEFAULT_TEXT_CORPUS = (DEFAULT_TEXT, NUMERAL_TEXT, DIGIT_TABLE)
EXAMPLE_GENOMES = {
    "ecoli": DEFAULT_GENOME,
    "lambda": "lambda_NC_001416.gbk",
}


def _path(name: str) -> Path:
    return Path(str(files(__name__) / name))


def default_genome() -> Path:
    """E. coli K-12 MG1655 (NC_000913.3, 4,641,652 bp), bgzipped FASTA with its index."""
    return _path(DEFAULT_GENOME)


def default_text() -> Path:
    """Lewis Carroll, *Alice's Adventures in Wonderland* (1865; public domain), gzipped UTF-8
    (ASCII) text of 148,480 bytes: the bundled book, first of :func:`default_text_corpus`."""
    return _path(DEFAULT_TEXT)


def default_text_corpus() -> list[Path]:
    """The default corpus of ``bioseq pretrain --text``: the book (:func:`default_text`); the
    country entries Afghanistan to Czechoslovakia of the CIA's *World Factbook 1992* (public
    domain; 515,847 bytes of ASCII, 5.9% digits), so that a text model has seen numerals in
    running text; and a table of circulating decimals (every fraction in lowest terms with a
    denominator up to 100, to 96 places: :mod:`bioseq.data.decimals`; 325,199 bytes), so that
    it has seen runs of digits as long as a linguistic ICL prompt's. Training holds out the
    last tenth of each file."""
    return [_path(name) for name in DEFAULT_TEXT_CORPUS]


def example_genome(name: str = "lambda") -> Path:
    """A bundled genome by short name: ``lambda`` (GenBank, 48,502 bp, 73 CDS) or ``ecoli``."""
    try:
        return _path(EXAMPLE_GENOMES[name])
    except KeyError:
        raise InputError(
            f"no bundled genome {name!r} (available: {', '.join(EXAMPLE_GENOMES)})"
        ) from None
