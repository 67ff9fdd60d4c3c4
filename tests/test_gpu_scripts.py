"""The one-command GPU scripts of issue 19: benchmarks/gpu_check.sh (fails fast without a GPU;
its Python parts run) and benchmarks/icl_table4.py (the table beside the paper's, on tiny
local models)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from bioseq.models import TransformerConfig, TransformerLM
from bioseq.tasks.icl import load_reference
from bioseq.tokenizers import CharTokenizer

ROOT = Path(__file__).resolve().parents[1]
GPU_CHECK = ROOT / "benchmarks" / "gpu_check.sh"


def _heredocs() -> list[str]:
    return re.findall(r"<<'EOF'[^\n]*\n(.*?)\nEOF\n", GPU_CHECK.read_text(), re.S)


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_gpu_check_stops_in_one_line_without_cuda(tmp_path):
    report = tmp_path / "report.md"
    done = subprocess.run(
        ["bash", str(GPU_CHECK), str(report)], capture_output=True, text=True, env=_env()
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "gpu_check: no CUDA device" in done.stderr
    assert not report.exists() and done.stdout == ""


def test_gpu_check_is_valid_bash_and_python():
    assert subprocess.run(["bash", "-n", str(GPU_CHECK)]).returncode == 0
    blocks = _heredocs()
    assert len(blocks) == 4  # the CUDA check, environment, parity, training summary
    for block in blocks:
        compile(block, "gpu_check.sh", "exec")


def test_gpu_check_training_summary(tmp_path):
    runs = tmp_path / "runs"
    for name, bits in (("hyena", 1.91), ("mamba", 1.95)):
        (runs / name).mkdir(parents=True)
        lines = [
            {"step": 10, "val_bits_per_base": None, "tokens_per_s": 10.0, "elapsed_s": 1},
            {
                "step": 20,
                "val_bits_per_base": bits,
                "markov_bits_per_base": 1.94,
                "tokens_per_s": 2500.0,
                "elapsed_s": 33,
            },
        ]
        (runs / name / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    (runs / "merge").mkdir()  # a run that failed before writing metrics
    done = subprocess.run(
        [sys.executable, "-c", _heredocs()[3], str(runs)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ")][1:]
    assert rows == [
        "| hyena | 20 | 1.9100 | 1.94 | 2,500 | 33 |",
        "| mamba | 20 | 1.9500 | 1.94 | 2,500 | 33 |",
        "| merge | failed: no metrics.jsonl |",
    ]


@pytest.mark.slow
def test_gpu_check_parity_tables_run_on_cpu():
    """The parity script on CPU, the numba scan standing in for mamba-ssm's kernel."""
    env = _env(GPU_CHECK_DEVICE="cpu", GPU_CHECK_SCAN="cpu", GPU_CHECK_SHAPES="1")
    done = subprocess.run(
        [sys.executable, "-c", _heredocs()[2]], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    fp32 = next(x for x in done.stdout.splitlines() if x.startswith("| float32 | 2 x 64"))
    errors = [float(v.split()[0]) for v in fp32.split("|")[3:6]]
    assert max(errors) < 1e-5, fp32
    conv = [x for x in done.stdout.splitlines() if re.match(r"\| float32 \| [234] \|", x)]
    assert len(conv) == 3 and all(float(x.split("|")[3]) < 1e-5 for x in conv)


# --------------------------------------------------------------------------- ICL Table 4
def _load_table4():
    spec = importlib.util.spec_from_file_location("icl_table4", ROOT / "benchmarks/icl_table4.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    """A tiny Hugging Face GPT-2 reading digits (standing in for Qwen3-0.6B) and a tiny bioseq
    Transformer reading DNA (standing in for a converted Evo 2 1B), saved locally."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    root = tmp_path_factory.mktemp("table4")
    vocab = {"<|endoftext|>": 0, **{c: i + 1 for i, c in enumerate("0123456789ACGT")}}
    word = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    word.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    word.decoder = decoders.Fuse()  # no spaces between decoded characters
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=word, eos_token="<|endoftext|>")
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_embd=16,
        n_layer=1,
        n_head=2,
        n_positions=256,
        bos_token_id=0,
        eos_token_id=0,
    )
    qwen = root / "Qwen3-0.6B"
    GPT2LMHeadModel(config).save_pretrained(qwen)
    tokenizer.save_pretrained(qwen)
    evo = root / "evo2-1b"
    TransformerLM(TransformerConfig.from_preset("tiny", vocab_size=10)).save_pretrained(evo)
    CharTokenizer("dna").save_pretrained(evo)
    return qwen, evo


def _accuracy_from_csv(path: Path) -> dict[int, float]:
    """Mean over functions of per-function accuracy, from results.csv alone."""
    per = defaultdict(lambda: defaultdict(list))
    with open(path, newline="") as handle:
        for row in csv.DictReader(handle):
            per[int(row["shots"])][row["function_id"]].append(int(row["correct"]))
    return {n: sum(sum(v) / len(v) for v in f.values()) / len(f) for n, f in per.items()}


def test_icl_table4_runs_both_forms_and_prints_the_paper_beside(tiny_models, tmp_path, capsys):
    qwen, evo = tiny_models
    table4 = _load_table4()
    out = tmp_path / "t4"
    args = ["--qwen", str(qwen), "--evo2", str(evo), "--out", str(out), "--functions", "1-4"]
    table = table4.main([*args, "--shots", "1,2,4", "--trials", "2", "--bootstrap", "20"])
    assert table == (out / "table4.md").read_text().strip() and table in capsys.readouterr().out
    lines = table.splitlines()
    paper = load_reference()
    cases = [("Qwen3-0.6B", "linguistic", "Qwen3-0.6B"), ("evo2-1b", "genomic", "Evo2-1B")]
    for name, form, row in cases:
        ours = next(x for x in lines if x.startswith(f"| {name} | {form} | bioseq |"))
        cells = [c.strip() for c in ours.split("|")[4:12]]
        want = _accuracy_from_csv(out / name / "results.csv")
        assert cells[:3] == [f"{100 * want[n]:.1f}" for n in (1, 2, 4)] and cells[3:] == [""] * 5
        theirs = lines[lines.index(ours) + 1].split("|")
        assert theirs[1].strip() == row and theirs[3].strip() == "paper"
        want_paper = [100 * paper[row][n] for n in paper[row]]
        assert [float(c) for c in theirs[4:12]] == pytest.approx(want_paper, abs=1e-9)
    # the paper's slope per doubling of shots, recomputed: Qwen3-0.6B's 0.011
    assert "+0.0114" in next(x for x in lines if x.startswith("| Qwen3-0.6B | | paper |"))
    # a second call reuses the folders' summaries rather than probing again
    (out / "evo2-1b" / "results.csv").unlink()
    assert table4.main([*args, "--shots", "1,2,4"]) == table


def test_icl_table4_missing_folder_is_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks/icl_table4.py"), "--qwen", str(tmp_path / "no")],
        capture_output=True,
        text=True,
        env=_env(),
    )
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "icl_table4:" in done.stderr and "no such directory" in done.stderr
