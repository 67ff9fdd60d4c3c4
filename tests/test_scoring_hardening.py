"""Issue 13 (hardening) for score-vcf, score-mutations, make-snv-vcf and fetch: outputs replaced
only on success, one-line errors, and statuses for the rows and records that cannot be scored."""

import errno
import json
import random
from pathlib import Path

import pysam
import pytest
import torch
from Bio import SeqIO
from Bio.Seq import Seq
from Bio.SeqFeature import FeatureLocation, SeqFeature
from Bio.SeqRecord import SeqRecord
from click.testing import CliRunner

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.io.genbank import read_genbank
from bioseq.io.source import InMemoryGenome
from bioseq.models import (
    HyenaConfig,
    HyenaLM,
    MambaConfig,
    MambaLM,
    TransformerConfig,
    TransformerLM,
)
from bioseq.tasks.variants import DnaVariantScorer, Variant
from bioseq.tasks.variants.mutations import (
    AMINO_ACIDS,
    CausalMutationScorer,
    read_mutation_table,
    score_mutations,
)
from bioseq.tokenizers import CharTokenizer

DNA_TOK, PROTEIN_TOK = CharTokenizer("dna"), CharTokenizer("protein")
SEQ = "".join(random.Random(1).choice("ACGT") for _ in range(300))
OTHER = {"A": "C", "C": "G", "G": "T", "T": "A"}
VCF_HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
)
DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


pytestmark = pytest.mark.usefixtures("one_thread")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_error(result, *fragments: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("bioseq: error: ")
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in result.output, result.output


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".tmp-")]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A tiny DNA model, a protein model, a genome and a small VCF."""
    root = tmp_path_factory.mktemp("hardening")
    torch.manual_seed(0)
    MambaLM(
        MambaConfig.from_preset("tiny", vocab_size=DNA_TOK.vocab_size, d_model=32)
    ).save_pretrained(root / "dna")
    DNA_TOK.save_pretrained(root / "dna")
    TransformerLM(
        TransformerConfig.from_preset("tiny", vocab_size=PROTEIN_TOK.vocab_size, d_model=32)
    ).save_pretrained(root / "prot")
    PROTEIN_TOK.save_pretrained(root / "prot")
    (root / "g.fa").write_text(f">chr1\n{SEQ}\n")
    lines = [f"chr1\t{p}\t.\t{SEQ[p - 1]}\t{OTHER[SEQ[p - 1]]}\t.\t.\t." for p in (50, 80, 120)]
    (root / "v.vcf").write_text(VCF_HEADER + "\n".join(lines) + "\n")
    return root


def score_vcf(data, out, *extra):
    return run(
        "score-vcf",
        "--model",
        data / "dna",
        "--fasta",
        data / "g.fa",
        "--vcf",
        data / "v.vcf",
        "--out",
        out,
        "--window",
        64,
        "--no-progress",
        *extra,
    )


# -- outputs: checked up front, replaced only on success ------------------------------------


@pytest.mark.parametrize("suffix", [".tsv", ".vcf.gz"])
def test_score_vcf_disk_full_keeps_the_old_output(data, tmp_path, monkeypatch, suffix):
    out = tmp_path / f"scored{suffix}"
    assert score_vcf(data, out).exit_code == 0
    before = out.read_bytes()
    if suffix == ".tsv":
        monkeypatch.setattr("bioseq.tasks.variants.vcf.tsv_rows", _raise(DISK_FULL))
    else:
        monkeypatch.setattr(pysam, "tabix_index", _raise(DISK_FULL))
    one_line_error(score_vcf(data, out), str(out), "no space left on the device")
    assert out.read_bytes() == before and not leftovers(tmp_path)
    if suffix == ".vcf.gz":
        assert Path(f"{out}.tbi").is_file()


def _raise(err):
    def fail(*args, **kwargs):
        raise err

    return fail


@pytest.mark.parametrize("command", ["score-vcf", "score-mutations", "make-snv-vcf"])
def test_out_that_is_a_directory_or_under_a_file_is_one_line(data, tmp_path, command):
    """Checked before the model is loaded: the model path here does not even exist."""
    args = {
        "score-vcf": [
            "--model",
            tmp_path / "none",
            "--fasta",
            data / "g.fa",
            "--vcf",
            data / "v.vcf",
        ],
        "score-mutations": [
            "--model",
            tmp_path / "none",
            "--wildtype",
            "MHKL",
            "--mutations",
            _table(tmp_path, "mutant,score\nH2C,1\n"),
        ],
        "make-snv-vcf": ["--genbank", _odd_genbank(tmp_path), "--all-cds"],
    }[command]
    (tmp_path / "folder").mkdir()
    one_line_error(run(command, *args, "--out", tmp_path / "folder"), "is a directory")
    (tmp_path / "file").write_text("x")
    one_line_error(run(command, *args, "--out", tmp_path / "file" / "o.vcf"), "is a file")


def test_score_mutations_replaces_csv_metrics_and_plot_together(data, tmp_path, monkeypatch):
    table = _table(tmp_path, "mutant,score\nH2C,0.3\nK3A,-1.2\nL4P,-0.5\nH2W,0.1\n")
    out = tmp_path / "scores.csv"
    args = [
        "score-mutations",
        "--model",
        data / "prot",
        "--wildtype",
        "MHKL",
        "--mutations",
        table,
        "--score-col",
        "score",
        "--out",
        out,
        "--no-progress",
    ]
    assert run(*args).exit_code == 0
    written = [out, tmp_path / "scores.metrics.json", tmp_path / "scores.scatter.png"]
    before = [p.read_bytes() for p in written]
    from matplotlib.figure import Figure

    monkeypatch.setattr(Figure, "savefig", _raise(DISK_FULL))
    one_line_error(run(*args), "no space left on the device")
    assert [p.read_bytes() for p in written] == before and not leftovers(tmp_path)
    monkeypatch.undo()
    monkeypatch.setattr("csv.writer", _raise(DISK_FULL))  # the CSV itself
    one_line_error(run(*args), "scores.csv: no space left on the device")
    assert [p.read_bytes() for p in written] == before and not leftovers(tmp_path)


def test_score_vcf_metrics_are_replaced_with_the_output(data, tmp_path, monkeypatch):
    genbank, snvs = _odd_genbank(tmp_path), tmp_path / "snvs.vcf"
    assert run("make-snv-vcf", "--genbank", genbank, "--all-cds", "--out", snvs).exit_code == 0
    out, metrics = tmp_path / "s.tsv", tmp_path / "s.metrics.json"
    args = [
        "score-vcf",
        "--model",
        data / "dna",
        "--fasta",
        genbank,
        "--vcf",
        snvs,
        "--out",
        out,
        "--window",
        16,
        "--no-progress",
    ]
    assert run(*args).exit_code == 0 and json.loads(metrics.read_text())["n_scored"] == 63
    before = out.read_bytes(), metrics.read_bytes()
    monkeypatch.setattr("bioseq.tasks.variants.vcf.tsv_rows", _raise(DISK_FULL))
    one_line_error(run(*args, "--strand", "both"), "no space left on the device")
    assert (out.read_bytes(), metrics.read_bytes()) == before and not leftovers(tmp_path)


def test_make_snv_vcf_failure_keeps_the_old_output(tmp_path, monkeypatch):
    genbank, out = _odd_genbank(tmp_path), tmp_path / "snvs.vcf"
    out.write_text("old\n")
    result = run("make-snv-vcf", "--genbank", genbank, "--region", "chrT:30-40", "--out", out)
    one_line_error(result, "no CDS lies wholly inside --region", "not written")
    assert out.read_text() == "old\n" and not leftovers(tmp_path)
    gz = tmp_path / "snvs.vcf.gz"
    assert run("make-snv-vcf", "--genbank", genbank, "--all-cds", "--out", gz).exit_code == 0
    before = gz.read_bytes()
    monkeypatch.setattr(pysam, "tabix_index", _raise(DISK_FULL))
    result = run("make-snv-vcf", "--genbank", genbank, "--all-cds", "--out", gz)
    one_line_error(result, "no space left on the device")
    assert gz.read_bytes() == before and not leftovers(tmp_path)


# -- score-mutations: tables -----------------------------------------------------------------


def _table(folder: Path, text: str, name: str = "dms.csv") -> Path:
    path = folder / name
    path.write_text(text)
    return path


def mutations(data, table, *extra):
    return run(
        "score-mutations",
        "--model",
        data / "prot",
        "--wildtype",
        "MHKL",
        "--mutations",
        table,
        "--out",
        table.with_suffix(".out.csv"),
        "--no-progress",
        *extra,
    )


def test_binary_col_must_name_a_column_of_labels(data, tmp_path):
    table = _table(tmp_path, "mutant,score,bin\nH2C,0.3,1\nK3A,-1.2,0\nL4P,-0.5,2\n")
    result = mutations(data, table, "--score-col", "score", "--binary-col", "DMS_score_bin")
    one_line_error(result, "'DMS_score_bin' names no column", "columns: mutant, score, bin")
    result = mutations(data, table, "--score-col", "score", "--binary-col", "bin")
    one_line_error(result, f"{table}:4:", "'2' is not a binary label")
    table.write_text("mutant,score,bin\nH2C,0.3,true\nK3A,-1.2,0\nL4P,-0.5,\n")
    result = mutations(data, table, "--score-col", "score", "--binary-col", "bin")
    assert result.exit_code == 0, result.output
    metrics = json.loads(table.with_name("dms.out.metrics.json").read_text())
    assert metrics["auroc"] in (0.0, 1.0)  # two labelled rows


def test_rows_that_cannot_be_scored_get_a_status(data, tmp_path):
    table = _table(
        tmp_path,
        "mutant,score\nH2C,0.3\nK3A,-1.2\nH2C,0.5\nK3A:H2W,abc\nH2Z,0.1\n"
        "H2B,0.1\nH2X,0.2\nL4P,-0.5,extra\nL4W\nW4L:H2A,0.0\nH2A:W4L,1.0\n",
    )
    result = mutations(data, table, "--score-col", "score")
    assert result.exit_code == 0, result.output
    out = table.with_suffix(".out.csv").read_text().splitlines()
    statuses = [line.rsplit(",", 1)[1] for line in out[1:]]
    assert statuses == [
        "ok",
        "ok",
        "duplicate",
        "ok",
        "invalid_residue",
        "invalid_residue",
        "invalid_residue",
        "malformed_row",
        "malformed_row",
        "wildtype_mismatch",
        "wildtype_mismatch",
    ]
    assert "line 4: H2C: the same mutant as line 2" in result.output
    assert "line 9: 3 fields, but the header has 2" in result.output
    assert "1 row has a score value that is not a number (line 5: 'abc')" in result.output
    metrics = json.loads(table.with_name("dms.out.metrics.json").read_text())
    assert metrics["n_scored"] == 2 and metrics["n_non_numeric"] == 1  # H2C counted once


def test_duplicates_in_any_order_are_scored_once(tmp_path):
    table_text = "mutant;score\nH2C:K3A;1\nK3A:H2C;2\nWT;0\n_wt;0\n"

    class Count:
        residues = AMINO_ACIDS
        calls = 0

        def score_mutants(self, wildtype, offset, mutants, progress=None):
            Count.calls += len(mutants)
            return [(1.0, "ok") for _ in mutants]

    path = tmp_path / "t.csv"
    path.write_text(table_text)
    rows = score_mutations(Count(), "MHKL", read_mutation_table(path), score_col="score")
    assert [r.status for r in rows] == ["ok", "duplicate", "ok", "duplicate"]
    assert Count.calls == 2


def test_stop_is_scored_only_where_the_vocabulary_has_one(tmp_path):
    model = TransformerLM(
        TransformerConfig.from_preset("tiny", vocab_size=PROTEIN_TOK.vocab_size, d_model=32)
    ).eval()
    assert "*" in CausalMutationScorer((model, PROTEIN_TOK)).residues

    class NoStop:
        residues = AMINO_ACIDS

        def score_mutants(self, wildtype, offset, mutants, progress=None):
            return [(0.0, "ok") for _ in mutants]

    path = tmp_path / "t.csv"
    path.write_text("mutant\nH2*\nH2A\n")
    rows = score_mutations(NoStop(), "MHKL", read_mutation_table(path))
    assert [r.status for r in rows] == ["invalid_residue", "ok"]
    assert "stop" in rows[0].detail


@pytest.mark.parametrize(
    "content, fragment",
    [
        (b'mutant,score\nH2C,"0.3\nK3A,1\n', ":2: cannot split into fields (an unclosed quote)"),
        (b"mutant,score\nH2C,0.3\n\x7fELF\x02\x01\x01\x00\x00", ":3: binary content"),
        (b"mutant,score\nH2C,\xff\xfe\n", ":2: byte 0xFF is not UTF-8 text"),
    ],
    ids=["unclosed-quote", "nul-bytes", "not-utf8"],
)
def test_unreadable_tables_are_one_line(data, tmp_path, content, fragment):
    table = tmp_path / "dms.csv"
    table.write_bytes(content)
    one_line_error(mutations(data, table), f"{table}{fragment}")


# -- score-vcf: windows, truncated input, malformed lines, messages ---------------------------


def test_window_must_hold_the_variant_with_context(data, tmp_path):
    one_line_error(score_vcf(data, tmp_path / "o.tsv", "--window", 1), "--window 1", "at least 9")
    genome = InMemoryGenome({"chr1": SEQ})
    model = MambaLM(MambaConfig.from_preset("tiny", vocab_size=DNA_TOK.vocab_size, d_model=32))
    variants = [
        Variant("chr1", 50, SEQ[49], OTHER[SEQ[49]]),
        Variant("chr1", 100, SEQ[99:110], SEQ[99]),
    ]  # an 11-base REF
    scores = DnaVariantScorer(model.eval(), DNA_TOK, genome, window=12).score(variants)
    assert [s.status for s in scores] == ["ok", "window_too_short"]
    assert scores[0].score != 0.0 and "needs --window 19 or more" in scores[1].detail


def test_window_too_long_names_a_window_that_scores_the_insertion():
    torch.manual_seed(0)
    config = HyenaConfig.from_preset(
        "tiny", vocab_size=DNA_TOK.vocab_size, d_model=32, max_seq_len=64, embed_dropout=0.0
    )
    model, genome = HyenaLM(config).eval(), InMemoryGenome({"chr1": SEQ})
    insertion = Variant("chr1", 150, SEQ[149], SEQ[149] + "G" * 10)
    with pytest.raises(bioseq.errors.InputError, match="use --window 64 or less"):
        DnaVariantScorer(model, DNA_TOK, genome, window=80)
    (result,) = DnaVariantScorer(model, DNA_TOK, genome, window=64).score([insertion])
    assert result.status == "window_too_long"
    window = int(result.detail.rsplit("--window ", 1)[1].split()[0])
    (again,) = DnaVariantScorer(model, DNA_TOK, genome, window=window).score([insertion])
    assert again.status == "ok", again.detail
    (beyond,) = DnaVariantScorer(model, DNA_TOK, genome, window=window + 2).score([insertion])
    assert beyond.status == "window_too_long"  # the largest such window


@pytest.mark.parametrize("kind", ["vcf.gz", "bcf"])
def test_truncated_compressed_input_is_one_line(data, tmp_path, kind):
    whole = tmp_path / f"v.{kind}"
    with (
        pysam.VariantFile(str(data / "v.vcf")) as src,
        pysam.VariantFile(str(whole), "wz" if kind == "vcf.gz" else "wb", header=src.header) as dst,
    ):
        for record in src:
            dst.write(record)
    cut = tmp_path / f"cut.{kind}"
    cut.write_bytes(whole.read_bytes()[:-40])
    result = run(
        "score-vcf",
        "--model",
        data / "dna",
        "--fasta",
        data / "g.fa",
        "--vcf",
        cut,
        "--out",
        tmp_path / "o.tsv",
        "--window",
        64,
        "--no-progress",
    )
    one_line_error(result, f"{cut}: truncated or corrupt gzip file")
    if kind == "vcf.gz":
        assert "after line" in result.output


def test_nul_bytes_in_a_vcf(data, tmp_path):
    vcf = tmp_path / "nul.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n##x=\0\n" + VCF_HEADER.split("\n", 1)[1])
    result = run(
        "score-vcf",
        "--model",
        data / "dna",
        "--fasta",
        data / "g.fa",
        "--vcf",
        vcf,
        "--out",
        tmp_path / "o.tsv",
        "--window",
        64,
        "--no-progress",
    )
    one_line_error(result, f"{vcf}:2: binary content")
    vcf.write_text(VCF_HEADER + "chr1\t50\t.\tA\tC\0\t.\t.\t.\n")
    result = run(
        "score-vcf",
        "--model",
        data / "dna",
        "--fasta",
        data / "g.fa",
        "--vcf",
        vcf,
        "--out",
        tmp_path / "o.tsv",
        "--window",
        64,
        "--no-progress",
    )
    assert result.exit_code == 0 and "malformed_line: line 4: binary content" in result.output


def test_malformed_lines_are_kept_in_the_vcf_output(data, tmp_path):
    vcf = tmp_path / "bad.vcf"
    lines = [
        f"chr1\t50\t.\t{SEQ[49]}\t{OTHER[SEQ[49]]}\t.\t.\t.",
        "chr1\tabc\t.\tA\tC\t.\t.\t.",
        "chr1\t90\t.\tA",
        f"chr1\t120\t.\t{SEQ[119]}\t{OTHER[SEQ[119]]}\t.\t.\t.",
    ]
    vcf.write_text(VCF_HEADER + "\n".join(lines) + "\n")
    out = tmp_path / "bad.out.vcf.gz"
    result = run(
        "score-vcf",
        "--model",
        data / "dna",
        "--fasta",
        data / "g.fa",
        "--vcf",
        vcf,
        "--out",
        out,
        "--window",
        64,
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert Path(f"{out}.tbi").is_file()  # placeholders keep the file sorted
    with pysam.VariantFile(str(out)) as handle:
        records = list(handle)
        assert "line 5: POS 'abc' is not a number" in str(handle.header)
    assert [r.info["BIOSEQ_STATUS"] for r in records] == [
        ("ok",),
        ("malformed_line",),
        ("malformed_line",),
        ("ok",),
    ]
    assert [(r.pos, r.ref, r.alts) for r in records[1:3]] == [(50, "N", None), (90, "A", None)]


def test_long_alleles_are_shortened_in_messages(data, tmp_path):
    vcf = tmp_path / "long.vcf"
    wrong = "".join(OTHER[b] for b in SEQ[9:109])
    vcf.write_text(VCF_HEADER + f"chr1\t10\t.\t{wrong}\tA\t.\t.\t.\n")
    result = run(
        "score-vcf",
        "--model",
        data / "dna",
        "--fasta",
        data / "g.fa",
        "--vcf",
        vcf,
        "--out",
        tmp_path / "o.tsv",
        "--window",
        64,
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    assert f"{wrong[:20]}...(100 bp)" in result.output and wrong not in result.output


# -- fetch ---------------------------------------------------------------------------------


def test_fetch_width_and_invalid(data, tmp_path):
    one_line_error(run("fetch", data / "g.fa", "chr1:1-10", "--width", -1), "--width -1")
    result = run("fetch", data / "g.fa", "chr1:1-100", "--width", 0)
    assert result.exit_code == 0 and result.output == f">chr1:1-100\n{SEQ[:100]}\n"
    result = run("fetch", data / "g.fa", "chr1:1-10", "chr9")  # nothing printed before it
    one_line_error(result, "no contig named 'chr9'")
    bad = tmp_path / "bad.fa"
    bad.write_text(f">chr1\n{SEQ[:60]}J{SEQ[61:]}\n")
    one_line_error(run("fetch", bad, "chr1:55-65"), "invalid character 'J'")
    result = run("fetch", bad, "chr1:55-65", "--invalid", "N")
    assert result.exit_code == 0 and result.output.split("\n")[1] == SEQ[54:60] + "N" + SEQ[61:65]


# -- make-snv-vcf: partial codons -----------------------------------------------------------


def _odd_genbank(folder: Path) -> Path:
    """One 23-base CDS (7 codons and 2 bases of an incomplete eighth) on a 48-base record."""
    path = folder / "odd.gbk"
    if not path.exists():
        record = SeqRecord(
            Seq("ATG" + "GCT" * 5 + "TAAGC" + "A" * 25),
            id="chrT",
            name="chrT",
            description="toy",
            annotations={"molecule_type": "DNA"},
        )
        record.features.append(
            SeqFeature(FeatureLocation(0, 23, strand=1), type="CDS", qualifiers={"gene": ["odd"]})
        )
        SeqIO.write(record, path, "genbank")
    return path


def test_partial_codons_get_no_snvs(tmp_path):
    genbank = _odd_genbank(tmp_path)
    (cds,) = read_genbank(genbank)[0].cds
    assert cds.complete_codon_mask().tolist() == [True] * 21 + [False] * 2
    out = tmp_path / "odd.vcf"
    result = run("make-snv-vcf", "--genbank", genbank, "--cds", "odd", "--out", out)
    assert result.exit_code == 0, result.output
    assert "skipped 2 bases of partial codons" in result.output
    with pysam.VariantFile(str(out)) as handle:
        records = list(handle)
    assert len(records) == 3 * 21 and max(r.pos for r in records) == 21
    assert [r.info["BIOSEQ_CODON_POS"] for r in records[::3]] == [1, 2, 3] * 7


@pytest.mark.slow
def test_htslib_does_not_print_beside_bioseq(data, tmp_path):
    """An unsorted VCF cannot be indexed: bioseq warns in one line; htslib's own [E::...] lines
    (written straight to file descriptor 2, so only a real process shows them) stay quiet."""
    import subprocess
    import sys

    lines = [f"chr1\t{p}\t.\t{SEQ[p - 1]}\t{OTHER[SEQ[p - 1]]}\t.\t.\t." for p in (120, 50)]
    vcf = tmp_path / "unsorted.vcf"
    vcf.write_text(VCF_HEADER + "\n".join(lines) + "\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bioseq",
            "score-vcf",
            "--model",
            data / "dna",
            "--fasta",
            data / "g.fa",
            "--vcf",
            vcf,
            "--out",
            tmp_path / "s.vcf.gz",
            "--window",
            "64",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "[E::" not in done.stderr and "[W::" not in done.stderr, done.stderr
    assert "bioseq: warning:" in done.stderr and ".tmp-" not in done.stderr


def test_a_batch_that_cannot_fit_is_refused_before_allocating(data, tmp_path, monkeypatch):
    from bioseq.models import memory

    per_token = 4 * (16 + 12 * 32)  # padded vocabulary and 12 d_model floats, fp32
    free = 100 * per_token  # room for 100 tokens: the genome's 300-base windows cannot fit
    monkeypatch.setattr(memory, "available_memory", lambda device: free)
    result = score_vcf(data, tmp_path / "s.tsv", "--window", 200, "--batch-size", 4)
    one_line_error(result, "needs at least", "is free", "not even one fits", "--window")
    assert not (tmp_path / "s.tsv").exists()
    monkeypatch.setattr(memory, "available_memory", lambda device: 10**9)
    assert score_vcf(data, tmp_path / "s.tsv", "--window", 200).exit_code == 0
    assert memory.forward_bytes_per_token(MambaConfig(vocab_size=16, d_model=32)) == per_token


def test_an_allocation_failure_past_the_estimate_is_one_line(data, tmp_path, monkeypatch):
    from bioseq.tasks.variants import likelihood

    def fail(*args, **kwargs):
        raise RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't "
            "allocate memory: you tried to allocate 4096000000 bytes."
        )

    monkeypatch.setattr(likelihood, "_token_ll", fail)
    monkeypatch.setattr(likelihood.PairScorer, "_score_mamba", lambda self, *a: fail())
    one_line_error(score_vcf(data, tmp_path / "s.tsv"), "out of memory", "--batch-size")
