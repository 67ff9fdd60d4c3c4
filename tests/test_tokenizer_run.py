"""``bioseq tokenizer`` as Python calls: ``save_tokenizer`` writes what ``tokenizer train``
writes, and ``token_compression`` counts tokens of tokenizers and of learned-merge models."""

from __future__ import annotations

import torch
from click.testing import CliRunner

from bioseq.cli.main import main
from bioseq.models import MergeConfig, MergeLM
from bioseq.models.compression import token_compression
from bioseq.tokenizers import CharTokenizer, load_tokenizer
from bioseq.tokenizers.training import REPORT_FILE, report_table, save_tokenizer
from tests.conftest import write_file

FASTA = ">a\nACGTACGTA\n>b\nACGTACGTAC\n"  # 9 and 10 bases


def test_kmer_compression_counts_tokens_per_contig(tmp_path):
    fasta = write_file(tmp_path, "g.fa", FASTA)
    [row] = token_compression("kmer:3", [fasta])
    # an independent count: ceil(9 / 3) + ceil(10 / 3) tokens for 19 bases
    assert (row["bases"], row["tokens"]) == (19, 3 + 4)
    assert row["bases_per_token"] == round(19 / 7, 4)


def test_save_tokenizer_writes_what_the_cli_writes(tmp_path):
    text = "".join(f">r{i}\nACGTACGTA\n>s{i}\nACGTACGTAC\n" for i in range(20))
    fasta = write_file(tmp_path, "g.fa", text)
    args = ["--type", "bpe", "--vocab-size", "40", "--min-frequency", "1", "-q"]
    done = CliRunner().invoke(
        main, ["tokenizer", "train", str(fasta), *args, "--out", str(tmp_path / "cli")]
    )
    assert done.exit_code == 0, done.output
    saved = save_tokenizer(
        [fasta], tmp_path / "api", vocab_size=40, min_frequency=1, progress=False
    )
    assert saved.path == tmp_path / "api" and len(saved.tokenizer) <= 40
    for name in ("tokenizer.json", REPORT_FILE):
        assert (tmp_path / "api" / name).read_text() == (tmp_path / "cli" / name).read_text()
    assert done.stdout.strip() == report_table(saved.report)
    # the saved report is the tokenizer's own count on the input
    again = token_compression(tmp_path / "api", [fasta])
    assert again == saved.report
    tokens = sum(
        len(load_tokenizer(str(tmp_path / "api")).encode(s, add_special_tokens=False))
        for s in ("ACGTACGTA", "ACGTACGTAC") * 20
    )
    assert saved.report[0]["tokens"] == tokens


def test_a_merge_model_reports_its_learned_tokens(tmp_path):
    torch.manual_seed(0)
    config = MergeConfig(
        vocab_size=10, d_model=16, n_layer=1, merge_ratio=2.0, backbone_kwargs={"max_seq_len": 64}
    )
    model = MergeLM(config).eval()
    model.save_pretrained(tmp_path / "m")
    CharTokenizer("dna").save_pretrained(tmp_path / "m")
    fasta = write_file(tmp_path, "g.fa", FASTA)
    report = token_compression(tmp_path / "m", [fasta], window=8)
    assert report == model.compression_report([fasta], window=8)
    done = CliRunner().invoke(
        main, ["tokenizer", "report", str(tmp_path / "m"), str(fasta), "--window", "8"]
    )
    assert done.exit_code == 0 and done.stdout.strip() == report_table(report)
