"""The data of a run: its inputs opened once, their alphabet chosen, and the kind of data
(genome windows, records, text) built with its tokenizer."""

from __future__ import annotations

from bioseq.data import default_genome
from bioseq.errors import InputError
from bioseq.io.inputs import choose_alphabet, expand_inputs, open_input
from bioseq.tokenizers import CharTokenizer, load_tokenizer
from bioseq.train.config import TrainConfig, check_masked_run
from bioseq.train.data.base import TrainData
from bioseq.train.data.genome import GenomeData
from bioseq.train.data.records import RecordData, aligned_tokenizer
from bioseq.train.data.text import build_text_data

__all__ = ["build_data", "make_tokenizer"]


def make_tokenizer(spec: str, alphabet: str):
    """The tokenizer named by ``spec`` (``char``, ``kmer[:K]``, a directory) for ``alphabet``
    (a MergeLM, ``--model merge``, reads single bases: ``char``)."""
    if spec in ("char", f"char:{alphabet}"):
        return CharTokenizer(alphabet)
    if spec.startswith("kmer") and alphabet != "dna":
        raise InputError(f"tokenizer {spec!r} needs DNA input, but the inputs are {alphabet}")
    tokenizer = load_tokenizer(spec)
    own = getattr(tokenizer, "alphabet", alphabet)
    if own != alphabet and not (own == "rna" and alphabet == "dna"):
        raise InputError(f"tokenizer {spec!r} is for {own}, but the inputs are {alphabet}")
    return tokenizer


def build_data(config: TrainConfig) -> TrainData:
    """The data of a resolved config: its inputs, or the bundled E. coli genome (or text)."""
    if config.text:
        check_masked_run(config, "text")
        return build_text_data(config)
    paths = expand_inputs(config.inputs) if config.inputs else [default_genome()]
    files = [open_input(p) for p in paths]  # each file is sniffed once, here
    alphabet = choose_alphabet(files, config.alphabet)
    check_masked_run(config, alphabet)
    files = [f.with_alphabet(alphabet) for f in files]
    if config.aligned:  # the inputs are checked by RecordData
        return RecordData(files, config, aligned_tokenizer(), alphabet)
    tokenizer = make_tokenizer(config.tokenizer, alphabet)
    if alphabet != "dna" or any(f.format == "alignment" for f in files):
        return RecordData(files, config, tokenizer, alphabet)
    return GenomeData(files, config, tokenizer)
