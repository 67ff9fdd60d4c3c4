"""bioseq pretrain: the CLI end to end, exact resume, SIGTERM, NaN, torchrun DDP, bad input."""

from __future__ import annotations

import doctest
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from transformers import AutoModelForCausalLM, AutoTokenizer

import bioseq.models  # noqa: F401  (registers the Auto classes)
from bioseq.cli.main import main
from bioseq.data import example_genome
from bioseq.errors import InputError
from bioseq.models.hub import STATE_FILE, latest_checkpoint
from bioseq.train import (
    TIMING_FIELDS,
    TrainConfig,
    TrainingDiverged,
    load_yaml,
    markov_bits_per_base,
    merge,
    pretrain,
    resolve_model_dir,
)
from bioseq.train.data import build_data
from tests.conftest import TINY_RUN

REPO = Path(__file__).resolve().parents[1]
LAMBDA = str(example_genome("lambda"))
# a model small enough that a step takes milliseconds
TINY = TINY_RUN
TINY_FLAGS = ["--d-model", "32", "--n-layer", "1", "--context", "64", "--batch-size", "4",
              "--log-every", "1", "--eval-windows", "4", "--final-eval-windows", "8"]  # fmt: skip


def run_cli(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in TIMING_FIELDS} for row in rows]


def subprocess_env() -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    env.pop("WORLD_SIZE", None)
    return env


# -- the Markov reference -------------------------------------------------------------------


def test_markov_counts_match_a_naive_count():
    rng = np.random.default_rng(1)
    letters = np.frombuffer(b"ACGTN", dtype=np.uint8)
    seq = letters[rng.choice(5, 5000, p=[0.3, 0.2, 0.2, 0.25, 0.05])]
    train, val = seq[:4000], seq[4000:]
    counts: dict[str, int] = {}
    text = train.tobytes().decode()
    for i in range(2, len(text)):
        if "N" not in text[i - 2 : i + 1]:
            counts[text[i - 2 : i + 1]] = counts.get(text[i - 2 : i + 1], 0) + 1
    val_text, bits, n = val.tobytes().decode(), 0.0, 0
    for i in range(2, len(val_text)):
        kmer = val_text[i - 2 : i + 1]
        if "N" in kmer:
            continue
        ctx = sum(counts.get(kmer[:2] + b, 0) + 1 for b in "ACGT")
        bits -= np.log2((counts.get(kmer, 0) + 1) / ctx)
        n += 1
    assert markov_bits_per_base([train], [val], order=2) == pytest.approx(bits / n, rel=1e-12)


# -- configuration ---------------------------------------------------------------------------


def test_config_file_then_flags_and_unknown_keys(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: mamba\nbatch-size: 8\nlr: 0.001\n")
    config = merge(load_yaml(path), {"lr": 0.01}, source="command line")
    assert (config.model, config.batch_size, config.lr) == ("mamba", 8, 0.01)
    path.write_text("model: mamba\nlerning_rate: 0.1\n")
    with pytest.raises(InputError, match=r"run.yaml:2: unknown key 'lerning_rate'"):
        load_yaml(path)
    path.write_text("steps: many\n")
    with pytest.raises(InputError, match=r"run.yaml:1: steps must be an integer"):
        load_yaml(path)
    resolved = TrainConfig(tokens=10_000, batch_size=4, context=100).resolved()
    assert (resolved.steps, resolved.tokens, resolved.val_fraction) == (25, None, 0.1)


def test_module_doctests():
    import bioseq.models.markov as markov
    import bioseq.train.config as config
    import bioseq.train.data as data
    import bioseq.train.model as model
    import bioseq.train.progress as progress

    for module in (config, data, markov, model, progress):
        assert doctest.testmod(module).failed == 0, module.__name__


# -- data order --------------------------------------------------------------------------------


def test_batches_depend_only_on_the_step_whatever_the_world_size():
    config = merge(TrainConfig(), dict(TINY, batch_size=8)).resolved()
    data = build_data(config)
    whole = torch.cat([b.input_ids for b in data.batch(5, 64, 8, grad_accum=2)])
    ranks = [b.input_ids for r in range(2) for b in data.batch(5, 64, 8, rank=r, world_size=2)]
    again = build_data(config).batch(5, 64, 8)[0].input_ids
    assert torch.equal(whole, torch.cat(ranks)) and torch.equal(whole, again)
    assert not torch.equal(whole, torch.cat([b.input_ids for b in data.batch(6, 64, 8)]))


def test_protein_alignment_reverse_direction(tmp_path):
    rng = np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    a2m = tmp_path / "family.a2m"
    with open(a2m, "w") as f:
        for i in range(24):
            row = "".join(rng.choice(letters, 40))
            row = row[:10] + "--" + row[12:]  # gaps are removed
            f.write(f">seq{i}\n{row}\n")
    run = tmp_path / "run"
    result = run_cli(
        "pretrain",
        a2m,
        "--out",
        run,
        "--direction",
        "reverse",
        "--steps",
        "3",
        *TINY_FLAGS,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "final" / "config.json").read_text())
    assert (saved["direction"], saved["alphabet"]) == ("reverse", "protein")
    assert load_yaml(run / "config.yaml").direction == "reverse"
    assert AutoTokenizer.from_pretrained(run / "final").alphabet == "protein"
    # a reversed record is the forward one read right to left (the special tokens stay put)
    base = merge(TrainConfig(), {"inputs": [str(a2m)], "context": 64, "val_fraction": 0.0})
    fwd = build_data(base.resolved()).train_pairs
    rev = build_data(merge(base, {"direction": "reverse"}).resolved()).train_pairs
    assert [bytes(c[::-1]) for _, c in fwd] == [bytes(c) for _, c in rev]
    assert b"-" not in bytes(fwd[0][1])


def test_sequence_weights_sample_a_duplicated_cluster_as_one_record(tmp_path):
    # 10 copies of one sequence and 10 unrelated ones: with theta 0.8 the copies share one
    # record's weight, so together they are drawn about 1/11 of the time instead of 1/2
    rng = np.random.default_rng(1)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY"))
    copy = "".join(rng.choice(letters, 30))
    rows = [copy] * 10 + ["".join(rng.choice(letters, 30)) for _ in range(10)]
    a2m = tmp_path / "family.a2m"
    a2m.write_text("".join(f">s{i}\n{row}\n" for i, row in enumerate(rows)))
    base = {"inputs": [str(a2m)], "context": 64, "val_fraction": 0.0, "batch_size": 4}
    data = build_data(merge(TrainConfig(), dict(base, sequence_weights=0.8)).resolved())
    drawn = [
        bytes(ids[1:-1].numpy().astype(np.uint8))
        for step in range(500)
        for b in data.batch(step, 64, 4)
        for ids in b.input_ids
    ]
    copy_ids = bytes(np.array(data.tokenizer.encode(copy, add_special_tokens=False), np.uint8))
    share = np.mean([d == copy_ids for d in drawn])
    assert abs(share - 1 / 11) < 0.03, share
    again = build_data(merge(TrainConfig(), dict(base, sequence_weights=0.8)).resolved())
    assert torch.equal(data.batch(7, 64, 4)[0].input_ids, again.batch(7, 64, 4)[0].input_ids)
    fasta = tmp_path / "family.fa"
    fasta.write_text(a2m.read_text())
    with pytest.raises(InputError, match="need an alignment"):
        build_data(
            merge(TrainConfig(), dict(base, inputs=[str(fasta)], sequence_weights=0.8)).resolved()
        )


def test_batches_count_the_bases_their_predicted_tokens_hold():
    config = merge(TrainConfig(), dict(TINY, tokenizer="kmer:3")).resolved()
    data = build_data(config)
    [batch] = data.batch(0, 64, 4)
    predicted = batch.labels[:, 1:]
    tokens = data.tokenizer.convert_ids_to_tokens(predicted[predicted != -100].tolist())
    assert batch.n_bases == sum(len(t) for t in tokens) and batch.n_tokens == len(tokens)
    assert batch.n_bases == 3 * batch.n_tokens  # lambda has no N: every token is a 3-mer


# -- the CLI end to end --------------------------------------------------------------------------


def test_cli_end_to_end_on_lambda(tmp_path):
    run = tmp_path / "run"
    result = run_cli(
        "pretrain",
        LAMBDA,
        "--out",
        run,
        "--steps",
        "4",
        "--save-every",
        "2",
        "--eval-every",
        "2",
        *TINY_FLAGS,
    )
    assert result.exit_code == 0, result.output
    for name in (
        "final/config.json",
        "final/model.safetensors",
        "final/tokenizer_config.json",
        "metrics.jsonl",
        "loss.png",
        "config.yaml",
    ):
        assert (run / name).is_file(), name
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-2", "step-4"]
    assert (run / "checkpoints" / "step-2" / STATE_FILE).is_file()
    rows = metrics(run)
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and rows[-1]["final"]
    for key in (
        "train_loss",
        "val_loss",
        "val_bits_per_base",
        "tokens_per_s",
        "lr",
        "markov_bits_per_base",
    ):
        assert rows[-1][key] is not None, key
    assert rows[-1]["val_bits_per_base"] == pytest.approx(rows[-1]["val_loss"] / np.log(2))
    assert 1.8 < rows[-1]["markov_bits_per_base"] < 2.0
    assert "validation" in result.output and str(run / "final") in result.output
    model = AutoModelForCausalLM.from_pretrained(resolve_model_dir(run))
    tokenizer = AutoTokenizer.from_pretrained(resolve_model_dir(run))
    ids = torch.tensor([tokenizer.encode("ACGTACGT", add_special_tokens=False)])
    assert model(ids).logits.shape[:2] == (1, 8)
    assert resolve_model_dir(run) == run / "final"
    shutil.rmtree(run / "final")
    assert resolve_model_dir(run) == run / "checkpoints" / "step-4"
    again = run_cli("pretrain", LAMBDA, "--out", run, "--steps", "4", *TINY_FLAGS)
    assert again.exit_code == 2 and "--resume" in again.output


# -- exact resume ----------------------------------------------------------------------------------


def test_resume_matches_an_uninterrupted_run(tmp_path):
    # Hyena has embedding dropout, so this also checks the random state across the stop
    straight = pretrain(dict(TINY, out=str(tmp_path / "a"), steps=8, save_every=4), quiet=True)
    stopped = pretrain(
        dict(TINY, out=str(tmp_path / "b"), steps=8, save_every=4, stop_after=4), quiet=True
    )
    assert not (stopped / "final").exists() and latest_checkpoint(stopped).name == "step-4"
    result = run_cli("pretrain", "--resume", stopped, "--quiet")
    assert result.exit_code == 0, result.output
    a = AutoModelForCausalLM.from_pretrained(straight / "final").state_dict()
    b = AutoModelForCausalLM.from_pretrained(stopped / "final").state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert without_timing(metrics(straight)) == without_timing(metrics(stopped))


# -- interruptions and divergence ------------------------------------------------------------------


@pytest.mark.slow
def test_sigterm_saves_a_loadable_checkpoint_and_exits_143(tmp_path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "bioseq",
        "pretrain",
        LAMBDA,
        "--out",
        str(run),
        "--steps",
        "100000",
        "--save-every",
        "100000",
        *TINY_FLAGS,
    ]
    stderr = open(tmp_path / "stderr", "w+")  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=stderr, env=subprocess_env())
    deadline = time.time() + 120
    while not (run / "metrics.jsonl").is_file() or len(metrics(run)) < 3:
        assert proc.poll() is None and time.time() < deadline, "training did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM  # 143, as the shell reports a kill
    stderr.seek(0)
    message = stderr.read()
    assert f"bioseq pretrain --resume {run}" in message
    checkpoint = latest_checkpoint(run)
    assert checkpoint is not None and not (run / "final").exists()
    model = AutoModelForCausalLM.from_pretrained(resolve_model_dir(run))
    assert int(checkpoint.name.split("-")[1]) >= 3 and model.config.d_model == 32


def test_nan_steps_are_skipped_then_the_run_stops(tmp_path, monkeypatch):
    import bioseq.train.loop as loop

    def poisoned(config, data):
        model = build(config, data)
        model.register_forward_hook(
            lambda m, args, out: out.__class__(loss=out.loss * float("nan"), logits=out.logits)
        )
        return model

    build = loop.build_model
    monkeypatch.setattr(loop, "build_model", poisoned)
    with pytest.raises(TrainingDiverged, match="NaN or infinite for 3 steps in a row") as err:
        pretrain(dict(TINY, out=str(tmp_path / "run"), steps=10, max_bad_steps=3), quiet=True)
    assert "step-3" in str(err.value)
    rows = metrics(tmp_path / "run")
    assert [r["skipped_steps"] for r in rows] == [1, 2, 3]
    state = torch.load(latest_checkpoint(tmp_path / "run") / STATE_FILE, weights_only=True)
    assert state["counters"]["skipped_steps"] == 3


# -- bad input -----------------------------------------------------------------------------------


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    garbage = tmp_path / "notes.fa"
    garbage.write_text("this is not a FASTA file\n")
    proteins = tmp_path / "proteins.fa"
    proteins.write_text(">p1\nMKVLHEEWRTQPLISDFGHKKLLMMQQ\n>p2\nMSSHHEEWRTQPLIDFGHKKWWQQ\n")
    config = tmp_path / "run.yaml"
    config.write_text("steps: 10\nbatchsize: 4\n")
    cases = [
        ((tmp_path / "missing.fa",), "missing.fa: no such file"),
        ((garbage,), "notes.fa:1: expected a FASTA header"),
        ((LAMBDA, "--context", "60000"), "context 60000 (60,000 bp) is longer than every contig"),
        (("--config", config), "run.yaml:2: unknown key 'batchsize'"),
        ((proteins, "--alphabet", "dna"), "proteins.fa: holds protein sequences"),
    ]
    for args, expected in cases:
        result = run_cli("pretrain", *args, "--out", tmp_path / "run")
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("bioseq: error:"), result.output
        assert expected in lines[0], lines[0]
    assert not (tmp_path / "run").exists()


# -- torchrun DDP ------------------------------------------------------------------------------


@pytest.mark.slow
def test_torchrun_two_processes_match_one(tmp_path):
    if not torch.distributed.is_available():
        pytest.skip("torch.distributed is not available")
    settings = [
        "--model",
        "transformer",
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--save-every",
        "4",
        "--eval-every",
        "2",
    ]
    flags = [*TINY_FLAGS[:6], *TINY_FLAGS[8:], *settings]  # batch size 8 over two processes
    ddp = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        "--master_port",
        str(29500 + os.getpid() % 1000),
        "-m",
        "bioseq",
        "pretrain",
        LAMBDA,
        "--out",
        str(ddp),
        "--quiet",
        *flags,
    ]
    env = dict(subprocess_env(), TMPDIR=str(tmp_path))  # torchrun's torchelastic_* folder
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stderr[-3000:]
    state = torch.load(ddp / "checkpoints" / "step-4" / STATE_FILE, weights_only=True)
    assert state["world_size"] == 2 and len(set(state["rank_digests"])) == 1  # identical ranks
    single = tmp_path / "single"
    result = run_cli("pretrain", LAMBDA, "--out", single, "--quiet", *flags)
    assert result.exit_code == 0, result.output
    for a, b in zip(metrics(ddp), metrics(single), strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-4)
        assert (a["val_loss"] is None) == (b["val_loss"] is None)
        if a["val_loss"] is not None:
            assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-4)
    # resuming across a change of world size: the 2-process run continues on one process
    result = run_cli("pretrain", "--resume", ddp, "--steps", "6", "--quiet")
    assert result.exit_code == 0, result.output
    assert [r["step"] for r in metrics(ddp)] == [1, 2, 3, 4, 5, 6]
