"""``score-vcf`` without ``--window`` on a model that reads fewer tokens than the default 8,192
bases: the window chosen is the most the model reads, said in one line; a ``--window`` given
that does not fit stays a one-line error."""

from __future__ import annotations

import random

import pytest
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.models.context import model_context, position_limit
from bioseq.tasks.variants import score_vcf_run
from bioseq.tokenizers import CharTokenizer
from tests.conftest import tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")

CONTEXT = 48  # Hyena's learned positional features: it cannot read a 49th token


def cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("short")
    tok = CharTokenizer("dna")
    model = tiny_model("hyena", tok.vocab_size, seed=0, max_seq_len=CONTEXT, d_model=16)
    model.save_pretrained(folder / "model")
    tok.save_pretrained(folder / "model")
    rng = random.Random(2)
    seq = "".join(rng.choice("ACGT") for _ in range(400))
    (folder / "g.fa").write_text(f">chr1\n{seq}\n")
    other = {"A": "C", "C": "G", "G": "T", "T": "A"}
    records = [f"chr1\t{p}\t.\t{seq[p - 1]}\t{other[seq[p - 1]]}\t.\t.\t." for p in (60, 200, 333)]
    (folder / "v.vcf").write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1,length=400>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n" + "\n".join(records) + "\n"
    )
    return folder


def test_the_context_is_hyenas_positions_and_a_trained_context_comes_first():
    model = tiny_model("hyena", 10, max_seq_len=CONTEXT, d_model=16)
    assert (position_limit(model.config), model_context(model)) == (CONTEXT, CONTEXT)
    model.config.training_context = 32
    assert (position_limit(model.config), model_context(model)) == (CONTEXT, 32)
    mamba = tiny_model("mamba", 10, d_model=16)  # no positions: reads any length
    assert position_limit(mamba.config) is None and model_context(mamba) is None


def test_without_window_the_most_the_model_reads_is_taken_and_said(files, tmp_path):
    args = ["--model", files / "model", "--fasta", files / "g.fa", "--vcf", files / "v.vcf"]
    done = cli("score-vcf", *args, "--no-progress", "--out", tmp_path / "auto.tsv")
    assert done.exit_code == 0, done.output
    note = (
        f"score-vcf: {files / 'model'} reads at most {CONTEXT} tokens: window {CONTEXT} (not 8,192)"
    )
    assert note in done.stderr.splitlines()
    # the same scores as asking for that window, which is the longest one the model takes
    given = cli(
        "score-vcf", *args, "--no-progress", "--window", CONTEXT, "--out", tmp_path / "w.tsv"
    )
    assert given.exit_code == 0, given.output
    assert "reads at most" not in given.stderr
    assert (tmp_path / "auto.tsv").read_text() == (tmp_path / "w.tsv").read_text()
    rows = (tmp_path / "auto.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[-1] for r in rows] == ["ok"] * 3  # the status column


def test_a_window_given_that_does_not_fit_is_a_one_line_error(files, tmp_path):
    done = cli(
        "score-vcf",
        "--model",
        files / "model",
        "--fasta",
        files / "g.fa",
        "--vcf",
        files / "v.vcf",
        "--no-progress",
        "--window",
        CONTEXT + 1,
        "--out",
        tmp_path / "o.tsv",
    )
    assert done.exit_code == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"use --window {CONTEXT} or less" in lines[0]
    assert not (tmp_path / "o.tsv").exists()
    with pytest.raises(InputError, match=f"reads at most {CONTEXT};"):
        score_vcf_run(
            files / "model",
            files / "g.fa",
            files / "v.vcf",
            tmp_path / "p.tsv",
            window=1000,
            progress=False,
        )


def test_the_api_takes_the_fitting_window_when_none_is_given(files, tmp_path):
    run = score_vcf_run(
        files / "model", files / "g.fa", files / "v.vcf", tmp_path / "a.tsv", progress=False
    )
    assert run.result.scorer.window == CONTEXT
    assert [s.status for s in run.result.alleles] == ["ok"] * 3
    assert run.report.notes()[0].endswith(f"window {CONTEXT} (not 8,192)")
