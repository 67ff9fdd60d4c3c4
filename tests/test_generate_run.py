"""``generate_sequences(..., out=...)`` writes what ``bioseq generate`` writes."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.errors import InputError
from bioseq.io import iter_fasta
from bioseq.tasks.adapt.generate import Prompt, generate_sequences, prompts_from
from bioseq.tokenizers import CharTokenizer
from tests.conftest import tiny_model, write_file


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "mamba"
    tiny_model("mamba", 10, seed=0, d_model=16, n_layer=1).save_pretrained(path)
    CharTokenizer("dna").save_pretrained(path)
    return path


def test_python_call_writes_what_the_cli_writes(model_dir, tmp_path):
    args = ["--prompt", "ACGTAC", "--n", "3", "--length", "20", "--seed", "4"]
    done = CliRunner().invoke(
        main,
        [
            "generate",
            "--model",
            str(model_dir),
            *args,
            "--no-progress",
            "--out",
            str(tmp_path / "cli.fa"),
        ],
    )
    assert done.exit_code == 0, done.output
    result = generate_sequences(
        model_dir, prompts_from("ACGTAC"), n=3, length=20, seed=4, out=tmp_path / "api.fa"
    )
    assert (tmp_path / "api.fa").read_text() == (tmp_path / "cli.fa").read_text()
    records = list(iter_fasta(tmp_path / "api.fa"))
    assert [r.sequence for r in records] == [s.sequence for s in result.samples]
    assert all(len(r.sequence) == 20 and set(r.sequence) <= set("ACGT") for r in records)


def test_prompts_from_text_or_fasta(tmp_path):
    fasta = write_file(tmp_path, "p.fa", ">x\nACG\n>y\nTTA\n")
    assert prompts_from(" ACG \n") == [Prompt("prompt", "ACG")]
    assert [p.name for p in prompts_from(fasta=fasta)] == ["x", "y"]
    assert prompts_from() is None
    with pytest.raises(InputError, match="not both"):
        prompts_from("ACG", fasta)
