"""`bioseq pretrain --model striped-hyena` and the downstream commands on its result."""

import json

import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM

import bioseq.models  # noqa: F401  (registers the models)
from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.models import StripedHyenaLM
from bioseq.models.hub import resolve_model_dir

LAMBDA = example_genome("lambda")
TINY = ["--d-model", "32", "--n-layer", "4", "--context", "64", "--batch-size", "4"]


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("sh") / "run"
    result = run(
        "pretrain",
        LAMBDA,
        "--model",
        "striped-hyena",
        "--out",
        out,
        "--steps",
        4,
        "--save-every",
        2,
        "--eval-every",
        2,
        "-q",
        *TINY,
    )
    assert result.exit_code == 0, result.output
    return out


def test_pretrain_striped_hyena_writes_a_loadable_model(trained):
    model = AutoModelForCausalLM.from_pretrained(resolve_model_dir(trained))
    assert isinstance(model, StripedHyenaLM)
    assert model.config.attn_layer_idxs == [3]  # the tiny pattern: hcs, hcm, hcl, attn
    rows = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert rows[-1]["final"] and all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.slow
def test_score_vcf_and_probe_run_on_a_striped_hyena(trained, tmp_path):
    vcf = tmp_path / "cI.vcf.gz"
    assert run("make-snv-vcf", "--genbank", LAMBDA, "--cds", "cI", "--out", vcf).exit_code == 0
    out = tmp_path / "scores.tsv"
    result = run(
        "score-vcf",
        "--model",
        trained,
        "--fasta",
        LAMBDA,
        "--vcf",
        vcf,
        "--out",
        out,
        "--window",
        64,
        "--strand",
        "both",
        "--no-progress",
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert len(lines) > 2000 and all(line.endswith("\tok") for line in lines[1:])
    result = run(
        "probe",
        "--model",
        trained,
        "--functions",
        "1-2",
        "--shots",
        "1,2",
        "--trials",
        1,
        "--form",
        "genomic",
        "--out",
        tmp_path / "probe",
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "probe" / "summary.json").is_file()


def test_merge_tokenizer_takes_no_striped_hyena_backbone(tmp_path):
    result = run(
        "pretrain", "--model", "striped-hyena", "--tokenizer", "merge", "--out", tmp_path / "m"
    )
    assert result.exit_code == 2 and "striped-hyena" in result.output
    assert not (tmp_path / "m").exists()
