import gzip
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from Bio import SeqIO
from click.testing import CliRunner

from bioseq import __version__
from bioseq.cli.main import main
from bioseq.data import default_genome, example_genome
from tests.conftest import SHARED_DATA, require

GENOMES = SHARED_DATA / "genomes"
SHARED_SEQUENCE_FILES = [
    GENOMES / "lambda_NC_001416.gbk",
    GENOMES / "ecoli_k12_mg1655.gbff.gz",
    GENOMES / "phix174_NC_001422.fna",
    GENOMES / "phix174_NC_001422.gff",
    SHARED_DATA / "proteins" / "BLAT_ECOLX_r24-286.a2m",
]


def run(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def json_records(result):
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_help_and_version():
    assert run("--help").exit_code == 0
    assert "info" in run("--help").output
    result = run("--version")
    assert result.exit_code == 0 and __version__ in result.output


@pytest.mark.parametrize("path", SHARED_SEQUENCE_FILES, ids=lambda p: p.name)
def test_info_answers_on_every_shared_sequence_file(path):
    if not path.exists():
        pytest.skip(f"{path} not available")
    records = json_records(run("info", "--json", path))
    assert records and all(r["length"] > 0 for r in records)


@require(GENOMES / "lambda_NC_001416.gbk")
def test_info_figures_agree_with_biopython():
    path = GENOMES / "lambda_NC_001416.gbk"
    [record] = json_records(run("info", "--json", path))
    expected = next(SeqIO.parse(path, "genbank"))
    assert record["length"] == len(expected.seq) == 48502
    assert record["cds_count"] == sum(f.type == "CDS" for f in expected.features) == 73
    sequence = str(expected.seq).upper()
    assert record["n_fraction"] == pytest.approx(sequence.count("N") / len(sequence))
    gc, at = sum(map(sequence.count, "GC")), sum(map(sequence.count, "AT"))
    assert record["gc_fraction"] == pytest.approx(gc / (gc + at))


def test_info_defaults_to_the_bundled_genome_and_prints_a_table():
    result = run("info")
    assert result.exit_code == 0
    header, row = result.stdout.splitlines()
    assert header.split("\t")[:4] == ["file", "record", "alphabet", "length"]
    assert row.split("\t")[1:4] == ["NC_000913.3", "DNA", "4641652"]
    assert Path(row.split("\t")[0]) == default_genome()


def test_info_reads_fasta_from_standard_input():
    records = json_records(run("info", "--json", "-", input=">a\nACGTNN\n>b\nGGGG\n"))
    assert [(r["name"], r["length"], r["gc_fraction"]) for r in records] == [
        ("a", 6, 0.5),
        ("b", 4, 1.0),
    ]


def test_info_handles_windows_line_endings_and_mixed_case(tmp_path):
    path = tmp_path / "crlf.fa"
    path.write_bytes(b">x\r\nacgtAC\r\nGG\r\n")
    [record] = json_records(run("info", "--json", path))
    assert record["length"] == 8 and record["gc_fraction"] == pytest.approx(5 / 8)


def bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    """Each bad file, and a fragment the one-line error must contain."""
    cases = {
        "empty": ("", "empty"),
        "no_header": ("ACGT\nACGT\n", "expected a FASTA header"),
        "header_without_sequence": (">a\nACGT\n>b\n>c\nAC\n", "'b'"),
        "invalid_character": (">a\nACGTACGTACGT\nACJT\n", ":3:"),
        "duplicate_names": (">a\nACGT\n>a\nACGT\n", "duplicate"),
    }
    paths = {}
    for name, (text, fragment) in cases.items():
        path = tmp / f"{name}.fa"
        path.write_text(text)
        paths[name] = (path, fragment)
    truncated = tmp / "truncated.fa.gz"
    rng = random.Random(0)
    bases = bytes(rng.choice(b"ACGT") for _ in range(20000))
    truncated.write_bytes(gzip.compress(b">a\n" + bases + b"\n")[:2000])
    paths["truncated_gzip"] = (truncated, "gzip")
    a2m = tmp / "bad.a2m"
    a2m.write_text(">WT/10-20\nACDEFG\n>hom\nACDEFG\n")
    paths["a2m_range"] = (a2m, "10-20")
    return paths


@pytest.mark.parametrize(
    "case",
    [
        "empty",
        "no_header",
        "header_without_sequence",
        "invalid_character",
        "duplicate_names",
        "truncated_gzip",
        "a2m_range",
    ],
)
def test_bad_input_gives_one_line_naming_the_file_and_exit_code_2(tmp_path, case):
    path, fragment = bad_inputs(tmp_path)[case]
    result = run("info", path)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bioseq: error: ")
    assert path.name in lines[0] and fragment in lines[0]
    assert "Traceback" not in result.output


def test_invalid_characters_can_be_mapped_to_n(tmp_path):
    path = tmp_path / "j.fa"
    path.write_text(">a\nACJT\n")
    [record] = json_records(run("info", "--json", "--invalid", "N", path))
    assert record["n_fraction"] == 0.25


def test_a_missing_file_through_a_real_process_has_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "bioseq", "info", str(tmp_path / "nope.fa")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"bioseq: error: {tmp_path / 'nope.fa'}: no such file"


def test_example_genome_names():
    assert example_genome("lambda").exists() and example_genome("ecoli") == default_genome()
    with pytest.raises(Exception, match="no bundled genome"):
        example_genome("yeast")


def test_fetch_prints_regions_as_fasta_on_either_strand():
    from bioseq.io.alphabet import reverse_complement

    lam = example_genome("lambda")
    expected = str(next(SeqIO.parse(lam, "genbank")).seq[99:250]).upper()
    result = run("fetch", lam, "NC_001416.1:100-250", "--width", "50")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == ">NC_001416.1:100-250" and [len(x) for x in lines[1:]] == [50, 50, 50, 1]
    assert "".join(lines[1:]) == expected
    minus = run("fetch", lam, "NC_001416.1:100-250", "--strand", "-").stdout.splitlines()
    assert "".join(minus[1:]) == reverse_complement(expected)


@pytest.mark.parametrize(
    ("region", "fragment"),
    [
        ("NC_001416.1:48500-48600", "past the end"),
        ("chrZ:1-10", "no contig named 'chrZ'"),
        ("NC_001416.1:0-10", "START must be >= 1"),
    ],
)
def test_fetch_bad_regions(region, fragment):
    result = run("fetch", example_genome("lambda"), region)
    assert result.exit_code == 2 and fragment in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
