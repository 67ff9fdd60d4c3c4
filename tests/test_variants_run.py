"""``bioseq.tasks.variants.run``: score-vcf, score-mutations and make-snv-vcf called from Python
write what the commands write, and report what they report."""

from __future__ import annotations

import json
import random

import numpy as np
import pysam
import pytest
import torch
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.errors import InputError
from bioseq.io import read_genbank
from bioseq.models import MambaConfig, MambaLM
from bioseq.tasks.variants import (
    better_offset,
    make_snv_vcf_run,
    parse_mutant,
    score_mutations_run,
    score_vcf_run,
    select_cds,
)
from bioseq.tasks.variants.mutations import MutationScore
from bioseq.tokenizers import CharTokenizer

pytestmark = pytest.mark.usefixtures("one_thread")

# an alignment whose wild type is numbered from 10 (the range in its header), as the DMS
A2M = (
    ">wt/10-33\nMKVLSTACDEFGHIKLMNPQRSTW\n>h1\nMKVLSTACDEFGHIKLMNPQRSTW\n>h2\nMRVLSSACDEFGHVKLMNPQRSTW\n"
    ">h3\nMKILSTGCDEFGHIKLMNAQRSTW\n>h4\nLKVLATACEEFGHIRLMNPQKSTW\n"
)
MUTANTS = ["M10A", "K11R", "V12I", "L13A", "S14T", "T15S", "A16G", "C17S", "D18E", "E19D"]


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def dms(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dms")
    (folder / "fam.a2m").write_text(A2M)
    rng = np.random.default_rng(0)
    rows = [f"{m},{rng.normal():.3f}" for m in MUTANTS]
    (folder / "dms.csv").write_text("mutant,score\n" + "\n".join(rows) + "\n")
    return folder


def test_score_mutations_from_python_writes_what_the_cli_writes(dms, tmp_path):
    aln, table = dms / "fam.a2m", dms / "dms.csv"
    args = ["--alignment", aln, "--mutations", table, "--score-col", "score"]
    done = cli(
        "score-mutations",
        "--model",
        "site-independent",
        *args,
        "--no-progress",
        "--out",
        tmp_path / "cli.csv",
    )
    assert done.exit_code == 0, done.output
    run = score_mutations_run(
        ["site-independent"],
        table,
        tmp_path / "api.csv",
        alignment=aln,
        score_col="score",
        progress=False,
    )
    assert (tmp_path / "api.csv").read_text() == (tmp_path / "cli.csv").read_text()
    api_metrics = json.loads((tmp_path / "api.metrics.json").read_text())
    assert api_metrics == json.loads((tmp_path / "cli.metrics.json").read_text())
    assert api_metrics == json.loads(json.dumps(run.metrics))
    assert [p.name for p in run.written] == ["api.csv", "api.metrics.json", "api.scatter.png"]
    assert run.offset == 10 and run.wildtype == "MKVLSTACDEFGHIKLMNPQRSTW"
    assert [s.status for s in run.scores] == ["ok"] * len(MUTANTS)
    assert run.report.notes()[0] == f"scored 10 of 10 mutants; wrote {tmp_path / 'api.csv'}"
    assert run.report.results() == [line for line in done.stdout.splitlines() if line]
    assert not run.report.warnings()


def test_a_wrong_offset_is_reported_with_the_one_that_matches(dms, tmp_path):
    run = score_mutations_run(
        ["site-independent"],
        dms / "dms.csv",
        tmp_path / "o.csv",
        alignment=dms / "fam.a2m",
        offset=1,
        progress=False,
    )
    assert run.offset == 1
    assert {s.status for s in run.scores} == {"wildtype_mismatch"}
    (warning,) = run.report.warnings()
    assert warning.endswith("--offset 10 matches more")
    # the same through the CLI: a warning line, exit 0
    done = cli(
        "score-mutations",
        "--model",
        "site-independent",
        "--alignment",
        dms / "fam.a2m",
        "--mutations",
        dms / "dms.csv",
        "--offset",
        1,
        "--out",
        tmp_path / "c.csv",
        "--no-progress",
    )
    assert done.exit_code == 0 and f"bioseq: warning: {warning}" in done.stderr


def test_better_offset_only_when_most_rows_mismatch():
    wildtype = "MKVLSTACDEFGHIKLMNPQRSTW"

    def rows(statuses):
        return [MutationScore(m, status=s) for m, s in zip(MUTANTS, statuses, strict=True)]

    assert better_offset(rows(["wildtype_mismatch"] * 10), wildtype, 1) == 10
    assert better_offset(rows(["ok"] * 5 + ["wildtype_mismatch"] * 5), wildtype, 1) is None
    assert better_offset(rows(["wildtype_mismatch"] * 10), wildtype, 10) is None  # no better one
    # independent check: offset 10 puts every wild-type residue where the table says
    assert all(wildtype[s.position - 10] == s.wt for m in MUTANTS for s in parse_mutant(m))


def test_bad_settings_fail_before_anything_is_written(dms, tmp_path):
    for kwargs, message in (
        ({}, "give --wildtype"),
        ({"alignment": dms / "fam.a2m", "threshold": 0.0}, "--threshold needs"),
        ({"alignment": dms / "fam.a2m", "score_col": "nope"}, "nope"),
    ):
        with pytest.raises(InputError, match=message):
            score_mutations_run(["site-independent"], dms / "dms.csv", tmp_path / "x.csv", **kwargs)
    assert not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def mamba_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("mamba")
    torch.manual_seed(0)
    tok = CharTokenizer("dna")
    MambaLM(MambaConfig.from_preset("tiny", vocab_size=tok.vocab_size, d_model=16)).save_pretrained(
        path
    )
    tok.save_pretrained(path)
    return path


def test_score_vcf_from_python_writes_what_the_cli_writes(mamba_dir, tmp_path):
    rng = random.Random(1)
    seq = "".join(rng.choice("ACGT") for _ in range(300))
    (tmp_path / "g.fa").write_text(f">chr1\n{seq}\n")
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    records = [f"chr1\t{p}\t.\t{seq[p - 1]}\t{other[seq[p - 1]]}\t.\t.\t." for p in (50, 120, 200)]
    records.append(f"chr1\t250\t.\t{other[seq[249]]}\tA\t.\t.\t.")  # REF does not match
    (tmp_path / "v.vcf").write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=300>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(records) + "\n"
    )
    args = [tmp_path / "g.fa", tmp_path / "v.vcf"]
    done = cli(
        "score-vcf",
        "--model",
        mamba_dir,
        "--fasta",
        args[0],
        "--vcf",
        args[1],
        "--window",
        64,
        "--no-progress",
        "--out",
        tmp_path / "cli.tsv",
    )
    assert done.exit_code == 0, done.output
    run = score_vcf_run(mamba_dir, *args, tmp_path / "api.tsv", window=64, progress=False)
    assert (tmp_path / "api.tsv").read_text() == (tmp_path / "cli.tsv").read_text()
    assert [s.status for s in run.result.alleles] == ["ok", "ok", "ok", "ref_mismatch"]
    notes = run.report.notes()
    assert notes[0].startswith("scored 3 of 4 alleles") and notes[1].startswith("not scored: 1")
    assert notes[2].startswith("  ref_mismatch: ") and "chr1:250" in notes[2]
    assert run.written == [tmp_path / "api.tsv"]


def test_make_snv_vcf_from_python_writes_what_the_cli_writes(tmp_path):
    genbank = example_genome("lambda")
    done = cli(
        "make-snv-vcf",
        "--genbank",
        genbank,
        "--cds",
        "nu1",
        "--cds",
        "cI",
        "--out",
        tmp_path / "cli.vcf",
    )
    assert done.exit_code == 0, done.output
    run = make_snv_vcf_run(genbank, tmp_path / "api.vcf", cds_names=["nu1", "cI"])
    body = [
        [line for line in (tmp_path / f"{name}.vcf").read_text().splitlines() if line[0] != "#"]
        for name in ("api", "cli")
    ]
    assert body[0] == body[1]
    record = read_genbank(genbank)[0]
    ((_, chosen),) = select_cds([record], ["nu1", "cI"])
    coding = {int(p) for c in chosen for p in c.genome_position_map()}
    assert len(run.snvs) == len(body[0]) == 3 * len(coding)  # 3 alternatives per coding base
    with pysam.VariantFile(str(tmp_path / "api.vcf")) as handle:
        assert {r.info["BIOSEQ_CDS"] for r in handle} == {"lambdap01", "lambdap88"}
    assert run.report.notes() == [
        f"wrote {len(run.snvs):,} SNVs of 2 CDS ({sum(s.synonymous for s in run.snvs):,} "
        f"synonymous) to {tmp_path / 'api.vcf'}"
    ]


def test_make_snv_vcf_takes_one_way_of_choosing_cds(tmp_path):
    genbank = example_genome("lambda")
    for kwargs in ({}, {"cds_names": ["nu1"], "all_cds": True}):
        with pytest.raises(InputError, match="choose CDS with --cds"):
            make_snv_vcf_run(genbank, tmp_path / "x.vcf", **kwargs)
    with pytest.raises(InputError, match="no CDS lies wholly inside --region NC_001416.1:1-100"):
        make_snv_vcf_run(genbank, tmp_path / "x.vcf", region=("NC_001416.1", 0, 100))
    assert not (tmp_path / "x.vcf").exists()
