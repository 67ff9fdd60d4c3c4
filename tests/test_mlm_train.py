"""bioseq pretrain --objective mlm (--model caduceus): BERT masking, the two-sided Markov
reference, and tiny CLI runs on DNA (RCPS) and a protein alignment (sequence weights)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForMaskedLM

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.models.markov import TwoSidedMarkov
from bioseq.tokenizers import CharTokenizer
from bioseq.train import TIMING_FIELDS, TrainConfig
from bioseq.train.data import build_data
from bioseq.train.masking import Masking

LAMBDA = str(example_genome("lambda"))
TINY = ["--model", "caduceus", "--d-model", "16", "--n-layer", "1", "--context", "64",
        "--batch-size", "4", "--log-every", "1", "--eval-every", "2", "--eval-windows", "4",
        "--final-eval-windows", "8", "--save-every", "2", "--threads", "1"]  # fmt: skip
DNA = CharTokenizer("dna")
LETTERS = [DNA.convert_tokens_to_ids(c) for c in "ACGT"]


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


# -- masking ---------------------------------------------------------------------------------


def random_rows(rng, rows=400, length=60) -> torch.Tensor:
    """DNA rows with N, special tokens and right padding of random length."""
    ids = rng.choice(
        LETTERS + [DNA.convert_tokens_to_ids("N")], size=(rows, length), p=[0.24] * 4 + [0.04]
    )
    ids[:, 0] = DNA.bos_token_id
    for row, n in enumerate(rng.integers(2, length + 1, size=rows)):
        ids[row, n:] = DNA.pad_token_id
    return torch.from_numpy(ids)


def test_masking_statistics_and_labels():
    rng = np.random.default_rng(1)
    clean = random_rows(rng)
    masking = Masking.for_tokenizer(DNA, "ACGT")
    inputs, labels = masking.apply(clean, keys=[(7, 0, 3, r) for r in range(len(clean))])
    targets = labels != -100
    letters = torch.isin(clean, torch.tensor(LETTERS))
    # targets: only letters (never padding, [BOS] or N), max(1, round(15%)) of them per row
    assert not (targets & ~letters).any()
    for row in range(len(clean)):
        n = int(letters[row].sum())
        assert int(targets[row].sum()) == (max(1, round(0.15 * n)) if n else 0)
    # labels hold the originals there; the input differs from the clean ids only there
    assert torch.equal(labels[targets], clean[targets])
    assert torch.equal(inputs[~targets], clean[~targets])
    # 80% [MASK], 10% a random letter, 10% unchanged (random letters equal the original 1/4)
    got = inputs[targets]
    masked = float((got == DNA.mask_token_id).float().mean())
    kept = float((got == clean[targets]).float().mean())
    assert abs(masked - 0.8) < 0.03 and abs(kept - (0.1 + 0.1 / 4)) < 0.025
    other = got[(got != DNA.mask_token_id)]
    assert torch.isin(other, torch.tensor(LETTERS)).all()  # never a special token, never N
    # a pure function of the keys
    again = masking.apply(clean, keys=[(7, 0, 3, r) for r in range(len(clean))])
    assert torch.equal(again[0], inputs) and torch.equal(again[1], labels)
    other_step = masking.apply(clean, keys=[(7, 0, 4, r) for r in range(len(clean))])
    assert not torch.equal(other_step[1], labels)


def test_masked_batches_deterministic_world_size_and_validation_fixed():
    config = TrainConfig(inputs=[LAMBDA], model="caduceus", context=64, batch_size=4)
    data = build_data(config.resolved())
    [one] = data.batch(step=3, context=64, batch_size=4)
    [again] = data.batch(step=3, context=64, batch_size=4)
    assert torch.equal(one.input_ids, again.input_ids) and torch.equal(one.labels, again.labels)
    assert one.n_tokens == int((one.labels != -100).sum()) == 4 * round(0.15 * 64)
    # two processes x two micro-batches hold exactly the rows of one process's batch
    parts = [b for rank in (0, 1) for b in data.batch(3, 64, 4, rank, 2, grad_accum=2)]
    assert torch.equal(torch.cat([b.labels for b in parts]), one.labels)
    assert torch.equal(torch.cat([b.input_ids for b in parts]), one.input_ids)
    # validation targets: the same at every evaluation, whatever torch's RNG does
    first = [b.labels for b in data.eval_batches(8, 4)]
    torch.manual_seed(123)
    torch.rand(10)
    fresh = build_data(config.resolved())
    assert all(
        torch.equal(a, b)
        for a, b in zip(first, [b.labels for b in fresh.eval_batches(8, 4)], strict=True)
    )


# -- the two-sided Markov reference ------------------------------------------------------------


def brute_log2p(train: str, order: int, window: list, letters: str = "ACGT") -> float:
    """log2 P(middle | the present context letters), add-one, by scanning ``train``."""
    left = (order + 1) // 2
    k = order + 1
    joint = context = 0
    for start in range(len(train) - k + 1):
        piece = train[start : start + k]
        if any(c not in letters for c in piece):
            continue
        fits = all(w < 0 or letters[w] == piece[j] for j, w in enumerate(window) if j != left)
        if fits:
            context += 1
            joint += piece[left] == letters[window[left]]
    return math.log2((joint + 1) / (context + len(letters)))


@pytest.mark.parametrize("order", [0, 1, 2, 3, 4])
def test_two_sided_markov_matches_brute_force(order):
    rng = np.random.default_rng(order)
    train = "".join(rng.choice(list("ACGTTTN"), size=300))
    model = TwoSidedMarkov(order, "ACGT").fit([np.frombuffer(train.encode(), dtype=np.uint8)])
    windows = rng.integers(0, 4, size=(40, order + 1))
    windows[rng.random(windows.shape) < 0.3] = -1  # missing context letters
    windows[:, (order + 1) // 2] = rng.integers(0, 4, size=40)
    want = [brute_log2p(train, order, list(w)) for w in windows]
    np.testing.assert_allclose(model.log2_probs(windows), want, rtol=1e-12)
    # masked_bits: a row's context stops at its ends and at non-letters (-1)
    row = np.array([[0, 1, -1, 2, 3, 0]])
    targets = np.array([[True, False, False, True, False, True]])
    bits, n = model.masked_bits(row, targets)
    left, right = (order + 1) // 2, order // 2
    padded = [-1] * left + list(row[0]) + [-1] * right
    expect = -sum(brute_log2p(train, order, padded[c : c + order + 1]) for c in (0, 3, 5))
    assert n == 3 and bits == pytest.approx(expect, rel=1e-12)


# -- end to end ------------------------------------------------------------------------------


def test_caduceus_dna_run_resume_and_load(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    result = run_cli("pretrain", LAMBDA, *TINY, "--steps", "4", "--out", whole)
    assert result.exit_code == 0, result.output
    assert "the two-sided order-4 Markov reference" in result.output
    rows = metrics(whole)
    final = rows[-1]
    assert final["final"] and final["val_masked_bits"] > 0 and final["markov_masked_bits"] > 0
    assert "val_bits_per_base" not in final and "train_masked_bits" in final
    # the periodic evaluations use the same targets: the same reference value
    periodic = [r["markov_masked_bits"] for r in rows[:-1] if r["markov_masked_bits"]]
    assert len(periodic) == 1 or len(set(periodic)) == 1
    assert (whole / "loss.png").stat().st_size > 0
    saved = json.loads((whole / "final" / "config.json").read_text())
    assert saved["objective"] == "mlm" and saved["rcps"] is True
    assert saved["complement_map"][DNA.convert_tokens_to_ids("A")] == LETTERS[3]
    model = AutoModelForMaskedLM.from_pretrained(whole / "final")
    assert type(model).__name__ == "CaduceusLM"
    # stop after step 2 and resume: the same metrics and weights as the uninterrupted run
    result = run_cli("pretrain", LAMBDA, *TINY, "--steps", "4", "--out", part, "--stop-after", 2)
    assert result.exit_code == 0, result.output
    result = run_cli("pretrain", "--resume", part)
    assert result.exit_code == 0, result.output
    strip = [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in metrics(part)]
    assert strip == [{k: v for k, v in r.items() if k not in TIMING_FIELDS} for r in rows]
    resumed = AutoModelForMaskedLM.from_pretrained(part / "final").state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, resumed[key]), key
    # what the run is stays fixed
    result = run_cli("pretrain", "--resume", part, "--objective", "causal")
    assert result.exit_code == 2 and "objective" in result.output


def write_a2m(path: Path, n: int = 24, length: int = 30) -> Path:
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    base = rng.choice(letters, size=length)
    lines = []
    for i in range(n):
        seq = base.copy()
        flip = rng.random(length) < 0.2 + 0.02 * i
        seq[flip] = rng.choice(letters, size=int(flip.sum()))
        seq[rng.random(length) < 0.05] = "-"
        lines += [f">seq{i}", "".join(seq)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_caduceus_protein_alignment_with_sequence_weights(tmp_path):
    a2m = write_a2m(tmp_path / "homologs.a2m")
    run = tmp_path / "p"
    result = run_cli(
        "pretrain",
        a2m,
        "--alphabet",
        "protein",
        *TINY,
        "--sequence-weights",
        "0.8",
        "--steps",
        "2",
        "--out",
        run,
    )
    assert result.exit_code == 0, result.output
    final = metrics(run)[-1]
    assert final["val_masked_bits"] > 0 and final["markov_masked_bits"] > 0
    saved = json.loads((run / "final" / "config.json").read_text())
    assert saved["rcps"] is False and saved["objective"] == "mlm"
    assert AutoModelForMaskedLM.from_pretrained(run / "final").config.alphabet == "protein"
    result = run_cli(
        "pretrain",
        a2m,
        "--alphabet",
        "protein",
        *TINY,
        "--steps",
        "2",
        "--model-config",
        "rcps=true",
        "--out",
        tmp_path / "q",
    )
    assert result.exit_code == 2
    assert "rcps" in result.output and "needs DNA" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_masked_protein_records_are_bare_as_scored(tmp_path):
    # masked scorers read a bioseq tokenizer's sequence without [CLS]/[SEP]; training must too
    a2m = write_a2m(tmp_path / "homologs.a2m")
    seen = {}
    for objective, model in (("mlm", "caduceus"), ("causal", "mamba")):
        config = TrainConfig(
            inputs=[str(a2m)],
            alphabet="protein",
            model=model,
            objective=objective,
            context=64,
            batch_size=4,
            val_fraction=0.25,
        )
        data = build_data(config)
        ids = data.val[0]["input_ids"]
        seen[objective] = (int(ids[0]), int(ids[-1]), len(ids))
        tok = data.tokenizer
    bare = len(next(iter(data.val_pairs))[1])
    assert seen["mlm"][2] == bare and tok.bos_token_id not in seen["mlm"][:2]
    assert seen["causal"][2] == bare + 2 and seen["causal"][0] == tok.bos_token_id


@pytest.mark.parametrize(
    "args, words",
    [
        (["--objective", "mlm", "--model", "mamba"], ["--model caduceus", "mamba"]),
        (["--model", "caduceus", "--objective", "causal"], ["caduceus", "mlm"]),
        (["--model", "caduceus", "--tokenizer", "kmer"], ["--tokenizer char"]),
        (["--model", "caduceus", "--direction", "reverse"], ["direction"]),
    ],
)
def test_bad_objective_settings_are_one_line(tmp_path, args, words):
    result = run_cli("pretrain", LAMBDA, *args, "--steps", "1", "--out", tmp_path / "r")
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), lines
    assert not (tmp_path / "r").exists()


def test_objective_defaults():
    assert TrainConfig(model="caduceus").resolved().objective == "mlm"
    assert TrainConfig(model="mamba").resolved().objective == "causal"
    assert TrainConfig(model="merge").resolved().objective == "merge"
    # merge runs written before merge was an objective recorded causal: they read as merge
    assert TrainConfig(model="merge", objective="causal").objective == "merge"


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    flags = [
        *TINY[:8],
        "--batch-size",
        "8",
        "--eval-every",
        "2",
        "--eval-windows",
        "4",
        "--final-eval-windows",
        "8",
        "--steps",
        "4",
        "--save-every",
        "4",
    ]
    ddp = tmp_path / "ddp"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    env["TMPDIR"] = str(tmp_path)  # torchrun's torchelastic_* folder, removed with tmp_path
    env.pop("WORLD_SIZE", None)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port",
        str(29700 + os.getpid() % 1000),
        "-m",
        "bioseq",
        "pretrain",
        LAMBDA,
        "--out",
        str(ddp),
        "--quiet",
        *flags,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    single = tmp_path / "single"
    result = run_cli("pretrain", LAMBDA, "--out", single, "--quiet", *flags)
    assert result.exit_code == 0, result.output
    for a, b in zip(metrics(ddp), metrics(single), strict=True):
        for key in ("train_loss", "val_masked_bits", "markov_masked_bits"):
            assert (a[key] is None) == (b[key] is None), key
            if a[key] is not None:
                assert a[key] == pytest.approx(b[key], rel=1e-4), key
        assert a["tokens"] == b["tokens"]
