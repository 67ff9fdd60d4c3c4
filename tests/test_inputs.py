"""The one entrance (``open_input``), compression sniffing, the one FASTA parser and the one
validation-split rule, checked against simple independent references."""

from __future__ import annotations

import doctest
import gzip
import importlib

import numpy as np
import pytest
from Bio import bgzf

import bioseq.io.inputs as inputs
from bioseq.data import default_genome, example_genome
from bioseq.errors import InputError
from bioseq.io import DNA, PROTEIN, InputFile, open_input
from bioseq.io.compression import compression_of, is_bgzf, open_lines
from bioseq.io.fasta import parse_fasta
from bioseq.io.intervals import Interval
from bioseq.io.splits import ValidationSplit

RECORDS = {"chr1": "ACGTACGTTTGACCAN" * 5, "chr2": "GGGATTACA" * 7}
PROTEINS = {"p1": "MKTAYIAKQRQISFVKSHFSRQ", "p2": "MSILVTRPSPAGEELVSRLRTLG"}


def fasta_text(records: dict[str, str], width: int = 10) -> str:
    lines = []
    for name, seq in records.items():
        lines.append(f">{name} some description")
        lines += [seq[i : i + width] for i in range(0, len(seq), width)]
    return "\n".join(lines) + "\n"


def reference_records(text: str) -> dict[str, str]:
    """Name -> sequence, by splitting on '>' (the independent reference)."""
    out = {}
    for chunk in text.split(">")[1:]:
        header, *seq = chunk.splitlines()
        out[header.split()[0]] = "".join(seq).upper()
    return out


def write(path, text: str, how: str) -> None:
    data = text.encode()
    if how == "plain":
        path.write_bytes(data)
    elif how == "gzip":
        path.write_bytes(gzip.compress(data))
    else:
        with bgzf.BgzfWriter(str(path), "wb") as out:
            out.write(data)


@pytest.mark.parametrize("how", ["plain", "gzip", "bgzf"])
def test_fasta_is_known_once_and_read_both_ways(tmp_path, how):
    path = tmp_path / ("genome.fa" + ("" if how == "plain" else ".gz"))
    text = fasta_text(RECORDS)
    write(path, text, how)
    file = open_input(path)
    assert (file.format, file.compression, file.alphabet) == ("fasta", how, DNA)
    assert {r.name: r.sequence for r in file.records()} == reference_records(text)
    with file.source() as genome:
        assert genome.contigs == {name: len(seq) for name, seq in RECORDS.items()}
        assert genome.fetch("chr2", 3, 17) == RECORDS["chr2"][3:17]


def test_protein_content_makes_a_protein_file(tmp_path):
    path = tmp_path / "proteins.fasta"
    write(path, fasta_text(PROTEINS), "gzip")
    file = open_input(path)
    assert (file.format, file.alphabet) == ("fasta", PROTEIN)
    assert {r.name: r.sequence for r in file.records()} == PROTEINS
    assert open_input(path, "dna").alphabet == DNA  # asked for: no guessing
    with pytest.raises(InputError, match=r"proteins\.fasta:2: record 'p1': invalid character 'I'"):
        list(open_input(path, "dna").records())


def test_genbank_alignment_and_gff(tmp_path):
    lam = open_input(example_genome("lambda"))
    assert (lam.format, lam.compression, lam.alphabet) == ("genbank", "plain", DNA)
    [record] = lam.records()
    assert (record.name, len(record.sequence), len(record.cds)) == ("NC_001416.1", 48502, 73)
    assert lam.source().fetch("NC_001416.1", 0, 12) == record.sequence[:12]

    a2m = tmp_path / "family.a2m"
    a2m.write_text(">wt/1-5\nMK-TaY\n>hom\nMQ-T.Y\n")
    family = open_input(a2m)
    assert (family.format, family.alphabet) == ("alignment", PROTEIN)
    assert [r.sequence for r in family.records()] == ["MKTAY", "MQTY"]
    assert family.alignment().width == 5
    with pytest.raises(InputError, match=r"family\.a2m: is alignment input, expected a genome"):
        family.source()

    gff = tmp_path / "annotation.gff3"
    gff.write_text("##gff-version 3\nchr\t.\tgene\t1\t8\t.\t+\t.\tID=g\n##FASTA\n>chr\nACGT\nAC\n")
    annotation = open_input(gff)
    assert annotation.format == "gff" and annotation.alphabet == DNA
    assert [(r.name, r.sequence) for r in annotation.records()] == [("chr", "ACGTAC")]
    with pytest.raises(InputError, match="is gff input, expected a genome"):
        annotation.source()


def test_the_file_is_sniffed_once(tmp_path, monkeypatch):
    path = tmp_path / "genome.fa"
    write(path, fasta_text(RECORDS), "plain")
    calls = []
    real = inputs.head_lines
    monkeypatch.setattr(inputs, "head_lines", lambda p, n: calls.append(n) or real(p, n))
    file = open_input(path)
    for _ in range(3):
        _ = file.format, file.alphabet
    again = file.with_alphabet("dna")
    assert again.format == "fasta" and again.alphabet == DNA
    assert len(calls) == 2  # the format's lines, then the alphabet's longer look
    assert open_input(file) is file and isinstance(open_input(file, "protein"), InputFile)


def test_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.fa: no such file"):
        _ = open_input(tmp_path / "nope.fa").format
    (tmp_path / "empty.fa").write_text("\n\n")
    with pytest.raises(InputError, match=r"empty\.fa: empty file"):
        _ = open_input(tmp_path / "empty.fa").format
    (tmp_path / "notes.txt").write_text("hello\n")
    with pytest.raises(InputError, match=r"notes\.txt:1: expected a FASTA header"):
        _ = open_input(tmp_path / "notes.txt").format
    cut = tmp_path / "cut.fa.gz"
    whole = gzip.compress(fasta_text(RECORDS).encode() * 50)
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"cut\.fa\.gz: truncated or corrupt gzip file"):
        list(open_input(cut).records())


def test_compression_by_magic_bytes_not_by_name(tmp_path):
    text = fasta_text(RECORDS)
    for how in ("plain", "gzip", "bgzf"):
        path = tmp_path / f"{how}.txt"  # the name says nothing
        write(path, text, how)
        head = path.read_bytes()[:64]
        assert compression_of(head) == how
        assert is_bgzf(head) == (how == "bgzf")
        with open_lines(path, str(path)) as lines:
            assert b"".join(lines).decode() == text


def test_one_parser_under_every_fasta_reader():
    lines = [b"; comment\n", b"\n", b">a desc\n", b"ACG\n", b"\n", b">b\n", b"TT\n"]
    records = list(parse_fasta(lines, "x.fa"))
    assert [(r.header, r.line, r.lines) for r in records] == [
        (b"a desc\n", 3, [b"ACG\n", b"\n"]),
        (b"b\n", 6, [b"TT\n"]),
    ]
    with pytest.raises(InputError, match=r"x\.fa:1: expected a FASTA header"):
        list(parse_fasta([b"ACGT\n"], "x.fa"))
    with pytest.raises(InputError, match=r"x\.fa: empty file"):
        list(parse_fasta([b"; only a comment\n"], "x.fa"))
    assert list(parse_fasta([], "x.fa", empty=None)) == []
    # a section inside a file: numbered from where it starts
    assert next(parse_fasta([b">c\n"], "x.gff", first_line=41)).line == 41


def test_validation_split_by_name_fraction_and_tail():
    names = [f"r{i}" for i in range(40)]
    held = ValidationSplit(val_contigs=["r3", "r7"]).of_records(names, "p.fa")
    assert [n for n, h in zip(names, held, strict=True) if h] == ["r3", "r7"]
    held = ValidationSplit(val_fraction=0.1).of_records(names, "p.fa")
    assert held.sum() == 4 and np.array_equal(
        held, ValidationSplit(val_fraction=0.1).of_records(names, "p.fa")
    )
    with pytest.raises(InputError, match="no record named 'zz'"):
        ValidationSplit(val_contigs=["zz"]).of_records(names, "p.fa")

    territory = [Interval("a", 0, 1000), Interval("b", 0, 300)]
    train, val = ValidationSplit(val_fraction=0.1).of_territory(territory, ["a", "b"], "g.fa")
    assert val == [Interval("a", 900, 1000), Interval("b", 270, 300)]
    assert train == [Interval("a", 0, 900), Interval("b", 0, 270)]
    train, val = ValidationSplit(val_contigs=["b"]).of_territory(territory, ["a", "b"], "g.fa")
    assert (train, val) == ([Interval("a", 0, 1000)], [Interval("b", 0, 300)])
    with pytest.raises(InputError, match=r"no contig named 'c' \(val_contigs; has a, b\)"):
        ValidationSplit(val_contigs=["c"]).of_territory(territory, ["a", "b"], "g.fa")
    assert ValidationSplit(val_fraction=0.25).tail_start(1000) == 750
    assert ValidationSplit().of_territory(territory, ["a", "b"], "g.fa") == (territory, [])


def test_bundled_genome_through_the_entrance():
    ecoli = open_input(default_genome())
    assert (ecoli.format, ecoli.compression, ecoli.alphabet) == ("fasta", "bgzf", DNA)


@pytest.mark.parametrize(
    "module",
    [
        "bioseq.io",
        "bioseq.io.compression",
        "bioseq.io.fasta",
        "bioseq.io.genome",
        "bioseq.io.coding",
        "bioseq.io.genbank",
        "bioseq.io.formats",
        "bioseq.io.inputs",
        "bioseq.io.splits",
        "bioseq.io.windows",
        "bioseq.io.records",
        "bioseq.io.summary",
        "bioseq.train.data.base",
        "bioseq.train.data.records",
    ],
)
def test_module_doctests(module):
    assert doctest.testmod(importlib.import_module(module)).failed == 0
