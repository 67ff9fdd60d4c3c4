"""Tests for bioseq.io.fasta: indexed Genome (plain, bgzip, gzip) and streaming iter_fasta."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import random
import shutil
import stat
import sys
from pathlib import Path

import numpy as np
import pytest
from Bio import SeqIO, bgzf

import bioseq.io.genome as genome_mod
from bioseq.errors import InputError
from bioseq.io.alphabet import PROTEIN
from bioseq.io.fasta import FastaRecord, iter_fasta
from bioseq.io.genome import Genome
from bioseq.io.source import SequenceSource
from tests.conftest import SHARED_DATA

PHIX = SHARED_DATA / "genomes" / "phix174_NC_001422.fna"
_COMP = str.maketrans("ACGTNacgtn", "TGCANtgcan")


# ----------------------------------------------------------------------------- helpers


def make_fasta(
    records: dict[str, str],
    width: int,
    newline: str = "\n",
    final_newline: bool = True,
    descriptions: bool = True,
) -> bytes:
    out = []
    for i, (name, seq) in enumerate(records.items()):
        header = f">{name} record {i} desc" if descriptions else f">{name}"
        out.append(header)
        out.extend(seq[j : j + width] for j in range(0, len(seq), width))
    text = newline.join(out) + (newline if final_newline else "")
    return text.encode()


def write(path: Path, data: bytes, compression: str = "plain") -> Path:
    if compression == "plain":
        path.write_bytes(data)
    elif compression == "gzip":
        path.write_bytes(gzip.compress(data))
    elif compression == "bgzf":
        with bgzf.BgzfWriter(str(path), "wb") as out:
            out.write(data)
    else:  # pragma: no cover
        raise ValueError(compression)
    return path


def reference_parse(data: bytes) -> dict[str, str]:
    """The simplest possible FASTA parser, as ground truth."""
    records: dict[str, list[str]] = {}
    name = None
    for line in data.decode().splitlines():
        if line.startswith(">"):
            name = line[1:].split()[0]
            records[name] = []
        elif name is not None:
            records[name].append(line.strip())
    return {k: "".join(v) for k, v in records.items()}


def revcomp(seq: str) -> str:
    return seq.translate(_COMP)[::-1]


def random_records(rng: random.Random, width: int) -> dict[str, str]:
    lengths = [1, width, width + 1, 3 * width, 5 * width + 7, rng.randrange(200, 900)]
    records = {}
    for i, n in enumerate(lengths):
        # Mixed case (soft-masked runs) and some N.
        seq = [rng.choice("ACGTACGTACGTN") for _ in range(n)]
        seq = [c.lower() if (k // 5) % 3 == 0 else c for k, c in enumerate(seq)]
        records[f"ctg{i}"] = "".join(seq)
    return records


# ----------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("compression", ["plain", "bgzf", "gzip"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("width", [1, 7, 60])
def test_fetch_matches_reference(tmp_path, compression, newline, width):
    rng = random.Random(width * 31 + len(newline) + len(compression))
    records = random_records(rng, width)
    suffix = ".fa" if compression == "plain" else ".fa.gz"
    data = make_fasta(records, width, newline)
    path = write(tmp_path / f"genome{suffix}", data, compression)
    truth = reference_parse(data)
    assert truth == records

    with Genome(path) as genome:
        assert isinstance(genome, SequenceSource)
        assert genome.contigs == {k: len(v) for k, v in records.items()}
        assert list(genome.contigs) == list(records)  # file order
        assert len(genome) == len(records)
        for name, seq in records.items():
            upper = seq.upper()
            assert genome.fetch(name) == upper
            assert genome.fetch(name, strand="-") == revcomp(upper)
            assert genome.fetch_mask(name).tolist() == [c.islower() for c in seq]
            for _ in range(25):
                start = rng.randrange(0, len(seq) + 1)
                end = rng.randrange(start, len(seq) + 1)
                assert genome.fetch(name, start, end) == upper[start:end]
                assert genome.fetch(name, start, end, strand="-") == revcomp(upper[start:end])
                mask = genome.fetch_mask(name, start, end)
                assert mask.dtype == bool
                assert mask.tolist() == [c.islower() for c in seq[start:end]]
                codes = genome.fetch_codes(name, start, end)
                assert codes.dtype == np.uint8
                assert codes.tobytes().decode() == upper[start:end]
                assert b"\r" not in codes.tobytes() and b"\n" not in codes.tobytes()
        genome.validate()
    if compression == "plain":
        assert (tmp_path / "genome.fa.fai").exists()
    if compression == "bgzf":
        assert (tmp_path / "genome.fa.gz.fai").exists()
        assert (tmp_path / "genome.fa.gz.gzi").exists()


@pytest.mark.parametrize("compression", ["plain", "bgzf"])
def test_no_final_newline_and_exact_width(tmp_path, compression):
    records = {"a": "ACGTACGT", "b": "ACGTA"}
    data = make_fasta(records, 4, final_newline=False)
    path = write(tmp_path / ("g.fa" if compression == "plain" else "g.fa.gz"), data, compression)
    with Genome(path) as genome:
        assert genome.fetch("a") == "ACGTACGT"
        assert genome.fetch("b") == "ACGTA"
        assert genome.fetch("b", 3, 5) == "TA"
        assert genome.fetch("a", 4, 4) == ""


def test_single_line_contigs_and_blank_line_between_records(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nACGTACGTAC\n\n>b\nGGGCC\n")
    with Genome(path) as genome:
        assert genome.fetch("a", 2, 9) == "GTACGTA"
        assert genome.fetch("b", 1, 4, strand="-") == "GCC"


def test_iupac_and_policies(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nACRYN\nuacg\n")
    with Genome(path) as genome:
        assert genome.fetch("a") == "ACNNNTACG"
        assert genome.fetch_mask("a").tolist() == [False] * 5 + [True] * 4
    with Genome(path, ambiguous="keep") as genome:
        assert genome.fetch("a") == "ACRYNTACG"
    with (
        Genome(path, ambiguous="error") as genome,
        pytest.raises(
            InputError, match=r"g\.fa:2: invalid character 'R' in contig 'a'.*ambiguous="
        ),
    ):
        genome.fetch("a")


def test_protein_genome(tmp_path):
    path = write(tmp_path / "p.fa", b">p1\nMKVLUO\nXB*\n")
    with Genome(path, alphabet=PROTEIN) as genome:
        assert genome.fetch("p1") == "MKVLCKXX*"


def test_real_phix_matches_biopython(tmp_path):
    if not PHIX.exists():  # pragma: no cover
        pytest.skip("phiX174 genome not available")
    path = tmp_path / PHIX.name
    shutil.copy(PHIX, path)  # keep the shared data folder free of index files
    [record] = list(SeqIO.parse(str(path), "fasta"))
    expected = str(record.seq).upper()
    assert len(expected) == 5386
    with Genome(path) as genome:
        assert genome.contigs == {record.id: 5386}
        assert genome.fetch(record.id) == expected
        rng = random.Random(0)
        for _ in range(50):
            start = rng.randrange(0, 5386)
            end = rng.randrange(start, 5387)
            assert genome.fetch(record.id, start, end) == expected[start:end]
            assert (
                genome.fetch(record.id, start, end, "-")
                == str(record.seq[start:end].reverse_complement()).upper()
            )
        genome.validate()
    streamed = list(iter_fasta(path, alphabet="dna"))
    assert [(r.name, r.sequence, r.line) for r in streamed] == [(record.id, expected, 1)]
    assert streamed[0].description == record.description.split(None, 1)[1]


# ----------------------------------------------------------------------------- bad input


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match=r"nope\.fa: no such file"):
        Genome(tmp_path / "nope.fa")
    with pytest.raises(InputError, match=r"nope\.fa: no such file"):
        iter_fasta(tmp_path / "nope.fa")


@pytest.mark.parametrize("data", [b"", b"\n  \n\n"])
def test_empty_file(tmp_path, data):
    path = write(tmp_path / "empty.fa", data)
    with pytest.raises(InputError, match=r"empty\.fa: empty file"):
        Genome(path)
    with pytest.raises(InputError, match=r"empty\.fa: empty file"):
        list(iter_fasta(path))
    assert not (tmp_path / "empty.fa.fai").exists()


@pytest.mark.parametrize("compression", ["plain", "gzip", "bgzf"])
def test_no_header(tmp_path, compression):
    path = write(tmp_path / "nohead.fa.gz", b"\nACGT\n>a\nACGT\n", compression)
    with pytest.raises(InputError, match=r"nohead\.fa\.gz:2: expected a FASTA header line"):
        Genome(path)
    with pytest.raises(InputError, match=r"nohead\.fa\.gz:2: expected a FASTA header line"):
        list(iter_fasta(path))


@pytest.mark.parametrize("compression", ["plain", "gzip", "bgzf"])
@pytest.mark.parametrize(
    ("data", "line", "name"),
    [
        (b">a\nACGT\n>b\n>c\nAC\n", 3, "b"),
        (b">a\nACGT\n\n>b desc\n", 4, "b"),
    ],
)
def test_header_without_sequence(tmp_path, compression, data, line, name):
    path = write(tmp_path / "g.fa", data, compression)
    with pytest.raises(InputError, match=rf"g\.fa:{line}: contig '{name}' has no sequence"):
        Genome(path)
    assert not (tmp_path / "g.fa.fai").exists()
    assert not (tmp_path / "g.fa.gzi").exists()
    # Streaming is lenient: the record is yielded with an empty sequence.
    assert {r.name: r.sequence for r in iter_fasta(path)}[name] == ""


@pytest.mark.parametrize("compression", ["plain", "gzip", "bgzf"])
def test_duplicate_names(tmp_path, compression):
    path = write(tmp_path / "dup.fa", b">a x\nACGT\n>b\nAA\n>a y\nGG\n", compression)
    expected = r"dup\.fa:5: duplicate contig name 'a' \(first at line 1\)"
    with pytest.raises(InputError, match=expected):
        Genome(path)
    assert not (tmp_path / "dup.fa.fai").exists()


def test_header_without_name(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nAC\n>  \nGG\n")
    with pytest.raises(InputError, match=r"g\.fa:3: FASTA header with no name"):
        Genome(path)
    with pytest.raises(InputError, match=r"g\.fa:3: FASTA header with no name"):
        list(iter_fasta(path))


@pytest.mark.parametrize("compression", ["plain", "bgzf"])
@pytest.mark.parametrize(
    ("data", "line", "what"),
    [
        (b">a\nACGT\nAC\nACGT\n", 3, "inconsistent line length in contig 'a'"),  # short middle line
        (b">a\nACGT\nACGT\nACGTAC\n>b\nA\n", 4, "inconsistent line length"),  # longer last line
        (b">a\nACGT\nACGTA\nAC\n", 3, "inconsistent line length"),  # longer middle line
        (b">a\nACGT\n\nACGT\n", 3, "blank line inside the sequence of contig 'a'"),
        (b">a\nACGT\r\nACGT\nAC\n", 3, "line ending differs"),
        (b">a\r\nACGT\r\nAC\r\n\r\n>b\r\nA\r\n", 4, "blank line after the sequence of contig 'a'"),
        (b">a\nACGT\nAC\n\n\n>b\nAC\n", 5, "blank line after the sequence of contig 'a'"),
    ],
)
def test_inconsistent_lines(tmp_path, compression, data, line, what):
    path = write(tmp_path / "bad.fa.gz", data, compression)
    with pytest.raises(InputError, match=rf"bad\.fa\.gz:{line}: {what}"):
        Genome(path)
    assert not (tmp_path / "bad.fa.gz.fai").exists()
    # Streaming does not care about line lengths.
    assert next(iter_fasta(path)).name == "a"


@pytest.mark.parametrize("compression", ["gzip", "bgzf"])
def test_truncated_gzip(tmp_path, compression):
    rng = random.Random(5)
    records = {f"c{i}": "".join(rng.choice("ACGT") for _ in range(30000)) for i in range(3)}
    full = write(tmp_path / "full.fa.gz", make_fasta(records, 60), compression)
    data = full.read_bytes()
    path = tmp_path / "cut.fa.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.fa\.gz: truncated or corrupt gzip file"):
        Genome(path)
    with pytest.raises(InputError, match=r"cut\.fa\.gz: truncated or corrupt gzip file"):
        list(iter_fasta(path))
    assert not (tmp_path / "cut.fa.gz.fai").exists()


def test_corrupt_bgzip(tmp_path):
    rng = random.Random(6)
    records = {"c": "".join(rng.choice("ACGT") for _ in range(200000))}
    path = write(tmp_path / "bad.fa.gz", make_fasta(records, 60), "bgzf")
    data = bytearray(path.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match=r"bad\.fa\.gz: truncated or corrupt gzip file"):
        Genome(path)


def test_other_compression_rejected(tmp_path):
    import bz2

    path = tmp_path / "g.fa.bz2"
    path.write_bytes(bz2.compress(b">a\nACGT\n"))
    with pytest.raises(InputError, match=r"g\.fa\.bz2: bzip2-compressed"):
        Genome(path)


@pytest.mark.parametrize("compression", ["plain", "bgzf", "gzip"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_invalid_character_line_number(tmp_path, compression, newline):
    # faidx allows one blank line ending a record, but only "\n" (not "\r\n").
    if newline == "\n":
        head = [";comment", "", ">chr0 first", "ACGTACGT", "ACGTACGT", "AC", ""]
    else:
        head = [";comment", ">chr0 first", "ACGTACGT", "ACGTACGT", "AC", ">x", "A"]
    lines = [*head, ">chr1", "ACGTACGT", "ACGTACGT", "ACGJACGT", "ACGTAC"]
    data = newline.join(lines).encode() + newline.encode()
    path = write(tmp_path / "genome.fa.gz", data, compression)
    expected = (
        r"genome\.fa\.gz:11: invalid character 'J' in contig 'chr1' \(expected DNA: "
        r"ACGTN or ambiguity codes RYSWKMBDHV; fix the file, or read such characters as N "
        r"with --invalid N \(info, fetch, score-vcf\) or invalid='unknown' \(Python\)\)"
    )
    if compression == "gzip":  # parsed into memory, so checked on opening
        with pytest.raises(InputError, match=expected):
            Genome(path)
    else:
        with Genome(path) as genome:
            assert genome.fetch("chr0") == "ACGTACGTACGTACGTAC"
            assert genome.fetch("chr1", 0, 19) == "ACGTACGTACGTACGTACG"
            with pytest.raises(InputError, match=expected):
                genome.fetch("chr1", 10, 30)
            with pytest.raises(InputError, match=expected):
                genome.fetch_codes("chr1", 19, 20, strand="-")
            with pytest.raises(InputError, match=expected):
                genome.validate()
    with Genome(path, invalid="unknown") as genome:
        assert genome.fetch("chr1", 16, 24) == "ACGNACGT"
        genome.validate()
    with pytest.raises(InputError, match=expected):
        list(iter_fasta(path, alphabet="dna"))
    streamed = {r.name: r.sequence for r in iter_fasta(path, alphabet="dna", invalid="unknown")}
    assert streamed["chr1"][19] == "N"


def test_invalid_non_ascii_and_whitespace(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nACGT\nA\xe9GT\n>b\nAC T\n")
    with pytest.raises(InputError, match=r"g\.fa:3: line is not UTF-8"):
        Genome(path)
    path = write(tmp_path / "h.fa", b">a\nACGT\nAC T\n")
    with Genome(path) as genome, pytest.raises(InputError, match=r"h\.fa:3: invalid character ' '"):
        genome.fetch("a")


def test_region_errors(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nACGT\n")
    with Genome(path) as genome:
        with pytest.raises(InputError, match=r"g\.fa: region a:2-5 is outside the contig"):
            genome.fetch("a", 2, 5)
        with pytest.raises(InputError, match=r"g\.fa: region a:3-2"):
            genome.fetch("a", 3, 2)
        with pytest.raises(InputError, match=r"g\.fa: no contig named 'b'"):
            genome.fetch("b")
        with pytest.raises(InputError, match="strand"):
            genome.fetch("a", strand="x")
        assert "a" in genome and "b" not in genome
        assert "1 contigs, 4 bp" in repr(genome)
    with pytest.raises(ValueError, match="closed"):
        genome.fetch("a")


def test_bad_policy_rejected(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nACGT\n")
    with pytest.raises(InputError, match="invalid-character policy"):
        Genome(path, invalid="drop")  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- index handling


def test_index_reused_when_present(tmp_path, monkeypatch):
    import pyfaidx

    path = write(tmp_path / "g.fa", make_fasta({"a": "ACGT" * 50, "b": "GGCC" * 3}, 60))
    with Genome(path) as genome:
        assert genome.index_path == tmp_path / "g.fa.fai"
    fai = tmp_path / "g.fa.fai"
    before = fai.read_bytes(), fai.stat().st_mtime_ns

    def boom(self):  # pragma: no cover - must not be called
        raise AssertionError("index rebuilt")

    monkeypatch.setattr(pyfaidx.Faidx, "build_index", boom)
    with Genome(path) as genome:
        assert genome.fetch("b") == "GGCCGGCCGGCC"
    assert (fai.read_bytes(), fai.stat().st_mtime_ns) == before


def test_stale_index_rebuilt(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nACGT\n")
    with Genome(path) as genome:
        assert genome.fetch("a") == "ACGT"
    path.write_bytes(b">a\nTTTTTT\nGG\n>z\nC\n")
    fai = tmp_path / "g.fa.fai"
    old = fai.stat().st_mtime
    os.utime(path, (old + 10, old + 10))
    with Genome(path) as genome:
        assert genome.contigs == {"a": 8, "z": 1}
        assert genome.fetch("a") == "TTTTTTGG"


def test_corrupt_existing_index_is_not_trusted(tmp_path):
    path = write(tmp_path / "g.fa", b">a\nACGTACGT\nAC\n")
    fai = tmp_path / "g.fa.fai"
    fai.write_text("a\t10\t3\t3\t4\n")  # wrong line width, but newer than the file
    with pytest.raises(InputError, match=r"g\.fa.*(does not match|delete the index)"):
        Genome(path)
    fai.write_text("garbage\n")  # unparseable: rebuilt elsewhere, the file still reads
    with Genome(path) as genome:
        assert genome.fetch("a") == "ACGTACGTAC"


def _make_read_only(folder: Path, monkeypatch) -> None:
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    if os.geteuid() == 0 if hasattr(os, "geteuid") else False:
        # root writes anyway: simulate the read-only folder at the writability check
        monkeypatch.setattr(genome_mod, "_dir_writable", lambda directory: False)


@pytest.mark.parametrize("compression", ["plain", "bgzf"])
def test_read_only_folder_uses_temporary_index(tmp_path, monkeypatch, compression):
    folder = tmp_path / "ro"
    folder.mkdir()
    name = "g.fa" if compression == "plain" else "g.fa.gz"
    records = {"a": "ACGTTGCA" * 20, "b": "ccggaatt" * 9}
    path = write(folder / name, make_fasta(records, 50), compression)
    _make_read_only(folder, monkeypatch)
    try:
        genome = Genome(path)
        assert genome.index_path is not None and genome.index_path.parent != folder
        assert genome.index_path.exists()
        assert genome.fetch("b", 3, 11) == "GAATTCCG"
        assert genome.fetch_mask("b", 0, 2).all()
        assert sorted(p.name for p in folder.iterdir()) == [name]  # nothing written there
        copy = pickle.loads(pickle.dumps(genome))
        assert copy.fetch("a", 0, 8, "-") == "TGCAACGT"
        copy.close()
        temp = genome.index_path.parent
        genome.close()
        assert not temp.exists()  # the temporary index is cleaned up
    finally:
        folder.chmod(stat.S_IRWXU)


def test_unwritable_index_location_falls_back(tmp_path):
    # The index path is occupied by a directory: writing fails even as root (OSError).
    path = write(tmp_path / "g.fa", b">a\nACGTAC\nGT\n")
    (tmp_path / "g.fa.fai").mkdir()
    with Genome(path) as genome:
        assert genome.index_path is not None and genome.index_path.parent != tmp_path
        assert genome.fetch("a", 4, 8) == "ACGT"


def test_bgzf_and_plain_detected_by_content_not_name(tmp_path):
    data = make_fasta({"a": "ACGT" * 30}, 25)
    bgz = write(tmp_path / "actually_bgzf.fa", data, "bgzf")
    plain = write(tmp_path / "actually_plain.fa.gz", data)
    gz = write(tmp_path / "actually_gzip.fasta", data, "gzip")
    for path in (bgz, plain, gz):
        with Genome(path) as genome:
            assert genome.fetch("a", 95, 105) == "TACGTACGTA"


def test_bundled_style_gzip_is_in_memory(tmp_path):
    path = write(tmp_path / "g.fa.gz", b">a\nACgt\nAC\n>b\nTT\n", "gzip")
    with Genome(path) as genome:
        assert genome.index_path is None
        assert genome.contigs == {"a": 6, "b": 2}
        assert genome.fetch("a", 1, 5, "-") == "TACG"
        assert genome.fetch_mask("a").tolist() == [False, False, True, True, False, False]
        assert pickle.loads(pickle.dumps(genome)).fetch("b") == "TT"
    assert not (tmp_path / "g.fa.gz.fai").exists()


# ----------------------------------------------------------------------------- streaming


FASTA = b";c\n>r1 first record\nACgt\nNN\n\n>r2\r\nAC GT\r\n>r3   \n>r4 x y\nuu\n"


def _check_stream(records: list[FastaRecord]) -> None:
    assert [(r.name, r.description, r.sequence, r.line) for r in records] == [
        ("r1", "first record", "ACgtNN", 2),
        ("r2", "", "ACGT", 6),
        ("r3", "", "", 8),
        ("r4", "x y", "uu", 9),
    ]


def test_iter_fasta_path_and_gzip(tmp_path):
    _check_stream(list(iter_fasta(write(tmp_path / "s.fa", FASTA))))
    _check_stream(list(iter_fasta(str(write(tmp_path / "s.fa.gz", FASTA, "gzip")))))
    _check_stream(list(iter_fasta(write(tmp_path / "s.bgz", FASTA, "bgzf"))))


def test_iter_fasta_handles(tmp_path):
    _check_stream(list(iter_fasta(io.BytesIO(FASTA))))
    _check_stream(list(iter_fasta(io.StringIO(FASTA.decode()))))
    _check_stream(list(iter_fasta(io.BytesIO(gzip.compress(FASTA)))))
    path = write(tmp_path / "s.fa", FASTA)
    with open(path) as handle:
        _check_stream(list(iter_fasta(handle)))
    with open(path, "rb") as handle:
        _check_stream(list(iter_fasta(handle)))


def test_iter_fasta_stdin(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(gzip.compress(FASTA))))
    _check_stream(list(iter_fasta("-")))
    monkeypatch.setattr(sys, "stdin", io.StringIO(FASTA.decode()))
    _check_stream(list(iter_fasta("-")))
    monkeypatch.setattr(sys, "stdin", io.StringIO(">a\nAC\nJJ\n"))
    with pytest.raises(InputError, match=r"<stdin>:3: invalid character 'J' in contig 'a'"):
        list(iter_fasta("-", alphabet="dna"))


def test_iter_fasta_normalisation():
    data = b">a\nacgtRu\n"
    assert next(iter_fasta(io.BytesIO(data))).sequence == "acgtRu"
    assert next(iter_fasta(io.BytesIO(data), alphabet="dna")).sequence == "ACGTNT"
    assert next(iter_fasta(io.BytesIO(data), alphabet="dna", ambiguous="keep")).sequence == (
        "ACGTRT"
    )
    assert next(iter_fasta(io.BytesIO(data), alphabet="dna", normalize=False)).sequence == (
        "acgtRu"
    )
    with pytest.raises(InputError, match=r"<stream>:2: invalid character 'R'"):
        next(iter_fasta(io.BytesIO(data), alphabet="dna", ambiguous="error", normalize=False))
    record = next(iter_fasta(io.BytesIO(data), alphabet=PROTEIN))
    assert record.sequence == "ACGTRC" and len(record) == 6


def test_iter_fasta_matches_genome(tmp_path):
    rng = random.Random(9)
    records = random_records(rng, 13)
    path = write(tmp_path / "g.fa", make_fasta(records, 13, "\r\n"))
    streamed = {r.name: r.sequence for r in iter_fasta(path, alphabet="dna")}
    with Genome(path) as genome:
        assert streamed == {name: genome.fetch(name) for name in genome.contigs}


def test_failed_indexing_leaves_no_index(tmp_path):
    # A bgzip file without its end-of-file block: pyfaidx writes the .fai, then fails on .gzi.
    path = write(tmp_path / "noeof.fa.gz", make_fasta({"a": "ACGT" * 100}, 60), "bgzf")
    data = path.read_bytes()
    eof = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
    assert data.endswith(eof)
    path.write_bytes(data[: -len(eof)])
    with pytest.raises(InputError, match=r"noeof\.fa\.gz: truncated or corrupt gzip file"):
        Genome(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noeof.fa.gz"]
    # An index built for a bad file is removed; one that was already there is left alone.
    path = write(tmp_path / "g.fa", b">a\nACGT\n>a\nAC\n")
    with pytest.raises(InputError, match=r"g\.fa:3: duplicate contig name 'a'"):
        Genome(path)
    assert not (tmp_path / "g.fa.fai").exists()
    (tmp_path / "g.fa.fai").write_text("a\t4\t3\t4\t5\na\t2\t11\t2\t3\n")
    with pytest.raises(InputError, match=r"g\.fa:3: duplicate contig name 'a'"):
        Genome(path)
    assert (tmp_path / "g.fa.fai").exists()
